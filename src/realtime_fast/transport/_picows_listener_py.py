"""The picows transport's frame listener, pure Python: the specification of ``_picows_listener``.

One listener per connection receives picows' callbacks.  A single-frame text
message goes to ``on_message``: straight into a
:class:`~realtime_fast.events.FrameReceiver` when ``on_message`` is one (the
compiled twin reads the frame from picows' receive buffer at C level), else
as a ``memoryview`` of that buffer that is released when ``on_message``
returns.  Fragmented messages are joined into one ``bytearray`` (one copy) and
delivered once.  The functions below the class are the cold paths, shared
with the compiled twin so that both behave the same.
"""

from __future__ import annotations

from typing import Any

import picows
from picows import WSCloseCode, WSListener, WSMsgType, WSProtocolError

from .base import (
    REASON_EXPECTED_CONTINUATION,
    REASON_MESSAGE_TOO_BIG,
    REASON_RESERVED_BITS,
    REASON_UNEXPECTED_CONTINUATION,
)

__all__ = ["Listener"]

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONTINUATION = WSMsgType.CONTINUATION
_CLOSE = WSMsgType.CLOSE


class Listener(WSListener):
    """Receives picows' callbacks for one connection and forwards them to the transport's handlers.

    ``owner`` is the :class:`~realtime_fast.transport.picows_transport.PicowsTransport`
    (read: ``close_requested``, ``logger``; called: ``close_frame_received``,
    ``pause_writing``, ``resume_writing``).  Messages that arrive before
    :func:`deliver_early` runs are copied and held back.
    """

    def __init__(self, owner: Any, on_message: Any, on_binary: Any, max_message_size: int) -> None:
        super().__init__()
        self.owner = owner
        self.on_message = on_message
        self.on_binary = on_binary
        self.max_message_size = max_message_size
        #: Parts of a fragmented message so far, and whether it is text.
        self.fragments: bytearray | None = None
        self.fragments_text = True
        #: Messages (copied) that arrived before connect() returned; None once delivered.
        self.early: list[tuple[bool, bytes]] | None = []

    # The hot path: one call per frame, straight from picows' parser.
    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type is _TEXT or msg_type is _BINARY:
            if transport.is_close_frame_sent and not self.owner.close_requested:
                # The connection failed: picows may go on parsing after a
                # protocol error (an oversized frame, say); deliver nothing more.
                return
            if frame.rsv1 or frame.rsv2 or frame.rsv3:
                raise reserved_bits_error()
            if self.fragments is not None:
                raise unfinished_message_error()
            if frame.fin:
                deliver_view(self, msg_type is _TEXT, frame.get_payload_as_memoryview())
            else:
                start_message(self, msg_type is _TEXT, frame)
        elif msg_type is _CONTINUATION:
            if not transport.is_close_frame_sent or self.owner.close_requested:
                continue_message(self, frame)
        elif msg_type is _CLOSE:
            self.owner.close_frame_received(transport)
        # PING frames are answered by picows (enable_auto_pong); PONG frames
        # that answer the keepalive ping are consumed by picows, others are ignored.

    def pause_writing(self) -> None:
        self.owner.pause_writing()

    def resume_writing(self) -> None:
        self.owner.resume_writing()


# -- shared with the compiled twin ------------------------------------------------
# Protocol errors carry the shared reasons of ``transport.base`` as their text, so
# that ``on_close`` reports the same reason as the websockets backend.


def reserved_bits_error() -> WSProtocolError:
    """A frame with RSV bits set (no extension is ever negotiated)."""
    return WSProtocolError(WSCloseCode.PROTOCOL_ERROR, REASON_RESERVED_BITS)


def unfinished_message_error() -> WSProtocolError:
    """A new data frame before the previous fragmented message was finished."""
    return WSProtocolError(WSCloseCode.PROTOCOL_ERROR, REASON_EXPECTED_CONTINUATION)


def deliver_view(listener: Any, is_text: bool, view: memoryview) -> None:
    """Deliver a whole message that is a view of picows' buffer, then release the view."""
    try:
        if listener.early is not None:
            listener.early.append((is_text, bytes(view)))
        elif is_text:
            listener.on_message(view)
        else:
            listener.on_binary(view)
    except Exception:  # the layer above reports its own failures; never break the connection
        handler_failed(listener)
    try:
        view.release()
    except BufferError:
        listener.owner.logger.error(
            "realtime_fast: a message handler kept a buffer of the borrowed memoryview; copy the data instead."
        )


def start_message(listener: Any, is_text: bool, frame: picows.WSFrame) -> None:
    """The first frame of a fragmented message: copy its payload."""
    listener.fragments = bytearray(frame.get_payload_as_memoryview())
    listener.fragments_text = is_text


def continue_message(listener: Any, frame: picows.WSFrame) -> None:
    """A continuation frame: add it to the message, and deliver the message when it is the last."""
    parts = listener.fragments
    if parts is None:
        raise WSProtocolError(WSCloseCode.PROTOCOL_ERROR, REASON_UNEXPECTED_CONTINUATION)
    if frame.rsv1 or frame.rsv2 or frame.rsv3:
        raise reserved_bits_error()
    size = len(parts) + frame.payload_size
    if size > listener.max_message_size:
        raise WSProtocolError(WSCloseCode.MESSAGE_TOO_BIG, f"{REASON_MESSAGE_TOO_BIG}: at least {size} bytes")
    view = frame.get_payload_as_memoryview()
    try:
        parts += view
    finally:
        view.release()
    if frame.fin:
        listener.fragments = None
        deliver(listener, listener.fragments_text, parts)


def deliver(listener: Any, is_text: bool, data: bytes | bytearray) -> None:
    """Deliver a message that is not a view of picows' buffer (joined fragments, or held back)."""
    if listener.early is not None:
        listener.early.append((is_text, bytes(data)))
        return
    try:
        if is_text:
            listener.on_message(data if type(data) is bytes else memoryview(data))
        else:
            listener.on_binary(data if type(data) is bytes else memoryview(data))
    except Exception:  # the layer above reports its own failures; never break the connection
        handler_failed(listener)


def handler_failed(listener: Any) -> None:
    """Log the exception a message handler raised (call from the ``except`` block) on the transport's logger."""
    listener.owner.logger.error("realtime_fast: message handler raised", exc_info=True)


def deliver_early(listener: Any) -> None:
    """Deliver the messages held back during connect(), in order; from then on messages go straight to the handlers."""
    early, listener.early = listener.early, None
    for is_text, data in early or ():
        deliver(listener, is_text, data)
