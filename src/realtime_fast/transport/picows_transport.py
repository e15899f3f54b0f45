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
  ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` select other trust roots).
* Subprotocols are offered in ``Sec-WebSocket-Protocol``; a server that picks
  one that was not offered fails the handshake.
* Text frames are **not** checked for UTF-8 here: the bytes go to ``on_message``
  as they arrived and the event parser reports invalid text like any other
  malformed frame, so one bad frame does not end the session.
* Keepalive: when nothing has arrived for ``ping_interval`` seconds a ping is
  sent; no pong within another ``ping_interval`` seconds closes the connection
  (``on_close`` gets a :class:`~realtime_fast.errors.TransportError`).  Pings
  from the server are answered at once by picows.
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
import socket
import ssl
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import picows
from picows import WSCloseCode, WSHandshakeError, WSMsgType, WSProtocolError

from .._impl import load
from ..errors import ConnectTimeout, HandshakeRejected, TransportError
from ._picows_listener_py import deliver_early
from .base import DEFAULT_HIGH_WATER, MAX_MESSAGE_SIZE, CloseHandler, MessageHandler, Transport

__all__ = ["COMPILED_LISTENER", "PicowsTransport"]

_listener_module, COMPILED_LISTENER = load("transport._picows_listener")
#: The frame listener: compiled (reads frames in picows' buffer at C level) when it
#: was built against the installed picows, else its pure twin.
_Listener = _listener_module.Listener

_logger = logging.getLogger(__name__)

#: Seconds :meth:`PicowsTransport.close` waits for the server's close frame
#: (and then for the socket to close) before aborting the connection.
DEFAULT_CLOSE_TIMEOUT: float = 2.0

_TEXT = WSMsgType.TEXT

#: Close codes a client may put in a close frame (RFC 6455 section 7.4).
_SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})

#: What an empty close frame means, as the websockets library reports it.
_NO_STATUS_RECEIVED = 1005


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
        self._close_requested = False
        self._paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._watcher: asyncio.Task[None] | None = None
        self._ended: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ state

    @property
    def is_open(self) -> bool:
        """True while messages can be sent (connected, and no close frame sent or received)."""
        ws = self._ws
        return ws is not None and not (ws.is_close_frame_sent or ws.is_disconnected or self._close_requested)

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
    ) -> None:
        """Open the connection; see :meth:`Transport.connect`.

        ``open_timeout`` (seconds) covers name resolution, TCP connect, TLS and
        the WebSocket handshake together.  ``max_message_size`` (bytes) limits
        one message, fragmented or not; ``ping_interval`` (seconds, ``None``
        for no keepalive) is both the idle time before a ping and the time
        allowed for its pong.
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
        extra_headers = list(headers.items())
        if subprotocols:
            extra_headers.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))

        loop = asyncio.get_running_loop()
        self._reset()
        self._address = address
        listener = self.listener_class(self, on_message, on_binary, max_message_size)
        self._connecting = True
        opening = loop.create_task(
            self._open(url, address, extra_headers, listener, open_timeout, max_message_size, ping_interval)
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
        finally:
            self._connecting = False
            self._pending_sock = None

        self._ws = ws
        self._subprotocol = ws.response.headers.get("Sec-WebSocket-Protocol") if ws.response is not None else None
        if self._subprotocol is not None and self._subprotocol not in subprotocols:
            ws.disconnect(graceful=False)
            self._ws = None
            raise TransportError(
                f"The server at {address} selected the subprotocol {self._subprotocol!r}, which was not offered ({list(subprotocols)}): check the server's configuration."
            )
        ws.underlying_transport.set_write_buffer_limits(high=self.high_water, low=self.high_water)
        self._ended = ended = loop.create_future()
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
        ping_interval: float | None,
    ) -> picows.WSTransport:
        """Run picows' connect; returns the WSTransport or raises one of our errors."""
        try:
            ws, got_listener = await picows.ws_connect(
                lambda *_: listener,
                url,
                socket_factory=self._tcp_connect,
                # connect() enforces open_timeout over all the stages; this is a backstop.
                websocket_handshake_timeout=open_timeout,
                enable_auto_ping=ping_interval is not None,
                auto_ping_idle_timeout=ping_interval or 20.0,
                auto_ping_reply_timeout=ping_interval or 20.0,
                enable_auto_pong=True,
                max_frame_size=max_message_size,
                extra_headers=extra_headers,
                disconnect_on_exception=True,
            )
        except TransportError:
            raise
        except WSHandshakeError as exc:
            response = exc.response
            if response is not None and int(response.status) != 101:
                status = int(response.status)
                raise HandshakeRejected(
                    f"The server at {address} rejected the WebSocket upgrade with HTTP {status} {response.status.phrase}: check the URL, the API key and the headers.",
                    status=status,
                    body=exc.raw_body or b"",
                ) from None
            raise TransportError(f"The server at {address} sent an invalid WebSocket handshake response ({exc}): check that the URL points at a WebSocket endpoint.") from exc
        except asyncio.TimeoutError:
            raise ConnectTimeout(f"The server at {address} did not answer the WebSocket upgrade within {open_timeout:g} s: check the server or raise the timeout.") from None
        except ssl.SSLError as exc:
            raise TransportError(f"The TLS handshake with {address} failed: {exc}; check the server's certificate (SSL_CERT_FILE selects other trusted roots).") from exc
        except OSError as exc:
            raise TransportError(f"The connection to {address} failed during the handshake: {exc}.") from exc
        if got_listener is None:
            raise TransportError(f"The server at {address} closed the connection during the WebSocket handshake: check the URL and the server's logs.")
        return ws

    async def _tcp_connect(self, parsed: Any) -> socket.socket:
        """Resolve and connect the TCP socket (tried address by address); picows then does TLS and the upgrade."""
        loop = asyncio.get_running_loop()
        host, port = parsed.host, parsed.port
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise TransportError(f"Cannot resolve the host {host!r}: {exc}; check the URL.") from exc
        errors: list[str] = []
        for family, type_, proto, _, sockaddr in infos:
            sock = socket.socket(family, type_, proto)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, sockaddr)
            except OSError as exc:
                sock.close()
                errors.append(f"{sockaddr[0]}:{sockaddr[1]}: {exc}")
                continue
            except BaseException:
                sock.close()
                raise
            self._pending_sock = sock
            return sock
        raise TransportError(f"Cannot connect to {host}:{port} ({'; '.join(errors)}): check that the server is running and the port is right.")

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
        self._close_requested = False
        self._paused = False
        self._drain_waiters = []
        self._watcher = None
        self._ended = None

    # ------------------------------------------------------------------- send

    def send_text(self, data: bytes | str) -> None:
        """Queue one text message (UTF-8 JSON, bytes or str); it is masked and written in order, never blocking.

        Raises :class:`~realtime_fast.errors.TransportError` when the connection is not open.
        """
        ws = self._ws
        if ws is None or ws.is_close_frame_sent or ws.is_disconnected or self._close_requested:
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

    def _pause_writing(self) -> None:
        self._paused = True

    def _resume_writing(self) -> None:
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
            self._close_requested = True
            ws.send_close(_close_code(code), reason_bytes)
        try:
            await asyncio.wait_for(asyncio.shield(ended), self.close_timeout)
        except asyncio.TimeoutError:
            ws.disconnect(graceful=False)
            await asyncio.shield(ended)

    def _close_frame_received(self, ws: picows.WSTransport) -> None:
        if not ws.is_close_frame_sent:
            handshake = ws.close_handshake
            received = handshake.recv if handshake is not None else None
            code = int(received.code) if received is not None else 0
            ws.send_close(_close_code(code if code else 1000), None)
        ws.disconnect()

    # -------------------------------------------------------------- lifecycle

    async def _watch(self, ws: picows.WSTransport, listener: _Listener, on_close: CloseHandler, ended: asyncio.Future[None]) -> None:
        """Wait for the end of the connection and report it to ``on_close`` exactly once."""
        failure: BaseException | None = None
        try:
            await ws.wait_disconnected()
        except Exception as exc:  # picows re-raises what made it drop the connection
            failure = exc
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
            _logger.error("realtime_fast: close handler raised", exc_info=True)
        finally:
            if not ended.done():
                ended.set_result(None)

    def _outcome(self, ws: picows.WSTransport, failure: BaseException | None) -> tuple[int | None, str, BaseException | None]:
        """``(code, reason, error)`` for ``on_close``: the server's close frame if any, and the error for abnormal ends."""
        handshake = ws.close_handshake
        received = handshake.recv if handshake is not None else None
        sent = handshake.sent if handshake is not None else None
        code: int | None = None
        reason = ""
        if received is not None:
            code = int(received.code) or _NO_STATUS_RECEIVED
            reason = received.reason or ""
        if failure is not None:
            if isinstance(failure, WSProtocolError):
                error: TransportError = TransportError(
                    f"The connection to {self._address} was closed with {int(failure.code)}: {failure}", code=code, reason=reason
                )
            else:
                error = TransportError(f"The connection to {self._address} failed: {failure!r}.", code=code, reason=reason)
            error.__cause__ = failure
            return code, reason, error
        if received is not None:
            return code, reason, None
        if sent is not None and not self._close_requested:
            # picows closed the connection itself (keepalive timeout).
            detail = sent.reason or "no reason given"
            return None, "", TransportError(f"The connection to {self._address} was closed with {int(sent.code)}: {detail}.", code=None)
        if self._close_requested:
            return None, "", TransportError(f"The server at {self._address} did not answer the close frame within {self.close_timeout:g} s; the connection was aborted.")
        return None, "", TransportError(f"The connection to {self._address} was lost without a close frame.")
