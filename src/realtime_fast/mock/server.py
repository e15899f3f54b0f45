"""The mock Realtime server: handshake, auth, model and dialect checks, recording, runners.

Usage::

    async with MockRealtimeServer(profile="fast") as server:
        server.script.add_rule("hello", "Hi there!")
        ...connect to server.url with any Realtime client...
        assert server.frames_of_type("response.done")

For synchronous code (or another event loop) start it in a background thread
with :meth:`MockRealtimeServer.run_in_thread`, or in a separate process with
:func:`spawn_mock_server` (the ``realtime-fast mock-server`` command).

Beyond the service's own behaviour, a test can make things happen:
:meth:`~MockRealtimeServer.create_call` (a SIP call to control with
``?call_id=``), :meth:`~MockRealtimeServer.send_dtmf` (the caller presses
keys), :meth:`~MockRealtimeServer.drop_connections` and
:meth:`~MockRealtimeServer.expire_sessions` (faults).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl as _ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Iterable
from urllib.parse import parse_qs, urlsplit

import orjson

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .._redact import package_logger
from ._ids import IdFactory
from .dialects import BETA, GA, Dialect
from .pacing import Pacing
from ._errors import ClientEventError
from .recording import Frame, Recorder
from .rest import connection_class
from .script import Script
from .session import DTMF_KEYS, Session
from .settings import SessionSettings

__all__ = [
    "DEFAULT_MODELS",
    "ConnectionRecord",
    "MockRealtimeServer",
    "MockServerProcess",
    "MockServerThread",
    "spawn_mock_server",
]

log = package_logger("realtime_fast.mock")  # websockets logs handshake headers, keys included

#: Models the mock accepts unless told otherwise (``models=``).
DEFAULT_MODELS: frozenset[str] = frozenset(
    {
        "gpt-realtime",
        "gpt-realtime-2025-08-28",
        "gpt-realtime-mini",
        "gpt-realtime-mini-2025-10-06",
        "gpt-realtime-mini-2025-12-15",
        "gpt-realtime-1.5",
        "gpt-realtime-2",
        "gpt-realtime-2.1",
        "gpt-realtime-2.1-mini",
        "gpt-audio-1.5",
        "gpt-audio-mini",
        "gpt-audio-mini-2025-10-06",
        "gpt-audio-mini-2025-12-15",
        "gpt-4o-realtime-preview",
        "gpt-4o-realtime-preview-2024-10-01",
        "gpt-4o-realtime-preview-2024-12-17",
        "gpt-4o-realtime-preview-2025-06-03",
        "gpt-4o-mini-realtime-preview",
        "gpt-4o-mini-realtime-preview-2024-12-17",
    }
)
PATHS = ("/v1/realtime", "/")
_REJECTED_KEYS = ("", "null", "undefined", "none")
_KEY_PROTOCOL = "openai-insecure-api-key."
_BETA_PROTOCOL = "openai-beta.realtime-v1"
_MIB = 1024 * 1024


@dataclass
class ConnectionRecord:
    """What the server saw of one connection (kept after it closed).

    ``close_code`` / ``close_reason`` are the close frame the server received (or,
    before one came, the one it sent), as soon as that frame is sent or received:
    a test that has just seen the close on the client side can read them; 1006
    once the connection ended without a close frame.  ``closed_at``
    (``time.monotonic()``) is set once the connection has ended and its
    session has left :attr:`MockRealtimeServer.connections`.  ``refused`` is
    the error code when the server refused the session (auth, model, beta).
    """

    id: int
    path: str
    query: dict[str, list[str]]
    headers: Headers
    subprotocols: list[str]
    subprotocol: str | None
    dialect: str
    model: str | None
    api_key: str | None
    opened_at: float = field(default_factory=time.monotonic)
    refused: str | None = None
    closed_at: float | None = None
    #: The live connection's protocol state, read until :meth:`finish` freezes the outcome.
    _protocol: Any = field(default=None, repr=False, compare=False)
    _close: tuple[int | None, str | None] = field(default=(None, None), repr=False, compare=False)

    @property
    def close_code(self) -> int | None:
        """The close code the server received or sent (see the class docstring)."""
        return self._close_frame()[0]

    @property
    def close_reason(self) -> str | None:
        """The close reason that goes with :attr:`close_code`."""
        return self._close_frame()[1]

    def _close_frame(self) -> tuple[int | None, str | None]:
        protocol = self._protocol
        if protocol is None:
            return self._close
        frame = protocol.close_rcvd or protocol.close_sent
        return (None, None) if frame is None else (int(frame.code), frame.reason)

    def finish(self, code: int | None, reason: str | None) -> None:
        """Freeze the outcome once the connection has ended (and let go of its state)."""
        self.closed_at = time.monotonic()
        self._close = (code, reason)
        self._protocol = None


class MockRealtimeServer:
    """A protocol-faithful OpenAI Realtime server on loopback (see the package docstring).

    Options:

    - ``api_key``: ``None`` accepts any real-looking key (a missing key, ``"null"``,
      ``"undefined"`` or an empty one is refused as the service refuses it); a string
      accepts only that key.
    - ``allow_beta``: serve the beta dialect to clients that ask for it (header
      ``OpenAI-Beta: realtime=v1`` or subprotocol ``openai-beta.realtime-v1``); ``False``
      answers them as the service does today (``beta_api_shape_disabled``, close 4000).
    - ``profile``: ``"realistic"``, ``"fast"`` or a :class:`Pacing` (see :attr:`pacing`).
    - ``host`` / ``port``: where to listen (port 0 picks a free port; see :attr:`url`).
    - ``audio_chunk_ms``: duration of each assistant audio delta, 20..200 ms (default 100).
    - ``ms_per_char``: assistant speech length per transcript character, in ms (default 60).
    - ``max_session_seconds``: session max age; then ``session_expired`` and close 1001
      (default 60 min GA, 30 min beta).
    - ``models``: accepted ``?model=`` values (default :data:`DEFAULT_MODELS`).
    - ``emit_conversation_created``: also send ``conversation.created`` after ``session.created``.
    - ``rate_limits``: ``"after_done"`` (default), ``"after_created"`` or ``None`` (never).
    - ``max_message_size``: largest client message (characters) handled normally
      (default 32 MiB); larger ones get an ``error`` event, and ones over twice that
      size close the connection (1009) as any WebSocket server would.
    - ``timestamp_field``: when set, every server event carries this extra field with
      :func:`time.time` at the moment it is sent (for lag measurements).
    - ``ping_interval``: seconds between keepalive pings (the service uses about 20).
    - ``compression``: negotiate permessage-deflate (default: on for ``realistic``,
      off for ``fast``, as compressing base64 audio costs more CPU than it saves on loopback).
    - ``record``: what :attr:`frames` keeps.  ``None`` (default): the newest frames
      up to :data:`~realtime_fast.mock.recording.DEFAULT_RECORD_BYTES` (64 MiB), a
      ring that never grows past it; an int: the same with that many bytes;
      ``True``: every frame (memory grows with the traffic); ``False``: none.
      ``recorder.dropped`` counts the frames a ring let go.
    - ``ssl``: a server :class:`ssl.SSLContext` (``ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)``
      with ``load_cert_chain(cert, key)``) to serve ``wss://`` instead of ``ws://``: the
      certificate must name ``host`` (an IP address SAN for ``127.0.0.1``), and clients
      trust it through their own ``ssl=`` context.  Set ``verify_mode = ssl.CERT_REQUIRED``
      and ``load_verify_locations(ca)`` on it to require client certificates.
    """

    def __init__(
        self,
        api_key: str | None = None,
        allow_beta: bool = True,
        profile: str | Pacing = "realistic",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        audio_chunk_ms: int = 100,
        ms_per_char: float = 60.0,
        max_session_seconds: float | None = None,
        models: Iterable[str] | None = None,
        emit_conversation_created: bool = False,
        rate_limits: str | None = "after_done",
        max_message_size: int = 32 * _MIB,
        timestamp_field: str | None = None,
        ping_interval: float | None = 20.0,
        compression: bool | None = None,
        record: bool | int | None = None,
        script: Script | None = None,
        ssl: _ssl.SSLContext | None = None,
    ) -> None:
        if api_key is not None and (not isinstance(api_key, str) or api_key.strip() in _REJECTED_KEYS):
            raise ValueError("api_key must be None (accept any real-looking key) or a non-empty key string.")
        if not 20 <= audio_chunk_ms <= 200:
            raise ValueError(f"audio_chunk_ms must be between 20 and 200 ms, got {audio_chunk_ms}.")
        if ms_per_char <= 0:
            raise ValueError(f"ms_per_char must be > 0 ms, got {ms_per_char}.")
        if max_session_seconds is not None and max_session_seconds <= 0:
            raise ValueError(f"max_session_seconds must be > 0 s, got {max_session_seconds}.")
        if rate_limits not in ("after_done", "after_created", None):
            raise ValueError(f"rate_limits must be 'after_done', 'after_created' or None, got {rate_limits!r}.")
        if max_message_size < 1024:
            raise ValueError(f"max_message_size must be at least 1024 characters, got {max_message_size}.")
        if ssl is not None and not isinstance(ssl, _ssl.SSLContext):
            raise TypeError(f"ssl must be a server ssl.SSLContext (or None for ws://), not {type(ssl).__name__}.")
        self.api_key = api_key
        self.allow_beta = allow_beta
        #: Delays of this server; change attributes at any time (see :class:`Pacing`).
        self.pacing: Pacing = Pacing.named(profile) if isinstance(profile, str) else profile
        self.host = host
        self._requested_port = port
        self.audio_chunk_ms = int(audio_chunk_ms)
        self.ms_per_char = float(ms_per_char)
        self.max_session_seconds = max_session_seconds
        self.models: frozenset[str] = DEFAULT_MODELS if models is None else frozenset(models)
        self.emit_conversation_created = emit_conversation_created
        self.rate_limits = rate_limits
        self.max_message_size = int(max_message_size)
        self.timestamp_field = timestamp_field
        self.ping_interval = ping_interval
        self.compression = (not self.pacing.is_fast) if compression is None else compression
        #: The server TLS context (``wss://``), or None (``ws://``).
        self.ssl = ssl
        #: The scripting API (replies, tool-call rules, transcripts); see :class:`Script`.
        self.script: Script = script if script is not None else Script()
        #: Every frame in both directions (see :class:`Recorder`).
        if record is None or record is False:
            self.recorder = Recorder(enabled=record is None)
        elif record is True:
            self.recorder = Recorder(max_bytes=None)
        else:
            self.recorder = Recorder(max_bytes=record)
        #: Live sessions by connection id.
        self.connections: dict[int, Session] = {}
        #: Every connection ever accepted, in order (also the closed and refused ones).
        self.connection_log: list[ConnectionRecord] = []
        #: Ephemeral keys minted by ``POST /v1/realtime/client_secrets`` -> expiry (unix s).
        self.client_secrets: dict[str, int] = {}
        #: Calls made with :meth:`create_call`: call id -> the session settings it was accepted with.
        self.calls: dict[str, dict[str, Any]] = {}
        self._ids = IdFactory()
        self._next_id = 1
        self._server: Server | None = None
        self.port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """``ws://<host>:<port>/v1/realtime`` (``wss://`` with ``ssl``; available once started)."""
        if self.port is None:
            raise RuntimeError(
                "The mock server is not started; use 'async with MockRealtimeServer() as server' or await start()."
            )
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "wss" if self.ssl is not None else "ws"
        return f"{scheme}://{host}:{self.port}/v1/realtime"

    async def start(self) -> MockRealtimeServer:
        """Start listening (idempotent); returns ``self``."""
        if self._server is not None:
            return self
        self._server = await serve(
            self._handle,
            self.host,
            self._requested_port,
            select_subprotocol=_select_subprotocol,
            process_request=_process_request,
            max_size=2 * self.max_message_size,
            max_queue=64,
            write_limit=256 * 1024,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_interval,
            compression="deflate" if self.compression else None,
            logger=log,
            backlog=2048,  # many clients connecting at once (load tests)
            ssl=self.ssl,
            create_connection=connection_class(self),  # POST /v1/realtime/client_secrets
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close every connection (1001 going away) and stop listening."""
        server, self._server = self._server, None
        if server is not None:
            server.close(close_connections=True)
            await server.wait_closed()

    async def __aenter__(self) -> MockRealtimeServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def run_in_thread(self, *, use_uvloop: bool = False, timeout: float = 10.0) -> MockServerThread:
        """Start this server on its own event loop in a daemon thread; returns the running handle.

        For synchronous code and other event loops: ``handle.url``, ``handle.stop()``
        (also a context manager).  The server must not be started already.
        """
        return MockServerThread(self, use_uvloop=use_uvloop).start(timeout)

    # ------------------------------------------------------------------ recording

    @property
    def frames(self) -> list[Frame]:
        """The recorded frames, both directions, in socket order (see :class:`Frame` and ``record``)."""
        return self.recorder.frames

    def frames_of_type(
        self, type: str, *, direction: str | None = "server", connection: int | None = None
    ) -> list[Frame]:
        """Recorded frames of event ``type`` (``"response.*"`` matches a prefix); server frames by default."""
        return self.recorder.select(type, direction=direction, connection=connection)

    def events(self, type: str | None = None, *, direction: str = "server", connection: int | None = None) -> list[Any]:
        """The parsed events (dicts) of the matching frames, in order."""
        return [f.data for f in self.recorder.select(type, direction=direction, connection=connection)]

    async def wait_for_frame(
        self, type: str, *, direction: str = "server", connection: int | None = None, timeout: float = 5.0
    ) -> Frame:
        """Wait (on the server's loop) until a frame of ``type`` was recorded; raises TimeoutError."""
        return await self.recorder.wait_for(type, direction=direction, connection=connection, timeout=timeout)

    def clear_frames(self) -> None:
        """Forget the recorded frames (e.g. between phases of a test)."""
        self.recorder.clear()

    # ------------------------------------------------------------------ calls and faults

    def create_call(self, session: dict[str, Any] | None = None) -> str:
        """A new SIP call, accepted with ``session`` (GA ``session.update`` settings); returns its call id.

        Connect with ``?call_id=<id>`` (``RealtimeClient(call_id=...)``) to
        control it: the session starts with these settings (no model in the
        URL).  ``session`` is validated as ``session.update`` would be
        (ValueError naming the problem).  Every connection to the call gets
        a session of its own with these settings.
        """
        settings = dict(session or {})
        settings.setdefault("type", "realtime")
        probe = GA.default_session("sess_probe", "gpt-realtime", 0)
        try:
            GA.update_session(probe, settings, "gpt-realtime")
        except ClientEventError as exc:
            raise ValueError(f"create_call: invalid session settings: {exc.message}") from None
        call_id = self._ids.new("rtc_")
        self.calls[call_id] = settings
        return call_id

    def sessions_of_call(self, call_id: str) -> list[Session]:
        """The live sessions connected to call ``call_id``."""
        return [s for s in list(self.connections.values()) if s.call_id == call_id]

    async def send_dtmf(self, call_id: str, digits: str) -> int:
        """The caller presses ``digits`` (``0-9``, ``*``, ``#``, ``A-D``): ``input_audio_buffer.dtmf_event_received`` per key.

        Sent on every live connection to call ``call_id``; returns how many
        there were.  ValueError for an unknown call or key.
        """
        if call_id not in self.calls:
            raise ValueError(f"send_dtmf: no call {call_id!r}; make one with create_call().")
        bad = sorted(set(digits) - DTMF_KEYS)
        if bad or not digits:
            raise ValueError(f"send_dtmf: {digits!r} has no key or keys a keypad does not have ({bad}); use 0-9, *, #, A-D.")
        sessions = self.sessions_of_call(call_id)
        for session in sessions:
            await session.send_dtmf(digits)
        return len(sessions)

    async def drop_connections(self, code: int | None = None, reason: str = "") -> int:
        """End every live connection at once; returns how many.

        ``code`` None: the TCP connection is cut without a close frame (a
        network failure: the client sees an abnormal end, 1006); a code:
        a close frame with that code and ``reason`` (1011 internal error,
        1012 service restart ...).
        """
        sessions = list(self.connections.values())
        for session in sessions:
            if code is None:
                session.ws.transport.abort()
            else:
                await session.close(code, reason)
        return len(sessions)

    async def expire_sessions(self) -> int:
        """End every live session as the service does at its maximum duration; returns how many.

        Each gets an ``error`` event with code ``session_expired`` ("Your
        session hit the maximum duration of 60 minutes.") and a close 1001
        with the same reason.
        """
        sessions = list(self.connections.values())
        await asyncio.gather(*(session.expire() for session in sessions))
        return len(sessions)

    # ------------------------------------------------------------------ connections

    async def _handle(self, ws: ServerConnection) -> None:
        conn_id = self._next_id
        self._next_id += 1
        request = ws.request
        assert request is not None
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        headers = request.headers
        offered = _offered_subprotocols(headers)
        beta = "realtime=v1" in ",".join(headers.get_all("OpenAI-Beta")).replace(" ", "") or _BETA_PROTOCOL in offered
        key = _api_key(headers, offered)
        model = (query.get("model") or [None])[0]
        call_id = (query.get("call_id") or [None])[0]
        intent = (query.get("intent") or [None])[0]
        record = ConnectionRecord(
            id=conn_id,
            path=url.path,
            query=query,
            headers=headers,
            subprotocols=offered,
            subprotocol=ws.subprotocol,
            dialect="beta" if beta else "ga",
            model=model,
            api_key=key,
            _protocol=ws.protocol,
        )
        self.connection_log.append(record)
        log.debug("#%s connected: %s dialect=%s model=%s", conn_id, url.path, record.dialect, model)
        try:
            refusal = self._refusal(key, beta, model, call_id, intent)
            if refusal is not None:
                code, message, close_code, reason = refusal
                log.debug("#%s refused: %s (close %s)", conn_id, reason, close_code)
                record.refused = code or "missing_authentication"
                await self._refuse(ws, conn_id, code, message, close_code, reason)
                return
            dialect: Dialect = BETA if beta else GA
            max_age = self.max_session_seconds or dialect.default_max_session_seconds
            session = Session(
                self._session_settings(),
                ws,
                conn_id,
                dialect,
                model or "gpt-realtime",
                max_age,
                kind="transcription" if intent == "transcription" and call_id is None else "realtime",
                call_id=call_id,
                call_session=self.calls.get(call_id) if call_id is not None else None,
            )
            self.connections[conn_id] = session
            try:
                await session.run()
            finally:
                self.connections.pop(conn_id, None)
        finally:
            try:
                await asyncio.wait_for(ws.wait_closed(), 1.0)
            except (asyncio.TimeoutError, ConnectionClosed):
                pass
            record.finish(ws.close_code, ws.close_reason)
            log.debug("#%s closed: %s %s", conn_id, record.close_code, record.close_reason)

    def _session_settings(self) -> SessionSettings:
        return SessionSettings(
            pacing=self.pacing,
            script=self.script,
            record=self.recorder.add,
            ids=self._ids,
            rate_limits=self.rate_limits,
            timestamp_field=self.timestamp_field,
            ms_per_char=self.ms_per_char,
            audio_chunk_ms=self.audio_chunk_ms,
            max_message_size=self.max_message_size,
            emit_conversation_created=self.emit_conversation_created,
        )

    def _refusal(
        self, key: str | None, beta: bool, model: str | None, call_id: str | None = None, intent: str | None = None
    ) -> tuple[str | None, str, int, str] | None:
        if key is None:
            return None, "Missing bearer or basic authentication in header", 3000, "invalid_request_error"
        if not self.accepts_key(key):
            return (
                "invalid_api_key",
                f"Incorrect API key provided: {_mask(key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                3000,
                "invalid_request_error.invalid_api_key",
            )
        if beta and not self.allow_beta:
            return (
                "beta_api_shape_disabled",
                "The Realtime Beta API is no longer supported. Remove the 'OpenAI-Beta: realtime=v1' header "
                "(or the openai-beta.realtime-v1 subprotocol) and use the GA Realtime API.",
                4000,
                "invalid_request_error.beta_api_shape_disabled",
            )
        if call_id is not None:
            if beta or call_id not in self.calls:
                return (
                    "call_not_found",
                    f"Call '{call_id}' not found: control a call with the GA API, with the id the call was created with.",
                    4000,
                    "invalid_request_error.call_not_found",
                )
            return None
        if intent is not None:
            if intent != "transcription" or beta:
                return (
                    "invalid_intent",
                    f"Invalid intent {intent!r}: the GA API supports intent=transcription.",
                    4000,
                    "invalid_request_error.invalid_intent",
                )
            return None
        if not model:
            return (
                "missing_model",
                "Missing required parameter: 'model'. Connect to /v1/realtime?model=<model>.",
                4000,
                "invalid_request_error.missing_model",
            )
        if model not in self.models:
            return (
                "invalid_model",
                f'Model "{model}" is not supported in realtime mode. Use a realtime model such as "gpt-realtime".',
                4000,
                "invalid_request_error.invalid_model",
            )
        return None

    def accepts_key(self, key: str) -> bool:
        """True for a key this server takes: its ``api_key`` (any real-looking key when None) or an unexpired minted client secret."""
        if key.lower() in _REJECTED_KEYS or key.strip() != key:
            return False
        if self.client_secrets.get(key, 0) > time.time():
            return True
        return self.api_key is None or key == self.api_key

    async def _refuse(
        self, ws: ServerConnection, conn_id: int, code: str | None, message: str, close_code: int, reason: str
    ) -> None:
        event: dict[str, Any] = {
            "type": "error",
            "event_id": self._ids.new("event_"),
            "error": {
                "type": "invalid_request_error",
                "code": code,
                "message": message,
                "param": None,
                "event_id": None,
            },
        }
        if self.timestamp_field:
            event[self.timestamp_field] = time.time()
        raw = orjson.dumps(event)
        self.recorder.add(Frame(time.monotonic(), "server", conn_id, raw, "error"))
        try:
            await ws.send(raw, text=True)
            await ws.close(close_code, reason)
        except ConnectionClosed:
            pass


def _offered_subprotocols(headers: Headers) -> list[str]:
    return [p.strip() for value in headers.get_all("Sec-WebSocket-Protocol") for p in value.split(",") if p.strip()]


def _select_subprotocol(connection: ServerConnection, subprotocols: Any) -> str | None:
    """Echo ``realtime`` when offered (else the first offer, as Node's ``ws`` does)."""
    offered = list(subprotocols)
    if "realtime" in offered:
        return "realtime"
    return offered[0] if offered else None


def _process_request(connection: ServerConnection, request: Request) -> Response | None:
    path = urlsplit(request.path).path
    if path.rstrip("/") not in ("/v1/realtime", ""):
        return connection.respond(HTTPStatus.NOT_FOUND, "Not found: the Realtime endpoint is /v1/realtime.\n")
    return None


def _api_key(headers: Headers, offered: list[str]) -> str | None:
    auth = headers.get("Authorization")
    if auth is not None:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    for proto in offered:
        if proto.startswith(_KEY_PROTOCOL):
            return proto[len(_KEY_PROTOCOL) :]
    return None


def _mask(key: str) -> str:
    if len(key) <= 12:  # placeholders such as 'null' / 'undefined' are shown as sent
        return key
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


# --------------------------------------------------------------------------- thread runner


class MockServerThread:
    """A :class:`MockRealtimeServer` running on its own event loop in a daemon thread.

    Created by :meth:`MockRealtimeServer.run_in_thread`.  Attributes of the server
    (``url``, ``script``, ``pacing``, ``frames`` ...) are reachable here too; the
    script and pacing may be changed from the calling thread at any time.
    """

    def __init__(self, server: MockRealtimeServer, *, use_uvloop: bool = False) -> None:
        self.server = server
        self._use_uvloop = use_uvloop
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> MockServerThread:
        """Start the thread and wait until the server listens (raises what startup raised)."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._main, name="realtime-fast-mock", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"The mock server thread did not start within {timeout} s.")
        if self._error is not None:
            self._thread.join(timeout)
            raise self._error
        return self

    def _main(self) -> None:
        if self._use_uvloop:
            import uvloop

            loop = uvloop.new_event_loop()
        else:
            loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._amain())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    async def _amain(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (closing its connections) and join the thread."""
        thread = self._thread
        if thread is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # loop already closed
                pass
        thread.join(timeout)
        self._thread = None

    def call(self, coro: Any, timeout: float | None = 10.0) -> Any:
        """Run coroutine ``coro`` on the server's loop and return its result (from another thread)."""
        if self._loop is None:
            raise RuntimeError("The mock server thread is not running; call start() first.")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def wait_for_frame(
        self, type: str, *, direction: str = "server", connection: int | None = None, timeout: float = 5.0
    ) -> Frame:
        """Block until a frame of ``type`` was recorded; raises TimeoutError."""
        return self.call(
            self.server.wait_for_frame(type, direction=direction, connection=connection, timeout=timeout), timeout + 1
        )

    def send_dtmf(self, call_id: str, digits: str) -> int:
        """:meth:`MockRealtimeServer.send_dtmf`, from this thread."""
        return self.call(self.server.send_dtmf(call_id, digits))

    def drop_connections(self, code: int | None = None, reason: str = "") -> int:
        """:meth:`MockRealtimeServer.drop_connections`, from this thread."""
        return self.call(self.server.drop_connections(code, reason))

    def expire_sessions(self) -> int:
        """:meth:`MockRealtimeServer.expire_sessions`, from this thread."""
        return self.call(self.server.expire_sessions())

    def __enter__(self) -> MockServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __getattr__(self, name: str) -> Any:
        # url, port, script, pacing, frames, frames_of_type, events, connections, connection_log ...
        if name.startswith("_") or name == "server":
            raise AttributeError(name)
        return getattr(self.server, name)


# --------------------------------------------------------------------------- process runner

_URL_LINE = re.compile(r"wss?://\S+")


class MockServerProcess:
    """The mock server in a child process (``python -m realtime_fast.mock``), e.g. for load tests.

    ``args`` are command-line options of ``realtime-fast mock-server``; the port
    defaults to 0 (a free one) and :attr:`url` is read from the child's first line.
    Scripting and recording are not available across the process boundary.
    """

    def __init__(self, args: Iterable[str] = ()) -> None:
        self.args = list(args)
        self.url: str | None = None
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 20.0) -> MockServerProcess:
        """Launch the child and wait for its URL line (no-op when already running)."""
        if self.process is not None:
            return self
        args = self.args if "--port" in self.args else ["--port", "0", *self.args]
        env = dict(os.environ)
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "realtime_fast.mock", *args],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(max(0.0, deadline - time.monotonic()))
        line = result[0] if result else ""
        match = _URL_LINE.search(line)
        if match is None:
            self.stop()
            raise RuntimeError(f"The mock server process did not report its URL (first line: {line!r}).")
        self.url = match.group()
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        """Ask the child to shut down (SIGINT / CTRL_BREAK), wait, kill if needed; returns its exit code."""
        proc, self.process = self.process, None
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGINT if os.name != "nt" else signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def __enter__(self) -> MockServerProcess:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_mock_server(
    *,
    profile: str = "fast",
    allow_beta: bool = True,
    api_key: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    extra_args: Iterable[str] = (),
) -> MockServerProcess:
    """Start the mock server in a child process and return the running handle (``.url``, ``.stop()``)."""
    args = ["--host", host, "--port", str(port), "--profile", profile]
    if not allow_beta:
        args.append("--no-beta")
    if api_key is not None:
        args += ["--api-key", api_key]
    return MockServerProcess([*args, *extra_args]).start()
