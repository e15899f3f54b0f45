"""The ``websockets`` backend: pure Python, always available.

Built on ``websockets.asyncio.client``, with one change to how messages come
in: instead of queueing them for ``recv()`` (a task switch and a queue per
message), a :class:`ClientConnection` subclass hands each complete data message
to the transport's callbacks straight from the protocol's frame events.  Text
messages reach ``on_message`` as ``bytes`` exactly as they arrived, or, from
64 KiB on, as a ``memoryview`` of websockets' own buffer, borrowed for the
call (no UTF-8 decode here; the event parser reports invalid text like any other malformed
frame, so one bad frame does not end the session).  Fragmented messages are
joined and delivered once.

Behaviour shared with the ``picows`` backend:

* ``wss://`` uses the default SSL context (certificate and host name checks on),
  or the ``ssl`` context given to :meth:`WebsocketsTransport.connect`.
* ``proxy``: None (direct, even when ``HTTPS_PROXY`` is set: websockets would
  read it by itself), an ``http://host:port`` HTTP CONNECT proxy, or
  ``"env"`` (see :mod:`realtime_fast.transport._options`).  A proxy needs
  websockets 15.0 or later.
* Subprotocols are offered in ``Sec-WebSocket-Protocol``; a server that picks
  one that was not offered fails the handshake.
* No compression is negotiated (it costs more CPU than it saves on loopback and
  LAN), messages up to ``max_message_size`` bytes are accepted.
* Keepalive: a ping every ``ping_interval`` seconds; no pong within another
  ``ping_interval`` seconds fails the connection with close code 1011 and
  reason ``keepalive ping timeout`` (``on_close`` gets an error).
* ``on_close`` follows the rule in :mod:`realtime_fast.transport.base`: the
  library's protocol errors are reported with the shared reasons and messages.
* ``User-Agent: realtime-fast/<version> Python/<x.y>`` is sent unless the
  caller's headers have a User-Agent.
* Messages that arrive together with the handshake response are held back and
  delivered just after :meth:`WebsocketsTransport.connect` returns.
* Sends never block: :meth:`WebsocketsTransport.send_text` frames and masks
  the message and hands it to the socket's write buffer at once, in order;
  :meth:`WebsocketsTransport.drain` waits while that buffer is above the
  high-water mark, and returns as soon as it is at or below it (the low-water
  mark of the socket transport is set to the high-water mark).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import ssl as _ssl
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    PayloadTooBig,
    ProtocolError,
    WebSocketException,
)
from websockets.frames import Frame, Opcode

try:  # websockets 15+: the proxy's refusal (HTTP status) and its other failures
    from websockets.exceptions import InvalidProxyStatus as _InvalidProxyStatus
    from websockets.exceptions import ProxyError as _ProxyError
except ImportError:  # pragma: no cover - websockets 14: no proxy support, never raised

    class _ProxyError(Exception):  # type: ignore[no-redef]
        pass

    class _InvalidProxyStatus(_ProxyError):  # type: ignore[no-redef]
        pass


#: websockets 15+ takes ``proxy`` (and reads the environment's proxy unless given
#: None); older releases have no proxy support and no ``proxy`` argument.
_PROXY_SUPPORTED = "proxy" in inspect.signature(connect).parameters

#: How websockets words a server's pick of a subprotocol that was not offered.
_UNSUPPORTED_SUBPROTOCOL = "unsupported subprotocol: "
from websockets.protocol import State

from .._redact import RedactingLogger, Redactor, secrets_of_handshake
from ..errors import ConnectTimeout, HandshakeRejected, TransportError
from . import base
from ._errors import os_error_text, tls_error_text, transport_error, user_agent
from ._options import check_proxy, check_ssl, proxy_address, resolve_proxy
from .base import DEFAULT_HIGH_WATER, MAX_MESSAGE_SIZE, CloseHandler, MessageHandler, Transport

__all__ = ["WebsocketsTransport"]

#: Seconds :meth:`WebsocketsTransport.close` waits for the server's close frame before aborting.
DEFAULT_CLOSE_TIMEOUT: float = 2.0

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT
_SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})

#: websockets' protocol-error texts -> the shared reasons of ``base``.
_PROTOCOL_REASONS = {
    "unexpected continuation frame": base.REASON_UNEXPECTED_CONTINUATION,
    "expected a continuation frame": base.REASON_EXPECTED_CONTINUATION,
    "reserved bits must be 0": base.REASON_RESERVED_BITS,
    "incorrect masking": base.REASON_MASKED_FRAME,
    "invalid opcode": base.REASON_INVALID_OPCODE,
    "control frame too long": base.REASON_CONTROL_FRAME_TOO_LONG,
    "fragmented control frame": base.REASON_FRAGMENTED_CONTROL_FRAME,
    "invalid status code": base.REASON_INVALID_CLOSE_FRAME,
    "close frame too short": base.REASON_INVALID_CLOSE_FRAME,
}

#: Messages of at least this many bytes that websockets hands over in a bytearray of
#: its own are delivered as a memoryview of it (released when ``on_message`` returns)
#: instead of a bytes copy: a large message then costs its size once, not twice.
_VIEW_FROM = 64 * 1024

#: websockets' text for a close frame that arrives in the middle of a fragmented
#: message; picows reports such a close like any other, and so does this backend.
_INCOMPLETE_MESSAGE = "incomplete fragmented message"


#: The logger websockets writes to for this backend's connections.  It logs every
#: handshake header at DEBUG, the API key included: each connection gets it
#: wrapped in a RedactingLogger that knows that connection's credentials.
LOGGER_NAME = "realtime_fast.websockets"


def _oversize(failure: PayloadTooBig) -> str:
    """The ``size`` of ``base.ERROR_TOO_BIG``: the frame's length, plus the message read before it."""
    size = getattr(failure, "size", None)
    if not isinstance(size, int):
        return "more than max_message_size"
    before = getattr(failure, "current_size", None)
    return f"at least {before + size}" if before else str(size)


