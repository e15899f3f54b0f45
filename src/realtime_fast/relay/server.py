"""``RealtimeRelay``: a Realtime API relay for browsers and other clients that must not hold the API key.

Clients connect to ``ws://relay/v1/realtime?model=...`` exactly as to the
service.  For each one the relay checks the origin, the client's token and
the limits, opens one upstream connection with the server's key, and only
then answers the upgrade, so a refusal or an upstream failure reaches the
client as an HTTP status.  From then on frames pass both ways without being
parsed (:mod:`realtime_fast.relay._picows_pipe_py` says what is read of
them).

On the same port: ``GET /healthz`` (the process is up), ``GET /readyz``
(accepting sessions; 503 while draining), ``GET /metrics`` (Prometheus),
``GET /`` (a voice page) and ``POST /client-secret`` (an ephemeral key from
upstream, for WebRTC).  See ``docs/relay.md``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import secrets
import time
from importlib import resources
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urlencode, urlsplit, urlunsplit

import orjson
import picows
from picows import WSCloseCode, WSListener, WSMsgType, WSUpgradeResponse, WSUpgradeResponseWithListener
from picows.picows import WSProtocol  # the server-side protocol, handed the socket once the relay accepts an upgrade

from .._impl import LOAD_ERRORS, load
from .._redact import package_logger
from . import _http
from ._http import HttpError, Request
from .defaults import DEFAULTS
from .auth import AuthHook, AuthRequest, Refused, TokenAuth, token_of
from .metrics import RelayMetrics
from .policy import SessionPolicy, refusal_event

__all__ = ["COMPILED_PIPE", "DEFAULTS", "RealtimeRelay", "ServerTool"]

_pipe, COMPILED_PIPE = load("relay._picows_pipe")
#: The frame pipe's listener class: compiled (frames scanned and sent from picows' buffer) or its pure twin.
Side = _pipe.Side
WATCH_SESSION_UPDATE = _pipe.WATCH_SESSION_UPDATE
WATCH_RESPONSE_CREATE = _pipe.WATCH_RESPONSE_CREATE
WATCH_ITEM_CREATE = _pipe.WATCH_ITEM_CREATE
WATCH_OUTPUT_ITEM_DONE = _pipe.WATCH_OUTPUT_ITEM_DONE
WATCH_RESPONSE_DONE = _pipe.WATCH_RESPONSE_DONE

log = package_logger("realtime_fast.relay")

OPENAI_URL = "wss://api.openai.com/v1/realtime"
REALTIME_PATHS = ("/v1/realtime", "/")
_BETA_PROTOCOL = "openai-beta.realtime-v1"
_REALTIME_PROTOCOL = "realtime"
#: Query parameters passed upstream (anything else a client adds stays at the relay).
_FORWARDED_QUERY = ("model", "intent")


#: Close codes a close frame may carry (RFC 6455 section 7.4); others are replaced when relayed.
_SENDABLE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})

ServerTool = Tuple[Mapping[str, Any], Callable[[Dict[str, Any]], Any]]


def _close_code(code: int) -> Any:
    """A code picows can send for ``code`` received on the other side (1005/1006/1015 become 1000/1011)."""
    if code in _SENDABLE:
        return WSCloseCode(code)
    if 3000 <= code <= 4999:
        return code
    return WSCloseCode.OK if code in (0, 1005) else WSCloseCode.INTERNAL_ERROR


def _now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------- one relayed session


class _Session:
    """One client connection and its upstream connection (the callbacks of both :class:`Side` listeners)."""

    def __init__(self, relay: "RealtimeRelay", identity: str, peer: str, model: Optional[str], protocol: str) -> None:
        self.relay = relay
        self.identity = identity
        self.peer = peer
        self.model = model
        self.protocol = protocol
        self.id = "relay_" + secrets.token_hex(8)
        size = relay.max_message_size
        self.client_side = Side(self, False, size)
        self.upstream_side = Side(self, True, size)
        self.client: Any = None  # picows WSTransport of the client, once the upgrade is answered
        self.upstream: Any = None  # picows WSTransport of the upstream connection
        self.opened = time.monotonic()
        self.last_frames = 0
        self.last_active = self.opened
        self.close_reason: Optional[str] = None
        #: True until the client's upgrade is settled (answered, or given up): the session cannot end before.
        self.opening = True
        #: The close frame the upstream sent before the client's upgrade was answered.
        self.upstream_close: Optional[Tuple[int, str]] = None
        self.ended = False
        self.client_gone = False
        self.upstream_gone = False
        self.tokens = [0, 0, 0]
        self.server_calls: set = set()
        self.pending_tools: List[asyncio.Task] = []
        self.tasks: set = set()
        watch = 0
        if relay.policy.lock:
            watch |= WATCH_SESSION_UPDATE | WATCH_RESPONSE_CREATE | WATCH_ITEM_CREATE
        if relay.tools:
            watch |= WATCH_ITEM_CREATE | WATCH_SESSION_UPDATE
            self.upstream_side.watch = WATCH_OUTPUT_ITEM_DONE | WATCH_RESPONSE_DONE
        self.client_side.watch = watch

    # ---- callbacks of the pipe

    def on_usage(self, input_tokens: int, output_tokens: int, total_tokens: int) -> None:
        self.tokens[0] += input_tokens
        self.tokens[1] += output_tokens
        self.tokens[2] += total_tokens
        self.relay.metrics.count_usage(self.identity, input_tokens, output_tokens, total_tokens)

    def on_client_event(self, kind: Optional[str], payload: bytes) -> Union[bool, bytes]:
        """A watched frame from the client: True to forward it upstream, False to drop it, bytes to send instead."""
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return True  # not JSON: the upstream answers it with its own error
        if not isinstance(event, dict):
            return True
        refusal = self.relay.policy.check_client_event(event)
        if refusal is None and self.relay.tools and event.get("type") == "conversation.item.create":
            refusal = self._check_tool_forgery(event)
        if refusal is None:
            if self.relay.tools and event.get("type") == "session.update":
                return self._keep_server_tools(event)
            return True
        self.send_to_client(refusal)
        self.relay._log("session.refused_event", session=self.id, identity=self.identity, event_type=event.get("type"), param=refusal["error"]["param"])
        return False

    def _keep_server_tools(self, event: Dict[str, Any]) -> Union[bool, bytes]:
        """A client's ``session.update`` that sets ``tools`` keeps the relay's tools (the client's own come first)."""
        session = event.get("session")
        if not isinstance(session, dict) or "tools" not in session:
            return True
        mine = self.relay.tools
        tools = [t for t in session.get("tools") or [] if not (isinstance(t, dict) and t.get("name") in mine)]
        tools.extend({"type": "function", **definition} for definition, _ in mine.values())
        session["tools"] = tools
        return orjson.dumps(event)

    def _check_tool_forgery(self, event: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        item = event.get("item")
        if not isinstance(item, dict):
            return None
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        if item.get("type") == "function_call_output" and item.get("call_id") in self.server_calls:
            return refusal_event("This tool call is run by the relay: its output cannot come from the client.", param="item.call_id", event_id=event_id, code="tool_owned_by_server")
        if item.get("type") == "function_call" and item.get("name") in self.relay.tools:
            return refusal_event(f"The tool {item.get('name')!r} is run by the relay: a client cannot create its calls.", param="item.name", event_id=event_id, code="tool_owned_by_server")
        return None

    def on_upstream_event(self, kind: Optional[str], payload: bytes) -> bool:
        """A watched frame from upstream (server-run tools): always forwarded."""
        if kind == "response.output_item.done":
            try:
                item = orjson.loads(payload).get("item") or {}
            except (orjson.JSONDecodeError, AttributeError):
                return True
            if item.get("type") == "function_call" and item.get("name") in self.relay.tools:
                self.server_calls.add(item.get("call_id"))
                task = asyncio.get_running_loop().create_task(self._run_tool(item))
                self.pending_tools.append(task)
        elif kind == "response.done" and self.pending_tools:
            tasks, self.pending_tools = self.pending_tools, []
            self._spawn(self._answer_tools(tasks))
        return True

    async def _run_tool(self, item: Dict[str, Any]) -> Dict[str, Any]:
        definition, handler = self.relay.tools[item["name"]]
        try:
            args = json.loads(item.get("arguments") or "{}")
            result = handler(args)
            if inspect.isawaitable(result):
                result = await result
            output = result if isinstance(result, str) else json.dumps(result)
        except Exception as exc:  # the model is told, as the reference client tells it
            log.warning("relay: tool %s raised %r", item.get("name"), exc)
            output = json.dumps({"error": str(exc)})
        return {"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": item.get("call_id"), "output": output}}

    async def _answer_tools(self, tasks: List[asyncio.Task]) -> None:
        outputs = await asyncio.gather(*tasks)
        if self.upstream is None or self.upstream_gone:
            return
        for event in outputs:
            self.upstream.send(WSMsgType.TEXT, orjson.dumps(event))
        self.upstream.send(WSMsgType.TEXT, b'{"type":"response.create"}')

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def send_to_client(self, event: Dict[str, Any]) -> None:
        if self.client is not None and not self.client_gone:
            self.client.send(WSMsgType.TEXT, orjson.dumps(event))

    def on_close_frame(self, side: Any, code: int, reason: str) -> None:
        if side is self.upstream_side and self.client is None:
            # Refused right after its upgrade (a bad model, say): the client gets the same once answered.
            self.upstream_close = (code, reason)
            self.close_reason = self.close_reason or "upstream"
            if self.upstream is not None:
                self.upstream.disconnect()
            return
        if side is self.client_side:
            self.close_reason = self.close_reason or "client"
            transport, other = self.client, self.upstream
        else:
            self.close_reason = self.close_reason or "upstream"
            transport, other = self.upstream, self.client
        if transport is not None and not transport.is_close_frame_sent:
            transport.send_close(_close_code(code), reason.encode()[:120])
        if transport is not None:
            transport.disconnect()
        if other is not None and not other.is_close_frame_sent:
            other.send_close(_close_code(code), reason.encode()[:120])
            self._disconnect_later(other)

    def on_disconnected(self, side: Any) -> None:
        if side is self.client_side:
            self.client_gone = True
            self.close_reason = self.close_reason or "client"
            other = self.upstream if not self.upstream_gone else None
        else:
            self.upstream_gone = True
            self.close_reason = self.close_reason or "upstream"
            other = self.client if not self.client_gone else None
        if other is not None:
            if not other.is_close_frame_sent:
                other.send_close(WSCloseCode.BAD_GATEWAY if side is self.upstream_side else WSCloseCode.GOING_AWAY, b"the other side of the relay disconnected")
            self._disconnect_later(other)
        self.finish_if_done()

    def finish_if_done(self) -> None:
        """Account for the session once both connections are gone and its upgrade is settled."""
        if not self.opening and self.upstream_gone and (self.client_gone or self.client is None):
            self.relay._finish(self)

    def on_pause_writing(self, side: Any) -> None:
        if side is self.client_side:  # the client does not read fast enough: bounded memory wins
            if self.client is not None and not self.client.is_close_frame_sent:
                self.close("slow_client", WSCloseCode.TRY_AGAIN_LATER, "client too slow to read")
        elif self.client is not None:  # the upstream does not read fast enough: stop reading the client
            self.client.underlying_transport.pause_reading()

    def on_resume_writing(self, side: Any) -> None:
        if side is self.upstream_side and self.client is not None and not self.client_gone:
            self.client.underlying_transport.resume_reading()

    # ---- closing

    def close(self, reason: str, code: Any, text: str, *, client_event: Optional[Dict[str, Any]] = None) -> None:
        """End the session: close frames to both sides (the client gets ``code``), then drop both connections."""
        self.close_reason = self.close_reason or reason
        if client_event is not None:
            self.send_to_client(client_event)
        for transport, close_code in ((self.client, code), (self.upstream, WSCloseCode.OK)):
            if transport is not None and not transport.is_disconnected:
                if not transport.is_close_frame_sent:
                    transport.send_close(close_code, text.encode())
                self._disconnect_later(transport)

    def _disconnect_later(self, transport: Any, delay: float = 2.0) -> None:
        """Drop ``transport`` after ``delay`` s unless the peer closes first (it normally answers the close)."""
        asyncio.get_running_loop().call_later(delay, transport.disconnect, False)


# --------------------------------------------------------------------------- refusing a browser after the upgrade


class _RefusalListener(WSListener):
    """Answers an accepted upgrade with one ``error`` event and a close, as the service refuses a bad key."""

    def __init__(self, event: Dict[str, Any], code: int, reason: str) -> None:
        super().__init__()
        self.event = event
        self.code = code
        self.reason = reason

    def on_ws_connected(self, transport: Any) -> None:
        transport.send(WSMsgType.TEXT, orjson.dumps(self.event))
        transport.send_close(self.code, self.reason.encode())
        asyncio.get_running_loop().call_later(2.0, transport.disconnect, False)

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


def _invalid_key_event(token: Optional[str]) -> Dict[str, Any]:
    """The service's own refusal of a bad key (the token itself is never echoed)."""
    return {
        "type": "error",
        "event_id": "event_" + secrets.token_hex(10),
        "error": {
            "type": "invalid_request_error",
            "code": "invalid_api_key",
            "message": "Incorrect API key provided: the relay does not know this token. Ask the relay's operator for one.",
            "param": None,
            "event_id": None,
        },
    }


# --------------------------------------------------------------------------- the front door


class _Front(asyncio.Protocol):
    """Reads one HTTP request head from a new connection and hands it to the relay."""

    def __init__(self, relay: "RealtimeRelay") -> None:
        self.relay = relay
        self.transport: Any = None
        self.buffer = bytearray()
        self.request: Optional[Request] = None
        self.handled = False
        self.lost = False
        self.timer: Optional[asyncio.TimerHandle] = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.timer = asyncio.get_running_loop().call_later(10.0, self._too_slow)

    def _too_slow(self) -> None:
        if not self.handled and self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.handled:
            self.buffer += data
            return
        self.buffer += data
        if self.request is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _http.MAX_HEAD:
                    self.reply(_http.response(431, b"Request head too large.\n"))
                return
            try:
                self.request = _http.parse_head(bytes(self.buffer[:end]))
                length = self.request.content_length
            except HttpError as exc:
                self.reply(_http.response(exc.status, (exc.message + "\n").encode()))
                return
            if length > _http.MAX_BODY:
                self.reply(_http.response(413, b"Request body too large.\n"))
                return
            del self.buffer[: end + 4]
        request = self.request
        length = request.content_length
        if len(self.buffer) < length:
            return
        if length:
            request.body = bytes(self.buffer[:length])
            del self.buffer[:length]
        self.handled = True
        if self.timer is not None:
            self.timer.cancel()
        self.transport.pause_reading()
        self.relay._spawn(self.relay._handle(self, request))

    def reply(self, data: bytes) -> None:
        """Send a complete response and close the connection."""
        self.handled = True
        if self.timer is not None:
            self.timer.cancel()
        if not self.lost:
            self.transport.write(data)
            self.transport.close()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.lost = True
        if self.timer is not None:
            self.timer.cancel()

    def peer(self) -> str:
        info = self.transport.get_extra_info("peername") if self.transport is not None else None
        if isinstance(info, tuple) and len(info) >= 2:
            return f"{info[0]}:{info[1]}"
        return str(info or "")


# --------------------------------------------------------------------------- the relay


class RealtimeRelay:
    """A Realtime API relay server (see the module docstring and ``docs/relay.md``).

    ``upstream``: the Realtime URL to relay to (``wss://api.openai.com/v1/realtime``
    for OpenAI), with ``api_key`` its key; ``None`` starts an embedded
    :class:`~realtime_fast.mock.MockRealtimeServer` and relays to it.

    Who may connect: ``tokens`` (token -> identity mapping, an iterable of
    tokens, or a :class:`~realtime_fast.relay.auth.TokenAuth`), or ``auth``, a
    hook (see :mod:`realtime_fast.relay.auth`); with neither, only
    ``allow_anonymous=True`` lets anyone in (identity ``anonymous``).
    ``allow_origins``: browser origins allowed (``Origin`` header; requests
    without one, from non-browsers, are not affected); ``None`` allows all.

    ``session``: a :class:`~realtime_fast.relay.policy.SessionPolicy` (or the
    session dict it wraps) sent upstream on every connect; ``lock_session``
    limits what clients may change.  ``tools``: ``[(definition, handler),
    ...]`` run by the relay (handler: sync or async, takes the parsed
    arguments, returns a JSON-able result or a string).

    Limits and timings: see :data:`DEFAULTS` (each is a keyword argument).
    ``reuse_port`` sets ``SO_REUSEPORT`` so that several processes can serve
    one port.
    """

    def __init__(
        self,
        upstream: Optional[str] = None,
        *,
        api_key: Optional[str] = None,
        host: str = "127.0.0.1",
        port: int = 8080,
        tokens: Union[TokenAuth, Mapping[str, str], Iterable[str], None] = None,
        auth: Optional[AuthHook] = None,
        allow_anonymous: bool = False,
        allow_origins: Optional[Iterable[str]] = None,
        session: Union[SessionPolicy, Mapping[str, Any], None] = None,
        lock_session: bool = False,
        tools: Optional[Iterable[ServerTool]] = None,
        max_sessions: int = DEFAULTS["max_sessions"],
        max_sessions_per_identity: int = DEFAULTS["max_sessions_per_identity"],
        max_message_size: int = DEFAULTS["max_message_size"],
        idle_timeout: Optional[float] = DEFAULTS["idle_timeout"],
        max_session_seconds: Optional[float] = DEFAULTS["max_session_seconds"],
        send_high_water: int = DEFAULTS["send_high_water"],
        connect_timeout: float = DEFAULTS["connect_timeout"],
        drain_timeout: float = DEFAULTS["drain_timeout"],
        ping_interval: Optional[float] = DEFAULTS["ping_interval"],
        browser_refusals: str = "event",
        reuse_port: bool = False,
        page: bool = True,
        mock_options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if tokens is not None and auth is not None:
            raise ValueError("Give tokens or an auth hook, not both.")
        if isinstance(tokens, TokenAuth):
            self.auth: Optional[AuthHook] = tokens
        elif tokens is not None:
            self.auth = TokenAuth(tokens)
        else:
            self.auth = auth
        if self.auth is None and not allow_anonymous:
            raise ValueError("The relay needs tokens (REALTIME_RELAY_TOKENS, --tokens-file) or an auth hook; pass allow_anonymous=True to let anyone in.")
        if browser_refusals not in ("event", "http"):
            raise ValueError(f"browser_refusals must be 'event' or 'http', got {browser_refusals!r}.")
        for name, value in (("max_sessions", max_sessions), ("max_sessions_per_identity", max_sessions_per_identity), ("max_message_size", max_message_size), ("send_high_water", send_high_water)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}.")
        self.upstream = upstream
        self.api_key = api_key
        self.host = host
        self.port = port
        self.allow_origins = None if allow_origins is None else frozenset(o.rstrip("/") for o in allow_origins)
        if isinstance(session, SessionPolicy):
            self.policy = session
            if lock_session:
                self.policy.lock = True
        else:
            self.policy = SessionPolicy(session, lock=lock_session)
        self.tools: Dict[str, ServerTool] = {}
        for definition, handler in tools or ():
            name = definition.get("name")
            if not name:
                raise ValueError("Every tool definition needs a 'name'.")
            if not callable(handler):
                raise ValueError(f"The handler of tool {name!r} must be callable.")
            self.tools[name] = (definition, handler)
        if self.tools:
            self.policy.with_tools(d for d, _ in self.tools.values())
        self.max_sessions = max_sessions
        self.max_sessions_per_identity = max_sessions_per_identity
        self.max_message_size = max_message_size
        self.idle_timeout = idle_timeout
        self.max_session_seconds = max_session_seconds
        self.send_high_water = send_high_water
        self.connect_timeout = connect_timeout
        self.drain_timeout = drain_timeout
        self.ping_interval = ping_interval
        self.browser_refusals = browser_refusals
        self.reuse_port = reuse_port
        self.serve_page = page
        self.mock_options = dict(mock_options or {})
        self.sessions: Dict[str, _Session] = {}
        self.pending = 0  # sessions being opened (counted against the limits)
        self.by_identity: Dict[str, int] = {}
        self.ready = False
        self.draining = False
        self.metrics = RelayMetrics(lambda: list(self.sessions.values()))
        self._server: Optional[asyncio.AbstractServer] = None
        self._mock: Any = None
        self._tasks: set = set()
        self._sweeper: Optional[asyncio.Task] = None
        self._page: bytes = b""

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """``ws://host:port/v1/realtime``: what clients connect to (once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/v1/realtime"

    @property
    def http_url(self) -> str:
        """``http://host:port``: the page, health checks and metrics (once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def mock(self) -> Any:
        """The embedded :class:`~realtime_fast.mock.MockRealtimeServer` (when no upstream was given), else None."""
        return self._mock

    @property
    def upstream_url(self) -> str:
        """The Realtime URL sessions are relayed to (the embedded mock's once started, when no upstream was given)."""
        return self.upstream or (self._mock.url if self._mock is not None else "")

    async def start(self) -> "RealtimeRelay":
        """Start the embedded mock (when no upstream was given) and listen."""
        if self._server is not None:
            return self
        if self.upstream is None:
            from ..mock import MockRealtimeServer

            self.api_key = self.api_key or "sk-relay-embedded-" + secrets.token_hex(12)
            options = {"profile": "realistic", "record": False, **self.mock_options}
            self._mock = await MockRealtimeServer(api_key=self.api_key, **options).start()
        if self.serve_page:
            self._page = resources.files("realtime_fast.relay").joinpath("page/index.html").read_bytes()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Front(self), self.host, self.port, reuse_port=self.reuse_port or None, backlog=4096
        )
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        self.ready = True
        self.metrics.ready.set(1)
        self._sweeper = loop.create_task(self._sweep())
        self._log(
            "relay.started",
            url=self.url,
            upstream=self.upstream_description,
            compiled_pipe=COMPILED_PIPE,
            pipe_fallback_reason=LOAD_ERRORS.get("relay._picows_pipe"),
        )
        return self

    @property
    def upstream_description(self) -> str:
        """Where sessions go, for people: the upstream URL, or ``embedded mock <url>``."""
        return f"embedded mock {self._mock.url}" if self._mock is not None else (self.upstream or "")

    async def drain(self, timeout: Optional[float] = None) -> int:
        """Stop taking sessions (``/readyz`` answers 503), give live ones ``timeout`` s (default ``drain_timeout``), then close the rest with 1001.

        Returns how many sessions were closed by the relay.
        """
        timeout = self.drain_timeout if timeout is None else timeout
        self.draining = True
        self.ready = False
        self.metrics.ready.set(0)
        self._log("relay.draining", sessions=len(self.sessions), timeout_s=timeout)
        deadline = time.monotonic() + timeout
        while (self.sessions or self.pending) and time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        closed = 0
        for session in list(self.sessions.values()):
            closed += 1
            session.close("drain", WSCloseCode.GOING_AWAY, "relay shutting down: reconnect")
        end = time.monotonic() + 3.0
        while self.sessions and time.monotonic() < end:
            await asyncio.sleep(0.05)
        self._log("relay.drained", closed_by_relay=closed)
        return closed

    async def stop(self) -> None:
        """Close every session (1001), stop listening and stop the embedded mock."""
        self.ready = False
        self.metrics.ready.set(0)
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for session in list(self.sessions.values()):
            session.close("drain", WSCloseCode.GOING_AWAY, "relay shutting down: reconnect")
        end = time.monotonic() + 3.0
        while self.sessions and time.monotonic() < end:
            await asyncio.sleep(0.05)
        for session in list(self.sessions.values()):
            for transport in (session.client, session.upstream):
                if transport is not None:
                    transport.disconnect(False)
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()
        if self._mock is not None:
            await self._mock.stop()
            self._mock = None
        self._log("relay.stopped")

    async def __aenter__(self) -> "RealtimeRelay":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(
        self, *, drain_on: Iterable[int] = (), ready: Optional[Callable[["RealtimeRelay"], None]] = None
    ) -> None:
        """Serve until cancelled, or until one of the signals in ``drain_on`` arrives: then drain and stop.

        The signals are caught before the relay starts listening, so one sent as soon as it is ready (a
        supervisor that reads a banner, a probe of ``/readyz``) still drains it.  ``ready(relay)`` is called
        once it listens (``relay.url`` is then known): for a banner or a readiness file.
        """
        import signal as _signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in drain_on:
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - Windows
                _signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
        await self.start()
        if ready is not None:
            ready(self)
        try:
            await stop.wait()
            await self.drain()
        finally:
            await self.stop()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _log(self, event: str, **fields: Any) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(json.dumps({"event": event, "ts_ms": _now_ms(), **fields}, default=str))

    async def _sweep(self) -> None:
        """Once a second: close idle sessions and sessions past their length."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for session in list(self.sessions.values()):
                frames = session.client_side.frames + session.upstream_side.frames
                if frames != session.last_frames:
                    session.last_frames, session.last_active = frames, now
                if session.close_reason is not None:
                    continue
                if self.max_session_seconds is not None and now - session.opened > self.max_session_seconds:
                    minutes = self.max_session_seconds / 60
                    event = refusal_event(f"Your session hit the maximum duration of {minutes:g} minutes.", param=None, event_id=None, code="session_expired")
                    session.close("max_length", WSCloseCode.GOING_AWAY, "session length limit", client_event=event)
                elif self.idle_timeout is not None and now - session.last_active > self.idle_timeout:
                    session.close("idle", WSCloseCode.GOING_AWAY, "idle timeout")

    # ------------------------------------------------------------------ requests

    async def _handle(self, front: _Front, request: Request) -> None:
        try:
            if request.is_upgrade:
                if request.path not in REALTIME_PATHS:
                    raise HttpError(404, "Not found: the Realtime endpoint is /v1/realtime.")
                await self._upgrade(front, request)
                return
            if request.method in ("GET", "HEAD"):
                front.reply(self._get(request))
            elif request.path == "/client-secret" and request.method == "OPTIONS":
                self._check_origin(request)  # a browser's preflight for a page on another origin
                front.reply(_http.response(204, b"", headers=self._cors(request) + (
                    ("Access-Control-Allow-Methods", "POST"),
                    ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
                    ("Access-Control-Max-Age", "600"),
                )))
            elif request.method == "POST" and request.path == "/client-secret":
                front.reply(await self._client_secret(front, request))
            else:
                raise HttpError(404 if request.method in ("POST", "PUT", "DELETE") else 405, f"Nothing at {request.method} {request.path}.")
        except HttpError as exc:
            self.metrics.refused.labels(str(exc.status)).inc()
            headers = exc.headers + (self._cors(request) if request.path == "/client-secret" and exc.status != 403 else ())
            front.reply(_http.response(exc.status, _http.error_body(exc.status, exc.message), "application/json", headers))
        except Exception:
            log.error("relay: request failed", exc_info=True)
            front.reply(_http.response(500, b"Internal error.\n"))

    def _get(self, request: Request) -> bytes:
        path = request.path
        if path == "/healthz":
            return _http.response(200, b"ok\n")
        if path == "/readyz":
            return _http.response(200, b"ready\n") if self.ready else _http.response(503, b"draining\n")
        if path == "/metrics":
            return _http.response(200, self.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
        if path in ("/", "/index.html") and self.serve_page:
            return _http.response(200, self._page, "text/html; charset=utf-8")
        raise HttpError(404, f"Nothing at {path}.")

    def _cors(self, request: Request) -> Tuple[Tuple[str, str], ...]:
        """CORS headers letting an allowed page on another origin read a ``/client-secret`` answer."""
        origin = request.header("Origin")
        if origin is None or (self.allow_origins is not None and origin.rstrip("/") not in self.allow_origins):
            return ()
        return (("Access-Control-Allow-Origin", origin), ("Vary", "Origin"))

    def _check_origin(self, request: Request) -> None:
        origin = request.header("Origin")
        if self.allow_origins is not None and origin is not None and origin.rstrip("/") not in self.allow_origins:
            raise HttpError(403, f"Origin {origin} is not allowed to use this relay.")

    async def _identify(self, front: _Front, request: Request, subprotocols: Sequence[str]) -> Tuple[Optional[str], Optional[str], str]:
        """``(identity, token, how)``; identity None when refused with 401.  Raises HttpError for hook refusals."""
        token, how = token_of(request.headers, subprotocols)
        if self.auth is None:
            return "anonymous", token, how
        auth_request = AuthRequest(
            path=request.path, query=request.query, headers=request.headers, subprotocols=tuple(subprotocols), peer=front.peer(), token=token
        )
        try:
            identity = self.auth(auth_request)
            if inspect.isawaitable(identity):
                identity = await identity
        except Refused as exc:
            raise HttpError(exc.status, exc.message) from None
        return (str(identity) if identity else None), token, how

    def _acquire(self, identity: str) -> None:
        if self.draining:
            raise HttpError(503, "This relay is shutting down: connect again (to another instance).", (("Retry-After", "1"),))
        if len(self.sessions) + self.pending >= self.max_sessions:
            raise HttpError(429, f"This relay is at its limit of {self.max_sessions} sessions: try again shortly.", (("Retry-After", "5"),))
        if self.by_identity.get(identity, 0) >= self.max_sessions_per_identity:
            raise HttpError(429, f"Too many sessions for this client (limit {self.max_sessions_per_identity}): close one first.", (("Retry-After", "5"),))
        self.pending += 1
        self.by_identity[identity] = self.by_identity.get(identity, 0) + 1

    def _release(self, identity: str) -> None:
        left = self.by_identity.get(identity, 1) - 1
        if left <= 0:
            self.by_identity.pop(identity, None)
        else:
            self.by_identity[identity] = left

    async def _upgrade(self, front: _Front, request: Request) -> None:
        subprotocols = request.header_tokens("Sec-WebSocket-Protocol")
        if request.method != "GET" or request.header("Sec-WebSocket-Key") is None or request.header("Sec-WebSocket-Version") != "13":
            raise HttpError(400, "Not a WebSocket upgrade this relay understands: GET with Sec-WebSocket-Key and Sec-WebSocket-Version: 13.")
        self._check_origin(request)
        identity, token, how = await self._identify(front, request, subprotocols)
        if identity is None:
            self.metrics.refused.labels("401").inc()
            self._log("session.refused", status=401, peer=front.peer(), credentials=how)
            if how == "subprotocol" and self.browser_refusals == "event":
                # A browser cannot read the status of a refused upgrade; the service's own way reaches it.
                self._accept_refusal(front, request, subprotocols, _invalid_key_event(token), 3000, "invalid_request_error.invalid_api_key")
                return
            raise HttpError(401, "Missing or unknown relay token: send 'Authorization: Bearer <token>' or the subprotocol 'openai-insecure-api-key.<token>'.", (("WWW-Authenticate", "Bearer"),))
        requested = (request.query.get("model") or [None])[0]
        model, reason = self.policy.choose_model(requested)
        if reason is not None:
            raise HttpError(400, reason)
        beta = _BETA_PROTOCOL in subprotocols or any("realtime=v1" in v.replace(" ", "") for v in request.header_tokens("OpenAI-Beta"))
        try:
            self._acquire(identity)
        except HttpError as exc:
            self._log("session.refused", status=exc.status, peer=front.peer(), identity=identity)
            raise
        session = _Session(self, identity, front.peer(), model, "beta" if beta else "ga")
        try:
            await self._open_upstream(session, request, beta)
        except HttpError as exc:
            self._release(identity)
            self._log("session.upstream_failed", status=exc.status, identity=identity, detail=exc.message)
            raise
        except BaseException:  # cancelled (the relay is stopping)
            self._release(identity)
            raise
        finally:
            self.pending -= 1
        if front.lost:  # the client gave up while the upstream was opening
            self._release(identity)
            session.opening = False
            session.upstream.disconnect(False)
            session.finish_if_done()
            return
        self.sessions[session.id] = session
        self.metrics.sessions.set(len(self.sessions))
        self.metrics.sessions_total.inc()
        headers = [("Sec-WebSocket-Protocol", _REALTIME_PROTOCOL)] if _REALTIME_PROTOCOL in subprotocols else []
        accepted = WSUpgradeResponseWithListener(WSUpgradeResponse.create_101_response(extra_headers=headers), session.client_side)
        client = self._hand_over(front, request, lambda _request: accepted)
        session.opening = False
        if client is None:
            session.client_gone = True
            self._log("session.handshake_failed", session=session.id, identity=identity)
            session.upstream.disconnect(False)
            session.finish_if_done()
            return
        session.client = client
        client.underlying_transport.set_write_buffer_limits(high=self.send_high_water)
        session.upstream_side.attach(client)
        session.client_side.attach(session.upstream)
        self._log("session.opened", session=session.id, identity=identity, peer=session.peer, model=model, protocol=session.protocol, credentials=how)
        if session.upstream_close is not None:  # what the upstream said before it closed has just been passed on
            code, reason = session.upstream_close
            client.send_close(_close_code(code), reason.encode()[:120])
            session._disconnect_later(client)
        elif session.upstream_gone:
            client.send_close(WSCloseCode.BAD_GATEWAY, b"the other side of the relay disconnected")
            session._disconnect_later(client)

    async def _open_upstream(self, session: _Session, request: Request, beta: bool) -> None:
        """Connect upstream for ``session`` (and send the server-owned session); raises HttpError with the status for the client."""
        base = urlsplit(self.upstream_url)
        query = {k: v[0] for k, v in request.query.items() if k in _FORWARDED_QUERY and v}
        if session.model is not None:
            query["model"] = session.model
        url = urlunsplit((base.scheme, base.netloc, base.path, urlencode(query), ""))
        headers = [("User-Agent", f"realtime-fast-relay/{_version()}")]
        if self.api_key:
            headers.append(("Authorization", f"Bearer {self.api_key}"))
        if beta:
            headers.append(("OpenAI-Beta", "realtime=v1"))
        try:
            ws, _listener = await asyncio.wait_for(
                picows.ws_connect(
                    lambda *_: session.upstream_side,
                    url,
                    extra_headers=headers,
                    websocket_handshake_timeout=self.connect_timeout,
                    max_frame_size=self.max_message_size,
                    enable_auto_ping=self.ping_interval is not None,
                    auto_ping_idle_timeout=self.ping_interval or 20.0,
                    auto_ping_reply_timeout=self.ping_interval or 20.0,
                    enable_auto_pong=True,
                    read_buffer_init_size=8192,
                    max_redirects=0,
                    logger_name=_picows_logger(),
                ),
                self.connect_timeout,
            )
        except asyncio.TimeoutError:
            self.metrics.upstream_errors.labels("connect").inc()
            raise HttpError(504, "The upstream Realtime server did not answer in time: try again.") from None
        except picows.WSHandshakeError as exc:
            self.metrics.upstream_errors.labels("handshake").inc()
            status = exc.response.status if exc.response is not None else 502
            raise HttpError(*_upstream_status(int(status))) from None
        except (OSError, picows.WSError) as exc:
            self.metrics.upstream_errors.labels("connect").inc()
            raise HttpError(502, f"The upstream Realtime server could not be reached ({type(exc).__name__}).") from None
        session.upstream = ws
        if session.upstream_close is not None:  # it already refused the session: nothing to send
            ws.disconnect()
            return
        if self.policy.has_session:
            ws.send(WSMsgType.TEXT, self.policy.session_update(session.protocol))

    def _hand_over(self, front: _Front, request: Request, factory: Callable[[Any], Any]) -> Any:
        """Give the client's socket to picows with the request already read; returns its WSTransport, or None if the handshake failed."""
        transport = front.transport
        protocol = WSProtocol(
            None, None, False, factory, _picows_logger(), True, 10.0,
            self.ping_interval is not None, self.ping_interval or 20.0, self.ping_interval or 20.0,
            picows.WSAutoPingStrategy.PING_WHEN_IDLE, True, self.max_message_size, None, 8192,
        )
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        data = request.head + b"\r\n\r\n" + bytes(front.buffer)
        front.buffer.clear()
        while data:
            view = protocol.get_buffer(len(data))
            n = min(len(view), len(data))
            view[:n] = data[:n]
            protocol.buffer_updated(n)
            data = data[n:]
        transport.resume_reading()
        ws = protocol.transport
        if ws is None or ws.is_disconnected or protocol.listener is None:
            return None
        return ws

    def _accept_refusal(self, front: _Front, request: Request, subprotocols: Sequence[str], event: Dict[str, Any], code: int, reason: str) -> None:
        if front.lost:
            return
        headers = [("Sec-WebSocket-Protocol", _REALTIME_PROTOCOL)] if _REALTIME_PROTOCOL in subprotocols else []
        listener = _RefusalListener(event, code, reason)
        accepted = WSUpgradeResponseWithListener(WSUpgradeResponse.create_101_response(extra_headers=headers), listener)
        self._hand_over(front, request, lambda _request: accepted)

    def _finish(self, session: _Session) -> None:
        """Both connections of ``session`` are gone: account for it."""
        if session.ended:
            return
        session.ended = True
        for task in list(session.tasks) + session.pending_tools:
            task.cancel()
        if self.sessions.pop(session.id, None) is not None:
            self._release(session.identity)
        self.metrics.pipes.retire(session.client_side, session.upstream_side)
        self.metrics.sessions.set(len(self.sessions))
        reason = session.close_reason or "client"
        self.metrics.closed.labels(reason).inc()
        self._log(
            "session.closed",
            session=session.id,
            identity=session.identity,
            reason=reason,
            seconds=round(time.monotonic() - session.opened, 3),
            frames_up=session.client_side.frames,
            frames_down=session.upstream_side.frames,
            bytes_up=session.client_side.bytes,
            bytes_down=session.upstream_side.bytes,
            input_tokens=session.tokens[0],
            output_tokens=session.tokens[1],
        )

    # ------------------------------------------------------------------ ephemeral keys

    async def _client_secret(self, front: _Front, request: Request) -> bytes:
        """``POST /client-secret``: mint an ephemeral key upstream for the server-owned session."""
        self._check_origin(request)
        identity, _token, _how = await self._identify(front, request, ())
        if identity is None:
            raise HttpError(401, "Missing or unknown relay token: send 'Authorization: Bearer <token>'.", (("WWW-Authenticate", "Bearer"),))
        try:
            asked = json.loads(request.body or b"{}")
        except json.JSONDecodeError:
            raise HttpError(400, "The body must be JSON (or empty).") from None
        if not isinstance(asked, dict):
            raise HttpError(400, "The body must be a JSON object.")
        model, reason = self.policy.choose_model(asked.get("model") or (request.query.get("model") or [None])[0])
        if reason is not None:
            raise HttpError(400, reason)
        session = dict(json.loads(self.policy.session_update("ga"))["session"])
        session["model"] = model or "gpt-realtime"
        payload: Dict[str, Any] = {"session": session}
        expires = asked.get("expires_after")
        if isinstance(expires, dict) and isinstance(expires.get("seconds"), int):
            payload["expires_after"] = {"anchor": "created_at", "seconds": max(10, min(7200, expires["seconds"]))}
        base = urlsplit(self.upstream_url)
        scheme = "https" if base.scheme == "wss" else "http"
        url = urlunsplit((scheme, base.netloc, base.path.rstrip("/") + "/client_secrets", "", ""))
        headers = {"User-Agent": f"realtime-fast-relay/{_version()}"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            status, body = await _http.post_json(url, payload, headers, self.connect_timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            self.metrics.upstream_errors.labels("connect").inc()
            raise HttpError(502, f"The upstream could not mint a client secret ({type(exc).__name__}).") from None
        if status >= 400:
            self.metrics.upstream_errors.labels("handshake").inc()
            code, message = _upstream_status(status)
            raise HttpError(code, message)
        self._log("client_secret.minted", identity=identity, model=session["model"])
        return _http.response(200, body, "application/json", self._cors(request))


def _upstream_status(status: int) -> Tuple[int, str]:
    """The status a client gets when the upstream refused: its own rate limits pass through, the relay's credentials never blame the client."""
    if status == 429:
        return 429, "The upstream Realtime service is rate limiting this relay: try again shortly."
    if status in (401, 403):
        return 502, "The upstream Realtime service refused the relay's credentials: the relay's operator must fix its key."
    if status in (400, 404):
        return status, f"The upstream Realtime service refused the request ({status})."
    if status == 503:
        return 503, "The upstream Realtime service is unavailable: try again shortly."
    return 502, f"The upstream Realtime service failed ({status})."


def _version() -> str:
    from .. import __version__

    return __version__


_PICOWS_LOGGER = "picows.relay"


def _picows_logger() -> Any:
    """picows' logger for the relay's connections: at WARNING unless you set it (picows logs every connection at INFO), redacted."""
    logger = logging.getLogger(_PICOWS_LOGGER)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
    return package_logger(_PICOWS_LOGGER)
