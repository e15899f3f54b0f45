"""RealtimeAPI: one WebSocket to a Realtime server, sending client events and receiving server events.

Every server event is dispatched as ``server.<type>`` and then ``server.*``;
every client event sent is dispatched as ``client.<type>`` and then
``client.*`` just before it is written.  Sending never waits: frames are queued
by the transport and leave in order (``await api.drain()`` waits until the
queue is below the transport's high-water mark).

Audio deltas (``response.output_audio.delta`` / ``response.audio.delta``) for
an item whose buffer the client registered are decoded straight into that
buffer by the compiled event codec, without building the base64 string.  Raw
listeners still see the ``delta`` field: it is re-encoded from the decoded
samples, only when something listens (``server.<type>``, ``server.*``, or the
client's ``realtime.event``), and never when ``raw_audio_deltas=False`` (then
the event has no ``delta``; read the audio from the item or from
``conversation.updated``).  Every frame is parsed once (see
:func:`realtime_fast.events.parse_frame`); without the compiled codec (a
pure-Python install) the same happens in Python, with the same result, more
slowly.  A standalone ``RealtimeAPI`` registers no buffers, so it dispatches
audio deltas exactly as received.

Problems the API itself sees (a frame that is not an event, a binary frame,
a handler that raised, a connection lost) are dispatched as ``error`` with a
payload shaped like :class:`realtime_fast.types.ErrorEvent`; the end of the
connection as ``close`` (:class:`realtime_fast.types.CloseEvent`).
"""

from __future__ import annotations

import inspect
import logging
import ssl as _ssl
from typing import Any, Callable, Dict, List, Literal, Mapping, Optional, Protocol, Union
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from .audio import b64encode_pcm16
from .dialects import AUDIO_DELTA_TYPES, get_dialect
from ._redact import RedactingLogger, Redactor, redact_key
from .errors import RealtimeError, TransportError
from .event_handler import RealtimeEventHandler
from .events import FrameReceiver, dumps_append_audio, dumps_event
from .names import CLIENT_ANY, INPUT_AUDIO_APPEND, SERVER_ANY
from .transport import DEFAULT_HIGH_WATER, MAX_MESSAGE_SIZE, Transport, create_transport
from .transport._options import check_proxy, check_ssl, redact_proxy
from .utils import RealtimeUtils

__all__ = [
    "AUTH_MODES",
    "DEFAULT_MODEL",
    "DEFAULT_URL",
    "MAX_AUDIO_DELTA_SIZE",
    "ApiConsumer",
    "ConnectionStateError",
    "RealtimeAPI",
    "redact_key",
    "url_with_model",
    "url_with_param",
]

#: The package's logger (each client logs through a RedactingLogger around it that knows its key).
logger = logging.getLogger("realtime_fast")

#: The OpenAI Realtime endpoint.
DEFAULT_URL = "wss://api.openai.com/v1/realtime"
#: The default model (GA).
DEFAULT_MODEL = "gpt-realtime"
#: Longest audio delta accepted (bytes of base64 text; 1 MiB, about 16 s of 24 kHz
#: PCM16).  The service's deltas carry well under a second (the mock server's,
#: 100 ms: 6,400 bytes); a longer one is dropped with an ``error`` event.
MAX_AUDIO_DELTA_SIZE: int = 1024 * 1024

_generate_id = RealtimeUtils.generate_id
_APPEND = INPUT_AUDIO_APPEND
_CLIENT_APPEND = "client." + _APPEND

TransportSpec = Union[str, Transport, Callable[[], Transport]]
AuthMode = Literal["headers", "subprotocols"]
#: Values of the ``auth`` option: where the credentials travel in the handshake.
AUTH_MODES = ("headers", "subprotocols")
#: Constructor settings of a Transport instance that its replacements keep (see ``transport=``).
_TRANSPORT_SETTINGS = ("high_water", "close_timeout")
#: Close codes of a normal end: 1000, and 1005 for a close frame without a code.
NORMAL_CLOSE_CODES = frozenset({1000, 1005})
#: What the close codes of RFC 6455 (and its IANA registry) mean.
_CLOSE_CODE_NAMES = {
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1007: "invalid payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
}


