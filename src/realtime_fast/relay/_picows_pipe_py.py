"""The relay's frame pipe, pure Python: the specification of ``_picows_pipe``.

A relayed session is two picows connections (the client's, accepted by the
relay, and the upstream one the relay opened) and one :class:`Side` listener
on each.  A side forwards every frame it receives to the other connection as
it arrived, without parsing it: the scanner below reads only the top-level
``type`` of a text frame (and, on ``response.done``, the token usage) from
the frame's bytes, and the frame goes out again from the same buffer.

Only a few kinds of frames leave this path, each by the session's choice
(:attr:`Side.watch`): they are handed to the session object as ``bytes``
(``on_client_event`` / ``on_upstream_event``), which says whether the frame
is forwarded.  A frame whose type the scanner cannot read unambiguously
(not a JSON object, no ``type``, ``type`` given twice, a backslash in a key
or in the type) is handed over too when anything is watched, so that a
policy cannot be dodged by spelling a type in a way only a full parser reads.

The scanner works on raw bytes: it skips strings (honouring backslash
escapes), nested objects and arrays, and compares keys byte for byte.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Tuple

from picows import WSListener, WSMsgType

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

_logger = logging.getLogger("realtime_fast.relay")

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONTINUATION = WSMsgType.CONTINUATION
_CLOSE = WSMsgType.CLOSE

#: Bits of :attr:`Side.watch`: the frames handed to the session instead of forwarded blindly.
WATCH_SESSION_UPDATE = 1
WATCH_RESPONSE_CREATE = 2
WATCH_ITEM_CREATE = 4
WATCH_OUTPUT_ITEM_DONE = 8
WATCH_RESPONSE_DONE = 16

_WATCHED = {
    b"session.update": WATCH_SESSION_UPDATE,
    b"response.create": WATCH_RESPONSE_CREATE,
    b"conversation.item.create": WATCH_ITEM_CREATE,
    b"response.output_item.done": WATCH_OUTPUT_ITEM_DONE,
    b"response.done": WATCH_RESPONSE_DONE,
}
_RESPONSE_DONE = b"response.done"
_ERROR = b"error"

_WS = b" \t\r\n"
_QUOTE = 0x22
_BACKSLASH = 0x5C
_LBRACE, _RBRACE = 0x7B, 0x7D
_LBRACKET, _RBRACKET = 0x5B, 0x5D
_COMMA, _COLON = 0x2C, 0x3A
_SPACES = frozenset(_WS)


# --------------------------------------------------------------------------- scanner


def _skip_ws(data: bytes, i: int, n: int) -> int:
    while i < n and data[i] in _SPACES:
        i += 1
    return i


def _string_end(data: bytes, i: int, n: int) -> int:
    """Index just after the string whose opening quote is at ``i``; -1 when it does not end."""
    j = i + 1
    while True:
        j = data.find(b'"', j, n)
        if j < 0:
            return -1
        k = j - 1
        while data[k] == _BACKSLASH:  # an odd run of backslashes escapes the quote
            k -= 1
        if (j - 1 - k) % 2 == 0:
            return j + 1
        j += 1


def _value_end(data: bytes, i: int, n: int) -> int:
    """Index just after the JSON value starting at ``i``; -1 when it does not end."""
    if i >= n:
        return -1
    c = data[i]
    if c == _QUOTE:
        return _string_end(data, i, n)
    if c == _LBRACE or c == _LBRACKET:
        depth = 0
        while i < n:
            c = data[i]
            if c == _QUOTE:
                i = _string_end(data, i, n)
                if i < 0:
                    return -1
                continue
            if c == _LBRACE or c == _LBRACKET:
                depth += 1
            elif c == _RBRACE or c == _RBRACKET:
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return -1
    # a number, true, false or null: up to the next delimiter
    while i < n and data[i] not in b",}] \t\r\n":
        i += 1
    return i


def _members(data: bytes, i: int, n: int):
    """Yield ``(key_start, key_end, value_start, value_end)`` of the object at ``i`` (raw key bytes, no quotes).

    Stops early (yields ``None``) when the object is malformed.
    """
    if i >= n or data[i] != _LBRACE:
        yield None
        return
    i = _skip_ws(data, i + 1, n)
    if i < n and data[i] == _RBRACE:
        return
    while True:
        if i >= n or data[i] != _QUOTE:
            yield None
            return
        key_end = _string_end(data, i, n)
        if key_end < 0:
            yield None
            return
        j = _skip_ws(data, key_end, n)
        if j >= n or data[j] != _COLON:
            yield None
            return
        value_start = _skip_ws(data, j + 1, n)
        value_end = _value_end(data, value_start, n)
        if value_end < 0:
            yield None
            return
        yield i + 1, key_end - 1, value_start, value_end
        i = _skip_ws(data, value_end, n)
        if i < n and data[i] == _COMMA:
            i = _skip_ws(data, i + 1, n)
            continue
        if i < n and data[i] == _RBRACE:
            return
        yield None
        return


def scan_type(data: Any) -> Optional[bytes]:
    """The raw bytes of the top-level ``type`` string of one JSON text frame (``data``: any bytes-like object).

    ``None`` when a full parser is needed to tell the type: the frame is not a
    well-formed object, has no string ``type``, names ``type`` twice, or has a
    backslash in a top-level key or in the type.  Reads the whole top level
    (string values are skipped by looking for their closing quote), nothing
    deeper.
    """
    data = bytes(data)
    n = len(data)
    found: Optional[bytes] = None
    for member in _members(data, _skip_ws(data, 0, n), n):
        if member is None:
            return None
        ks, ke, vs, ve = member
        key = data[ks:ke]
        if _BACKSLASH in key:
            return None
        if key == b"type":
            if found is not None or data[vs] != _QUOTE:
                return None
            found = data[vs + 1 : ve - 1]
            if _BACKSLASH in found:
                return None
    return found


def _member_value(data: bytes, i: int, n: int, key: bytes) -> int:
    """Start of the value of ``key`` in the object at ``i`` (first occurrence); -1 when absent or malformed."""
    for member in _members(data, i, n):
        if member is None:
            return -1
        ks, ke, vs, _ve = member
        if data[ks:ke] == key:
            return vs
    return -1


def _int_at(data: bytes, i: int, n: int) -> int:
    """The non-negative integer at ``i`` (0 when there is none)."""
    value = 0
    while i < n and 0x30 <= data[i] <= 0x39:
        value = value * 10 + data[i] - 0x30
        i += 1
    return value


def scan_usage(data: Any) -> Optional[Tuple[int, int, int]]:
    """``(input_tokens, output_tokens, total_tokens)`` of a ``response.done`` frame's ``response.usage``.

    ``None`` when the frame has no usage object (a count missing from it is 0).
    """
    data = bytes(data)
    n = len(data)
    response = _member_value(data, _skip_ws(data, 0, n), n, b"response")
    if response < 0:
        return None
    usage = _member_value(data, response, n, b"usage")
    if usage < 0 or data[usage] != _LBRACE:
        return None
    counts = []
    for key in (b"input_tokens", b"output_tokens", b"total_tokens"):
        at = _member_value(data, usage, n, key)
        counts.append(_int_at(data, at, n) if at >= 0 else 0)
    return counts[0], counts[1], counts[2]


# --------------------------------------------------------------------------- the pipe


class Side(WSListener):
    """The listener of one of a session's two connections: forwards its frames to the other one.

    ``session`` is the relay's session object; it is called for watched frames
    (``on_client_event(type, payload)`` from the client side,
    ``on_upstream_event(type, payload)`` from the upstream side; ``type`` is a
    ``str`` or ``None`` when only a parser can tell; return True to forward,
    False to drop, or ``bytes`` to forward instead),
    for the usage of each ``response.done`` (``on_usage(input, output,
    total)``), for close frames (``on_close_frame(side, code, reason)``), for
    the end of the connection (``on_disconnected(side)``) and for write
    back-pressure (``on_pause_writing(side)`` / ``on_resume_writing(side)``).

    Until :meth:`attach` gives it the other connection, frames are copied and
    held (the upstream may speak before the client's handshake is answered).
    """

    def __init__(self, session: Any, upstream: bool, max_message_size: int) -> None:
        super().__init__()
        self.session = session
        #: True for the upstream connection's side (its frames go down to the client).
        self.upstream = upstream
        self.max_message_size = max_message_size
        #: Which frame types go to the session (``WATCH_*`` bits).
        self.watch = 0
        #: Messages and bytes received on this connection (both forwarded and not).
        self.frames = 0
        self.bytes = 0
        #: ``error`` events seen (upstream side).
        self.errors = 0
        self.peer: Any = None
        self.held: Optional[list] = []
        self.fragments: Optional[bytearray] = None
        self.fragments_text = True

    def attach(self, peer: Any) -> None:
        """Start forwarding to ``peer`` (a picows WSTransport), after sending what was held."""
        self.peer = peer
        held, self.held = self.held, None
        if held:
            for is_text, payload in held:
                self._forward_bytes(is_text, payload)

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        msg_type = frame.msg_type
        if frame.rsv1 or frame.rsv2 or frame.rsv3:  # no extension is negotiated: a set bit is a protocol error
            _fail(transport, 1002, "reserved bits set")
            return
        if msg_type is _TEXT or msg_type is _BINARY:
            if self.fragments is not None:
                _fail(transport, 1002, "expected a continuation frame")
                return
            if not frame.fin:
                self.fragments = bytearray(frame.get_payload_as_memoryview())
                self.fragments_text = msg_type is _TEXT
                return
            if msg_type is _BINARY:
                self.frames += 1
                self.bytes += frame.payload_size
                self._forward_bytes(False, frame.get_payload_as_bytes())
                return
            self._message(frame.get_payload_as_memoryview(), frame)
        elif msg_type is _CONTINUATION:
            fragments = self.fragments
            if fragments is None:
                _fail(transport, 1002, "unexpected continuation frame")
                return
            fragments += frame.get_payload_as_memoryview()
            if len(fragments) > self.max_message_size:
                self.fragments = None
                _fail(transport, 1009, "message too big")
                return
            if frame.fin:
                self.fragments = None
                if self.fragments_text:
                    self._message(memoryview(fragments), None)
                else:
                    self.frames += 1
                    self.bytes += len(fragments)
                    self._forward_bytes(False, bytes(fragments))
        elif msg_type is _CLOSE:
            self.session.on_close_frame(self, int(frame.get_close_code()), frame.get_close_reason() or "")

    def _message(self, payload: memoryview, frame: Any) -> None:
        """One whole text message: classify it, maybe hand it to the session, forward it."""
        self.frames += 1
        self.bytes += len(payload)
        kind = scan_type(payload)
        if self.upstream:
            if kind == _RESPONSE_DONE:
                usage = scan_usage(payload)
                if usage is not None:
                    self.session.on_usage(*usage)
            elif kind == _ERROR:
                self.errors += 1
        if self.watch and (kind is None or self.watch & _WATCHED.get(kind, 0)):
            copy = bytes(payload)
            name = kind.decode("utf-8", "replace") if kind is not None else None
            try:
                if self.upstream:
                    forward = self.session.on_upstream_event(name, copy)
                else:
                    forward = self.session.on_client_event(name, copy)
            except Exception:
                _logger.error("realtime_fast.relay: event hook raised", exc_info=True)
                forward = False
            if forward:
                self._forward_bytes(True, forward if isinstance(forward, bytes) else copy)
            return
        peer = self.peer
        if peer is None:
            self.held.append((True, bytes(payload)))  # type: ignore[union-attr]
        else:
            peer.send(_TEXT, payload)

    def _forward_bytes(self, is_text: bool, payload: bytes) -> None:
        peer = self.peer
        if peer is None:
            self.held.append((is_text, payload))  # type: ignore[union-attr]
        else:
            peer.send(_TEXT if is_text else _BINARY, payload)

    def on_ws_disconnected(self, transport: Any) -> None:
        self.session.on_disconnected(self)

    def pause_writing(self) -> None:
        self.session.on_pause_writing(self)

    def resume_writing(self) -> None:
        self.session.on_resume_writing(self)


def _fail(transport: Any, code: int, reason: str) -> None:
    """End a connection that broke the WebSocket protocol (RFC 6455 close codes)."""
    from picows import WSCloseCode

    transport.send_close(WSCloseCode(code), reason.encode())
    transport.disconnect()
