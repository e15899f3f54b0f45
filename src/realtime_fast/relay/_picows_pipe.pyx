"""The relay's frame pipe, compiled: the fast twin of ``_picows_pipe_py`` (same names, same behaviour).

picows calls ``on_ws_frame`` through its C vtable.  A whole text frame is
scanned in picows' receive buffer (no ``bytes``, ``memoryview`` or ``str`` is
made of it) and sent on with ``WSTransport.send_reuse_external_buffer``: the
outgoing header is written over the incoming one, just in front of the
payload, and when the payload fits the socket it goes out with one
``send()`` from that buffer.  The incoming header always has room for the
outgoing one: frames from the client are masked and so are frames to the
upstream (same header size), frames from the upstream are unmasked and so
are frames to the client.  After the call the payload in the buffer may be
masked: nothing reads it again.

Built against one picows release (its C layout is compiled in); the import
refuses any other and the relay uses the pure pipe.
"""

from libc.string cimport memchr, memcmp

from picows.picows cimport WSFrame, WSListener, WSMsgType, WSTransport

import picows

from realtime_fast.relay import _picows_pipe_py as _py

__all__ = [
    "WATCH_ITEM_CREATE",
    "WATCH_OUTPUT_ITEM_DONE",
    "WATCH_RESPONSE_CREATE",
    "WATCH_RESPONSE_DONE",
    "WATCH_SESSION_UPDATE",
    "Side",
    "scan_type",
    "scan_usage",
]

cdef extern from *:
    """
    #ifdef RF_PICOWS_BUILD_VERSION_CHARS
    static const char rf_pipe_picows_version[] = {RF_PICOWS_BUILD_VERSION_CHARS, 0};
    #else
    static const char rf_pipe_picows_version[] = "unknown";
    #endif
    """
    const char* rf_pipe_picows_version

#: The picows release this module was compiled against.
BUILT_WITH_PICOWS = rf_pipe_picows_version.decode()
if picows.__version__ != BUILT_WITH_PICOWS:
    raise ImportError(
        f"realtime_fast's compiled relay pipe was built for picows {BUILT_WITH_PICOWS}, "
        f"but picows {picows.__version__} is installed; the pure pipe is used instead."
    )

cdef enum:
    KIND_UNKNOWN = -1
    KIND_OTHER = 0
    C_WATCH_SESSION_UPDATE = 1
    C_WATCH_RESPONSE_CREATE = 2
    C_WATCH_ITEM_CREATE = 4
    C_WATCH_OUTPUT_ITEM_DONE = 8
    KIND_RESPONSE_DONE = 16
    KIND_ERROR = 32

WATCH_SESSION_UPDATE = C_WATCH_SESSION_UPDATE
WATCH_RESPONSE_CREATE = C_WATCH_RESPONSE_CREATE
WATCH_ITEM_CREATE = C_WATCH_ITEM_CREATE
WATCH_OUTPUT_ITEM_DONE = C_WATCH_OUTPUT_ITEM_DONE
WATCH_RESPONSE_DONE = KIND_RESPONSE_DONE

cdef object _logger = _py._logger
cdef object _fail = _py._fail
cdef object _forward_held = _py.Side._forward_bytes

# --------------------------------------------------------------------------- scanner


cdef inline bint _is_space(unsigned char c) noexcept nogil:
    return c == 0x20 or c == 0x09 or c == 0x0A or c == 0x0D


