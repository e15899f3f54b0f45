"""The picows backend: a compiled (Cython) WebSocket client with zero-copy receive.

picows parses frames in place, in its own receive buffer, and hands each one to
a listener (``_picows_listener``: compiled, with a pure twin used when it was
not built or was built against another picows release; see
``COMPILED_LISTENER``).  A single-frame text message goes to ``on_message``
without a ``bytes`` or ``str`` being made of it: when ``on_message`` is a
:class:`~realtime_fast.events.FrameReceiver` (what :class:`~realtime_fast.RealtimeAPI` passes)
the compiled listener has it parse the frame straight from picows' buffer at C
level, decoding an audio delta onto its item's buffer; any other handler gets a
``memoryview`` of the buffer, released as soon as ``on_message`` returns, so a
handler that keeps it by mistake gets a ``ValueError``, never stale memory.
Fragmented messages are joined into one ``bytearray`` (one copy) and
delivered once.

Behaviour shared with the ``websockets`` backend (the tests check both):

* ``wss://`` uses the default SSL context (certificate and host name checks on;
  ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` select other trust roots), or the
  ``ssl`` context given to :meth:`PicowsTransport.connect`.
* ``proxy``: None (direct), an ``http://host:port`` HTTP CONNECT proxy, or
  ``"env"`` (``HTTPS_PROXY`` / ``HTTP_PROXY``, see
  :mod:`realtime_fast.transport._options`); picows opens the tunnel, then TLS
  to the server runs inside it.
* Subprotocols are offered in ``Sec-WebSocket-Protocol``; a server that picks
  one that was not offered fails the handshake.
* Text frames are **not** checked for UTF-8 here: the bytes go to ``on_message``
  as they arrived and the event parser reports invalid text like any other
  malformed frame, so one bad frame does not end the session.
* Keepalive (the same schedule as websockets'): a ping every
  ``ping_interval`` seconds; no pong within another ``ping_interval`` seconds
  fails the connection with close code 1011 and reason ``keepalive ping
  timeout`` (``on_close`` gets a :class:`~realtime_fast.errors.TransportError`).
  picows' own auto-ping is not used: it closes with 1001.  Pings from the
  server are answered at once by picows.
* ``on_close`` follows the rule in :mod:`realtime_fast.transport.base`:
  picows' protocol errors are reported with the shared reasons and messages,
  and the OS error of a lost connection is kept (a small protocol wrapper
  records the exception the socket transport ends with, which picows drops).
* ``User-Agent: realtime-fast/<version> Python/<x.y>`` is sent unless the
  caller's headers have a User-Agent.
* Messages that arrive in the same read as the handshake response are held
  back and delivered just after :meth:`PicowsTransport.connect` returns, so
  ``on_message`` never runs before the caller knows it is connected.
* An exception raised by ``on_message``, ``on_binary`` or ``on_close`` is
  logged (logger ``realtime_fast.transport.picows_transport``) and the
  connection goes on: the layer above reports its own failures.
* After :meth:`PicowsTransport.close`, messages the server sent before its
  close frame are still delivered; after a protocol error nothing more is.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl as _ssl
import warnings
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import picows
from picows import WSCloseCode, WSHandshakeError, WSMsgType, WSProtocolError

try:  # what picows raises when an HTTP proxy refuses the tunnel (python-socks is a picows dependency)
    from python_socks import ProxyError as _ProxyError
except ImportError:  # pragma: no cover - a picows without proxy support never raises it

    class _ProxyError(Exception):  # type: ignore[no-redef]
        pass


from .._impl import LOAD_ERRORS, load
from .._redact import RedactingLogger, Redactor, secrets_of_handshake
from ..errors import ConnectTimeout, HandshakeRejected, TransportError
from ._picows_listener_py import deliver_early
from . import base
from ._errors import os_error_text, tls_error_text, transport_error, user_agent
from ._options import check_proxy, check_ssl, proxy_address, resolve_proxy
from .base import DEFAULT_HIGH_WATER, MAX_MESSAGE_SIZE, CloseHandler, MessageHandler, Transport

__all__ = ["COMPILED_LISTENER", "PicowsTransport"]

_listener_module, COMPILED_LISTENER = load("transport._picows_listener")
#: The frame listener: compiled (reads frames in picows' buffer at C level) when it
#: was built against the installed picows, else its pure twin.
_Listener = _listener_module.Listener
if not COMPILED_LISTENER and "was built for picows" in LOAD_ERRORS.get("transport._picows_listener", ""):
    # Built, but for another picows release (installed without its pin, say): say so once, loudly.
    warnings.warn(
        LOAD_ERRORS["transport._picows_listener"] + " It costs 3-30 % more CPU per received message.",
        RuntimeWarning,
        stacklevel=2,
    )

#: Where this backend logs (wrapped per connection, see ``PicowsTransport.logger``).
LOGGER_NAME = __name__
#: The logger picows writes to for this backend's connections (wrapped per
#: connection: picows logs the whole upgrade request, credentials included,
#: at its level 9).  Records come from this logger itself, not from picows'
#: usual per-socket children (``picows.client.<fd>``).
PICOWS_LOGGER_NAME = "picows.client"

#: Seconds :meth:`PicowsTransport.close` waits for the server's close frame
#: (and then for the socket to close) before aborting the connection.
DEFAULT_CLOSE_TIMEOUT: float = 2.0

_TEXT = WSMsgType.TEXT

#: Close codes a client may put in a close frame (RFC 6455 section 7.4).
_SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})

#: What an empty close frame means, as the websockets library reports it.
_NO_STATUS_RECEIVED = 1005

#: The status in picows' text for a proxy's refusal ("HTTP proxy rejected connection with status 407").
_PROXY_STATUS = re.compile(r"status (\d{3})")


#: picows' own protocol-error texts (prefixes) -> the shared reasons of ``base``.
#: The listener raises its errors with the shared reasons already.
_PICOWS_REASONS: tuple[tuple[str, str], ...] = (
    ("Received frame with invalid opcode", base.REASON_INVALID_OPCODE),
    ("Received fragmented control frame", base.REASON_FRAGMENTED_CONTROL_FRAME),
    ("Received masked frame", base.REASON_MASKED_FRAME),
    ("Received control frame with payload size", base.REASON_CONTROL_FRAME_TOO_LONG),
    ("Received frame with invalid 16-bit payload", base.REASON_INVALID_LENGTH),
    ("Received frame with invalid 64-bit payload", base.REASON_INVALID_LENGTH),
    ("Received frame with payload size exceeding", base.REASON_MESSAGE_TOO_BIG),
    ("Received CLOSE with invalid UTF-8", base.REASON_INVALID_CLOSE_UTF8),
    ("Received CLOSE", base.REASON_INVALID_CLOSE_FRAME),
    (base.REASON_MESSAGE_TOO_BIG, base.REASON_MESSAGE_TOO_BIG),
)

#: The size in picows' text for a frame over the limit (``..., 30000000 > 16777216``),
#: and in the listener's for a fragmented message (``... at least 3001 bytes``).
_FRAME_SIZE = re.compile(r"(\d+) > \d+")
_MESSAGE_SIZE = re.compile(r"at least (\d+) bytes")


def _oversize(text: str) -> str:
    """The ``size`` of ``base.ERROR_TOO_BIG`` read from a too-big error's text."""
    match = _FRAME_SIZE.search(text)
    if match is not None:
        return match.group(1)
    match = _MESSAGE_SIZE.search(text)
    return f"at least {match.group(1)}" if match is not None else "more than max_message_size"


