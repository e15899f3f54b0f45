"""Compiled wire-event codec: the fast translation of ``_events_py`` (same API and messages).

``parse_frame`` and ``parse_audio_delta`` read the canonical flat audio-delta
frame straight from its UTF-8 bytes and decode the base64 ``delta`` onto the
item's :class:`~realtime_fast._audio.AudioBuffer` without creating the base64
text as a Python object.  ``parse_frame`` reads every frame once: other flat
events (text, transcript and argument deltas ...) are built from the same
scan, everything else is parsed by orjson.  Anything the flat scanner does not
take (escapes, nested values, floats, duplicate keys, non-ASCII text, other
buffer types) goes to the general path (orjson, then the pure twin's rules,
which are the specification), so the results are the same.  Error
messages come from ``_events_py``.  Import the public names from
:mod:`realtime_fast.events`.
"""

from cpython.buffer cimport (
    PyBUF_RECORDS_RO,
    PyBUF_SIMPLE,
    PyBuffer_IsContiguous,
    PyBuffer_Release,
    PyObject_CheckBuffer,
    PyObject_GetBuffer,
)
from cpython.bytearray cimport PyByteArray_CheckExact
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_SetItem
from cpython.long cimport PyLong_FromLongLong
from cpython.unicode cimport PyUnicode_Check, PyUnicode_CheckExact
from libc.string cimport memchr, memcmp, memcpy, strcmp

from realtime_fast._audio cimport AudioBuffer, encode_b64_into

from collections.abc import Mapping

import orjson

from realtime_fast import _audio_py
from realtime_fast import _events_py as _py
from realtime_fast.errors import MessageTooLarge

__all__ = ["AUDIO_DELTA_TYPES", "FrameReceiver", "dumps_append_audio", "dumps_event", "parse_audio_delta", "parse_event", "parse_frame"]

AUDIO_DELTA_TYPES = _py.AUDIO_DELTA_TYPES


cdef extern from "Python.h":
    dict _PyDict_NewPresized(Py_ssize_t minused)  # CPython 3.10-3.13: a dict sized for minused keys
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object o)
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    object PyMemoryView_FromMemory(char* mem, Py_ssize_t size, int flags)
    const Py_ssize_t PY_SSIZE_T_MAX
    const int PyBUF_READ


cdef object _loads = orjson.loads
cdef object _dumps = orjson.dumps
cdef object _JSONDecodeError = orjson.JSONDecodeError
cdef object _JSONEncodeError = orjson.JSONEncodeError
cdef object _Mapping = Mapping

cdef object _check_frame = _py._check_frame
cdef object _invalid_json_error = _py._invalid_json_error
cdef object _event_shape_error = _py._event_shape_error
cdef object _event_id_type_error = _py._event_id_type_error
cdef object _event_id_surrogate_error = _py._event_id_surrogate_error
cdef object _event_not_mapping_error = _py._event_not_mapping_error
cdef object _json_default = _py._json_default
cdef object _encode_error = _py._encode_error
cdef object _general_audio_delta = _py.parse_audio_delta
cdef object _frame_failed = _py._frame_failed
cdef object _audio_of = _py._audio_of
cdef object _parse_frame_limited = _py._parse_frame_limited
cdef object _loads_large = _py._loads_large
cdef Py_ssize_t _LARGE_FRAME = _py.LARGE_FRAME
cdef object _too_large_error = _py._audio_delta_too_large_error
cdef object _MessageTooLarge = MessageTooLarge
cdef object _pcm_view = _audio_py._pcm_view
cdef object _ODD_PCM = _audio_py.ODD_PCM_MESSAGE

cdef str _GA_AUDIO_DELTA = "response.output_audio.delta"
cdef str _BETA_AUDIO_DELTA = "response.audio.delta"
cdef object _MISSING = object()
# What the fast path says when it does not return (event, buffer, start):
cdef object _NOT_AUDIO = object()  # a valid flat event, not an audio delta of a known item
cdef object _GENERAL = object()    # undecided: the general path (a full parse) must answer

# Keys of audio delta events, reused instead of allocating a new str per event.
cdef str _K_TYPE = "type"
cdef str _K_EVENT_ID = "event_id"
cdef str _K_RESPONSE_ID = "response_id"
cdef str _K_ITEM_ID = "item_id"
cdef str _K_OUTPUT_INDEX = "output_index"
cdef str _K_CONTENT_INDEX = "content_index"
cdef str _K_OBFUSCATION = "obfuscation"
cdef str _K_DELTA = "delta"
cdef str _K_CALL_ID = "call_id"

# The input_audio_buffer.append frame, around the quoted event_id and the base64 audio.
cdef bytes _APPEND_HEAD = b'{"event_id":'
cdef bytes _APPEND_MID = b',"type":"input_audio_buffer.append","audio":"'
cdef bytes _APPEND_TAIL = b'"}'


# ---------------------------------------------------------------------------
# parse_event
# ---------------------------------------------------------------------------