cdef inline Py_ssize_t _skip_ws(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    while i < n and _is_space(p[i]):
        i += 1
    return i


cdef Py_ssize_t _string_end(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """Index just after the string whose opening quote is at ``i``; -1 when it does not end."""
    cdef Py_ssize_t j = i + 1, k
    cdef const unsigned char* q
    while True:
        if j >= n:
            return -1
        q = <const unsigned char*>memchr(p + j, 0x22, <size_t>(n - j))
        if q == NULL:
            return -1
        j = q - p
        k = j - 1
        while p[k] == 0x5C:
            k -= 1
        if (j - 1 - k) % 2 == 0:
            return j + 1
        j += 1


cdef Py_ssize_t _value_end(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """Index just after the JSON value starting at ``i``; -1 when it does not end."""
    cdef unsigned char c
    cdef Py_ssize_t depth = 0
    if i >= n:
        return -1
    c = p[i]
    if c == 0x22:
        return _string_end(p, i, n)
    if c == 0x7B or c == 0x5B:
        while i < n:
            c = p[i]
            if c == 0x22:
                i = _string_end(p, i, n)
                if i < 0:
                    return -1
                continue
            if c == 0x7B or c == 0x5B:
                depth += 1
            elif c == 0x7D or c == 0x5D:
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return -1
    while i < n:
        c = p[i]
        if c == 0x2C or c == 0x7D or c == 0x5D or _is_space(c):
            break
        i += 1
    return i


cdef struct Member:
    Py_ssize_t key_start
    Py_ssize_t key_end
    Py_ssize_t value_start
    Py_ssize_t value_end


cdef int _next_member(const unsigned char* p, Py_ssize_t* pos, Py_ssize_t n, Member* m) noexcept nogil:
    """Read the member at ``pos[0]`` of an object; 1 with ``m`` filled, 0 at the end, -1 when malformed.

    ``pos[0]`` starts just after the object's ``{`` (the caller checks the brace)
    and is left after the member's trailing comma.
    """
    cdef Py_ssize_t i = _skip_ws(p, pos[0], n), key_end, j
    if i < n and p[i] == 0x7D:
        return 0
    if i >= n or p[i] != 0x22:
        return -1
    key_end = _string_end(p, i, n)
    if key_end < 0:
        return -1
    j = _skip_ws(p, key_end, n)
    if j >= n or p[j] != 0x3A:
        return -1
    m.key_start = i + 1
    m.key_end = key_end - 1
    m.value_start = _skip_ws(p, j + 1, n)
    m.value_end = _value_end(p, m.value_start, n)
    if m.value_end < 0:
        return -1
    i = _skip_ws(p, m.value_end, n)
    if i < n and p[i] == 0x2C:
        pos[0] = i + 1
        j = _skip_ws(p, i + 1, n)
        if j >= n or p[j] != 0x22:  # a trailing comma, or garbage after it
            return -1
        return 1
    if i < n and p[i] == 0x7D:
        pos[0] = i  # the next call sees the brace and ends
        return 1
    return -1


cdef inline bint _key_is(const unsigned char* p, Member* m, const char* key, Py_ssize_t size) noexcept nogil:
    return m.key_end - m.key_start == size and memcmp(p + m.key_start, key, <size_t>size) == 0


cdef Py_ssize_t _scan_type(const unsigned char* p, Py_ssize_t n, Py_ssize_t* size) noexcept nogil:
    """Offset of the top-level type string's contents (its length in ``size[0]``); -1 when a parser is needed."""
    cdef Py_ssize_t pos = _skip_ws(p, 0, n), found = -1
    cdef Member m
    cdef int r
    if pos >= n or p[pos] != 0x7B:
        return -1
    pos += 1
    while True:
        r = _next_member(p, &pos, n, &m)
        if r < 0:
            return -1
        if r == 0:
            return found
        if memchr(p + m.key_start, 0x5C, <size_t>(m.key_end - m.key_start)) != NULL:
            return -1
        if _key_is(p, &m, b"type", 4):
            if found >= 0 or p[m.value_start] != 0x22:
                return -1
            found = m.value_start + 1
            size[0] = m.value_end - m.value_start - 2
            if memchr(p + found, 0x5C, <size_t>size[0]) != NULL:
                return -1


cdef Py_ssize_t _member_value(const unsigned char* p, Py_ssize_t i, Py_ssize_t n, const char* key, Py_ssize_t size) noexcept nogil:
    """Start of the value of ``key`` in the object at ``i`` (first occurrence); -1 when absent or malformed."""
    cdef Member m
    cdef int r
    if i < 0 or i >= n or p[i] != 0x7B:
        return -1
    i += 1
    while True:
        r = _next_member(p, &i, n, &m)
        if r <= 0:
            return -1
        if _key_is(p, &m, key, size):
            return m.value_start


cdef long long _int_at(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    cdef long long value = 0
    while i < n and 0x30 <= p[i] <= 0x39:
        value = value * 10 + (p[i] - 0x30)
        i += 1
    return value


cdef bint _scan_usage(const unsigned char* p, Py_ssize_t n, long long* counts) noexcept nogil:
    cdef Py_ssize_t response = _member_value(p, _skip_ws(p, 0, n), n, b"response", 8)
    cdef Py_ssize_t usage, at
    if response < 0:
        return False
    usage = _member_value(p, response, n, b"usage", 5)
    if usage < 0 or p[usage] != 0x7B:
        return False
    at = _member_value(p, usage, n, b"input_tokens", 12)
    counts[0] = _int_at(p, at, n) if at >= 0 else 0
    at = _member_value(p, usage, n, b"output_tokens", 13)
    counts[1] = _int_at(p, at, n) if at >= 0 else 0
    at = _member_value(p, usage, n, b"total_tokens", 12)
    counts[2] = _int_at(p, at, n) if at >= 0 else 0
    return True


def scan_type(const unsigned char[::1] data not None):
    """The raw bytes of the top-level ``type`` string of one JSON text frame; ``None`` when a parser is needed.

    See the pure twin for the rules.
    """
    cdef Py_ssize_t size = 0, at
    if data.shape[0] == 0:
        return None
    with nogil:
        at = _scan_type(&data[0], data.shape[0], &size)
    if at < 0:
        return None
    return bytes(data[at:at + size])


def scan_usage(const unsigned char[::1] data not None):
    """``(input_tokens, output_tokens, total_tokens)`` of a ``response.done`` frame's usage, or ``None``."""
    cdef long long counts[3]
    cdef bint found
    if data.shape[0] == 0:
        return None
    with nogil:
        found = _scan_usage(&data[0], data.shape[0], counts)
    if not found:
        return None
    return counts[0], counts[1], counts[2]


# --------------------------------------------------------------------------- classification


cdef inline int _kind(const unsigned char* t, Py_ssize_t size) noexcept nogil:
    """The ``WATCH_*`` bit (or KIND_*) of a type string."""
    if size == 13 and memcmp(t, b"response.done", 13) == 0:
        return KIND_RESPONSE_DONE
    if size == 5 and memcmp(t, b"error", 5) == 0:
        return KIND_ERROR
    if size == 14 and memcmp(t, b"session.update", 14) == 0:
        return C_WATCH_SESSION_UPDATE
    if size == 15 and memcmp(t, b"response.create", 15) == 0:
        return C_WATCH_RESPONSE_CREATE
    if size == 24 and memcmp(t, b"conversation.item.create", 24) == 0:
        return C_WATCH_ITEM_CREATE
    if size == 25 and memcmp(t, b"response.output_item.done", 25) == 0:
        return C_WATCH_OUTPUT_ITEM_DONE
    return KIND_OTHER


# --------------------------------------------------------------------------- the pipe


cdef class Side(WSListener):
    """The listener of one of a session's two connections (see the pure twin for the contract)."""

    cdef public object session
    cdef public bint upstream
    cdef public Py_ssize_t max_message_size
    cdef public int watch
    cdef public unsigned long long frames
    cdef public unsigned long long bytes
    cdef public unsigned long long errors
    cdef public object held
    cdef public object fragments
    cdef public bint fragments_text
    cdef WSTransport _peer

    def __init__(self, session, bint upstream, Py_ssize_t max_message_size):
        self.session = session
        self.upstream = upstream
        self.max_message_size = max_message_size
        self.watch = 0
        self.frames = 0
        self.bytes = 0
        self.errors = 0
        self._peer = None
        self.held = []
        self.fragments = None
        self.fragments_text = True

    @property
    def peer(self):
        return self._peer

    def attach(self, WSTransport peer):
        """Start forwarding to ``peer``, after sending what was held."""
        self._peer = peer
        held, self.held = self.held, None
        if held:
            for is_text, payload in held:
                _forward_held(self, is_text, payload)

    def _forward_bytes(self, bint is_text, bytes payload):
        _forward_held(self, is_text, payload)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef WSMsgType msg_type = frame.msg_type
        cdef const unsigned char* p
        cdef Py_ssize_t n, at, size = 0
        cdef int kind
        cdef long long counts[3]
        if frame.rsv1 or frame.rsv2 or frame.rsv3:  # no extension is negotiated: a set bit is a protocol error
            _fail(transport, 1002, "reserved bits set")
            return
        if msg_type == WSMsgType.TEXT and frame.fin and self.fragments is None:
            p = <const unsigned char*>frame.payload_ptr
            n = frame.payload_size
            self.frames += 1
            self.bytes += <unsigned long long>n
            at = _scan_type(p, n, &size) if n > 0 else -1
            kind = _kind(p + at, size) if at >= 0 else KIND_UNKNOWN
            if self.upstream:
                if kind == KIND_RESPONSE_DONE:
                    if _scan_usage(p, n, counts):
                        self.session.on_usage(counts[0], counts[1], counts[2])
                elif kind == KIND_ERROR:
                    self.errors += 1
            if self.watch and (kind == KIND_UNKNOWN or (kind > 0 and (self.watch & kind))):
                self._watched(frame.get_payload_as_bytes(), p + at if at >= 0 else NULL, size)
                return
            if self._peer is None:
                self.held.append((True, frame.get_payload_as_bytes()))
            else:
                self._peer.send_reuse_external_buffer(WSMsgType.TEXT, frame.payload_ptr, n)
            return
        if msg_type == WSMsgType.TEXT or msg_type == WSMsgType.BINARY:
            if self.fragments is not None:
                _fail(transport, 1002, "expected a continuation frame")
                return
            if not frame.fin:
                self.fragments = bytearray(frame.get_payload_as_memoryview())
                self.fragments_text = msg_type == WSMsgType.TEXT
                return
            self.frames += 1
            self.bytes += <unsigned long long>frame.payload_size
            if self._peer is None:
                self.held.append((False, frame.get_payload_as_bytes()))
            else:
                self._peer.send_reuse_external_buffer(WSMsgType.BINARY, frame.payload_ptr, frame.payload_size)
        elif msg_type == WSMsgType.CONTINUATION:
            self._continuation(transport, frame)
        elif msg_type == WSMsgType.CLOSE:
            self.session.on_close_frame(self, <int>frame.get_close_code(), frame.get_close_reason() or "")

    cdef _watched(self, bytes payload, const unsigned char* t, Py_ssize_t size):
        name = (<bytes>t[:size]).decode("utf-8", "replace") if t != NULL else None
        try:
            if self.upstream:
                forward = self.session.on_upstream_event(name, payload)
            else:
                forward = self.session.on_client_event(name, payload)
        except Exception:
            _logger.error("realtime_fast.relay: event hook raised", exc_info=True)
            forward = False
        if forward:
            _forward_held(self, True, forward if type(forward) is bytes else payload)

    cdef _continuation(self, WSTransport transport, WSFrame frame):
        cdef bytearray fragments = self.fragments
        cdef Py_ssize_t at, size = 0
        cdef int kind
        cdef long long counts[3]
        cdef const unsigned char* p
        if fragments is None:
            _fail(transport, 1002, "unexpected continuation frame")
            return
        fragments += frame.get_payload_as_memoryview()
        if len(fragments) > self.max_message_size:
            self.fragments = None
            _fail(transport, 1009, "message too big")
            return
        if not frame.fin:
            return
        self.fragments = None
        self.frames += 1
        self.bytes += <unsigned long long>len(fragments)
        payload = bytes(fragments)
        if not self.fragments_text:
            _forward_held(self, False, payload)
            return
        p = <const unsigned char*>(<char*>payload)
        at = _scan_type(p, len(payload), &size) if len(payload) > 0 else -1
        kind = _kind(p + at, size) if at >= 0 else KIND_UNKNOWN
        if self.upstream:
            if kind == KIND_RESPONSE_DONE:
                if _scan_usage(p, len(payload), counts):
                    self.session.on_usage(counts[0], counts[1], counts[2])
            elif kind == KIND_ERROR:
                self.errors += 1
        if self.watch and (kind == KIND_UNKNOWN or (kind > 0 and (self.watch & kind))):
            self._watched(payload, p + at if at >= 0 else NULL, size)
            return
        _forward_held(self, True, payload)

    cpdef on_ws_disconnected(self, WSTransport transport):
        self.session.on_disconnected(self)

    cpdef pause_writing(self):
        self.session.on_pause_writing(self)

    cpdef resume_writing(self):
        self.session.on_resume_writing(self)