def _close_words(code: Optional[int], reason: str) -> str:
    """``code 1011 (internal error), reason 'x'`` for a close code and reason."""
    name = _CLOSE_CODE_NAMES.get(code) if code is not None else None
    words = f"code {code}" + (f" ({name})" if name else "")
    return words + (f", reason {reason!r}" if reason else "")


class ConnectionStateError(RealtimeError, RuntimeError):
    """A method needs a connection and there is none (or connects twice)."""


def _successor_factory(template: Transport) -> Callable[[], Transport]:
    """A factory of new transports of ``template``'s class with its ``high_water`` and ``close_timeout``.

    Only the settings the class's constructor takes as keywords are copied, so a
    custom Transport class without them is built with no arguments.
    """
    cls = type(template)
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # pragma: no cover - classes without a signature
        parameters = {}  # type: ignore[assignment]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    settings = {
        name: getattr(template, name)
        for name in _TRANSPORT_SETTINGS
        if hasattr(template, name) and (takes_any or name in parameters)
    }
    return lambda: cls(**settings)


def url_with_model(url: str, model: Optional[str]) -> str:
    """``url`` with ``model=<model>`` added to its query (other parameters kept; a ``model`` already there wins)."""
    return url_with_param(url, "model", model)


def url_with_param(url: str, key: str, value: Optional[str]) -> str:
    """``url`` with ``key=<value>`` added to its query (other parameters kept; ``key`` already there wins; no value: as is)."""
    if not value:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == key for name, _ in query):
        return url
    query.append((key, value))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _unexpected_subprotocol(url: str, selected: str) -> str:
    """Error message for a server that selected a subprotocol that was not offered (the offers carry the key)."""
    return (
        f"The server at {urlsplit(url).netloc} selected the subprotocol {selected!r}, which was not offered: "
        "check the URL and the server's configuration."
    )


def _is_byte_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _b64_tail(buffer: Any, start: int) -> str:
    """Base64 of samples ``start:`` of an AudioBuffer, read through a temporary view."""
    with memoryview(buffer) as view:
        if view.itemsize != 1 or view.ndim != 1:
            with view.cast("B") as flat, flat[2 * start :] as tail:
                return b64encode_pcm16(tail)
        with view[2 * start :] as tail:
            return b64encode_pcm16(tail)


def _preview(event: Mapping[str, Any], limit: int = 600) -> str:
    try:
        text = orjson.dumps(event, default=str).decode()
    except Exception:  # pragma: no cover - debug output only
        text = repr(event)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


class ApiConsumer(Protocol):
    """What :class:`RealtimeAPI` tells the object :meth:`RealtimeAPI.attach` gave it.

    :class:`~realtime_fast.RealtimeClient` attaches one to its API: that is
    how server events reach the conversation.  Each method is called
    synchronously, in the receive or send path.
    """

    def server_event(self, event: Dict[str, Any]) -> None:
        """Every server event (but audio decoded onto a buffer), before ``server.<type>`` is dispatched."""

    def server_audio(self, event: Dict[str, Any], buffer: Any, start: int) -> None:
        """An audio delta decoded onto ``buffer`` from sample ``start`` on, before ``server.<type>``."""

    def client_event(self, event: Dict[str, Any]) -> None:
        """Every client event built as a dict, after ``client.<type>`` was dispatched."""

    def wants_client_events(self) -> bool:
        """True when every client event must be built as a dict and reported (else an append may skip it)."""

    def error(self, payload: Dict[str, Any]) -> None:
        """An ``error`` the API dispatched (transport, protocol or handler failure)."""

    def closing(self, payload: Dict[str, Any]) -> None:
        """The connection ended; called before ``close`` is dispatched (may add fields to ``payload``)."""

    def closed(self, payload: Dict[str, Any]) -> None:
        """The connection ended; called after ``close`` and its ``error`` were dispatched."""