def _failure_reason(text: str) -> str:
    """The shared reason for one of picows' (or the listener's) protocol-error texts."""
    for prefix, reason in _PICOWS_REASONS:
        if text.startswith(prefix):
            return reason
    return text


class _LossRecorder(asyncio.BufferedProtocol):
    """Stands in for picows' protocol on the socket transport to keep the exception the connection ended with.

    picows drops the exception it gets in ``connection_lost`` (``Connection
    reset by peer``, say); the error reported to ``on_close`` names it.  Every
    other callback is picows' own bound method, so reads cost nothing extra.
    """

    def __init__(self, inner: Any, owner: "PicowsTransport") -> None:
        self.get_buffer = inner.get_buffer
        self.buffer_updated = inner.buffer_updated
        self.eof_received = inner.eof_received
        self.pause_writing = inner.pause_writing
        self.resume_writing = inner.resume_writing
        self._inner_connection_lost = inner.connection_lost
        self._owner = owner

    def connection_lost(self, exc: BaseException | None) -> None:
        self._owner._lost_exc = exc
        self._inner_connection_lost(exc)


def _close_code(code: int | Any) -> WSCloseCode | int:
    """picows takes close codes as its enum; codes 3000-4999 are not members and pass as ints."""
    try:
        return WSCloseCode(code)
    except ValueError:
        return int(code)


