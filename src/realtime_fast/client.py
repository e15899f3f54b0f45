"""RealtimeClient: the reference client's facade (session config, tools, audio, high-level events).

Quick start::

    async with RealtimeClient(api_key=key) as client:      # connects, sends the session config
        client.update_session(instructions="Be brief.")
        @client.on("conversation.updated")
        def show(event):
            if event["delta"] and "transcript" in event["delta"]:
                print(event["delta"]["transcript"], end="")
        client.send_user_message_content([{"type": "input_text", "text": "Hello"}])
        while (await client.wait_for_next_completed_item())["item"].get("role") != "assistant":
            pass  # the first completed item is the user's own message

High-level events (dispatched on the client), with their payloads:

* ``realtime.event`` -- every client and server event: ``{time, source, event}``.
* ``conversation.updated`` -- an item changed (created, truncated, deleted,
  retrieved, input transcription, any delta, output item done): ``{item, delta}``.
  The user's input transcription streams as ``{"transcript": delta}`` (GA
  servers send ``conversation.item.input_audio_transcription.delta`` events;
  these add up to the final transcript, see
  :mod:`realtime_fast.conversation`).
* ``conversation.item.appended`` -- an item was created (or retrieved with
  ``conversation.item.retrieve`` while not known locally): ``{item}``.
* ``conversation.item.completed`` -- an item was created complete, or an
  output item finished with status ``completed``: ``{item}``.
* ``conversation.interrupted`` -- server VAD heard the user start speaking:
  the ``input_audio_buffer.speech_started`` event (the reference passes nothing).
* ``conversation.idle_timeout`` -- server VAD heard no speech for the
  session's ``idle_timeout_ms``: ``{item_id, audio_start_ms, audio_end_ms, event}``.
* ``call.dtmf`` -- on a SIP call, the caller pressed a key:
  ``{digit, received_at, event}``.
* ``error`` -- server ``error`` events, failed input transcriptions
  (``conversation.item.input_audio_transcription.failed``, source
  ``"server"``), transport failures, events that could not be processed,
  handlers and tools that failed: see ``types.ErrorEvent``.
* ``close`` -- the connection ended: see ``types.CloseEvent``.
* ``reconnecting`` / ``reconnected`` -- with ``reconnect=True``, a new
  connection is attempted / is open again: see ``types``.

``delta["audio"]`` is ``bytes`` with only the new PCM16 samples (immutable,
valid after the handler returns); ``item["formatted"]["audio"]`` is the
item's :class:`~realtime_fast.audio.AudioBuffer`.

Reconnecting (``reconnect=True``): after an abnormal end of the connection,
a ``session_expired`` error or a server close with 1001/1011-1014, the client
opens a new session (``reconnect_attempts`` tries, waiting ``reconnect_delay``
seconds, doubled after each failure, at most 10 s), sends the session config
and tools (MCP tools included) again, and dispatches ``reconnected``.  It is a
*new* session: the server-side conversation of the old one is gone.  With
``replay="none"`` (the default) it stays empty; the local items stay in
``client.conversation`` for display, but the server no longer knows their ids
(truncate or delete them and you get an ``error``).  With ``replay="text"``
the newest ``replay_max_items`` items are re-created in the new session as
text, in order, each after the previous, before anything else is sent: user
and system messages as user / system text (their text, or the transcript of
their audio), assistant messages as assistant text (their transcript, or
their text), function calls with their outputs; items without text (MCP
items, audio nobody transcribed) are left out
(:meth:`~realtime_fast.RealtimeConversation.text_history`).  Each local item
takes the id of its new copy, so later operations on it reach the server's
item, and nothing is reported twice.  The model then sees the conversation
so far, as text (the audio itself is not replayed).  A ``disconnect()`` or a
close with another code (auth or model errors: 3000, 4000) never
reconnects.

Calls (``call_id=``): the client controls an existing SIP or WebRTC call
(``?call_id=``); only the settings given to :meth:`RealtimeClient.update_session`
(and tools) are sent, since the call's session was set when it was accepted.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import inspect
import json
import logging
import ssl as _ssl
import sys
from array import array
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, FrozenSet, List, Literal, Mapping, Optional, Set, TypeVar, overload

from ._impl import load
from ._redact import RedactingLogger, Redactor
from .api import (
    DEFAULT_MODEL,
    MAX_AUDIO_DELTA_SIZE,
    AuthMode,
    ConnectionStateError,
    RealtimeAPI,
    TransportSpec,
    _b64_tail,
    redact_key,
)
from .audio import (
    AUDIO_FORMATS,
    AudioBuffer,
    audio_format,
    b64encode_pcm16,
    float_to_pcm16,
    pcm16_to_alaw,
    pcm16_to_ulaw,
)
from .conversation import RealtimeConversation
from .dialects import audio_formats_of, turn_detection_of
from .errors import RealtimeError
from .event_handler import RealtimeEventHandler
from .names import (
    AUDIO_PART_TYPES,
    CALL_DTMF,
    CONVERSATION_IDLE_TIMEOUT,
    CONVERSATION_UPDATED,
    DTMF_EVENT_RECEIVED,
    IDLE_TIMEOUT_TRIGGERED,
    MCP_APPROVAL_RESPONSE,
    REALTIME_EVENT,
    SERVER_EVENT_ALIASES,
    TRANSCRIPTION_SEGMENT,
)
from .types import (
    CallDtmfEvent,
    CloseEvent,
    ConversationUpdatedEvent,
    ErrorEvent,
    IdleTimeoutEvent,
    ItemEvent,
    RealtimeEvent,
    ToolRegistration,
)
from .transport import MAX_MESSAGE_SIZE
from .transport._options import redact_proxy
from .utils import RealtimeUtils, image_data_url

_client_fast, _ = load("_client_fast")
_generate_id = RealtimeUtils.generate_id
_H = TypeVar("_H", bound=Callable[[Any], Any])
ClientFastPath = _client_fast.ClientFastPath

__all__ = [
    "DEFAULT_SERVER_VAD_CONFIG",
    "DEFAULT_SESSION_CONFIG",
    "HANDLED_SERVER_EVENTS",
    "REPLAY_MODES",
    "RealtimeClient",
    "to_g711",
    "to_pcm16",
]

logger = logging.getLogger("realtime_fast")

#: The reference client's session defaults (sent in full on connect).
DEFAULT_SESSION_CONFIG: Dict[str, Any] = {
    "modalities": ["text", "audio"],
    "instructions": "",
    "voice": "verse",
    "input_audio_format": "pcm16",
    "output_audio_format": "pcm16",
    "input_audio_transcription": None,
    "turn_detection": None,
    "tools": [],
    "tool_choice": "auto",
    "temperature": 0.8,
    "max_response_output_tokens": 4096,
}

#: The reference client's server VAD preset.
DEFAULT_SERVER_VAD_CONFIG: Dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 200,
}

#: Close codes after which ``reconnect=True`` opens a new session.
RECONNECT_CLOSE_CODES = frozenset({1001, 1006, 1011, 1012, 1013, 1014})
#: Longest wait between reconnect attempts, seconds.
MAX_RECONNECT_DELAY = 10.0
#: Input audio kept before the end of a speech segment for the next one's
#: prefix padding, beyond the session's ``prefix_padding_ms`` (ms).
VAD_KEEP_MARGIN_MS = 500

_UPDATED = CONVERSATION_UPDATED
_APPEND_EVENT = "input_audio_buffer.append"
_REALTIME_EVENT = REALTIME_EVENT
#: Server event type -> name of the RealtimeClient method that handles it (beta names; the GA
#: names are added from SERVER_EVENT_ALIASES).  See RealtimeClient._build_routes.
_ROUTE_NAMES: Dict[str, str] = {
    "session.created": "_on_session_created",
    "session.updated": "_on_session_updated",
    "error": "_on_server_error",
    "conversation.item.created": "_on_item_created",
    "conversation.item.truncated": "_on_updated",
    "conversation.item.deleted": "_on_updated",
    "conversation.item.retrieved": "_on_item_retrieved",
    "conversation.item.done": "_on_item_done",
    "conversation.item.input_audio_transcription.delta": "_on_updated",
    "conversation.item.input_audio_transcription.completed": "_on_updated",
    "conversation.item.input_audio_transcription.failed": "_on_transcription_failed",
    "input_audio_buffer.speech_started": "_on_speech_started",
    "input_audio_buffer.speech_stopped": "_on_speech_stopped",
    "response.created": "_on_updated",
    "response.done": "_on_updated",
    "response.output_item.added": "_on_updated",
    "response.output_item.done": "_on_output_item_done",
    "response.content_part.added": "_on_updated",
    "response.audio_transcript.delta": "_on_updated",
    "response.audio.delta": "_on_updated",
    "response.text.delta": "_on_updated",
    "response.function_call_arguments.delta": "_on_updated",
    "session.updated": "_on_session_updated",
    DTMF_EVENT_RECEIVED: "_on_dtmf",
    IDLE_TIMEOUT_TRIGGERED: "_on_idle_timeout",
    TRANSCRIPTION_SEGMENT: "_on_updated",
    "mcp_list_tools.in_progress": "_on_updated",
    "mcp_list_tools.completed": "_on_updated",
    "mcp_list_tools.failed": "_on_updated",
    "response.mcp_call_arguments.delta": "_on_updated",
    "response.mcp_call_arguments.done": "_on_updated",
    "response.mcp_call.in_progress": "_on_updated",
    "response.mcp_call.completed": "_on_updated",
    "response.mcp_call.failed": "_on_updated",
}
for _alias, _canonical in SERVER_EVENT_ALIASES.items():
    if _canonical in _ROUTE_NAMES:
        _ROUTE_NAMES[_alias] = _ROUTE_NAMES[_canonical]
#: The server event types the client processes (beta and GA names); every other type only
#: reaches raw ``server.<type>`` listeners (docs/events.md lists them, with the reason).
HANDLED_SERVER_EVENTS: FrozenSet[str] = frozenset(_ROUTE_NAMES)
#: Values of ``replay``: what a reconnect re-creates of the conversation in the new session.
REPLAY_MODES = ("none", "text")
#: Default ``replay_max_items``: the newest items re-created after a reconnect.
DEFAULT_REPLAY_ITEMS = 100
_FLOAT_CODES = frozenset("fd")
_FLOAT_FORMATS = frozenset({"f", "d", "e", "<f", "<d", "=f", "=d", "@f", "@d"})
_INT16_FORMATS = frozenset({"h", "<h", "=h", "@h"})


async def _raise(exc: BaseException) -> Any:
    """An awaitable that raises ``exc`` when awaited (not when made)."""
    raise exc


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_pcm16(samples: Any, where: str = "append_input_audio") -> Any:
    """``samples`` as PCM16 little-endian data (a bytes-like object; 2 bytes per sample).

    Accepts bytes, bytearray, memoryview (raw PCM16 bytes or an int16 view),
    ``array('h')``, numpy int16 (any byte order or strides), an AudioBuffer,
    and float samples in [-1, 1] (numpy float32/float64, ``array('f')``/``('d')``,
    float memoryviews), which are converted as the reference does.  Raises
    TypeError for anything else and ValueError for an odd number of bytes.
    """
    if type(samples) is bytes:  # the common case, checked first: it is on the per-chunk path
        if len(samples) & 1:
            raise ValueError(f"{where} got {len(samples)} bytes, an odd count: PCM16 audio is made of whole 2-byte samples.")
        return samples
    if isinstance(samples, (bytes, bytearray, AudioBuffer)):
        data = samples
    elif isinstance(samples, array):
        if samples.typecode in _FLOAT_CODES:
            return float_to_pcm16(samples)
        if samples.typecode != "h":
            raise TypeError(f"{where} expects int16 or float samples, got array('{samples.typecode}').")
        if sys.byteorder != "little":  # pragma: no cover - big-endian hosts
            samples = array("h", samples)
            samples.byteswap()
        data = samples
    elif hasattr(samples, "dtype") and hasattr(samples, "astype"):
        kind = samples.dtype.kind
        if kind == "f":
            return float_to_pcm16(samples)
        if kind != "i" or samples.dtype.itemsize != 2:
            raise TypeError(f"{where} expects int16 or float samples, got an array of dtype {samples.dtype}.")
        import numpy  # numpy is a dependency; imported here to keep it off the import path of non-numpy users

        data = numpy.ascontiguousarray(samples, dtype="<i2")
    elif isinstance(samples, memoryview):
        fmt = samples.format
        if fmt in _FLOAT_FORMATS:
            return float_to_pcm16(samples)
        if samples.itemsize != 1 and fmt not in _INT16_FORMATS:
            raise TypeError(f"{where} expects PCM16 bytes or int16 samples, got a memoryview of format {fmt!r}.")
        data = samples
    else:
        raise TypeError(
            f"{where} expects audio as bytes, bytearray, memoryview, array('h'), or a numpy int16/float32 array, "
            f"not {type(samples).__name__}."
        )
    with memoryview(data) as view:
        nbytes = view.nbytes
    if nbytes % 2:
        raise ValueError(f"{where} got {nbytes} bytes, an odd count: PCM16 audio is made of whole 2-byte samples.")
    return data


_G711_ENCODERS = {"g711_ulaw": pcm16_to_ulaw, "g711_alaw": pcm16_to_alaw}


def to_g711(samples: Any, format: str = "g711_ulaw", where: str = "append_input_audio") -> Any:
    """``samples`` as G.711 codes of ``format`` (``"g711_ulaw"`` or ``"g711_alaw"``), one byte per sample.

    Bytes, bytearray and byte-sized buffers (``memoryview`` of bytes,
    ``array('B')``, numpy uint8) are codes already, as they come from a phone
    line, and are returned as they are.  Samples (int16 or float arrays, int16
    memoryviews, an AudioBuffer) are 8 kHz audio and are encoded.
    """
    encode = _G711_ENCODERS[format]
    if isinstance(samples, (bytes, bytearray)):
        return samples
    if isinstance(samples, AudioBuffer):
        return encode(samples)
    try:
        view = memoryview(samples)
    except TypeError:
        view = None
    if view is not None:
        with view:
            if view.itemsize == 1 and view.format in ("B", "b", "c"):
                return samples
    return encode(to_pcm16(samples, where))


class RealtimeClient(RealtimeEventHandler):
    """The Realtime API client, method for method and event for event the JS reference client.

    Args:
        url: WebSocket URL (default ``wss://api.openai.com/v1/realtime``).
        api_key: API key, sent as ``Authorization: Bearer`` (or as a
            subprotocol, see ``auth``); redacted in ``repr``, logs and
            messages.  Not read from the environment.
        model: model name appended as ``?model=`` (default ``gpt-realtime``).
        protocol: ``"ga"`` (default, today's API) or ``"beta"``.
        auth: ``"headers"`` (default: ``Authorization`` and, for beta,
            ``OpenAI-Beta``) or ``"subprotocols"`` (the same credentials as
            ``Sec-WebSocket-Protocol`` offers, the way browsers send them, for
            relays and proxies that only accept that form; see
            :class:`~realtime_fast.api.RealtimeAPI`).  ValueError for other
            values, and for a key a subprotocol cannot carry.
        transport: ``"auto"`` (fastest available), ``"websockets"``,
            ``"picows"``, a Transport instance (reconnections use new
            instances of its class with its ``high_water`` and
            ``close_timeout``) or a factory.
        high_water: bytes queued for sending above which :meth:`drain` waits,
            for a transport given by name (None: 1 MiB,
            :data:`~realtime_fast.transport.DEFAULT_HIGH_WATER`); a Transport
            instance or factory carries its own (passing both is a ValueError).
        debug: log every event on the ``realtime_fast`` logger (DEBUG).
        connect_timeout: seconds allowed for connecting.
        reconnect: reopen a session after a drop (see the module docstring).
        reconnect_attempts: attempts per drop.
        reconnect_delay: seconds before the first attempt (doubled after each failure).
        max_input_audio_seconds: cap of the local input audio buffer, seconds
            of audio (None: unbounded).  Under server VAD the client keeps
            only what a later ``speech_stopped`` can still cut out, so the
            cap only matters for long stretches without speech events (or
            one utterance longer than the cap, whose start is then missing
            from the local copy of the user item's audio).
        max_history_items: keep at most this many items in the local
            conversation (oldest dropped first; None: all).
        raw_audio_deltas: whether raw listeners of audio delta events get the
            base64 ``delta`` (see :mod:`realtime_fast.api`).
        ping_interval: seconds between keepalive pings (None: none).
        max_message_size: largest message accepted from the server, bytes
            (default 16 MiB, :data:`~realtime_fast.transport.MAX_MESSAGE_SIZE`:
            an item retrieved with 4 minutes of 24 kHz audio fits).  A larger
            one fails the connection with close code 1009 and an ``error``
            event naming its size and the limit; raise it to retrieve longer
            items.  What you send is not limited.
        ssl: an :class:`ssl.SSLContext` for ``wss://`` (a private CA, a
            relay's own certificate, client certificates); None: the default
            verified context.  Kept for reconnections.  ValueError with a
            ``ws://`` URL.  See :class:`~realtime_fast.api.RealtimeAPI`.
        proxy: None (default, direct even when ``HTTPS_PROXY`` is set), an
            ``http://[user:password@]host:port`` HTTP CONNECT proxy, or
            ``"env"`` to take ``HTTPS_PROXY`` / ``HTTP_PROXY`` (and
            ``NO_PROXY``) from the environment at each connection.  See
            :class:`~realtime_fast.api.RealtimeAPI`.
        max_audio_delta_size: longest audio delta accepted, bytes of base64
            text (default 1 MiB, about 16 s of audio; None: no limit).  A
            longer one is dropped with an ``error`` event and the session
            goes on.
        keep_item_audio: True (the reference's behaviour): every item keeps
            its audio in ``item["formatted"]["audio"]``, about 2.9 MB a
            minute per direction.  False, for servers that forward audio
            (to a phone line or a browser) as it arrives: ``conversation.updated``
            still carries each delta's samples, but items keep none (their
            buffer's ``offset`` counts what arrived, so ``cancel_response``
            still clamps correctly), user items get no input audio, and the
            input audio appended is sent, not kept.  Memory per session then
            stays flat however long the call.
        call_id: connect to an existing SIP or WebRTC call (``?call_id=``,
            no model in the URL) to control it from a server (the
            "sideband" connection).  The call's session is configured when
            the call is accepted, so the client sends only the settings you
            give it (:meth:`update_session`, :meth:`add_tool`), and nothing
            on connect when you gave none.  GA only (ValueError with beta).
        replay: what ``reconnect=True`` re-creates of the conversation in the
            new session: ``"none"`` (default: a new, empty conversation) or
            ``"text"`` (the newest ``replay_max_items`` items, as text; see
            the module docstring).  ValueError for other values.  A call
            (``call_id``) keeps its conversation when its connection drops,
            so nothing is replayed to it.
        replay_max_items: how many of the newest items ``replay="text"``
            re-creates (default 100).
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
        reconnect: bool = False,
        reconnect_attempts: int = 5,
        reconnect_delay: float = 0.5,
        max_input_audio_seconds: Optional[float] = 60.0,
        max_history_items: Optional[int] = None,
        raw_audio_deltas: bool = True,
        ping_interval: Optional[float] = 20.0,
        max_message_size: int = MAX_MESSAGE_SIZE,
        max_audio_delta_size: Optional[int] = MAX_AUDIO_DELTA_SIZE,
        keep_item_audio: bool = True,
        ssl: Optional[_ssl.SSLContext] = None,
        proxy: Optional[str] = None,
        call_id: Optional[str] = None,
        replay: str = "none",
        replay_max_items: int = DEFAULT_REPLAY_ITEMS,
    ) -> None:
        super().__init__()
        if replay not in REPLAY_MODES:
            raise ValueError(f"Unknown replay {replay!r}: use 'none' (a reconnect starts an empty conversation) or 'text'.")
        if isinstance(replay_max_items, bool) or not isinstance(replay_max_items, int) or replay_max_items < 0:
            raise ValueError(f"replay_max_items must be a number of items >= 0, got {replay_max_items!r}.")
        if max_input_audio_seconds is not None and not max_input_audio_seconds > 0:
            raise ValueError(f"max_input_audio_seconds must be a positive number of seconds or None, got {max_input_audio_seconds!r}.")
        if reconnect_attempts < 1:
            raise ValueError(f"reconnect_attempts must be at least 1, got {reconnect_attempts!r}.")
        self.realtime = RealtimeAPI(
            url,
            api_key,
            model=model,
            protocol=protocol,
            auth=auth,
            transport=transport,
            high_water=high_water,
            debug=debug,
            connect_timeout=connect_timeout,
            ping_interval=ping_interval,
            max_message_size=max_message_size,
            max_audio_delta_size=max_audio_delta_size,
            raw_audio_deltas=raw_audio_deltas,
            ssl=ssl,
            proxy=proxy,
            call_id=call_id,
        )
        self._logger = RedactingLogger(logger, Redactor([api_key]))
        self.conversation = RealtimeConversation(max_history_items=max_history_items)
        #: Whether items keep their audio (see the class docstring); set at construction.
        self.keep_item_audio = bool(keep_item_audio)
        self.conversation.keep_audio = self.keep_item_audio
        self.reconnect = reconnect
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_delay = reconnect_delay
        #: ``"none"`` or ``"text"``: what a reconnect re-creates of the conversation (see the module docstring).
        self.replay = replay
        #: How many of the newest items ``replay="text"`` re-creates.
        self.replay_max_items = replay_max_items
        self.max_input_audio_seconds = max_input_audio_seconds
        self.default_session_config: Dict[str, Any] = copy.deepcopy(DEFAULT_SESSION_CONFIG)
        self.default_server_vad_config: Dict[str, Any] = copy.deepcopy(DEFAULT_SERVER_VAD_CONFIG)
        self.session_created = False
        self.tools: Dict[str, Dict[str, Any]] = {}
        #: MCP tools given to :meth:`update_session`, by ``server_label``: sent with every session update.
        self.mcp_tools: Dict[str, Dict[str, Any]] = {}
        self.session_config: Dict[str, Any] = {}
        #: Session keys the user set (update_session, tools): all a call's session.update carries.
        self._session_keys: Set[str] = set()
        #: The server's effective session (see :attr:`session`).
        self._server_session: Optional[Dict[str, Any]] = None
        self._renew_input_buffer()
        self._session_waiter: Optional[asyncio.Future] = None
        self._user_closed = False
        self._expired = False
        self._reconnect_task: Optional[asyncio.Task] = None
        self._reset_config()
        self._server_routes = self._build_routes()
        self._add_api_event_handlers()

    if TYPE_CHECKING:  # typed payloads for the client's own events (the runtime method is RealtimeEventHandler.on)

        @overload
        def on(
            self, event_name: Literal["conversation.updated"], handler: Callable[[ConversationUpdatedEvent], Any]
        ) -> Callable[[ConversationUpdatedEvent], Any]: ...

        @overload
        def on(
            self,
            event_name: Literal["conversation.item.appended", "conversation.item.completed"],
            handler: Callable[[ItemEvent], Any],
        ) -> Callable[[ItemEvent], Any]: ...

        @overload
        def on(self, event_name: Literal["error"], handler: Callable[[ErrorEvent], Any]) -> Callable[[ErrorEvent], Any]: ...

        @overload
        def on(self, event_name: Literal["close"], handler: Callable[[CloseEvent], Any]) -> Callable[[CloseEvent], Any]: ...

        @overload
        def on(
            self, event_name: Literal["realtime.event"], handler: Callable[[RealtimeEvent], Any]
        ) -> Callable[[RealtimeEvent], Any]: ...

        @overload
        def on(self, event_name: Literal["call.dtmf"], handler: Callable[[CallDtmfEvent], Any]) -> Callable[[CallDtmfEvent], Any]: ...

        @overload
        def on(
            self, event_name: Literal["conversation.idle_timeout"], handler: Callable[[IdleTimeoutEvent], Any]
        ) -> Callable[[IdleTimeoutEvent], Any]: ...

        @overload
        def on(self, event_name: str, handler: _H) -> _H: ...

        @overload
        def on(self, event_name: str) -> Callable[[_H], _H]: ...

        def on(self, event_name: str, handler: Any = None) -> Any: ...

    # -- construction ---------------------------------------------------------------

    def _renew_input_buffer(self, format: str = "pcm16", start_ms: int = 0) -> None:
        """A new local input buffer for audio of ``format``, whose first sample is at session time ``start_ms``.

        A new session's audio clock starts at 0; a change of input format
        mid-session starts a buffer at the rate of the new format where the
        old one ended.  With ``keep_item_audio=False`` it holds a single
        sample: its ``offset`` still counts what was appended, which is all
        the client needs then.
        """
        seconds = self.max_input_audio_seconds
        if not self.keep_item_audio:
            cap: Optional[int] = 1
        else:
            cap = None if seconds is None else max(1, int(seconds * AUDIO_FORMATS[format]))
        self.input_audio_buffer = AudioBuffer(cap, format)
        #: Session time (ms) of the input buffer's sample 0.
        self._input_start_ms = start_ms
        #: Samples (``_input_samples``) committed so far: what create_response must not commit again.
        self._committed_through = 0
        self.conversation.input_audio_format = format

    def _reset_config(self) -> None:
        self.session_created = False
        self.tools = {}
        self.mcp_tools = {}
        self._session_keys = set()
        self.session_config = copy.deepcopy(self.default_session_config)
        self._pending_session_updates = 0
        #: Responses the server cancels itself: in progress when its VAD heard speech (``interrupt_response``).
        self._cancelled_by_server: frozenset = frozenset()
        self._renew_input_buffer()
        self._use_audio_formats(*self._configured_formats(self.session_config))

    def _add_api_event_handlers(self) -> None:
        """Wire the API to this client (not through ``on``, so clearing handlers never unwires it)."""
        api = self.realtime
        api.attach(_ApiWiring(self))
        api.receive_frame.buffers = self.conversation.audio_buffers
        # Streamed deltas skip the API's layered path when nothing else listens.
        self._fast = ClientFastPath(self)
        self._fast.install(api.receive_frame)

    def _build_routes(self) -> Dict[str, Callable[..., None]]:
        """Event type -> route function, called as ``route(self, event)`` (one table per class, overrides included).

        Functions rather than bound methods: one table per class instead of
        about twenty method objects per client for the garbage collector to walk.
        """
        cls = type(self)
        routes = cls.__dict__.get("_route_table_cache")
        if routes is None:
            routes = {kind: getattr(cls, name) for kind, name in _ROUTE_NAMES.items()}
            cls._route_table_cache = routes  # type: ignore[attr-defined]
        return routes

    def __repr__(self) -> str:
        api = self.realtime
        proxy = f", proxy={redact_proxy(api.proxy)!r}" if api.proxy is not None else ""
        return (
            f"RealtimeClient(url={api.url!r}, model={api.model!r}, protocol={api.protocol!r}, "
            f"api_key={redact_key(api.api_key)!r}{proxy}, connected={self.is_connected()}, items={len(self.conversation.items)})"
        )

    # -- async context manager ------------------------------------------------------

    async def __aenter__(self) -> RealtimeClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.disconnect()
        await self.cancel_handler_tasks()
        await self.realtime.cancel_handler_tasks()

    # -- connection -------------------------------------------------------------------

    def is_connected(self) -> bool:
        """True while the socket is open."""
        return self.realtime.is_connected()

    async def connect(self) -> bool:
        """Connect, then send the session config (:meth:`update_session`); returns True.

        Raises ConnectionStateError ``Already connected, use .disconnect() first``
        when connected, and the transport's errors when the connection fails.
        """
        if self.is_connected():
            raise ConnectionStateError("Already connected, use .disconnect() first")
        self._user_closed = False
        self._expired = False
        self.session_created = False
        self._renew_input_buffer(self.input_audio_buffer.format)
        await self._open_session()
        return True

    async def _open_session(self) -> None:
        """Connect (a transcription session with ``?intent=transcription``) and send the session config.

        On a call (``call_id``) only the settings the user gave are sent, and
        nothing when there are none: the call's session was configured when
        it was accepted.
        """
        self._server_session = None
        self._pending_session_updates = 0
        self.realtime.intent = "transcription" if self.session_config.get("type") == "transcription" else None
        await self.realtime.connect()
        if self.realtime.call_id is None or self._session_keys:
            self.update_session()

    @property
    def session(self) -> Optional[Dict[str, Any]]:
        """The server's effective session: the ``session`` of the last ``session.created`` or ``session.updated``.

        None until the first arrives on the current connection (kept after
        it ends).  This is what the server applied (its defaults, its limits,
        the settings of an accepted call), where :attr:`session_config` is
        what the client asks for.  Read it; changing it changes nothing.
        """
        return self._server_session

    def wait_for_session_created(self) -> Awaitable[bool]:
        """Wait until ``session.created`` has arrived on this connection: returns an awaitable of True.

        The wait is registered when this method is called (see
        :meth:`~realtime_fast.RealtimeEventHandler.wait_for_next`), so it can
        be wrapped in ``asyncio.wait_for`` or a task.  Awaiting it raises
        ConnectionStateError ``Not connected, use .connect() first`` when not
        connected (saying how the last connection ended, when there was one),
        and ConnectionStateError when the connection closes before
        ``session.created`` arrives.
        """
        if not self.is_connected():
            why = self.realtime.closed_because
            if why is None:
                return _raise(ConnectionStateError("Not connected, use .connect() first"))
            return _raise(ConnectionStateError(f"Not connected; the last connection {why} Use .connect() to open a new one."))
        loop = asyncio.get_running_loop()
        if self.session_created:
            done = loop.create_future()
            done.set_result(True)
            return done
        waiter = self._session_waiter
        if waiter is None or waiter.done():
            waiter = loop.create_future()
            waiter.add_done_callback(lambda f: f.cancelled() or f.exception())  # mark any failure as seen
            self._session_waiter = waiter
        return asyncio.shield(waiter)

    async def disconnect(self) -> bool:
        """Close the connection, forget ``session.created`` and clear the local conversation; returns True."""
        self.session_created = False
        self._user_closed = True
        task = self._reconnect_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.realtime.transport is not None:
            await self.realtime.disconnect()
        self.conversation.clear()
        return True

    async def reset(self) -> bool:
        """Disconnect, drop every handler (client and API), restore the default session config and tools."""
        await self.disconnect()
        self.clear_event_handlers()
        self.realtime.clear_event_handlers()
        self._reset_config()
        return True

    async def drain(self) -> None:
        """Wait until the frames queued for sending are below the transport's high-water mark."""
        await self.realtime.drain()

    def get_turn_detection_type(self) -> Optional[str]:
        """``"server_vad"`` / ``"semantic_vad"`` when turn detection is on, else None."""
        settings = turn_detection_of(self.session_config)
        return settings.get("type") if settings is not None else None

    # -- tools ------------------------------------------------------------------------

    def add_tool(self, definition: Mapping[str, Any], handler: Callable[[Any], Any]) -> ToolRegistration:
        """Register a function tool and its handler (plain or async, called with the parsed arguments).

        Sends the session config when connected.  Returns ``{"definition", "handler"}``.
        """
        name = definition.get("name") if isinstance(definition, Mapping) else None
        if not name:
            raise ValueError("Missing tool name in definition")
        if name in self.tools:
            raise ValueError(f'Tool "{name}" already added. Please use .remove_tool("{name}") before trying to add again.')
        if not callable(handler):
            raise TypeError(f'Tool "{name}" handler must be a function')
        self.tools[name] = {"definition": dict(definition), "handler": handler}  # type: ignore[typeddict-item]
        self._session_keys.add("tools")
        self.update_session()
        return self.tools[name]

    def remove_tool(self, name: str) -> bool:
        """Forget tool ``name`` and send the updated session config when connected."""
        if name not in self.tools:
            raise ValueError(f'Tool "{name}" does not exist, can not be removed.')
        del self.tools[name]
        self._session_keys.add("tools")
        self.update_session()
        return True

    def remove_mcp_tool(self, server_label: str) -> bool:
        """Forget the MCP tool of ``server_label`` (given to :meth:`update_session`) and send the updated session config when connected."""
        if server_label not in self.mcp_tools:
            raise ValueError(f'MCP tool "{server_label}" does not exist, can not be removed.')
        del self.mcp_tools[server_label]
        self._session_keys.add("tools")
        self.update_session()
        return True

    # -- session ----------------------------------------------------------------------

    def update_session(self, session: Optional[Mapping[str, Any]] = None, /, **settings: Any) -> bool:
        """Merge session settings into the stored config and send it when connected; returns True.

        Settings come as a mapping, keyword arguments, or both: the reference's
        flat keys (``modalities``, ``instructions``, ``voice``,
        ``input_audio_format``, ``output_audio_format``,
        ``input_audio_transcription``, ``turn_detection``, ``tool_choice``,
        ``temperature``, ``max_response_output_tokens``) and GA-native ones
        (``audio``, ``output_modalities``, ...).  A key not given keeps its
        value; ``None`` is a value (``turn_detection=None`` turns VAD off).
        Function ``tools`` given here are sent together with every added tool
        but are not kept for the next call (as in the reference); MCP tools
        (``{"type": "mcp", "server_label": ..., ...}``) are kept in
        :attr:`mcp_tools`, by ``server_label``, and sent with every later
        update and after a reconnect (:meth:`remove_mcp_tool` forgets one).
        ``type="transcription"`` makes it a transcription session (see
        :mod:`realtime_fast.dialects.ga`).
        """
        params: Dict[str, Any] = dict(session or {})
        params.update(settings)
        given_tools = params.pop("tools", None) or []
        mcp_tools = _mcp_tools_of(given_tools)
        use_tools: List[Dict[str, Any]] = []
        for tool in given_tools:
            definition = {"type": "function", **tool}
            if definition["type"] == "mcp":
                continue
            if definition.get("name") in self.tools:
                raise ValueError(f'Tool "{definition.get("name")}" has already been defined')
            use_tools.append(definition)
        for registration in self.tools.values():
            use_tools.append({"type": "function", **registration["definition"]})
        config = dict(self.session_config)
        for key, value in params.items():
            config[key] = copy.deepcopy(value)
        formats = self._configured_formats(config)  # raises for an unknown format before anything changes
        self.mcp_tools.update(mcp_tools)
        use_tools.extend(copy.deepcopy(list(self.mcp_tools.values())))
        self.session_config = config
        self.session_config["tools"] = use_tools
        self._session_keys.update(params)
        if given_tools:
            self._session_keys.add("tools")
        if self.is_connected():
            self.realtime.send("session.update", {"session": self._session_payload()})
            self._pending_session_updates += 1
        self._use_audio_formats(*formats)
        return True

    # -- audio formats --------------------------------------------------------------------

    @property
    def input_audio_format(self) -> str:
        """The format :meth:`append_input_audio` sends: ``"pcm16"``, ``"g711_ulaw"`` or ``"g711_alaw"``."""
        return self.input_audio_buffer.format

    @property
    def output_audio_format(self) -> str:
        """The format the server's audio arrives in; new assistant items decode it into PCM16 at its rate."""
        return self.conversation.output_audio_format

    @staticmethod
    def _configured_formats(session: Mapping[str, Any]) -> tuple:
        """(input, output) format names in a session config or a server's session object (None where not set)."""
        given = audio_formats_of(session)
        return tuple(None if value is None else audio_format(value, "update_session") for value in given)

    def _use_audio_formats(self, input_format: Optional[str], output_format: Optional[str]) -> None:
        """Decode audio in these formats from now on (None: keep the current one).

        The output format applies to items created from now on.  A new input
        format starts a new local input buffer at the session time where the
        old one ended: audio appended from now on is in the new format.
        """
        if output_format is not None:
            self.conversation.output_audio_format = output_format
        old = self.input_audio_buffer
        if input_format is not None and input_format != old.format:
            ended_ms = self._input_start_ms + self._input_samples() * 1000 // old.rate
            self._renew_input_buffer(input_format, ended_ms)

    def _adopt_server_formats(self, event: Dict[str, Any]) -> None:
        """Follow the formats of the server's session, unless a session.update of ours is still unanswered."""
        if self._pending_session_updates:
            return
        session = event.get("session")
        if not isinstance(session, dict):
            return
        try:
            formats = self._configured_formats(session)
        except ValueError as exc:
            self._report(
                {
                    "source": "server",
                    "message": f"The session's audio format cannot be decoded, so its audio is kept as before: {exc}",
                    "error": None,
                    "event": event,
                }
            )
            return
        self._use_audio_formats(*formats)

    def _session_payload(self) -> Dict[str, Any]:
        """The ``session`` of ``session.update``: the whole config, or on a call only the keys the user set."""
        config = self.session_config
        if self.realtime.call_id is not None:
            config = {key: value for key, value in config.items() if key in self._session_keys}
        return self.realtime.dialect.session_payload(config)

    # -- conversation -------------------------------------------------------------------

    def delete_item(self, item_id: str) -> bool:
        """Ask the server to delete item ``item_id`` (``conversation.item.delete``)."""
        self.realtime.send("conversation.item.delete", {"item_id": item_id})
        return True

    def send_user_message_content(self, content: Optional[List[Mapping[str, Any]]] = None, *, respond: bool = True) -> bool:
        """Send a user message with ``content`` parts (when non-empty), then :meth:`create_response` (unless ``respond=False``).

        ``input_audio`` parts may carry raw samples in ``audio`` (anything
        :func:`to_pcm16` takes); they are base64-encoded here.
        ``input_image`` parts may carry the image in ``image``: PNG or JPEG
        bytes, or the path of such a file (see :meth:`create_item`).
        """
        if content:
            self.create_item({"type": "message", "role": "user", "content": list(content)})
        if respond:
            self.create_response()
        return True

    def create_item(self, item: Mapping[str, Any], previous_item_id: Optional[str] = None) -> bool:
        """Add ``item`` to the server's conversation (``conversation.item.create``) without asking for a response.

        ``item`` is a conversation item as the service takes it: a message
        (``role`` ``system``, ``user`` or ``assistant``, with content parts), a
        ``function_call`` or a ``function_call_output`` (or an MCP approval,
        see :meth:`approve_mcp_call`).  ``input_audio`` parts may carry raw
        samples in ``audio`` (anything :func:`to_pcm16` takes).
        ``input_image`` parts may carry ``image``: PNG or JPEG ``bytes``, or
        the path of such a file (``str`` or ``os.PathLike``), sent as the
        ``image_url`` data URL the service takes (see
        :func:`~realtime_fast.utils.image_data_url`: ValueError for another
        format or an image over 10 MiB).  ``previous_item_id`` places it after that item (``"root"``:
        first); None appends it.  The item arrives as
        ``conversation.item.appended`` (and ``conversation.item.completed``).
        Raises TypeError for an item that is not a mapping and ValueError for
        one without a ``type``.
        """
        if not isinstance(item, Mapping):
            raise TypeError(f"create_item() takes an item mapping, not {type(item).__name__}.")
        if not isinstance(item.get("type"), str):
            raise ValueError('create_item() needs an item with a "type": "message", "function_call" or "function_call_output".')
        payload = dict(item)
        content = payload.get("content")
        if isinstance(content, list):
            parts: List[Any] = []
            for part in content:
                if isinstance(part, Mapping):
                    part = dict(part)
                    if part.get("type") == "input_audio" and part.get("audio") is not None and not isinstance(part["audio"], str):
                        part["audio"] = b64encode_pcm16(to_pcm16(part["audio"], "create_item"))
                    elif part.get("type") == "input_image" and "image" in part:
                        if "image_url" in part:
                            raise ValueError('An input_image part takes "image" or "image_url", not both.')
                        part["image_url"] = image_data_url(part.pop("image"))
                parts.append(part)
            payload["content"] = parts
        data: Dict[str, Any] = {"item": payload}
        if previous_item_id is not None:
            data["previous_item_id"] = previous_item_id
        self.realtime.send("conversation.item.create", data)
        return True

    def approve_mcp_call(
        self, approval_request_id: str, approve: bool, reason: Optional[str] = None, *, respond: bool = True
    ) -> bool:
        """Answer the model's request to call an MCP tool (an ``mcp_approval_request`` item); returns True.

        Sends an ``mcp_approval_response`` item (``conversation.item.create``)
        with ``approve`` and the optional ``reason``, then asks for a response
        (unless ``respond=False``): with ``approve=True`` the service calls
        the tool (an ``mcp_call`` item) and the model goes on with its output;
        with False the model is told the call was refused.  Raises ValueError
        when ``approval_request_id`` names a local item that is not an
        approval request, TypeError when ``approve`` is not a bool.
        """
        if not isinstance(approval_request_id, str) or not approval_request_id:
            raise ValueError("approve_mcp_call() needs the id of the mcp_approval_request item.")
        if not isinstance(approve, bool):
            raise TypeError(f"approve must be True or False, not {type(approve).__name__}.")
        request = self.conversation.get_item(approval_request_id)
        if request is not None and request.get("type") != "mcp_approval_request":
            raise ValueError(f'Item "{approval_request_id}" is a {request.get("type")}, not an mcp_approval_request.')
        item: Dict[str, Any] = {"type": MCP_APPROVAL_RESPONSE, "approval_request_id": approval_request_id, "approve": approve}
        if reason is not None:
            item["reason"] = reason
        self.create_item(item)
        if respond:
            self.create_response()
        return True

    def commit_input_audio(self) -> bool:
        """Commit the audio appended so far as a user item (``input_audio_buffer.commit``), without asking for a response.

        For push-to-talk without server turn detection: append while the
        button is held, commit on release, then :meth:`create_response`.  The
        committed audio becomes the new user item's ``formatted["audio"]``
        (unless ``keep_item_audio=False``).  The server answers an empty
        buffer with an ``error`` event.
        """
        self.realtime.send("input_audio_buffer.commit")
        self._take_uncommitted_input()
        return True

    def clear_input_audio(self) -> bool:
        """Drop the audio appended and not committed yet, on the server and locally (``input_audio_buffer.clear``)."""
        self.realtime.send("input_audio_buffer.clear")
        self._discard_input(len(self.input_audio_buffer))
        self._committed_through = self._input_samples()
        return True

    def append_input_audio(self, samples: Any) -> bool:
        """Stream audio to the server's input buffer (``input_audio_buffer.append``); returns True.

        ``samples`` in the session's :attr:`input_audio_format`: for
        ``pcm16``, PCM16 at 24 kHz (bytes, bytearray, memoryview,
        ``array('h')``, numpy int16) or float samples in [-1, 1] (numpy
        float32, ``array('f')``); for ``g711_ulaw`` and ``g711_alaw``, the
        G.711 bytes as a phone line carries them (sent as they are), or 8 kHz
        int16 or float samples, which are encoded.  Empty audio sends nothing.
        The samples are also kept locally, as PCM16 (see
        ``max_input_audio_seconds``), to become the audio of the user item.
        """
        if type(samples) is bytes and self._fast.append_input_audio(samples):  # a live stream's per-chunk path
            return True
        return self._append_input_audio(samples)

    def _append_input_audio(self, samples: Any) -> bool:
        fmt = self.input_audio_buffer.format
        audio = to_pcm16(samples) if fmt == "pcm16" else to_g711(samples, fmt)
        if type(audio) is bytes:
            nbytes = len(audio)
        else:
            with memoryview(audio) as view:
                nbytes = view.nbytes
        if not nbytes:
            return True
        if nbytes & 1:  # G.711 only (one byte per sample): the append frame's fast builder takes whole PCM16 samples
            with memoryview(audio) as view:
                self.realtime.send(_APPEND_EVENT, {"audio": base64.b64encode(view).decode("ascii")})
        else:
            self.realtime.send_input_audio(audio)
        self._keep_input_audio(audio)
        return True

    def _keep_input_audio(self, audio: Any) -> None:
        """Keep audio just sent (in the input format, as sent) in the local input buffer."""
        try:
            self.input_audio_buffer.append_encoded(audio)
        except BufferError:  # someone holds a view of the buffer: continue in a copy
            self.input_audio_buffer = self.input_audio_buffer.slice(0)
            self.input_audio_buffer.append_encoded(audio)

    def create_response(self, response: Optional[Mapping[str, Any]] = None) -> bool:
        """Ask for a response (``response.create``); returns True.

        Without turn detection, audio appended since the last response is
        committed first (``input_audio_buffer.commit``) and becomes the next
        user item's audio.  ``response`` (optional, beyond the reference) sets
        per-response options in reference or GA shape (``instructions``,
        ``modalities``/``output_modalities``, ``conversation``, ...).
        """
        if self.get_turn_detection_type() is None and self._input_samples() > self._committed_through:
            self.realtime.send("input_audio_buffer.commit")
            self._take_uncommitted_input()
        data = {} if response is None else {"response": self.realtime.dialect.response_payload(response)}
        self.realtime.send("response.create", data)
        return True

    def cancel_response(self, id: Optional[str] = None, sample_count: int = 0) -> Dict[str, Any]:
        """Cancel the response in progress; with ``id``, also truncate that assistant item's audio.

        ``sample_count`` is how many samples of the item's audio were played;
        the truncation point (``audio_end_ms``) is clamped to the audio
        actually received for the item, since the server rejects larger values.
        When nothing was played (``sample_count`` 0, or no audio received
        yet: an interruption before the first audio delta) the response is
        only cancelled: the service rejects a truncation of an item with no
        played audio ("Only model output audio messages can be truncated").
        Everything is checked before anything is sent.  ``response.cancel`` is
        not sent when the item's response is known to have finished already,
        nor when the server is cancelling it itself: server VAD with
        ``interrupt_response`` (on by default) heard the user speak while it
        ran, so answering ``conversation.interrupted`` truncates only (a
        ``response.cancel`` would be refused with ``response_cancel_not_active``).
        Returns ``{"item": item_or_None}``.
        """
        if id is None:
            self.realtime.send("response.cancel")
            return {"item": None}
        item = self.conversation.get_item(id)
        if not item:
            raise ValueError(f'Could not find item "{id}"')
        if item.get("type") != "message":
            raise ValueError('Can only cancelResponse messages with type "message"')
        if item.get("role") != "assistant":
            raise ValueError('Can only cancelResponse messages with role "assistant"')
        if isinstance(sample_count, bool) or not isinstance(sample_count, int):
            raise TypeError(f"sample_count must be an integer number of samples, not {type(sample_count).__name__}.")
        if sample_count < 0:
            raise ValueError(f"sample_count must be a non-negative number of samples, got {sample_count}.")
        audio = item["formatted"]["audio"]
        received = audio.offset + len(audio)  # also counts what keep_item_audio=False did not keep
        played = min(sample_count, received)
        content = item.get("content") or []
        audio_index = next(
            (i for i, part in enumerate(content) if isinstance(part, dict) and part.get("type") in AUDIO_PART_TYPES), -1
        )
        if audio_index == -1 and sample_count:
            raise ValueError("Could not find audio on item to cancel")
        response = self.conversation.response_of_item(id)
        if response is None or (
            response.get("status") == "in_progress" and response.get("id") not in self._cancelled_by_server
        ):
            self.realtime.send("response.cancel")
        if played:
            audio_end_ms = played * 1000 // audio.rate
            self.realtime.send(
                "conversation.item.truncate", {"item_id": id, "content_index": audio_index, "audio_end_ms": audio_end_ms}
            )
        return {"item": item}

    def wait_for_next_item(self, timeout: Optional[float] = None) -> Awaitable[Optional[ItemEvent]]:
        """Wait for the next ``conversation.item.appended``: an awaitable of ``{"item": item}`` (None after ``timeout`` s).

        Registered when called, like :meth:`~realtime_fast.RealtimeEventHandler.wait_for_next`.
        """
        return self.wait_for_next("conversation.item.appended", timeout)

    def wait_for_next_completed_item(self, timeout: Optional[float] = None) -> Awaitable[Optional[ItemEvent]]:
        """Wait for the next ``conversation.item.completed``: an awaitable of ``{"item": item}`` (None after ``timeout`` s).

        Registered when called, like :meth:`~realtime_fast.RealtimeEventHandler.wait_for_next`.
        """
        return self.wait_for_next("conversation.item.completed", timeout)

    # -- errors -------------------------------------------------------------------------

    def _report(self, payload: Dict[str, Any]) -> None:
        self._logger.warning("realtime_fast %s error: %s", payload.get("source"), payload.get("message"))
        self.dispatch("error", payload)

    def handler_failed(self, event_name: str, event: Any, exc: BaseException) -> None:
        super().handler_failed(event_name, event, exc)
        if event_name != "error":
            self.dispatch(
                "error",
                {
                    "source": "handler",
                    "message": f'Handler for "{event_name}" raised {type(exc).__name__}: {exc}',
                    "exception": exc,
                    "event": event,
                },
            )

    # -- events from RealtimeAPI (through _ApiWiring) -----------------------------------

    def _on_server_event(self, event: Dict[str, Any]) -> None:
        route = self._server_routes.get(event["type"])
        if route is not None:
            try:
                route(self, event)
            except Exception as exc:
                self._report(
                    {
                        "source": "protocol",
                        "message": f'Could not process server event "{event["type"]}": {exc}',
                        "exception": exc,
                        "event": event,
                    }
                )
        if self.has_listeners(_REALTIME_EVENT):
            self.dispatch(_REALTIME_EVENT, {"time": _now_iso(), "source": "server", "event": event})

    def _on_server_audio(self, event: Dict[str, Any], buffer: AudioBuffer, start: int) -> None:
        # An audio delta already decoded onto its item's buffer from sample ``start`` on.
        wants_raw = self.has_listeners(_REALTIME_EVENT)
        if wants_raw and "delta" not in event and self.realtime.raw_audio_deltas:
            event["delta"] = _b64_tail(buffer, start)
        if self.has_listeners(_UPDATED):
            try:
                item, delta = self.conversation.audio_appended(event["item_id"], buffer, start)
            except Exception as exc:
                self._report(
                    {"source": "protocol", "message": f"Could not process audio delta: {exc}", "exception": exc, "event": event}
                )
            else:
                if item is not None:
                    self.dispatch(_UPDATED, {"item": item, "delta": delta})
        if wants_raw:
            self.dispatch(_REALTIME_EVENT, {"time": _now_iso(), "source": "server", "event": event})

    def _report_api_error(self, payload: Dict[str, Any]) -> None:
        self.dispatch("error", payload)

    def _on_client_event(self, event: Dict[str, Any]) -> None:
        if self.has_listeners(_REALTIME_EVENT):
            self.dispatch(_REALTIME_EVENT, {"time": _now_iso(), "source": "client", "event": event})

    def _on_closing(self, payload: Dict[str, Any]) -> None:
        payload["reconnecting"] = bool(
            self.reconnect
            and not self._user_closed
            and (payload["error"] or self._expired or payload["code"] in RECONNECT_CLOSE_CODES)
        )

    def _on_closed(self, payload: Dict[str, Any]) -> None:
        self.session_created = False
        waiter = self._session_waiter
        if waiter is not None and not waiter.done():
            why = self.realtime.closed_because or "ended."
            waiter.set_exception(ConnectionStateError(f"The connection ended before session.created arrived; it {why}"))
        self._session_waiter = None
        self.dispatch("close", payload)
        if payload.get("reconnecting"):
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop())

    # -- server event processing ------------------------------------------------------------

    def _process(self, event: Dict[str, Any], *args: Any) -> Any:
        item, delta = self.conversation.process_event(event, *args)
        if item is not None:
            self.dispatch(_UPDATED, {"item": item, "delta": delta})
        return item

    def _on_updated(self, event: Dict[str, Any]) -> None:
        # _process without the extra call: deltas of text, transcripts and arguments come here.
        item, delta = self.conversation.process_event(event)
        if item is not None:
            self.dispatch(_UPDATED, {"item": item, "delta": delta})

    def _on_session_created(self, event: Dict[str, Any]) -> None:
        self._on_session_updated(event, created=True)
        self.session_created = True
        waiter = self._session_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def _on_session_updated(self, event: Dict[str, Any], created: bool = False) -> None:
        """``session.updated`` (and the ``session.created`` before it): the server's effective session."""
        session = event.get("session")
        if isinstance(session, dict):
            self._server_session = session
        if not created and self._pending_session_updates:
            self._pending_session_updates -= 1  # the answer to the oldest update of ours
        self._adopt_server_formats(event)

    def _on_dtmf(self, event: Dict[str, Any]) -> None:
        self.dispatch(CALL_DTMF, {"digit": event.get("event"), "received_at": event.get("received_at"), "event": event})

    def _on_idle_timeout(self, event: Dict[str, Any]) -> None:
        self.dispatch(
            CONVERSATION_IDLE_TIMEOUT,
            {
                "item_id": event.get("item_id"),
                "audio_start_ms": event.get("audio_start_ms"),
                "audio_end_ms": event.get("audio_end_ms"),
                "event": event,
            },
        )

    def _on_server_error(self, event: Dict[str, Any]) -> None:
        error = event.get("error")
        error = error if isinstance(error, dict) else {}
        if error.get("code") == "session_expired":
            self._expired = True
        message = error.get("message") or "The server reported an error without a message."
        self._report({"source": "server", "message": message, "error": error, "event": event})

    def _on_item_created(self, event: Dict[str, Any]) -> None:
        raw = event.get("item")
        known = isinstance(raw, dict) and raw.get("id") in self.conversation.item_lookup
        item, delta = self.conversation.process_event(event)
        if item is None or known:
            return
        self.dispatch("conversation.updated", {"item": item, "delta": delta})
        self.dispatch("conversation.item.appended", {"item": item})
        self._completed(item)

    def _on_item_done(self, event: Dict[str, Any]) -> None:
        # GA: the item is final.  A known one takes its final status and content; a new one is
        # announced like a created one.  Either way it is reported complete once.
        raw = event.get("item")
        known = isinstance(raw, dict) and raw.get("id") in self.conversation.item_lookup
        item, delta = self.conversation.process_event(event)
        if item is None:
            return
        self.dispatch(_UPDATED, {"item": item, "delta": delta})
        if not known:
            self.dispatch("conversation.item.appended", {"item": item})
        self._completed(item, run_tool=known)

    def _completed(self, item: Dict[str, Any], *, run_tool: bool = False) -> None:
        """Dispatch ``conversation.item.completed`` the first time ``item`` is complete.

        ``run_tool``: the item was streamed and has just finished (a function
        call the model made now: run its tool); items that arrive complete
        (history, retrieved items) never run a tool.
        """
        if self.conversation.mark_completed(item):
            self.dispatch("conversation.item.completed", {"item": item})
            tool = item["formatted"].get("tool")
            if run_tool and tool is not None and item.get("type") == "function_call":
                self._start_tool_call(dict(tool))

    def _on_item_retrieved(self, event: Dict[str, Any]) -> None:
        # The answer to conversation.item.retrieve: the known item is refreshed in place; an
        # unknown one is added (the server says it exists) and announced like a created one.
        raw = event.get("item")
        known = isinstance(raw, dict) and raw.get("id") in self.conversation.item_lookup
        item, delta = self.conversation.process_event(event)
        if item is None:
            return
        self.dispatch(_UPDATED, {"item": item, "delta": delta})
        if not known:
            self.dispatch("conversation.item.appended", {"item": item})
            self._completed(item)

    def _on_transcription_failed(self, event: Dict[str, Any]) -> None:
        # Reported like a server error event: the server says something it was asked to do failed.
        self.conversation.process_event(event)
        error = event.get("error")
        error = error if isinstance(error, dict) else {}
        reason = error.get("message") or "the server gave no reason"
        self._report(
            {
                "source": "server",
                "message": f'Input audio transcription of item "{event.get("item_id")}" failed: {reason}',
                "error": error,
                "event": event,
            }
        )

    def _on_speech_started(self, event: Dict[str, Any]) -> None:
        self._process(event)
        start_ms = event.get("audio_start_ms")
        if isinstance(start_ms, int):
            self._discard_input_before(start_ms)  # no later segment can start earlier
        settings = turn_detection_of(self.session_config) or {}
        if settings.get("interrupt_response", True) is not False:
            # The server cancels what it is saying when its VAD hears the user (interrupt_response,
            # on by default): a response.cancel from conversation.interrupted would be refused.
            self._cancelled_by_server = frozenset(
                r.get("id") for r in self.conversation.responses if r.get("status") == "in_progress"
            )
        self.dispatch("conversation.interrupted", event)

    def _on_speech_stopped(self, event: Dict[str, Any]) -> None:
        self._process(event, self.input_audio_buffer, self._input_start_ms)
        end_ms = event.get("audio_end_ms")
        if isinstance(end_ms, int):
            settings = turn_detection_of(self.session_config) or {}
            padding = settings.get("prefix_padding_ms")
            padding = padding if isinstance(padding, int) else DEFAULT_SERVER_VAD_CONFIG["prefix_padding_ms"]
            # The next segment starts after this one ends, minus its prefix padding.
            self._discard_input_before(end_ms - padding - VAD_KEEP_MARGIN_MS)

    def _on_output_item_done(self, event: Dict[str, Any]) -> None:
        item = self._process(event)
        if item is not None:
            self._completed(item, run_tool=True)

    # -- input audio bookkeeping -------------------------------------------------------------

    def _input_samples(self) -> int:
        """Samples appended to the input buffer since it was made (kept or not)."""
        return self.input_audio_buffer.offset + len(self.input_audio_buffer)

    def _take_uncommitted_input(self) -> None:
        """The audio appended since the last commit becomes the next user item's (when kept), and leaves the local buffer."""
        if self.keep_item_audio and len(self.input_audio_buffer):
            self.conversation.queue_input_audio(self.input_audio_buffer.slice(0))
        self._discard_input(len(self.input_audio_buffer))
        self._committed_through = self._input_samples()

    def _discard_input(self, n_samples: int) -> None:
        try:
            self.input_audio_buffer.discard(n_samples)
        except BufferError:  # a view is held: continue in a copy (keeps the absolute offset)
            self.input_audio_buffer = self.input_audio_buffer.slice(n_samples)

    def _discard_input_before(self, position_ms: int) -> None:
        """Drop local input audio before session-absolute ``position_ms``."""
        if position_ms <= 0:
            return
        buffer = self.input_audio_buffer
        drop = (position_ms - self._input_start_ms) * buffer.rate // 1000 - buffer.offset
        if drop > 0:
            self._discard_input(drop)

    # -- tools --------------------------------------------------------------------------------

    def _start_tool_call(self, tool: Dict[str, Any]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - events arrive on the loop
            return
        task = loop.create_task(self._call_tool(tool))
        self._handler_tasks.add(task)
        task.add_done_callback(self._handler_tasks.discard)

    async def _call_tool(self, tool: Dict[str, Any]) -> None:
        """Run a tool call: parse the arguments, await the handler, send its output, ask for a response."""
        name = tool.get("name")
        try:
            arguments = json.loads(tool.get("arguments") or "")
            registration = self.tools.get(name)  # type: ignore[arg-type]
            if registration is None:
                raise LookupError(f'Tool "{name}" has not been added')
            result = registration["handler"](arguments)
            if inspect.isawaitable(result):
                result = await result
            output = json.dumps(result, allow_nan=False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            message = str(exc)
            output = json.dumps({"error": message})
            self._report(
                {
                    "source": "tool",
                    "message": f'Tool call "{name}" failed ({type(exc).__name__}: {message}); the model was told so.',
                    "exception": exc,
                    "event": tool,
                }
            )
        try:
            self.realtime.send(
                "conversation.item.create",
                {"item": {"type": "function_call_output", "call_id": tool.get("call_id"), "output": output}},
            )
            self.create_response()
        except RealtimeError as exc:
            self._report(
                {
                    "source": "transport",
                    "message": f'Could not send the output of tool call "{name}": {exc}',
                    "exception": exc,
                    "event": tool,
                }
            )

    # -- reconnecting ---------------------------------------------------------------------------

    async def _reconnect_loop(self) -> None:
        delay = self.reconnect_delay
        for attempt in range(1, self.reconnect_attempts + 1):
            self.dispatch("reconnecting", {"attempt": attempt, "delay": delay})
            await asyncio.sleep(delay)
            if self._user_closed or self.is_connected():
                return
            self._expired = False
            self._renew_input_buffer(self.input_audio_buffer.format)
            try:
                await self._open_session()
                if self.replay == "text" and self.realtime.call_id is None:  # a call keeps its conversation
                    self._replay_history()
            except (RealtimeError, OSError, ValueError) as exc:
                self._report(
                    {
                        "source": "transport",
                        "message": f"Reconnect attempt {attempt} of {self.reconnect_attempts} failed: {exc}",
                        "exception": exc,
                        "event": None,
                    }
                )
                delay = min(delay * 2, MAX_RECONNECT_DELAY)
                continue
            self._reconnect_task = None
            self.dispatch("reconnected", {"attempt": attempt, "url": self.realtime.connected_url})
            return
        self._reconnect_task = None
        self._report(
            {
                "source": "transport",
                "message": f"Gave up reconnecting after {self.reconnect_attempts} attempts; call connect() to try again.",
                "exception": None,
                "event": None,
            }
        )


    def _replay_history(self) -> int:
        """Re-create the conversation as text in the new session (``replay="text"``); returns how many items were sent.

        Items go in order, each after the previous (the first at the root),
        before anything else is sent; each local item takes the id of its new
        copy (:meth:`~realtime_fast.RealtimeConversation.replay_as`).
        """
        entries = self.conversation.text_history(
            self.replay_max_items, assistant_text_type=self.realtime.dialect.assistant_text_type
        )
        previous = "root"
        for item_id, item in entries:
            new_id = _generate_id("item_")
            self.conversation.replay_as(item_id, new_id)
            self.create_item({"id": new_id, **item}, previous_item_id=previous)
            previous = new_id
        return len(entries)


def _mcp_tools_of(tools: Any) -> Dict[str, Dict[str, Any]]:
    """The MCP tools among ``tools`` given to update_session, by ``server_label`` (ValueError for one without)."""
    found: Dict[str, Dict[str, Any]] = {}
    for tool in tools:
        if isinstance(tool, Mapping) and tool.get("type") == "mcp":
            label = tool.get("server_label")
            if not isinstance(label, str) or not label:
                raise ValueError('An MCP tool needs a "server_label" (and a "server_url" or "connector_id").')
            found[label] = copy.deepcopy(dict(tool))
    return found


class _ApiWiring:
    """How the client's API reaches it (:class:`~realtime_fast.api.ApiConsumer`): each call goes to the client."""

    __slots__ = ("server_event", "server_audio", "client_event", "error", "closing", "closed", "_client")

    def __init__(self, client: RealtimeClient) -> None:
        self._client = client
        self.server_event = client._on_server_event
        self.server_audio = client._on_server_audio
        self.client_event = client._on_client_event
        self.error = client._report_api_error
        self.closing = client._on_closing
        self.closed = client._on_closed

    def wants_client_events(self) -> bool:
        return self._client.has_listeners(_REALTIME_EVENT)