def parse_event(frame):
    """Decode one server frame (UTF-8 JSON text) into an event dict.

    ``frame`` is ``bytes``, ``bytearray``, a C-contiguous ``memoryview`` (only
    read during the call) or ``str``.  Raises :class:`EventParseError` when the
    frame is not JSON, not a JSON object, or has no string ``type``.
    """
    if not (PyBytes_CheckExact(frame) or PyUnicode_CheckExact(frame) or PyByteArray_CheckExact(frame)):
        _check_frame(frame)
    return _loads_event(frame)


cdef object _loads_event(object frame):
    """parse_event on a frame whose type the caller checked."""
    if len(frame) >= _LARGE_FRAME:
        return _event_of(_loads_large(frame))  # orjson would reserve about 13 times its size
    try:
        event = _loads(frame)
    except _JSONDecodeError as exc:
        raise _invalid_json_error(exc) from exc
    return _event_of(event)


cdef inline object _event_of(object event):
    """``event`` when it is an object with a string type, else the shape error."""
    if type(event) is dict and type((<dict>event).get(_K_TYPE)) is str:
        return event
    raise _event_shape_error(event)


cdef object _loads_event_at(const unsigned char* p, Py_ssize_t n):
    """parse_event on the bytes p[0:n] of a transport's buffer (read during the call only)."""
    if n < _LARGE_FRAME:
        return _loads_event(PyBytes_FromStringAndSize(<const char*>p, n))
    view = PyMemoryView_FromMemory(<char*>p, n, PyBUF_READ)  # no copy of a large frame
    try:
        return _event_of(_loads_large(view))
    finally:
        view.release()


# ---------------------------------------------------------------------------
# The flat audio-delta scanner
# ---------------------------------------------------------------------------

# The scanner's records (Field, FlatObject, MAX_FIELDS) are declared in _events.pxd.