class PicowsTransport(Transport):
    """One WebSocket client connection on picows (see the module docstring for the guarantees).

    ``high_water`` is the number of queued bytes above which :meth:`drain`
    waits; ``close_timeout`` (seconds) bounds :meth:`close`.
    """

    name = "picows"
    #: The frame listener class: the compiled one when it loaded (see
    #: ``COMPILED_LISTENER``), else the pure twin; both behave the same.
    listener_class: Any = _Listener

    def __init__(self, *, high_water: int = DEFAULT_HIGH_WATER, close_timeout: float = DEFAULT_CLOSE_TIMEOUT) -> None:
        if high_water < 0:
            raise ValueError(f"high_water must be >= 0 bytes, got {high_water}.")
        self.high_water = high_water
        self.close_timeout = close_timeout
        self._ws: picows.WSTransport | None = None
        self._address = ""
        self._subprotocol: str | None = None
        self._connecting = False
        #: The connected TCP socket of a connect() in progress (to abort the handshake).
        self._pending_sock: socket.socket | None = None
        #: True once close() sent the close frame (the frame listener reads it).
        self.close_requested = False
        self._paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._watcher: asyncio.Task[None] | None = None
        self._ended: asyncio.Future[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._keepalive_failed = False
        self._close_timed_out = False
        #: The exception the socket transport ended with (None for a clean EOF).
        self._lost_exc: BaseException | None = None
        self._max_message_size = MAX_MESSAGE_SIZE
        self._ping_interval: float | None = None
        self._redactor = Redactor()
        self._logger = RedactingLogger(logging.getLogger(LOGGER_NAME), self._redactor)
        #: ``host:port`` of the HTTP proxy of the connection, or "" when direct.
        self._proxy_address = ""

    # ------------------------------------------------------------------ state

    @property
    def logger(self) -> RedactingLogger:
        """Where this transport (and its frame listener) logs: redacts the current connection's credentials."""
        return self._logger

    @property
    def is_open(self) -> bool:
        """True while messages can be sent (connected, and no close frame sent or received)."""
        ws = self._ws
        return ws is not None and not (ws.is_close_frame_sent or ws.is_disconnected or self.close_requested)

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for sending that the socket has not taken yet."""
        ws = self._ws
        if ws is None or ws.is_disconnected:
            return 0
        return ws.underlying_transport.get_write_buffer_size()

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected, if any."""
        return self._subprotocol

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
        ping_interval: float | None = 20.0,
        ssl: _ssl.SSLContext | None = None,
        proxy: str | None = None,
    ) -> None:
        """Open the connection; see :meth:`Transport.connect`.

        ``open_timeout`` (seconds) covers name resolution, TCP connect, the
        proxy's tunnel, TLS and the WebSocket handshake together.
        ``max_message_size`` (bytes) limits one message, fragmented or not;
        ``ping_interval`` (seconds, ``None`` for no keepalive) is both the
        time between pings and the time allowed for each pong.  ``ssl`` and
        ``proxy``: see :meth:`Transport.connect`.
        """
        if self._connecting or (self._ws is not None and (self._ended is None or not self._ended.done())):
            raise TransportError("This transport is already connected: close it, or create a new transport per connection.")
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
        extra_headers = list(headers.items())
        if not any(name.lower() == "user-agent" for name, _ in extra_headers):
            extra_headers.append(("User-Agent", user_agent()))
        if subprotocols:
            extra_headers.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))

        loop = asyncio.get_running_loop()
        self._reset()
        self._redactor = redactor = Redactor(secrets_of_handshake(headers, subprotocols))
        self._logger = RedactingLogger(logging.getLogger(LOGGER_NAME), redactor)
        self._address = address
        self._proxy_address = proxy_address(proxy) if proxy is not None else ""
        self._max_message_size = max_message_size
        self._ping_interval = ping_interval
        listener = self.listener_class(self, on_message, on_binary, max_message_size)
        self._connecting = True
        opening = loop.create_task(
            self._open(url, address, extra_headers, listener, open_timeout, max_message_size, ssl, proxy)
        )
        try:
            ws = await asyncio.wait_for(asyncio.shield(opening), open_timeout)
        except asyncio.TimeoutError:
            self._abandon(opening)
            # The abandoned attempt ends quickly once its socket is shut down;
            # wait for that so no socket outlives this call.
            await asyncio.wait({opening}, timeout=self.close_timeout)
            raise ConnectTimeout(
                f"Connecting to {address} took longer than {open_timeout:g} s: check that the server is up and answers WebSocket upgrades, or raise the timeout."
            ) from None
        except asyncio.CancelledError:
            self._abandon(opening)
            raise
        except Exception as exc:
            # No credential in the message, the attributes (a 401 body may echo the
            # request) or the chain.
            raise redactor.exception(exc)
        finally:
            self._connecting = False
            self._pending_sock = None

        self._ws = ws
        self._subprotocol = ws.response.headers.get("Sec-WebSocket-Protocol") if ws.response is not None else None
        if self._subprotocol is not None and self._subprotocol not in subprotocols:
            ws.disconnect(graceful=False)
            self._ws = None
            raise redactor.exception(
                TransportError(base.ERROR_UNOFFERED_SUBPROTOCOL.format(address=address, selected=self._subprotocol))
            )
        underlying = ws.underlying_transport
        # Resume drain() at the high-water mark itself, not below it.
        underlying.set_write_buffer_limits(high=self.high_water, low=self.high_water)
        picows_protocol = underlying.get_protocol()
        if picows_protocol is not None and not ws.is_disconnected:  # else it ended during the handshake read
            underlying.set_protocol(_LossRecorder(picows_protocol, self))
        self._ended = ended = loop.create_future()
        if ping_interval is not None:
            self._keepalive = loop.create_task(self._keep_alive(ws, ping_interval))
        # Both run after the caller has resumed from connect(): first the
        # messages that came with the handshake, then (if the connection is
        # already gone) the close report.
        loop.call_soon(deliver_early, listener)
        self._watcher = loop.create_task(self._watch(ws, listener, on_close, ended))

    async def _open(
        self,
        url: str,
        address: str,
        extra_headers: list[tuple[str, str]],
        listener: _Listener,
        open_timeout: float,
        max_message_size: int,
        ssl: _ssl.SSLContext | None,
        proxy: str | None,
    ) -> picows.WSTransport:
        """Run picows' connect; returns the WSTransport or raises one of our errors."""
        try:
            ws, got_listener = await picows.ws_connect(
                lambda *_: listener,
                url,
                ssl_context=ssl,
                proxy=proxy,
                # With a proxy, picows asks this factory for the socket to the proxy.
                socket_factory=self._tcp_connect,
                # connect() enforces open_timeout over all the stages; this is a backstop.
                websocket_handshake_timeout=open_timeout,
                enable_auto_ping=False,  # see _keep_alive
                enable_auto_pong=True,
                max_frame_size=max_message_size,
                extra_headers=extra_headers,
                disconnect_on_exception=True,
                logger_name=RedactingLogger(logging.getLogger(PICOWS_LOGGER_NAME), self._redactor),
            )
        except TransportError:
            raise
        except WSHandshakeError as exc:
            response = exc.response
            if response is not None and int(response.status) != 101:
                status = int(response.status)
                phrase = _reason_phrase(exc.raw_header)
                raise HandshakeRejected(
                    base.ERROR_HANDSHAKE_REJECTED.format(address=address, status=status, phrase=f" {phrase}" if phrase else ""),
                    status=status,
                    body=exc.raw_body or b"",
                ) from None
            raise TransportError(f"The server at {address} sent an invalid WebSocket handshake response ({exc}): check that the URL points at a WebSocket endpoint.") from exc
        except asyncio.TimeoutError:
            raise ConnectTimeout(f"The server at {address} did not answer the WebSocket upgrade within {open_timeout:g} s: check the server or raise the timeout.") from None
        except _ssl.SSLError as exc:
            detail = tls_error_text(exc, address.rsplit(":", 1)[0])
            raise TransportError(base.ERROR_TLS.format(address=address, detail=detail)) from exc
        except _ProxyError as exc:
            status = _PROXY_STATUS.search(str(exc))
            if status is not None:
                message = base.ERROR_PROXY_REFUSED.format(proxy=self._proxy_address, address=address, status=status.group(1))
            else:
                detail = base.PROXY_CLOSED if "closed the connection" in str(exc) else base.PROXY_INVALID_ANSWER
                message = base.ERROR_PROXY_FAILED.format(proxy=self._proxy_address, address=address, detail=detail)
            raise TransportError(message) from exc
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
            # The TCP connection was up (see _tcp_connect): the server hung up during TLS or the upgrade.
            detail = f" ({os_error_text([exc])})" if exc.errno is not None else ""
            raise TransportError(base.ERROR_HANDSHAKE_EOF.format(address=address, detail=detail)) from exc
        except OSError as exc:
            raise TransportError(f"The connection to {address} failed during the handshake: {os_error_text([exc])}.") from exc
        if got_listener is None:
            raise TransportError(base.ERROR_HANDSHAKE_EOF.format(address=address, detail=""))
        return ws

    async def _tcp_connect(self, parsed: Any) -> socket.socket:
        """Resolve and connect the TCP socket (tried address by address); picows then does TLS and the upgrade.

        With a proxy, ``parsed`` is the proxy's address, and picows then asks it for the tunnel.
        """
        loop = asyncio.get_running_loop()
        host, port = parsed.host, parsed.port
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            if self._proxy_address:
                raise TransportError(base.ERROR_PROXY_UNREACHABLE.format(proxy=self._proxy_address, error=exc)) from exc
            raise TransportError(base.ERROR_RESOLVE_FAILED.format(address=f"{host}:{port}", error=exc)) from exc
        errors: list[OSError] = []
        for family, type_, proto, _, sockaddr in infos:
            sock = socket.socket(family, type_, proto)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, sockaddr)
            except OSError as exc:
                sock.close()
                errors.append(exc)
                continue
            except BaseException:
                sock.close()
                raise
            self._pending_sock = sock
            return sock
        if self._proxy_address:
            raise TransportError(base.ERROR_PROXY_UNREACHABLE.format(proxy=self._proxy_address, error=os_error_text(errors)))
        raise TransportError(base.ERROR_CONNECT_FAILED.format(address=f"{host}:{port}", error=os_error_text(errors)))

    def _abandon(self, opening: asyncio.Task[picows.WSTransport]) -> None:
        """Stop a connect attempt that timed out or was cancelled, without leaking its socket."""
        if opening.done():
            if not opening.cancelled() and opening.exception() is None:
                opening.result().disconnect(graceful=False)
            return
        sock = self._pending_sock
        if sock is None:
            opening.cancel()  # still resolving or connecting: the TCP stage closes its socket
        else:
            # TLS or the upgrade is in progress inside picows: shutting the
            # socket down makes the handshake end at once and picows closes it.
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def discard(task: asyncio.Task[picows.WSTransport]) -> None:
            if task.cancelled():
                return
            if task.exception() is None:
                task.result().disconnect(graceful=False)

        opening.add_done_callback(discard)

    def _reset(self) -> None:
        self._ws = None
        self._subprotocol = None
        self.close_requested = False
        self._paused = False
        self._drain_waiters = []
        self._watcher = None
        self._ended = None
        self._keepalive = None
        self._keepalive_failed = False
        self._close_timed_out = False
        self._lost_exc = None

    # ------------------------------------------------------------------- send

    def send_text(self, data: bytes | str) -> None:
        """Queue one text message (UTF-8 JSON, bytes or str); it is masked and written in order, never blocking.

        Raises :class:`~realtime_fast.errors.TransportError` when the connection is not open.
        """
        ws = self._ws
        if ws is None or ws.is_close_frame_sent or ws.is_disconnected or self.close_requested:
            raise TransportError("Cannot send: the WebSocket is not open (connect first, or reconnect after it closed).")
        ws.send(_TEXT, data)

    async def drain(self) -> None:
        """Wait until the bytes queued for sending drop to ``high_water``; returns at once when they already have.

        Raises :class:`~realtime_fast.errors.TransportError` if the connection is lost while waiting.
        """
        if not self._paused:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        await waiter

    # -- called by the frame listener (transport/_picows_listener*) ----------------------

    def pause_writing(self) -> None:
        """picows' send buffer passed its high-water mark: :meth:`drain` waits from now on."""
        self._paused = True

    def resume_writing(self) -> None:
        """picows' send buffer drained: wake the :meth:`drain` waiters."""
        self._paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------------ close

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame with ``code`` and ``reason``, wait up to ``close_timeout`` s for the server's answer, then end the connection.

        Safe to call more than once and after the server closed.  ``on_close``
        has been called when this returns.
        """
        if code not in _SENDABLE_CLOSE_CODES and not 3000 <= code <= 4999:
            raise ValueError(f"Close code {code} cannot be sent: use 1000, another code from RFC 6455 section 7.4.1, or 3000-4999.")
        reason_bytes = reason.encode()
        if len(reason_bytes) > 123:
            raise ValueError(f"The close reason is {len(reason_bytes)} bytes of UTF-8; shorten it to at most 123.")
        ws, ended = self._ws, self._ended
        if ws is None or ended is None:
            return
        if not ws.is_disconnected and not ws.is_close_frame_sent:
            self.close_requested = True
            ws.send_close(_close_code(code), reason_bytes)
        try:
            await asyncio.wait_for(asyncio.shield(ended), self.close_timeout)
        except asyncio.TimeoutError:
            self._close_timed_out = True
            ws.disconnect(graceful=False)
            await asyncio.shield(ended)

    def close_frame_received(self, ws: picows.WSTransport) -> None:
        """The server's close frame arrived on ``ws``: check its code and echo it (called by the frame listener)."""
        handshake = ws.close_handshake
        received = handshake.recv if handshake is not None else None
        code = int(received.code) if received is not None else 0
        if code and code not in _SENDABLE_CLOSE_CODES and not 3000 <= code <= 4999:
            # picows lets 1006 and 5000+ through; RFC 6455 section 7.4 (and websockets) do not.
            raise WSProtocolError(WSCloseCode.PROTOCOL_ERROR, base.REASON_INVALID_CLOSE_FRAME)
        if not ws.is_close_frame_sent:
            # Echo the server's code and reason, as websockets does.
            reason = received.reason.encode() if received is not None and received.reason else None
            ws.send_close(_close_code(code if code else 1000), reason)
        ws.disconnect()

    async def _keep_alive(self, ws: picows.WSTransport, interval: float) -> None:
        """Ping every ``interval`` s; fail the connection with 1011 when a pong takes longer than ``interval`` s."""
        latency = 0.0
        try:
            while True:
                await asyncio.sleep(max(interval - latency, 0.0))
                if ws.is_disconnected or ws.is_close_frame_sent:
                    return
                try:
                    # picows sends the ping and resolves this on the next pong.
                    (latency,) = await asyncio.wait_for(ws.measure_roundtrip_time(1), interval)
                except asyncio.TimeoutError:
                    break
        except (ConnectionError, asyncio.CancelledError):  # the connection ended: the watcher reports it
            return
        if ws.is_disconnected or ws.is_close_frame_sent:
            return
        # Settle picows' pending pong future so that the end of the connection
        # does not leave an exception in it that nobody retrieves.
        ws.notify_user_specific_pong_received()
        self._keepalive_failed = True
        ws.send_close(WSCloseCode.INTERNAL_ERROR, base.KEEPALIVE_REASON.encode())
        # Wait for the server to end the TCP connection (it may answer the
        # close frame first), then drop it, as after any failure.
        try:
            await asyncio.sleep(self.close_timeout)
        except asyncio.CancelledError:
            return
        ws.disconnect(graceful=False)

    # -------------------------------------------------------------- lifecycle

    async def _watch(self, ws: picows.WSTransport, listener: _Listener, on_close: CloseHandler, ended: asyncio.Future[None]) -> None:
        """Wait for the end of the connection and report it to ``on_close`` exactly once."""
        failure: BaseException | None = None
        try:
            await ws.wait_disconnected()
        except Exception as exc:  # picows re-raises what made it drop the connection
            failure = exc
        keepalive = self._keepalive
        if keepalive is not None and not keepalive.done():
            keepalive.cancel()
            await asyncio.wait({keepalive})
        code, reason, error = self._outcome(ws, failure)
        self._paused = False  # nothing is queued any more: drain() returns at once
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(TransportError(f"The connection to {self._address} closed before the queued data was sent.", code=code, reason=reason))
        deliver_early(listener)
        try:
            on_close(code, reason, error)
        except Exception:
            self._logger.error("realtime_fast: close handler raised", exc_info=True)
        finally:
            if not ended.done():
                ended.set_result(None)

    def _outcome(self, ws: picows.WSTransport, failure: BaseException | None) -> tuple[int | None, str, BaseException | None]:
        """``(code, reason, error)`` for ``on_close``, by the rule in :mod:`realtime_fast.transport.base`."""
        address = self._address
        handshake = ws.close_handshake
        received = handshake.recv if handshake is not None else None
        sent = handshake.sent if handshake is not None else None
        if isinstance(failure, WSProtocolError):
            code = int(failure.args[0])
            text = str(failure.args[1]) if len(failure.args) > 1 else ""
            reason = _failure_reason(text)
            if code == base.CLOSE_MESSAGE_TOO_BIG:
                message = base.ERROR_TOO_BIG.format(address=address, size=_oversize(text), limit=self._max_message_size)
            else:
                message = base.ERROR_PROTOCOL.format(address=address, reason=reason, code=code)
            return code, reason, transport_error(message, code, reason, failure)
        if failure is not None:  # not expected: the listener reports handler errors itself
            code = int(sent.code) if sent is not None else None
            reason = sent.reason or "" if sent is not None else ""
            return code, reason, transport_error(f"The connection to {address} failed: {failure!r}.", code, reason, failure)
        if self._keepalive_failed:
            code, reason = base.CLOSE_KEEPALIVE_TIMEOUT, base.KEEPALIVE_REASON
            message = base.ERROR_KEEPALIVE.format(address=address, timeout=self._ping_interval or 0.0)
            return code, reason, transport_error(message, code, reason, None)
        if received is not None and (sent is None or handshake.recv_then_sent or self.close_requested):
            return int(received.code) or _NO_STATUS_RECEIVED, received.reason or "", None
        detail = f": {self._lost_exc}" if self._lost_exc is not None else ""
        if sent is not None:
            code, reason = int(sent.code), sent.reason or ""
            if self._close_timed_out:
                message = base.ERROR_CLOSE_TIMEOUT.format(address=address, timeout=self.close_timeout)
            else:
                message = base.ERROR_LOST_WHILE_CLOSING.format(address=address, detail=detail)
            return code, reason, transport_error(message, code, reason, self._lost_exc)
        return None, "", transport_error(base.ERROR_LOST.format(address=address, detail=detail), None, "", self._lost_exc)


def _reason_phrase(raw_header: bytes | None) -> str:
    """The reason phrase of an HTTP status line (``HTTP/1.1 401 Nope`` -> ``Nope``), as the server wrote it."""
    if not raw_header:
        return ""
    parts = raw_header.split(b"\r\n", 1)[0].split(b" ", 2)
    return parts[2].decode("iso-8859-1").strip() if len(parts) == 3 else ""