class _Connection(ClientConnection):
    """A ClientConnection that delivers data messages to callbacks instead of queueing them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rf_on_message: Optional[MessageHandler] = None
        self.rf_on_binary: Optional[MessageHandler] = None
        #: Messages received before the transport is ready for them: (is_text, data).
        self.rf_early: Optional[List[Tuple[bool, Union[bytes, memoryview]]]] = []
        self.rf_parts: Optional[bytearray] = None
        self.rf_parts_text = True
        self.rf_abort_handle: Optional[asyncio.TimerHandle] = None

    def process_event(self, event: Any) -> None:
        if self.response is None or not isinstance(event, Frame):
            super().process_event(event)
            return
        opcode = event.opcode
        if opcode is _TEXT or opcode is _BINARY:
            if event.fin:
                self._rf_deliver(opcode is _TEXT, event.data)
            else:
                # One growing buffer (the protocol layer bounds its size by max_size),
                # so even endless empty fragments cost no memory.
                self.rf_parts = bytearray(event.data)
                self.rf_parts_text = opcode is _TEXT
        elif opcode is _CONT:
            parts = self.rf_parts
            if parts is None:  # the protocol layer already rejects this; be safe
                return
            parts += event.data
            if event.fin:
                self.rf_parts = None
                self._rf_deliver(self.rf_parts_text, parts)
        else:
            super().process_event(event)  # pong acknowledgement; pings and closes are handled by the protocol

    def _rf_deliver(self, is_text: bool, data: Union[bytes, bytearray, memoryview]) -> None:
        view = None
        if type(data) is not bytes:  # websockets 17 gives each payload a bytearray nobody else uses
            if len(data) < _VIEW_FROM:
                data = bytes(data)
            else:
                data = view = memoryview(data)
        early = self.rf_early
        if early is not None:
            early.append((is_text, data))
            return
        handler = self.rf_on_message if is_text else self.rf_on_binary
        if handler is not None:
            try:
                handler(data)
            except Exception:  # the layer above reports its own failures; never break the protocol
                self.logger.error("realtime_fast: message handler raised", exc_info=True)
        if view is not None:
            try:
                view.release()
            except BufferError:
                self.logger.error(
                    "realtime_fast: a message handler kept a buffer of the borrowed memoryview; copy the data instead."
                )

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # When the protocol layer fails the connection (a protocol error, an
        # oversize message) it sends a close frame and sets close_deadline, but
        # only close() enforces that deadline: a server that ignores the close
        # frame would keep the connection half-open for ever.  RFC 6455 7.1.7
        # says to drop it, so abort the TCP connection at the deadline.
        if self.close_deadline is not None and self.rf_abort_handle is None:
            self.rf_abort_handle = self.loop.call_at(self.close_deadline, self._rf_abort_if_open)

    def _rf_abort_if_open(self) -> None:
        if self.transport is not None and self.protocol.state is not State.CLOSED:
            self.transport.abort()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.rf_abort_handle is not None:
            self.rf_abort_handle.cancel()
        super().connection_lost(exc)

    def rf_flush_early(self) -> None:
        early, self.rf_early = self.rf_early, None
        for is_text, data in early or ():
            self._rf_deliver(is_text, data)


class WebsocketsTransport(Transport):
    """One WebSocket client connection over the ``websockets`` library.

    ``high_water`` (bytes) is the send-buffer level above which :meth:`drain`
    waits; ``close_timeout`` (seconds) bounds :meth:`close`.  A transport can be
    connected again after its connection ended.
    """

    name = "websockets"

    def __init__(self, *, high_water: int = DEFAULT_HIGH_WATER, close_timeout: float = DEFAULT_CLOSE_TIMEOUT) -> None:
        if high_water < 0:
            raise ValueError(f"high_water must be >= 0 bytes, got {high_water}.")
        self.high_water = high_water
        self.close_timeout = close_timeout
        self._conn: Optional[_Connection] = None
        self._on_close: Optional[CloseHandler] = None
        self._address = ""
        self._close_requested = False
        self._watcher: Optional[asyncio.Task] = None
        self._ended: Optional[asyncio.Future] = None
        self._max_message_size = MAX_MESSAGE_SIZE
        self._ping_interval: Optional[float] = None

    # ------------------------------------------------------------------ state

    @property
    def is_open(self) -> bool:
        """True while messages can be sent (connected, and no close frame sent or received)."""
        conn = self._conn
        return conn is not None and conn.protocol.state is State.OPEN and not self._close_requested

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for sending that the socket has not taken yet."""
        conn = self._conn
        if conn is None or conn.transport is None or conn.transport.is_closing():
            return 0
        return conn.transport.get_write_buffer_size()

    @property
    def subprotocol(self) -> Optional[str]:
        """The subprotocol the server selected, if any."""
        conn = self._conn
        return conn.subprotocol if conn is not None else None

    # ---------------------------------------------------------------- connect

    async def connect(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        subprotocols: Sequence[str],
        on_message: MessageHandler,
        on_binary: MessageHandler,
        on_close: CloseHandler,
        open_timeout: float = 10.0,
        max_message_size: int = MAX_MESSAGE_SIZE,
        ping_interval: Optional[float] = 20.0,
        ssl: Optional[_ssl.SSLContext] = None,
        proxy: Optional[str] = None,
    ) -> None:
        """Open the connection; see :meth:`Transport.connect`.

        ``open_timeout`` (seconds) covers name resolution, TCP connect, the
        proxy's tunnel, TLS and the WebSocket handshake together.  ``ssl`` and
        ``proxy``: see :meth:`Transport.connect`; a proxy needs websockets 15.0
        or later (RuntimeError naming the installed release otherwise).
        """
        if self._conn is not None and (self._ended is None or not self._ended.done()):
            raise TransportError("This transport is already connected: close it first, or create a new transport.")
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"{url!r} is not a WebSocket URL: use ws://host[:port]/path or wss://host[:port]/path.")
        try:
            port = parts.port or (443 if parts.scheme == "wss" else 80)
        except ValueError as exc:
            raise ValueError(f"{url!r} has an invalid port: {exc}.") from None
        address = f"{parts.hostname}:{port}"
        check_ssl(url, ssl)
        proxy = resolve_proxy(url, check_proxy(proxy))
        if proxy is not None and not _PROXY_SUPPORTED:
            raise RuntimeError(base.ERROR_PROXY_NEEDS_WEBSOCKETS_15.format(version=websockets.__version__))
        through = proxy_address(proxy) if proxy is not None else ""
        self._address = address
        self._close_requested = False
        self._conn = None
        self._max_message_size = max_message_size
        self._ping_interval = ping_interval
        redactor = Redactor(secrets_of_handshake(headers, subprotocols))
        loop = asyncio.get_running_loop()
        try:
            conn = await self._open(
                url, address, parts.hostname, headers, subprotocols, open_timeout, max_message_size, ping_interval, redactor,
                ssl=ssl, proxy=proxy, through=through,
            )
        except Exception as exc:
            # No credential in the message, the attributes (a 401 body may echo the
            # request) or the chain (websockets quotes an unoffered subprotocol).
            raise redactor.exception(exc)
        self._conn = conn
        self._on_close = on_close
        conn.rf_on_message = on_message
        conn.rf_on_binary = on_binary
        self._ended = loop.create_future()
        # Both run after the caller has resumed: first the messages that came
        # with the handshake, then (if the connection is already gone) the close report.
        loop.call_soon(conn.rf_flush_early)
        self._watcher = loop.create_task(self._watch(conn))

    async def _open(
        self,
        url: str,
        address: str,
        hostname: Optional[str],
        headers: Mapping[str, str],
        subprotocols: Sequence[str],
        open_timeout: float,
        max_message_size: int,
        ping_interval: Optional[float],
        redactor: Redactor,
        *,
        ssl: Optional[_ssl.SSLContext],
        proxy: Optional[str],
        through: str,
    ) -> "_Connection":
        """Run websockets' connect; returns the connection or raises one of our errors (not yet redacted)."""
        has_user_agent = any(name.lower() == "user-agent" for name in headers)
        try:
            conn = await connect(
                url,
                additional_headers=dict(headers),
                subprotocols=list(subprotocols) or None,  # type: ignore[arg-type]
                compression=None,
                # None: no proxy, even one the environment names (websockets 15+ reads it by default).
                **({"proxy": proxy} if _PROXY_SUPPORTED else {}),
                **({"ssl": ssl} if ssl is not None else {}),
                open_timeout=open_timeout,
                ping_interval=ping_interval,
                ping_timeout=ping_interval,
                close_timeout=self.close_timeout,
                max_size=max_message_size,
                # (high, low): drain() resumes at the high-water mark itself, not at
                # the quarter of it that asyncio picks when only high is given.
                write_limit=(self.high_water, self.high_water),
                user_agent_header=None if has_user_agent else user_agent(),
                create_connection=_Connection,
                logger=RedactingLogger(logging.getLogger(LOGGER_NAME), redactor),
            )
        except InvalidStatus as exc:
            response = exc.response
            status = int(response.status_code)
            phrase = response.reason_phrase.strip()
            raise HandshakeRejected(
                base.ERROR_HANDSHAKE_REJECTED.format(address=address, status=status, phrase=f" {phrase}" if phrase else ""),
                status=status,
                body=bytes(response.body or b""),
            ) from None
        except InvalidURI as exc:
            raise ValueError(f"{url!r} is not a valid WebSocket URL ({exc}).") from None
        except asyncio.TimeoutError:
            raise ConnectTimeout(
                f"Connecting to {address} took longer than {open_timeout:g} s: check that the server is up and "
                "answers WebSocket upgrades, or raise the timeout."
            ) from None
        except _ssl.SSLError as exc:
            detail = tls_error_text(exc, hostname)
            raise TransportError(base.ERROR_TLS.format(address=address, detail=detail)) from exc
        except _InvalidProxyStatus as exc:
            status = int(exc.response.status_code)
            raise TransportError(base.ERROR_PROXY_REFUSED.format(proxy=through, address=address, status=status)) from exc
        except _ProxyError as exc:  # the answer to CONNECT was not an HTTP response
            detail = base.PROXY_CLOSED if isinstance(exc.__cause__, EOFError) else base.PROXY_INVALID_ANSWER
            raise TransportError(base.ERROR_PROXY_FAILED.format(proxy=through, address=address, detail=detail)) from exc
        except socket.gaierror as exc:
            if through:
                raise TransportError(base.ERROR_PROXY_UNREACHABLE.format(proxy=through, error=exc)) from exc
            raise TransportError(base.ERROR_RESOLVE_FAILED.format(address=address, error=exc)) from exc
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
            # A TCP connect fails with refused / unreachable / timed out; these come
            # later, when the server hangs up during TLS or the upgrade.
            detail = f" ({os_error_text([exc])})" if exc.errno is not None else ""
            raise TransportError(base.ERROR_HANDSHAKE_EOF.format(address=address, detail=detail)) from exc
        except OSError as exc:
            if through:  # through a proxy, only the connection to the proxy is ours
                raise TransportError(base.ERROR_PROXY_UNREACHABLE.format(proxy=through, error=os_error_text([exc]))) from exc
            raise TransportError(base.ERROR_CONNECT_FAILED.format(address=address, error=os_error_text([exc]))) from exc
        except InvalidMessage as exc:
            if isinstance(exc.__cause__, EOFError):  # the server closed the connection instead of answering
                raise TransportError(base.ERROR_HANDSHAKE_EOF.format(address=address, detail="")) from exc
            raise TransportError(
                f"The server at {address} sent an invalid WebSocket handshake response ({exc}): "
                "check that the URL points at a WebSocket endpoint."
            ) from exc
        except InvalidHandshake as exc:
            text = str(exc)
            if text.startswith(_UNSUPPORTED_SUBPROTOCOL):  # websockets' NegotiationError for an unoffered pick
                selected = text[len(_UNSUPPORTED_SUBPROTOCOL):]
                # websockets' own error says no more than this one (and quotes the pick unredacted).
                raise TransportError(base.ERROR_UNOFFERED_SUBPROTOCOL.format(address=address, selected=selected)) from None
            raise TransportError(
                f"The server at {address} sent an invalid WebSocket handshake response ({exc}): "
                "check that the URL points at a WebSocket endpoint."
            ) from exc
        except WebSocketException as exc:  # pragma: no cover - any other library failure
            raise TransportError(f"Connecting to {address} failed: {exc}.") from exc
        assert isinstance(conn, _Connection)
        return conn

    # ------------------------------------------------------------------- send

    def send_text(self, data: Union[bytes, str]) -> None:
        """Queue one text message (UTF-8 JSON, bytes or str); it is masked and written in order, never blocking.

        Raises :class:`~realtime_fast.errors.TransportError` when the connection is not open.
        """
        conn = self._conn
        if conn is None or conn.protocol.state is not State.OPEN or self._close_requested:
            raise TransportError("Cannot send: the WebSocket is not open (connect first, or reconnect after it closed).")
        if isinstance(data, str):
            data = data.encode()
        elif not isinstance(data, bytes):
            data = bytes(data)
        try:
            conn.protocol.send_text(data)
            conn.send_data()
        except Exception as exc:
            raise TransportError(f"Cannot send to {self._address}: {exc}.") from exc

    async def drain(self) -> None:
        """Wait until the bytes queued for sending drop to ``high_water``; returns at once when they already have.

        Raises :class:`~realtime_fast.errors.TransportError` if the connection is lost while waiting.
        """
        conn = self._conn
        if conn is None or not conn.paused:
            return
        try:
            await conn.drain()
        except Exception as exc:
            raise TransportError(f"The connection to {self._address} closed before the queued data was sent.") from exc

    # ------------------------------------------------------------------ close

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame with ``code`` and ``reason``, wait up to ``close_timeout`` s for the answer, end the connection.

        Safe to call more than once and after the server closed.  ``on_close``
        has been called when this returns.
        """
        if code not in _SENDABLE_CLOSE_CODES and not 3000 <= code <= 4999:
            raise ValueError(f"Close code {code} cannot be sent: use 1000, another code from RFC 6455 section 7.4.1, or 3000-4999.")
        if len(reason.encode()) > 123:
            raise ValueError(f"The close reason is {len(reason.encode())} bytes of UTF-8; shorten it to at most 123.")
        conn, ended = self._conn, self._ended
        if conn is None or ended is None:
            return
        if conn.protocol.state is State.OPEN:
            self._close_requested = True
        try:
            await conn.close(code, reason)
        except Exception:  # already closing or closed: the watcher reports the outcome
            pass
        await asyncio.shield(ended)

    # -------------------------------------------------------------- lifecycle

    async def _watch(self, conn: _Connection) -> None:
        """Wait for the end of the connection and report it to ``on_close`` exactly once."""
        try:
            await conn.wait_closed()
        except BaseException:  # pragma: no cover - wait_closed does not fail; keep reporting anyway
            pass
        # Already closed at the socket; closing it again marks Python 3.10's TLS wrapper closed
        # too (else it warns "unclosed transport" when collected).
        conn.transport.close()
        conn.rf_flush_early()
        code, reason, error = self._outcome(conn)
        try:
            if self._on_close is not None:
                self._on_close(code, reason, error)
        except Exception:
            conn.logger.error("realtime_fast: close handler raised", exc_info=True)
        finally:
            if self._ended is not None and not self._ended.done():
                self._ended.set_result(None)

    def _outcome(self, conn: _Connection) -> Tuple[Optional[int], str, Optional[BaseException]]:
        """``(code, reason, error)`` for ``on_close``, by the rule in :mod:`realtime_fast.transport.base`."""
        address = self._address
        protocol = conn.protocol
        received = protocol.close_rcvd
        sent = protocol.close_sent
        failure = protocol.parser_exc
        if isinstance(failure, EOFError):  # the TCP stream ended: reported below as a lost connection
            failure = None
        if isinstance(failure, ProtocolError) and str(failure) == _INCOMPLETE_MESSAGE and received is not None:
            failure = None  # the server's close frame came first: report it
        if failure is not None:
            if isinstance(failure, PayloadTooBig):
                code, reason = base.CLOSE_MESSAGE_TOO_BIG, base.REASON_MESSAGE_TOO_BIG
                message = base.ERROR_TOO_BIG.format(address=address, size=_oversize(failure), limit=self._max_message_size)
            elif isinstance(failure, (ProtocolError, UnicodeDecodeError)):
                if isinstance(failure, UnicodeDecodeError):  # only close reasons are decoded here
                    code, reason = base.CLOSE_INVALID_DATA, base.REASON_INVALID_CLOSE_UTF8
                else:
                    code, reason = base.CLOSE_PROTOCOL_ERROR, _PROTOCOL_REASONS.get(str(failure), str(failure))
                message = base.ERROR_PROTOCOL.format(address=address, reason=reason, code=code)
            else:  # websockets' parser failed unexpectedly (it closed with 1011)
                code = int(sent.code) if sent is not None else None
                reason = sent.reason if sent is not None else ""
                message = f"The connection to {address} failed: {failure!r}."
            return code, reason, transport_error(message, code, reason, failure)
        if sent is not None and not self._close_requested and (received is None or not protocol.close_rcvd_then_sent):
            if int(sent.code) == base.CLOSE_KEEPALIVE_TIMEOUT and sent.reason == base.KEEPALIVE_REASON:
                code, reason = base.CLOSE_KEEPALIVE_TIMEOUT, base.KEEPALIVE_REASON
                message = base.ERROR_KEEPALIVE.format(address=address, timeout=self._ping_interval or 0.0)
                return code, reason, transport_error(message, code, reason, None)
            code, reason = int(sent.code), sent.reason  # pragma: no cover - websockets closes only for the causes above
            return code, reason, transport_error(f"The connection to {address} was closed by the client with {code}.", code, reason, None)
        if received is not None:
            return int(received.code), received.reason, None
        # What ended the TCP connection (websockets 17.4 named it connection_exc, earlier releases recv_exc).
        exc = getattr(conn, "connection_exc", None) or getattr(conn, "recv_exc", None)
        if sent is not None:  # close() was called and the server never answered
            code, reason = int(sent.code), sent.reason
            if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):  # two classes before Python 3.11
                message = base.ERROR_CLOSE_TIMEOUT.format(address=address, timeout=self.close_timeout)
                return code, reason, transport_error(message, code, reason, None)
            detail = f": {exc}" if exc is not None else ""
            return code, reason, transport_error(base.ERROR_LOST_WHILE_CLOSING.format(address=address, detail=detail), code, reason, exc)
        detail = f": {exc}" if exc is not None else ""
        return None, "", transport_error(base.ERROR_LOST.format(address=address, detail=detail), None, "", exc)