cdef inline Py_ssize_t _skip_ws(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    cdef unsigned char c
    while i < n:
        c = p[i]
        if c != 32 and c != 10 and c != 13 and c != 9:
            break
        i += 1
    return i


cdef inline bint _plain(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """True when s[0:n] is printable ASCII without a backslash: its JSON text is its value."""
    cdef unsigned char bad = 0
    cdef Py_ssize_t i
    for i in range(n):
        bad |= <unsigned char>((<unsigned char>(s[i] - 0x20) >= 0x60) | (s[i] == 0x5C))
    return bad == 0


cdef inline Py_ssize_t _quote_at(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """Offset of the first '"' in p[i:n], or -1."""
    cdef const void* q = memchr(p + i, 34, n - i)
    if q == NULL:
        return -1
    return <const unsigned char*>q - p


cdef bint _scan_flat(const unsigned char* p, Py_ssize_t n, FlatObject* flat) noexcept nogil:
    """Record the fields of p[0:n] when it is a flat JSON object the fast path reads exactly.

    Accepted: one object (JSON whitespace anywhere), string keys and values that
    are printable ASCII without escapes, non-negative integers below 10**18,
    ``true``/``false``/``null``, at most one each of "type", "item_id" and
    "delta".  The value of "delta" is not checked here: it is either decoded
    as base64 (which rejects anything but the base64 alphabet) or checked
    with _plain before being trusted.  Returns False for anything else.
    """
    cdef Py_ssize_t i, end, digits
    cdef unsigned char c
    cdef long long number
    cdef bint is_delta
    cdef Field* f
    flat.count = 0
    flat.type_at = -1
    flat.item_id_at = -1
    flat.delta_at = -1
    i = _skip_ws(p, 0, n)
    if i >= n or p[i] != 123:  # '{'
        return False
    i = _skip_ws(p, i + 1, n)
    while True:
        if i >= n or p[i] != 34 or flat.count == MAX_FIELDS:
            return False
        f = &flat.fields[flat.count]
        i += 1
        end = _quote_at(p, i, n)
        if end < 0 or not _plain(p + i, end - i):
            return False
        f.key = i
        f.key_len = end - i
        is_delta = False
        if f.key_len == 4 and memcmp(p + i, b"type", 4) == 0:
            if flat.type_at >= 0:
                return False
            flat.type_at = flat.count
        elif f.key_len == 7 and memcmp(p + i, b"item_id", 7) == 0:
            if flat.item_id_at >= 0:
                return False
            flat.item_id_at = flat.count
        elif f.key_len == 5 and memcmp(p + i, b"delta", 5) == 0:
            if flat.delta_at >= 0:
                return False
            flat.delta_at = flat.count
            is_delta = True
        i = _skip_ws(p, end + 1, n)
        if i >= n or p[i] != 58:  # ':'
            return False
        i = _skip_ws(p, i + 1, n)
        if i >= n:
            return False
        c = p[i]
        if c == 34:  # '"'
            i += 1
            end = _quote_at(p, i, n)
            if end < 0 or (not is_delta and not _plain(p + i, end - i)):
                return False
            f.kind = KIND_STRING
            f.value = i
            f.value_len = end - i
            i = end + 1
        elif 48 <= c <= 57:  # a digit; a leading 0 stands alone (what follows must be a delimiter)
            number = c - 48
            i += 1
            if c != 48:
                digits = 1
                while i < n and 48 <= p[i] <= 57:
                    if digits == 18:
                        return False
                    number = number * 10 + (p[i] - 48)
                    digits += 1
                    i += 1
            f.kind = KIND_INT
            f.number = number
        elif c == 116 and n - i >= 4 and memcmp(p + i, b"true", 4) == 0:
            f.kind = KIND_TRUE
            i += 4
        elif c == 102 and n - i >= 5 and memcmp(p + i, b"false", 5) == 0:
            f.kind = KIND_FALSE
            i += 5
        elif c == 110 and n - i >= 4 and memcmp(p + i, b"null", 4) == 0:
            f.kind = KIND_NULL
            i += 4
        else:
            return False
        flat.count += 1
        i = _skip_ws(p, i, n)
        if i >= n:
            return False
        c = p[i]
        if c == 44:  # ','
            i = _skip_ws(p, i + 1, n)
        elif c == 125:  # '}'
            return _skip_ws(p, i + 1, n) == n
        else:
            return False


cdef inline str _ascii(const unsigned char* s, Py_ssize_t n):
    """A new str of n ASCII characters (the caller checked they are ASCII)."""
    cdef str text = PyUnicode_New(n, 127)
    memcpy(PyUnicode_DATA(text), s, n)
    return text


cdef str _key(const unsigned char* s, Py_ssize_t n):
    if n == 4 and memcmp(s, b"type", 4) == 0:
        return _K_TYPE
    if n == 8 and memcmp(s, b"event_id", 8) == 0:
        return _K_EVENT_ID
    if n == 11 and memcmp(s, b"response_id", 11) == 0:
        return _K_RESPONSE_ID
    if n == 7 and memcmp(s, b"item_id", 7) == 0:
        return _K_ITEM_ID
    if n == 12 and memcmp(s, b"output_index", 12) == 0:
        return _K_OUTPUT_INDEX
    if n == 13 and memcmp(s, b"content_index", 13) == 0:
        return _K_CONTENT_INDEX
    if n == 11 and memcmp(s, b"obfuscation", 11) == 0:
        return _K_OBFUSCATION
    if n == 5 and memcmp(s, b"delta", 5) == 0:
        return _K_DELTA
    if n == 7 and memcmp(s, b"call_id", 7) == 0:
        return _K_CALL_ID
    return _ascii(s, n)


cdef object _value(const unsigned char* p, const Field* f):
    if f.kind == KIND_STRING:
        return _ascii(p + f.value, f.value_len)
    if f.kind == KIND_INT:
        return PyLong_FromLongLong(f.number)
    if f.kind == KIND_TRUE:
        return True
    if f.kind == KIND_FALSE:
        return False
    return None


cdef inline bint _delta_unchecked(const unsigned char* p, const FlatObject* flat) noexcept nogil:
    """True when the scanner's unchecked "delta" string is not plain: the frame may not be valid JSON."""
    cdef const Field* d
    if flat.delta_at >= 0:
        d = &flat.fields[flat.delta_at]
        if d.kind == KIND_STRING and not _plain(p + d.value, d.value_len):
            return True
    return False


cdef object _buffer_of(object buffers, str item_id):
    """``buffers[item_id]``, or _MISSING (a dict read without an exception; other mappings as mappings)."""
    if type(buffers) is dict:
        return (<dict>buffers).get(item_id, _MISSING)
    if item_id in buffers:
        return buffers[item_id]
    return _MISSING


cdef inline str _audio_type(const unsigned char* p, const FlatObject* flat):
    """The shared type name when the flat frame is an audio delta (GA or beta), else None."""
    cdef const Field* f
    if flat.type_at < 0:
        return None
    f = &flat.fields[flat.type_at]
    if f.kind != KIND_STRING:
        return None
    if f.value_len == 27 and memcmp(p + f.value, b"response.output_audio.delta", 27) == 0:
        return _GA_AUDIO_DELTA
    if f.value_len == 20 and memcmp(p + f.value, b"response.audio.delta", 20) == 0:
        return _BETA_AUDIO_DELTA
    return None


cdef object _audio_event(const unsigned char* p, const FlatObject* flat, str type_name, str item_id):
    """The event dict of a flat audio delta without its "delta"; None on duplicate keys (the general parser's rule)."""
    cdef Py_ssize_t i
    cdef const Field* f
    cdef dict event = _PyDict_NewPresized(flat.count - 1)
    for i in range(flat.count):
        if i == flat.delta_at:
            continue
        f = &flat.fields[i]
        if i == flat.item_id_at:
            value = item_id
        elif i == flat.type_at:
            value = type_name
        else:
            value = _value(p, f)
        PyDict_SetItem(event, _key(p + f.key, f.key_len), value)
    if len(event) != flat.count - 1:
        return None
    return event


cdef Py_ssize_t _decode_onto(const unsigned char* p, const FlatObject* flat, AudioBuffer audio) except -2:
    """Decode the flat frame's "delta" onto ``audio``: the first new sample's index, or -1 (buffer unchanged).

    -1 for escapes (JSON allows "\\/") or bad base64: the general path decodes
    the escapes, or raises the exact error for the delta text.  Raises what
    the buffer raises otherwise (BufferError when it has live views).
    """
    cdef const Field* d = &flat.fields[flat.delta_at]
    try:
        return audio.append_b64_new(p + d.value, d.value_len)
    except ValueError:
        return -1


cdef object _audio_from_flat(const unsigned char* p, FlatObject* flat, object buffers, Py_ssize_t limit):
    """The fast path on a scanned flat frame p (kept readable by the caller).

    Returns ``(event, buffer, start)`` for an audio delta of a known item,
    _NOT_AUDIO for any other flat event (its "delta" not checked yet), or
    _GENERAL when only a full parse can answer.  Raises MessageTooLarge for
    an audio delta longer than ``limit`` bytes (see ``_events_py._audio_of``).
    """
    cdef const Field* f
    cdef const Field* d
    cdef Py_ssize_t start
    cdef str type_name
    if flat.type_at < 0 or flat.fields[flat.type_at].kind != KIND_STRING:
        return _GENERAL  # the general path raises the exact shape error
    type_name = _audio_type(p, flat)
    if type_name is None:
        return _NOT_AUDIO
    if flat.delta_at >= 0:
        d = &flat.fields[flat.delta_at]
        if d.kind == KIND_STRING and d.value_len > limit:
            if memchr(p + d.value, 92, d.value_len) != NULL:  # escapes: the decoded length decides
                return _GENERAL
            f = &flat.fields[flat.item_id_at] if flat.item_id_at >= 0 else NULL
            raise _too_large_error(
                _ascii(p + f.value, f.value_len) if f != NULL and f.kind == KIND_STRING else None, d.value_len, limit
            )
    if flat.item_id_at < 0 or flat.fields[flat.item_id_at].kind != KIND_STRING:
        return _NOT_AUDIO
    f = &flat.fields[flat.item_id_at]
    item_id = _ascii(p + f.value, f.value_len)
    buffer = _buffer_of(buffers, item_id)
    if buffer is _MISSING:
        return _NOT_AUDIO
    if (flat.delta_at < 0 or flat.fields[flat.delta_at].kind != KIND_STRING
            or type(buffer) is not AudioBuffer):
        return _GENERAL  # the error for a missing delta; pure buffers
    event = _audio_event(p, flat, type_name, item_id)
    if event is None:
        return _GENERAL
    start = _decode_onto(p, flat, <AudioBuffer>buffer)
    if start < 0:
        return _GENERAL
    return event, buffer, start


cdef object _audio_delta_at(const unsigned char* p, Py_ssize_t n, object buffers):
    """parse_audio_delta's fast path: a result tuple, _NOT_AUDIO (a valid flat event), or _GENERAL."""
    cdef FlatObject flat
    if not _scan_flat(p, n, &flat):
        return _GENERAL
    result = _audio_from_flat(p, &flat, buffers, PY_SSIZE_T_MAX)
    if result is _NOT_AUDIO and _delta_unchecked(p, &flat):
        return _GENERAL
    return result


cdef str _GA_TRANSCRIPT_DELTA = "response.output_audio_transcript.delta"
cdef str _GA_TEXT_DELTA = "response.output_text.delta"
cdef str _ARGUMENTS_DELTA = "response.function_call_arguments.delta"
cdef str _BETA_TRANSCRIPT_DELTA = "response.audio_transcript.delta"
cdef str _BETA_TEXT_DELTA = "response.text.delta"


cdef inline object _streamed_type(const unsigned char* s, Py_ssize_t n):
    """The shared str of a streamed delta's type name (built once, hash cached), or None for other types."""
    if n == 38 and memcmp(s, b"response.output_audio_transcript.delta", 38) == 0:
        return _GA_TRANSCRIPT_DELTA
    if n == 26 and memcmp(s, b"response.output_text.delta", 26) == 0:
        return _GA_TEXT_DELTA
    if n == 38 and memcmp(s, b"response.function_call_arguments.delta", 38) == 0:
        return _ARGUMENTS_DELTA
    if n == 31 and memcmp(s, b"response.audio_transcript.delta", 31) == 0:
        return _BETA_TRANSCRIPT_DELTA
    if n == 19 and memcmp(s, b"response.text.delta", 19) == 0:
        return _BETA_TEXT_DELTA
    return None


cdef object _flat_event(const unsigned char* p, const FlatObject* flat):
    """The event dict of a scanned flat frame, exactly as orjson would build it; None when unsure."""
    cdef Py_ssize_t i
    cdef const Field* f
    cdef dict event
    if _delta_unchecked(p, flat):
        return None
    event = _PyDict_NewPresized(flat.count)
    for i in range(flat.count):
        f = &flat.fields[i]
        if i == flat.type_at and f.kind == KIND_STRING:
            value = _streamed_type(p + f.value, f.value_len)
            if value is None:
                value = _value(p, f)
        else:
            value = _value(p, f)
        PyDict_SetItem(event, _key(p + f.key, f.key_len), value)
    if len(event) != flat.count:
        return None  # duplicate keys: the general parser's rule
    return event


cdef object _from_flat(const unsigned char* p, FlatObject* flat, object buffers, Py_ssize_t limit):
    """parse_frame's answer for a scanned flat frame: the result tuple, or _GENERAL."""
    result = _audio_from_flat(p, flat, buffers, limit)
    if result is _NOT_AUDIO:
        event = _flat_event(p, flat)
        if event is None:
            return _GENERAL
        return event, None, 0
    return result


cdef object _general_at(const unsigned char* p, Py_ssize_t n, object frame, object buffers, object limit):
    """parse_frame by orjson (the frames the flat scanner does not take); ``limit``: see ``_audio_of``."""
    event = _loads_event_at(p, n) if frame is None else _loads_event(frame)
    type_name = (<dict>event)[_K_TYPE]
    if type_name == _GA_AUDIO_DELTA or type_name == _BETA_AUDIO_DELTA:
        return _audio_of(event, buffers, limit)
    return event, None, 0


cdef object _frame_at(const unsigned char* p, Py_ssize_t n, object frame, object buffers, Py_ssize_t limit):
    """parse_frame on the UTF-8 text p[0:n] of ``frame`` (kept readable by the caller).

    ``frame`` may be None (a transport's buffer): the rare frames orjson must
    parse are then copied to ``bytes`` first.

    One pass of the flat scanner; a frame it does not take (nested values,
    escapes, floats, non-ASCII text ...) is parsed once by orjson.  The scanner
    gives up at the first nested value, so large nested events cost little more
    than orjson alone.
    """
    cdef FlatObject flat
    if _scan_flat(p, n, &flat):
        result = _from_flat(p, &flat, buffers, limit)
        if result is not _GENERAL:
            return result
    return _general_at(p, n, frame, buffers, _limit_object(limit))


cdef inline object _limit_object(Py_ssize_t limit):
    """A limit as ``_events_py`` takes it: None for none."""
    return None if limit == PY_SSIZE_T_MAX else limit


cdef int _frame_bytes(object frame, Py_buffer* view, const unsigned char** p, Py_ssize_t* n) except -1:
    """Point ``p``/``n`` at the UTF-8 text of ``frame`` when it can be read in place.

    Returns 1 for ``bytes`` and ASCII ``str`` (nothing to release), 2 for a
    ``bytearray`` or C-contiguous ``memoryview`` (``view`` is held: release it
    after the last read; holding it keeps a bytearray from being resized under
    ``p`` while Python code runs), 0 for anything else.  Raises what
    ``PyObject_GetBuffer`` raises for a strided or released memoryview.
    """
    if PyBytes_CheckExact(frame):
        p[0] = <const unsigned char*>PyBytes_AS_STRING(frame)
        n[0] = PyBytes_GET_SIZE(frame)
        return 1
    if PyUnicode_CheckExact(frame) and PyUnicode_IS_COMPACT_ASCII(frame):  # its characters are its UTF-8 bytes
        p[0] = <const unsigned char*>PyUnicode_DATA(frame)
        n[0] = PyUnicode_GET_LENGTH(frame)
        return 1
    if PyByteArray_CheckExact(frame) or type(frame) is memoryview:
        PyObject_GetBuffer(frame, view, PyBUF_SIMPLE)
        p[0] = <const unsigned char*>view.buf
        n[0] = view.len
        return 2
    # Non-ASCII text is beyond the flat scanner anyway (this also spares the str a
    # cached UTF-8 copy); other types get the pure twin's checks and messages.
    return 0


cdef object _fused(object frame, object buffers, bint whole, Py_ssize_t limit):
    """parse_frame (``whole``, with the audio delta ``limit``) or parse_audio_delta on ``frame`` of any type."""
    cdef Py_buffer view
    cdef const unsigned char* p = NULL
    cdef Py_ssize_t n = 0
    cdef int how
    try:
        how = _frame_bytes(frame, &view, &p, &n)
    except (BufferError, ValueError):
        _check_frame(frame)  # a strided or released memoryview: the pure twin's error
        raise
    if how == 0:
        return _parse_frame_limited(frame, buffers, _limit_object(limit)) if whole else _general_audio_delta(frame, buffers)
    try:
        if whole:
            return _frame_at(p, n, frame, buffers, limit)
        result = _audio_delta_at(p, n, buffers)
        if result is _GENERAL:
            return _general_audio_delta(frame, buffers)
        if result is _NOT_AUDIO:
            return None
        return result
    finally:
        if how == 2:
            PyBuffer_Release(&view)


def parse_audio_delta(frame, buffers):
    """Parse an audio delta frame and decode its audio straight onto its item's buffer.

    When ``frame`` is a ``response.output_audio.delta`` (GA) or
    ``response.audio.delta`` (beta) event whose ``item_id`` is a key of
    ``buffers``, the base64 ``delta`` is decoded and appended to
    ``buffers[item_id]`` and ``(event, buffer, start)`` is returned: ``event``
    holds every field except ``delta``, and the new samples are
    ``buffer[start:len(buffer)]`` (``start`` in samples).  Returns ``None`` for
    any other valid event (then call :func:`parse_event`).

    Raises :class:`EventParseError` like :func:`parse_event` for a frame that is
    not an event, and for an audio delta of a known item without a string
    ``delta``; ``ValueError`` when the delta is not valid base64 PCM16 (the
    buffer is unchanged); ``BufferError`` from a buffer that has live views (the
    buffer is unchanged: swap in a copy and retry).
    """
    return _fused(frame, buffers, False, PY_SSIZE_T_MAX)


def parse_frame(frame, buffers):
    """Parse one server frame, decoding an audio delta straight onto its item's buffer.

    The one-call form of :func:`parse_audio_delta` and :func:`parse_event`
    (the frame is parsed once).  For a ``response.output_audio.delta`` (GA) or
    ``response.audio.delta`` (beta) event whose ``item_id`` is a key of
    ``buffers``, returns ``(event, buffer, start)`` exactly as
    :func:`parse_audio_delta` does (``event`` without ``delta``, the new samples
    are ``buffer[start:]``, ``start`` in samples).  For every other event,
    returns ``(event, None, 0)`` with ``event`` exactly as :func:`parse_event`
    gives it.  Raises what :func:`parse_audio_delta` raises.
    """
    return _fused(frame, buffers, True, PY_SSIZE_T_MAX)


# ---------------------------------------------------------------------------
# FrameReceiver
# ---------------------------------------------------------------------------

cdef class DeltaSink:
    """The C-level taker of streamed deltas a :class:`FrameReceiver` hands over without their event.

    Compiled code only (the client's fast path subclasses it; there is no pure
    twin, as there is no Python-visible behaviour of its own).  When
    ``engaged()`` says so, the receiver gives it the deltas that make up almost
    all of a response, read straight from the frame: audio deltas already
    decoded onto their item's buffer (``audio``) and text, transcript and
    function-argument deltas (``text``).  Each returns 1 when it did
    everything the receiver's callbacks would have done with the event, or 0,
    and then the receiver builds the event and calls them as usual.  This base
    class takes nothing.
    """

    cdef bint engaged(self) except -1:
        return False

    cdef int audio(self, str item_id, object buffer, Py_ssize_t start) except -1:
        return 0

    cdef int text(self, str type_name, str item_id, long long content_index, str delta) except -1:
        return 0


cdef bint _duplicate_keys(const unsigned char* p, const FlatObject* flat) noexcept nogil:
    """True when two fields of the scanned frame have the same key (orjson keeps the last: the general path decides)."""
    cdef Py_ssize_t i, j
    cdef const Field* a
    cdef const Field* b
    for i in range(1, flat.count):
        a = &flat.fields[i]
        for j in range(i):
            b = &flat.fields[j]
            if a.key_len == b.key_len and memcmp(p + a.key, p + b.key, a.key_len) == 0:
                return True
    return False


cdef inline bint _truthy(const unsigned char* p, const Field* f) noexcept nogil:
    """``bool(value)`` of a scanned field."""
    if f.kind == KIND_STRING:
        return f.value_len > 0
    if f.kind == KIND_INT:
        return f.number != 0
    return f.kind == KIND_TRUE


cdef class FrameReceiver:
    """Turns each server frame into one callback: the receive path of a connection.

    Calling the receiver with a frame (``bytes``, ``str``, ``bytearray`` or a
    ``memoryview``, the types :func:`parse_frame` takes) parses it once with
    ``buffers`` (item id -> :class:`~realtime_fast.audio.AudioBuffer`, read at
    every frame, so items can be added and removed at any time) and calls:

    * ``on_audio(event, buffer, start)`` for an audio delta decoded onto a
      registered item's buffer (as :func:`parse_frame` returns it);
    * ``on_event(event)`` for every other event, including an audio delta that
      could not be decoded onto its buffer (one with live views, or a ``delta``
      that is not base64 PCM16): that event keeps its ``delta``, as
      :func:`parse_event` gives it, for the layer above to handle or report;
    * ``on_error(message, exc)`` for a frame that is not an event (``exc`` is the
      :class:`~realtime_fast.errors.EventParseError`, or what else reading the
      frame raised), and for an audio delta over ``max_audio_delta_size``
      (``exc`` is a :class:`~realtime_fast.errors.MessageTooLarge`; the delta
      is dropped).

    ``max_audio_delta_size`` (bytes of base64 text, None for no limit) bounds
    the audio one delta may carry; settable at any time.

    The frame is not kept: a ``memoryview`` may be released as soon as the call
    returns.  Exceptions raised by the callbacks propagate to the caller.  The
    C-level ``feed`` reads a frame straight from a transport's receive buffer
    (the picows transport's listener calls it), with the same result.  Compiled
    code may also attach a ``DeltaSink`` (``sink``), which takes plain streamed
    deltas without an event dict being built for them; a sink that is not a
    compiled ``DeltaSink`` (the pure twin's) is kept but not called here.
    """

    def __init__(self, buffers, on_event, on_audio, on_error, max_audio_delta_size=None):
        self.buffers = buffers
        self.on_event = on_event
        self.on_audio = on_audio
        self.on_error = on_error
        self.sink = None
        self.max_audio_delta_size = max_audio_delta_size

    @property
    def sink(self):
        """The delta sink (see the class docstring), or None."""
        return self._sink

    @sink.setter
    def sink(self, value):
        self._sink = value
        self._csink = value if isinstance(value, DeltaSink) else None

    @property
    def max_audio_delta_size(self):
        """Longest audio delta accepted, in bytes of base64 text (None: no limit)."""
        return self._delta_limit_object

    @max_audio_delta_size.setter
    def max_audio_delta_size(self, value):
        self._delta_limit = PY_SSIZE_T_MAX if value is None else <Py_ssize_t?>value
        self._delta_limit_object = _limit_object(self._delta_limit)

    def __call__(self, frame):
        cdef Py_buffer view
        cdef const unsigned char* p = NULL
        cdef Py_ssize_t n = 0
        cdef int how
        try:
            how = _frame_bytes(frame, &view, &p, &n)
        except (BufferError, ValueError):
            how = 0  # a strided or released view: the general path reports it
        if how == 0:
            try:
                result = _fused(frame, self.buffers, True, self._delta_limit)
            except Exception as exc:  # never let one frame break the connection
                _frame_failed(self, frame, exc)
                return
            self._deliver(<tuple>result)
            return
        try:
            self._receive(p, n, frame)
        finally:
            if how == 2:
                PyBuffer_Release(&view)

    cdef int feed(self, const unsigned char* p, Py_ssize_t n) except -1:
        return self._receive(p, n, None)

    cdef int _receive(self, const unsigned char* p, Py_ssize_t n, object frame) except -1:
        """Handle the frame p[0:n] (``frame`` its object, or None for a transport's buffer)."""
        cdef FlatObject flat
        cdef bint scanned = _scan_flat(p, n, &flat)
        if (scanned and flat.delta_at >= 0 and self._csink is not None  # only deltas go to the sink
                and self._csink.engaged() and self._to_sink(p, &flat)):
            return 0
        try:
            result = _GENERAL
            if scanned:
                result = _from_flat(p, &flat, self.buffers, self._delta_limit)
            if result is _GENERAL:
                result = _general_at(p, n, frame, self.buffers, self._delta_limit_object)
        except Exception as exc:  # never let one frame break the connection
            if frame is None and not isinstance(exc, _MessageTooLarge):  # (that report does not read the frame)
                frame = PyBytes_FromStringAndSize(<const char*>p, n)
            _frame_failed(self, frame, exc)
            return 0
        self._deliver(<tuple>result)
        return 0

    cdef int _to_sink(self, const unsigned char* p, FlatObject* flat) except -1:
        """Give the scanned frame to the engaged sink when it is a plain streamed delta; 1 when it was handled.

        0 leaves the frame, untouched, to the usual path.  Only frames that path
        would take without orjson come here, so the result is the same: an
        audio delta decoded onto a registered AudioBuffer, or a text delta whose
        fields are plain (no escapes, no duplicate keys, a true event_id).
        """
        cdef const Field* f
        cdef const Field* d
        cdef Py_ssize_t i, start
        cdef long long content_index
        cdef bint has_event_id
        cdef str type_name
        if flat.item_id_at < 0 or flat.delta_at < 0:
            return 0
        f = &flat.fields[flat.item_id_at]
        d = &flat.fields[flat.delta_at]
        if f.kind != KIND_STRING or d.kind != KIND_STRING:
            return 0
        type_name = _audio_type(p, flat)
        if type_name is not None:
            if d.value_len > self._delta_limit:
                return 0  # the usual path reports it
            item_id = _ascii(p + f.value, f.value_len)
            buffer = _buffer_of(self.buffers, item_id)
            if type(buffer) is not AudioBuffer or _duplicate_keys(p, flat):
                return 0
            try:
                start = _decode_onto(p, flat, <AudioBuffer>buffer)
            except Exception:
                return 0  # live views: the usual path raises again and reports it
            if start < 0:
                return 0  # unchanged buffer; the usual path gives the exact error
            if not self._csink.audio(item_id, buffer, start):
                # Decoded already: only the event is missing for the usual callback.
                self.on_audio(_audio_event(p, flat, type_name, item_id), buffer, start)
            return 1
        if flat.type_at < 0 or flat.fields[flat.type_at].kind != KIND_STRING:
            return 0
        f = &flat.fields[flat.type_at]
        type_name = _streamed_type(p + f.value, f.value_len)
        if type_name is None or not _plain(p + d.value, d.value_len):
            return 0
        # The client reads "event_id" (true) and "content_index" (0 when absent, -1: not an int).
        has_event_id = False
        content_index = 0
        for i in range(flat.count):
            f = &flat.fields[i]
            if f.key_len == 8 and memcmp(p + f.key, b"event_id", 8) == 0:
                has_event_id = _truthy(p, f)
            elif f.key_len == 13 and memcmp(p + f.key, b"content_index", 13) == 0:
                content_index = f.number if f.kind == KIND_INT else -1
        if not has_event_id or _duplicate_keys(p, flat):
            return 0
        f = &flat.fields[flat.item_id_at]
        return self._csink.text(type_name, _ascii(p + f.value, f.value_len), content_index, _ascii(p + d.value, d.value_len))

    cdef int _deliver(self, tuple result) except -1:
        buffer = result[1]
        if buffer is None:
            self.on_event(result[0])
        else:
            self.on_audio(result[0], buffer, result[2])
        return 0


# ---------------------------------------------------------------------------
# Serialising
# ---------------------------------------------------------------------------

def dumps_event(event):
    """Serialise a client event to the UTF-8 JSON bytes sent on the wire (key order kept).

    Nested Mappings are accepted.  Raises ``TypeError`` naming the value type
    that is not JSON (``bytes`` included: base64-encode audio first).
    """
    if type(event) is not dict and not isinstance(event, _Mapping):
        raise _event_not_mapping_error(event)
    try:
        return _dumps(event, default=_json_default)
    except _JSONEncodeError as exc:
        raise _encode_error(exc) from None


cdef inline bint _is_int16_format(const char* fmt) noexcept:
    # The formats _audio_py accepts as PCM16 (see its _INT16_FORMATS).
    return fmt != NULL and (
        strcmp(fmt, "h") == 0 or strcmp(fmt, "<h") == 0 or strcmp(fmt, "=h") == 0 or strcmp(fmt, "@h") == 0
    )


cdef int _acquire_pcm(object pcm, Py_buffer* view) except -1:
    """Fill ``view`` with the contiguous PCM16 bytes of ``pcm`` (the caller releases it)."""
    cdef bint usable = False
    if PyObject_CheckBuffer(pcm):
        PyObject_GetBuffer(pcm, view, PyBUF_RECORDS_RO)
        usable = PyBuffer_IsContiguous(view, b'C') and (
            view.itemsize == 1 or (view.itemsize == 2 and _is_int16_format(view.format))
        )
        if not usable:
            PyBuffer_Release(view)
    if not usable:
        # Strided input is copied; anything else gets the pure rules and messages.
        PyObject_GetBuffer(_pcm_view(pcm, "dumps_append_audio"), view, PyBUF_SIMPLE)
    if view.len & 1:
        n = view.len
        PyBuffer_Release(view)
        raise ValueError(_ODD_PCM.format(where="dumps_append_audio", n=n))
    return 0


cdef inline bint _needs_json_escape(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """True when UTF-8 s[0:n] holds a control character, '"' or '\\' (what JSON escapes)."""
    cdef unsigned char bad = 0
    cdef Py_ssize_t i
    for i in range(n):
        bad |= <unsigned char>((s[i] < 0x20) | (s[i] == 0x22) | (s[i] == 0x5C))
    return bad != 0


cdef bytes _append_frame(const unsigned char* pcm, Py_ssize_t nbytes, object event_id):
    cdef const unsigned char* id_utf8
    cdef Py_ssize_t id_len = 0, quoted_len, total
    cdef unsigned char* dst
    cdef bytes quoted = None
    try:
        id_utf8 = <const unsigned char*>PyUnicode_AsUTF8AndSize(event_id, &id_len)
    except UnicodeEncodeError:
        raise _event_id_surrogate_error() from None
    if _needs_json_escape(id_utf8, id_len):
        quoted = _dumps(event_id)  # orjson's escaping, so both twins give the same bytes
        quoted_len = PyBytes_GET_SIZE(quoted)
    else:
        quoted_len = id_len + 2
    total = (len(_APPEND_HEAD) + quoted_len + len(_APPEND_MID) + (nbytes + 2) // 3 * 4 + len(_APPEND_TAIL))
    out = PyBytes_FromStringAndSize(NULL, total)
    dst = <unsigned char*>PyBytes_AS_STRING(out)
    memcpy(dst, PyBytes_AS_STRING(_APPEND_HEAD), len(_APPEND_HEAD))
    dst += len(_APPEND_HEAD)
    if quoted is not None:
        memcpy(dst, PyBytes_AS_STRING(quoted), quoted_len)
    else:
        dst[0] = 34
        memcpy(dst + 1, id_utf8, id_len)
        dst[id_len + 1] = 34
    dst += quoted_len
    memcpy(dst, PyBytes_AS_STRING(_APPEND_MID), len(_APPEND_MID))
    dst += len(_APPEND_MID)
    dst += encode_b64_into(pcm, nbytes, dst)
    memcpy(dst, PyBytes_AS_STRING(_APPEND_TAIL), len(_APPEND_TAIL))
    return out


def dumps_append_audio(pcm, event_id):
    """Build the ``input_audio_buffer.append`` frame for ``pcm`` in one go.

    Returns the bytes of ``{"event_id": event_id, "type":
    "input_audio_buffer.append", "audio": "<base64 of pcm>"}`` exactly as
    :func:`dumps_event` would.  ``pcm`` is PCM16 as accepted by
    ``b64encode_pcm16`` (bytes, bytearray, memoryview, ``array('h')``, numpy
    int16; an odd byte length is a ``ValueError``).  ``event_id`` is JSON-escaped
    as needed; a lone surrogate in it is a ``ValueError``.
    """
    cdef Py_buffer view
    cdef Py_ssize_t nbytes
    if not PyUnicode_Check(event_id):
        raise _event_id_type_error(event_id)
    if PyBytes_CheckExact(pcm):
        nbytes = PyBytes_GET_SIZE(pcm)
        if nbytes & 1:
            raise ValueError(_ODD_PCM.format(where="dumps_append_audio", n=nbytes))
        return _append_frame(<const unsigned char*>PyBytes_AS_STRING(pcm), nbytes, event_id)
    _acquire_pcm(pcm, &view)
    try:
        return _append_frame(<const unsigned char*>view.buf, view.len, event_id)
    finally:
        PyBuffer_Release(&view)