class RealtimeAPI(RealtimeEventHandler):
    """One connection to a Realtime server.

    Args:
        url: WebSocket URL (default ``wss://api.openai.com/v1/realtime``);
            relays and the mock server work the same.
        api_key: sent as ``Authorization: Bearer <key>`` (or as a
            subprotocol, see ``auth``); never logged (see
            :func:`redact_key`).  Not read from the environment.
        model: appended to the URL as ``?model=`` (unless the URL has one).
        protocol: ``"ga"`` (the current API) or ``"beta"`` (adds
            ``OpenAI-Beta: realtime=v1``).
        auth: where the credentials travel in the handshake.  ``"headers"``
            (default): ``Authorization: Bearer <key>`` (and, for beta,
            ``OpenAI-Beta: realtime=v1``).  ``"subprotocols"``: no headers; the
            ``Sec-WebSocket-Protocol`` offers ``realtime``,
            ``openai-insecure-api-key.<key>`` (and, for beta,
            ``openai-beta.realtime-v1``), as browsers send them: for relays and
            proxies that only accept that form.  The key must then consist of
            token characters (letters, digits, ``-._~!#$%&'*+^`|``), else
            ValueError here.  A server that selects no subprotocol is
            accepted (it authenticated us; a browser would fail there); one
            that selects a subprotocol that was not offered fails
            :meth:`connect` with TransportError.
        transport: ``"auto"``, ``"websockets"``, ``"picows"``, a
            :class:`~realtime_fast.transport.Transport` instance (used for the
            first connection; later ones use a new instance of its class
            built with its ``high_water`` and ``close_timeout``) or
            a callable returning a new transport.
        high_water: bytes queued for sending above which :meth:`drain` waits,
            for a transport given by name (None:
            :data:`~realtime_fast.transport.DEFAULT_HIGH_WATER`, 1 MiB).  A
            Transport instance or factory brings its own setting, so passing
            both is a ValueError.
        debug: log every event sent and received on the ``realtime_fast``
            logger (level DEBUG).
        connect_timeout: seconds allowed for the whole handshake.
        ping_interval: seconds between keepalive pings (None: none).
        max_message_size: largest message accepted from the server, bytes
            (default :data:`~realtime_fast.transport.MAX_MESSAGE_SIZE`, 16 MiB:
            an item retrieved with 4 minutes of 24 kHz audio fits).  A larger
            message fails the connection with close code 1009, an ``error``
            event naming its size and the limit, and ``close``.  Raise it
            (e.g. ``64 * 1024 * 1024``) to retrieve longer items; the messages
            you send are not limited.
        max_audio_delta_size: longest audio delta accepted, bytes of base64
            text (default :data:`MAX_AUDIO_DELTA_SIZE`, 1 MiB, about 16 s of
            24 kHz audio; None: no limit).  A longer delta is dropped with an
            ``error`` event (``source: "protocol"``, a
            :class:`~realtime_fast.errors.MessageTooLarge` naming its size and
            the limit) and the session goes on.
        raw_audio_deltas: whether raw listeners of audio deltas get the
            ``delta`` string when the fast path decoded it (see the module docstring).
        ssl: the :class:`ssl.SSLContext` for a ``wss://`` URL: a private CA
            (``ssl.create_default_context(cafile=...)``), a relay's own
            certificate, or a client certificate (``load_cert_chain``).  None:
            the default context (system roots; certificate and host name
            checked).  Used for every connection, reconnections included,
            whatever the transport.  ValueError with a ``ws://`` URL,
            TypeError for anything but an SSLContext.
        proxy: None (default): connect directly, even when ``HTTPS_PROXY`` is
            set.  ``"http://host:port"`` (``http://user:password@host:port``
            for Basic proxy credentials): tunnel through that HTTP CONNECT
            proxy; TLS still runs end to end with the server.  ``"env"``: use
            the proxy the environment names at each connection
            (``HTTPS_PROXY``/``https_proxy`` for ``wss://``,
            ``HTTP_PROXY``/``http_proxy`` for ``ws://``, skipped for hosts in
            ``NO_PROXY``/``no_proxy``).  The environment is read only when
            asked, as with ``api_key``: a library inside a server should not
            change its route because of a variable set for other programs.
            Only HTTP CONNECT proxies (ValueError for other schemes).  The
            websockets transport needs websockets 15.0 or later for a proxy.
        call_id: the id of an existing SIP or WebRTC call to control (the
            "sideband" connection): the URL gets ``?call_id=<id>`` and no
            model (the call has its session already).  GA only: ValueError
            with ``protocol="beta"``.
        intent: ``"transcription"`` connects to a transcription-only session
            (``?intent=transcription``, no model); None (default): a
            realtime session.  Settable between connections (the client sets
            it from its session config).
    """

    def __init__(
        self,
        url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        model: Optional[str] = DEFAULT_MODEL,
        protocol: str = "ga",
        auth: AuthMode = "headers",
        transport: TransportSpec = "auto",
        high_water: Optional[int] = None,
        debug: bool = False,
        connect_timeout: float = 10.0,
        ping_interval: Optional[float] = 20.0,
        max_message_size: int = MAX_MESSAGE_SIZE,
        max_audio_delta_size: Optional[int] = MAX_AUDIO_DELTA_SIZE,
        raw_audio_deltas: bool = True,
        ssl: Optional[_ssl.SSLContext] = None,
        proxy: Optional[str] = None,
        call_id: Optional[str] = None,
        intent: Optional[str] = None,
    ) -> None:
        super().__init__()
        self.url = url or DEFAULT_URL
        check_ssl(self.url, ssl)
        #: The SSLContext of ``wss://`` connections (None: the default verified one).
        self.ssl: Optional[_ssl.SSLContext] = ssl
        #: None (direct), an ``http://`` proxy URL, or ``"env"`` (see the class docstring).
        self.proxy: Optional[str] = check_proxy(proxy)
        self._api_key = api_key
        #: Shortens this client's key (and anything credential-looking) in what it logs, raises and dispatches.
        self._redactor = Redactor([api_key])
        self._logger = RedactingLogger(logger, self._redactor)
        self.model = model
        self.dialect = get_dialect(protocol)
        self.protocol = protocol
        if call_id is not None and (not isinstance(call_id, str) or not call_id):
            raise ValueError(f"call_id must be the id of a call (a non-empty string), not {call_id!r}.")
        if call_id is not None and protocol != "ga":
            raise ValueError("Calls (call_id) are a feature of the GA protocol: use protocol='ga'.")
        #: The call this API controls (``?call_id=``), or None for a session of its own.
        self.call_id: Optional[str] = call_id
        #: ``"transcription"`` for a transcription-only session (``?intent=``), else None.
        self.intent: Optional[str] = intent
        if auth not in AUTH_MODES:
            raise ValueError(
                f"Unknown auth {auth!r}: use 'headers' (Authorization header) or 'subprotocols' "
                "(Sec-WebSocket-Protocol, as browsers send it)."
            )
        #: ``"headers"`` or ``"subprotocols"``: where the credentials travel (see the class docstring).
        self.auth: AuthMode = auth
        if auth == "subprotocols":
            self.dialect.subprotocols(api_key)  # a key no subprotocol can carry fails here, not at connect()
        if not (isinstance(transport, (str, Transport)) or callable(transport)):
            raise TypeError(
                f"transport must be 'auto', 'websockets', 'picows', a Transport or a factory, not {type(transport).__name__}."
            )
        if isinstance(transport, str) and transport not in ("auto", "websockets", "picows"):
            raise ValueError(f"Unknown transport {transport!r}: use 'auto', 'picows' or 'websockets'.")
        if high_water is not None:
            if isinstance(high_water, bool) or not isinstance(high_water, int) or high_water < 0:
                raise ValueError(f"high_water must be a number of bytes >= 0 (or None for the default), got {high_water!r}.")
            if not isinstance(transport, str):
                raise ValueError(
                    "high_water applies to transports given by name; set it on your Transport instance or in your factory instead."
                )
        #: Send-queue level (bytes) above which :meth:`drain` waits, for transports given by name.
        self.high_water: int = DEFAULT_HIGH_WATER if high_water is None else high_water
        self._transport_spec: TransportSpec = transport
        self.debug = debug
        self.connect_timeout = connect_timeout
        self.ping_interval = ping_interval
        if not _is_byte_count(max_message_size):
            raise ValueError(f"max_message_size must be a positive number of bytes, got {max_message_size!r}.")
        if max_audio_delta_size is not None and not _is_byte_count(max_audio_delta_size):
            raise ValueError(
                f"max_audio_delta_size must be a positive number of bytes or None, got {max_audio_delta_size!r}."
            )
        self.max_message_size = max_message_size
        self.raw_audio_deltas = raw_audio_deltas
        #: The transport of the current connection, or None (read only).
        self.transport: Optional[Transport] = None
        self._closing = False
        #: The receive path: the transport calls it with each text frame (the compiled
        #: picows listener feeds it straight from its receive buffer), and
        #: ``receive_frame(frame)`` processes a frame as if it had arrived on the
        #: socket (to replay recorded frames in tests and benchmarks, connected or
        #: not; a frame that is not an event becomes an ``error`` event).  A
        #: :class:`~realtime_fast.events.FrameReceiver`: its ``buffers`` (item id ->
        #: AudioBuffer) receive audio deltas decoded straight from the frame.
        self.receive_frame = FrameReceiver(
            {}, self._on_event, self.receive_audio, self._on_frame_error, max_audio_delta_size=max_audio_delta_size
        )
        self._consumer: Optional[ApiConsumer] = None
        #: The URL of the current (or last) connection, with the model in its query.
        self.connected_url: Optional[str] = None
        self._last_close: Optional[Dict[str, Any]] = None
        self._last_close_words: Optional[str] = None

    # -- state ------------------------------------------------------------------

    @property
    def api_key(self) -> Optional[str]:
        """The API key (never shown in ``repr``, logs or error messages)."""
        return self._api_key

    @property
    def max_audio_delta_size(self) -> Optional[int]:
        """Longest audio delta accepted, bytes of base64 text (None: no limit); settable."""
        return self.receive_frame.max_audio_delta_size

    @max_audio_delta_size.setter
    def max_audio_delta_size(self, value: Optional[int]) -> None:
        self.receive_frame.max_audio_delta_size = value

    def is_connected(self) -> bool:
        """True while the socket is open."""
        transport = self.transport
        return transport is not None and transport.is_open

    def attach(self, consumer: Optional[ApiConsumer]) -> None:
        """Let ``consumer`` (see :class:`ApiConsumer`) process every event before the raw dispatch; None detaches.

        :class:`~realtime_fast.RealtimeClient` attaches itself this way to
        the API it creates; a standalone API has no consumer.
        """
        self._consumer = consumer

    @property
    def last_close(self) -> Optional[Dict[str, Any]]:
        """The ``close`` payload of the last connection that ended (None before any and while connected)."""
        return None if self.is_connected() else self._last_close

    @property
    def closed_because(self) -> Optional[str]:
        """How the last connection ended, in words that follow "the last connection"; None as for :attr:`last_close`.

        ``"failed: <the transport's error message>"``, ``"was closed by the
        server with code 1011 (internal error), reason 'x'."`` or ``"was closed
        by disconnect()."``.
        """
        return None if self.is_connected() else self._last_close_words

    def __repr__(self) -> str:
        proxy = f", proxy={redact_proxy(self.proxy)!r}" if self.proxy is not None else ""
        return (
            f"{type(self).__name__}(url={self.url!r}, model={self.model!r}, protocol={self.protocol!r}, "
            f"api_key={redact_key(self._api_key)!r}{proxy}, connected={self.is_connected()})"
        )

    def _new_transport(self) -> Transport:
        """The transport for the next connection (see ``transport`` in the class docstring)."""
        spec = self._transport_spec
        if isinstance(spec, str):
            return create_transport(spec, high_water=self.high_water)
        if isinstance(spec, Transport):
            # The instance serves this connection; later ones get a fresh instance
            # of its class with the same settings.
            self._transport_spec = _successor_factory(spec)
            return spec
        transport = spec()
        if not isinstance(transport, Transport):
            raise TypeError(f"The transport factory returned {type(transport).__name__}, not a Transport.")
        return transport

    # -- connection ---------------------------------------------------------------

    async def connect(self, model: Optional[str] = None) -> bool:
        """Open the socket to ``url`` (with ``?model=``); returns True once the handshake completed.

        Raises :class:`ConnectionStateError` when already connected, and the
        transport's errors (:class:`~realtime_fast.errors.TransportError`,
        :class:`~realtime_fast.errors.HandshakeRejected`,
        :class:`~realtime_fast.errors.ConnectTimeout`) when the connection fails.
        """
        if self.is_connected():
            raise ConnectionStateError("Already connected")
        if not self._api_key and self.url == DEFAULT_URL:
            self._logger.warning('No api_key provided for connection to "%s"', self.url)
        url = self.connect_url(model)
        headers: Dict[str, str]
        subprotocols: List[str]
        if self.auth == "subprotocols":
            headers, subprotocols = {}, self.dialect.subprotocols(self._api_key)
        else:
            headers, subprotocols = self.dialect.headers(self._api_key), []
        transport = self._new_transport()
        self._closing = False
        abandoned = False

        def on_close(code: Optional[int], reason: str, exc: Optional[BaseException]) -> None:
            if not abandoned:
                self._transport_closed(transport, code, reason, exc)

        # Only when set: a Transport written before these options existed still works without them.
        tls_and_proxy: Dict[str, Any] = {}
        if self.ssl is not None:
            tls_and_proxy["ssl"] = self.ssl
        if self.proxy is not None:
            tls_and_proxy["proxy"] = self.proxy
        if self.debug:
            self._logger.debug(
                "connecting to %s (protocol %s, auth %s, transport %s, proxy %s)",
                url, self.protocol, self.auth, transport.name, redact_proxy(self.proxy),
            )
        try:
            await transport.connect(
                url,
                headers=headers,
                subprotocols=subprotocols,
                on_message=self.receive_frame,
                on_binary=self._on_binary,
                on_close=on_close,
                open_timeout=self.connect_timeout,
                max_message_size=self.max_message_size,
                ping_interval=self.ping_interval,
                **tls_and_proxy,
            )
        except Exception as exc:
            # A custom transport's error may quote the key (in its message, a 401 body, its chain).
            raise self._redactor.exception(exc)
        selected = transport.subprotocol
        if selected is not None and selected not in subprotocols:
            # The built-in transports refuse this themselves; a custom one may not.
            abandoned = True
            try:
                await transport.close(1002, "unexpected subprotocol")
            except Exception as exc:  # the connection is being dropped anyway
                self._logger.debug("closing the refused connection failed: %s", exc)
            raise self._redactor.exception(TransportError(_unexpected_subprotocol(url, selected)))
        self.transport = transport
        self.connected_url = url
        self._last_close = self._last_close_words = None
        if self.debug:
            self._logger.debug("connected to %s", url)
        return True

    def connect_url(self, model: Optional[str] = None) -> str:
        """The URL :meth:`connect` opens: ``?call_id=`` for a call, ``?intent=`` for a transcription session, else ``?model=``."""
        if self.call_id is not None:
            return url_with_param(self.url, "call_id", self.call_id)
        if self.intent:
            return url_with_param(self.url, "intent", self.intent)
        return url_with_model(self.url, model or self.model)

    async def disconnect(self, code: int = 1000, reason: str = "") -> bool:
        """Close the socket (close frame ``code``/``reason``); ``close`` has been dispatched when this returns."""
        transport = self.transport
        if transport is None:
            return True
        self._closing = True
        try:
            await transport.close(code, reason)
        finally:
            if self.transport is transport:
                self.transport = None
        return True

    async def drain(self) -> None:
        """Wait until the frames queued for sending are below the transport's high-water mark."""
        transport = self.transport
        if transport is not None:
            await transport.drain()

    def _transport_closed(
        self, transport: Transport, code: Optional[int], reason: str, exc: Optional[BaseException]
    ) -> None:
        if self.transport is not None and self.transport is not transport:
            return  # a previous connection's late report
        self.transport = None
        by_client = self._closing
        self._closing = False
        redactor = self._redactor
        if exc is not None:
            exc = redactor.exception(exc)
        reason = redactor.text(reason)
        payload: Dict[str, Any] = {"code": code, "reason": reason, "error": exc is not None, "exception": exc}
        if self.debug:
            self._logger.debug("connection closed: code=%s reason=%r error=%s", code, reason, exc)
        if exc is not None:
            words = f"failed: {exc}"
        elif by_client:
            words = "was closed by disconnect()."
        else:
            words = f"was closed by the server with {_close_words(code, reason)}."
        self._last_close, self._last_close_words = payload, words
        consumer = self._consumer
        if consumer is not None:
            consumer.closing(payload)
        problem = exc
        if exc is None and not by_client and code not in NORMAL_CLOSE_CODES:
            # An error too, though the connection itself ended cleanly (``error``
            # stays False: nothing failed here, and reconnect=True goes by the code).
            address = urlsplit(self.connected_url or self.url).netloc
            then = "the client reconnects" if payload.get("reconnecting") else "connect() again to start a new session"
            problem = TransportError(
                f"The server at {address} closed the connection with {_close_words(code, reason)}; {then}.",
                code=code,
                reason=reason,
            )
        self.dispatch("close", payload)
        if problem is not None:
            self._report_error({"source": "transport", "message": str(problem), "exception": problem, "event": None})
        if consumer is not None:
            consumer.closed(payload)

    # -- errors -------------------------------------------------------------------

    def _report_error(self, payload: Dict[str, Any]) -> None:
        self._logger.warning("realtime_fast %s error: %s", payload.get("source"), payload.get("message"))
        self.dispatch("error", payload)
        consumer = self._consumer
        if consumer is not None:
            consumer.error(payload)

    def handler_failed(self, event_name: str, event: Any, exc: BaseException) -> None:
        super().handler_failed(event_name, event, exc)
        if event_name != "error":
            self._report_error(
                {
                    "source": "handler",
                    "message": f'Handler for "{event_name}" raised {type(exc).__name__}: {exc}',
                    "exception": exc,
                    "event": event,
                }
            )

    # -- receiving ------------------------------------------------------------------

    def _on_event(self, event: Dict[str, Any]) -> None:
        self.receive(event["type"], event)

    def _on_frame_error(self, message: str, exc: BaseException) -> None:
        self._report_error({"source": "protocol", "message": message, "exception": exc, "event": None})

    def receive_audio(self, event: Dict[str, Any], buffer: Any, start: int) -> None:
        """Handle an audio delta already decoded onto ``buffer`` from sample ``start`` on (the receive path calls it).

        The consumer's processing, then ``server.<type>`` and ``server.*``; raw
        listeners (and debug logging) get the event's ``delta`` back, re-encoded
        from the samples, unless ``raw_audio_deltas`` is off.
        """
        named = "server." + event["type"]
        raw_listeners = self.has_listeners(named) or self.has_listeners(SERVER_ANY)
        debug = self.debug
        if (raw_listeners or debug) and self.raw_audio_deltas:
            event["delta"] = _b64_tail(buffer, start)
        if debug:
            self._logger.debug("received %s", _preview(event))
        consumer = self._consumer
        if consumer is not None:
            consumer.server_audio(event, buffer, start)  # it adds the delta too when it needs it
        if raw_listeners:
            self.dispatch(named, event)
            self.dispatch(SERVER_ANY, event)

    def _on_binary(self, data: Union[bytes, memoryview]) -> None:
        size = len(data)
        self._report_error(
            {
                "source": "protocol",
                "message": f"Received a binary frame of {size} bytes; the Realtime API only sends text frames, so it was ignored.",
                "exception": None,
                "event": None,
            }
        )

    def receive(self, event_name: str, event: Dict[str, Any]) -> bool:
        """Handle one server event: the client's processing, then ``server.<event_name>`` and ``server.*``."""
        if self.debug:
            self._logger.debug("received %s", _preview(event))
        consumer = self._consumer
        if consumer is not None:
            consumer.server_event(event)
            if not self.raw_audio_deltas and event_name in AUDIO_DELTA_TYPES:
                event.pop("delta", None)  # as on the fast path: the audio is in the item
        if self.event_handlers or self.next_event_handlers or self._waiters:  # else nobody listens to raw events
            self.dispatch("server." + event_name, event)
            self.dispatch(SERVER_ANY, event)
        return True

    # -- sending --------------------------------------------------------------------

    def _require_transport(self) -> Transport:
        transport = self.transport
        if transport is None or not transport.is_open:
            why = self.closed_because
            raise ConnectionStateError(
                "RealtimeAPI is not connected" if why is None else f"RealtimeAPI is not connected; the last connection {why}"
            )
        return transport

    def _emit_client(self, event: Dict[str, Any]) -> None:
        if self.debug:
            self._logger.debug("sent %s", _preview(event))
        name = event["type"]
        self.dispatch("client." + name, event)
        self.dispatch(CLIENT_ANY, event)
        consumer = self._consumer
        if consumer is not None:
            consumer.client_event(event)

    def send(self, event_name: str, data: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Send client event ``event_name`` with the fields of ``data``; returns the event sent.

        The event is ``{"event_id": "evt_...", "type": event_name, **data}``
        (an ``event_id`` in ``data`` wins).  Returns at once; the frame is
        queued and written in order.  Raises :class:`ConnectionStateError`
        when not connected and TypeError when ``data`` is not a mapping.
        """
        self._require_transport()
        if data is None:
            data = {}
        elif not isinstance(data, Mapping):
            raise TypeError("data must be an object")
        event: Dict[str, Any] = {"event_id": _generate_id("evt_"), "type": event_name}
        event.update(data)
        frame = dumps_event(event)
        self._emit_client(event)
        self._require_transport().send_text(frame)
        return event

    def send_input_audio(self, pcm: Any) -> str:
        """Send ``input_audio_buffer.append`` for PCM16 ``pcm`` (bytes-like or int16 array); returns its event_id.

        The base64 text is written straight into the frame unless a listener
        wants the event dict (``client.input_audio_buffer.append``,
        ``client.*``, ``realtime.event`` or debug logging).
        """
        transport = self._require_transport()
        event_id = _generate_id("evt_")
        consumer = self._consumer
        if (
            self.debug
            or self.has_listeners(_CLIENT_APPEND)
            or self.has_listeners(CLIENT_ANY)
            or (consumer is not None and consumer.wants_client_events())
        ):
            event = {"event_id": event_id, "type": _APPEND, "audio": b64encode_pcm16(pcm)}
            frame = dumps_event(event)
            self._emit_client(event)
            transport = self._require_transport()
        else:
            frame = dumps_append_audio(pcm, event_id)
        transport.send_text(frame)
        return event_id

