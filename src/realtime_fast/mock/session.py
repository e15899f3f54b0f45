"""One connection's state machine: the message loop, session configuration and expiry.

A :class:`Session` reads client frames one at a time, validates each and
answers with the events of REALTIME_PROTOCOL.md section 6 in the connection's
dialect.  It owns the parts that hold the rest of the state, and hands each
client event to the one concerned:

- :class:`~.items.Conversation` (``conversation.item.*``),
- :class:`~.input_audio.InputAudio` (``input_audio_buffer.*``, server VAD, transcription),
- :class:`~.responses.Responses` (``response.*``, streamed from their own tasks),

all of which send through the session's :class:`~.outbox.Outbox`.  Whatever
the session needs from its server comes in a :class:`~.settings.SessionSettings`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING, Any

import orjson
from websockets.exceptions import ConnectionClosed

from .._redact import package_logger
from ._errors import ClientEventError, describe_kind
from ._schema import Any_, Int, Nullable, Obj, Str
from .dialects import Dialect, SessionView
from .input_audio import InputAudio
from .items import Conversation, Item
from .mcp import list_new_servers
from .outbox import Outbox
from .recording import Frame
from .responses import Response, Responses
from .settings import SessionSettings

if TYPE_CHECKING:  # pragma: no cover
    from websockets.asyncio.server import ServerConnection

__all__ = ["Item", "Response", "Session"]

log = package_logger("realtime_fast.mock")

_EVENT_ID_SNIFF = re.compile(rb'"event_id"\s*:\s*"([^"\\]{1,512})"')

_ENVELOPE = {"type": Str(), "event_id": Str(max_len=512)}
_OBJECT = Any_("an object", dict)
#: Top-level shape of each client event (nested objects are checked by the handlers).
_CLIENT_SPECS: dict[str, Obj] = {
    "session.update": Obj({**_ENVELOPE, "session": _OBJECT}, ("session",)),
    "transcription_session.update": Obj({**_ENVELOPE, "session": _OBJECT}, ("session",)),
    "input_audio_buffer.append": Obj({**_ENVELOPE, "audio": Str()}, ("audio",)),
    "input_audio_buffer.commit": Obj(_ENVELOPE),
    "input_audio_buffer.clear": Obj(_ENVELOPE),
    "conversation.item.create": Obj({**_ENVELOPE, "previous_item_id": Nullable(Str()), "item": _OBJECT}, ("item",)),
    "conversation.item.retrieve": Obj({**_ENVELOPE, "item_id": Str()}, ("item_id",)),
    "conversation.item.delete": Obj({**_ENVELOPE, "item_id": Str()}, ("item_id",)),
    "conversation.item.truncate": Obj(
        {**_ENVELOPE, "item_id": Str(), "content_index": Int(0), "audio_end_ms": Int(0)},
        ("item_id", "content_index", "audio_end_ms"),
    ),
    "response.create": Obj({**_ENVELOPE, "response": Nullable(_OBJECT)}),
    "response.cancel": Obj({**_ENVELOPE, "response_id": Str()}),
    "output_audio_buffer.clear": Obj({**_ENVELOPE, "response_id": Str()}),
    "session.close": Obj(_ENVELOPE),
}


#: The keypad keys a DTMF event can carry.
DTMF_KEYS = frozenset("0123456789*#ABCD")


class Session:
    """State machine of one Realtime connection (see the module docstring).

    ``kind`` is ``"realtime"`` or ``"transcription"`` (a connection with
    ``?intent=transcription``: user audio is transcribed, no response is
    made).  ``call_id``: the call this connection controls (its session starts
    from ``call_session``, the settings the call was accepted with).
    """

    def __init__(
        self,
        settings: SessionSettings,
        ws: ServerConnection,
        connection_id: int,
        dialect: Dialect,
        model: str,
        max_session_seconds: float,
        *,
        kind: str = "realtime",
        call_id: str | None = None,
        call_session: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.ws = ws
        self.id = connection_id
        self.dialect = dialect
        self.model = model
        self.max_session_seconds = max_session_seconds
        self.created_at = time.time()
        #: Sends this connection's server events (and runs the tasks that send later).
        self.outbox = outbox = Outbox(ws, connection_id, settings)
        self.session_id = outbox.new_id("sess_")
        self.conversation_id = outbox.new_id("conv_")
        #: The call this connection controls, or None.
        self.call_id = call_id
        expires_at = int(self.created_at + max_session_seconds)
        #: The session object as last sent (``session.created`` / ``session.updated``).
        self.session: dict[str, Any] = (
            dialect.default_transcription_session(self.session_id, expires_at)
            if kind == "transcription"
            else dialect.default_session(self.session_id, model, expires_at)
        )
        if call_session:
            self.session = dialect.update_session(self.session, call_session, model)
        #: What the parts read of :attr:`session`, whatever the dialect.
        self.view: SessionView = dialect.view(self.session)
        current_view = self._current_view
        #: The conversation's items and the ``conversation.item.*`` events.
        self.conversation = Conversation(dialect, outbox, settings.script, current_view)
        #: The responses and the ``response.*`` events.
        self.responses = Responses(dialect, self.conversation_id, settings, outbox, self.conversation, current_view)
        #: The input audio buffer, server VAD and transcription.
        self.input_audio = InputAudio(settings, outbox, self.conversation, self.responses, current_view)
        self._expiry: asyncio.TimerHandle | None = None
        self._expire_task: asyncio.Task[None] | None = None
        self._handlers = {
            "session.update": self._on_session_update,
            "transcription_session.update": self._on_transcription_session_update,
            "input_audio_buffer.append": self.input_audio.on_append,
            "input_audio_buffer.commit": self.input_audio.on_commit,
            "input_audio_buffer.clear": self.input_audio.on_clear,
            "conversation.item.create": self.conversation.on_create,
            "conversation.item.retrieve": self.conversation.on_retrieve,
            "conversation.item.delete": self.conversation.on_delete,
            "conversation.item.truncate": self.conversation.on_truncate,
            "response.create": self.responses.on_create,
            "response.cancel": self.responses.on_cancel,
            "output_audio_buffer.clear": self._on_output_audio_buffer_clear,
            "session.close": self._on_session_close,
        }

    # ------------------------------------------------------------------ public view

    @property
    def items(self) -> list[dict[str, Any]]:
        """The conversation, in order: each item's wire data (no audio bytes)."""
        return [item.data for item in self.conversation]

    @property
    def input_audio_ms(self) -> float:
        """Milliseconds of input audio appended since the session started (the VAD clock)."""
        return self.input_audio.appended_ms

    @property
    def active(self) -> Response | None:
        """The response writing to the conversation, if any."""
        return self.responses.active

    @property
    def audio_produced(self) -> bool:
        """True once any assistant audio was sent (the voice can no longer change)."""
        return self.responses.audio_produced

    @property
    def used_tokens(self) -> int:
        """Tokens of every finished response (as ``rate_limits.updated`` counts them)."""
        return self.responses.used_tokens

    @property
    def response_count(self) -> int:
        """Number of finished responses."""
        return self.responses.response_count

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close this connection from the server side."""
        await self.ws.close(code, reason)

    def _current_view(self) -> SessionView:
        return self.view

    # ------------------------------------------------------------------ main loop

    async def run(self) -> None:
        """Send ``session.created`` and serve client frames until the socket closes."""
        settings = self.settings
        try:
            if settings.pacing.session_created_delay > 0:
                await asyncio.sleep(settings.pacing.session_created_delay)
            await self.outbox.send("session.created", session=self.session)
            if settings.emit_conversation_created:
                await self.outbox.send(
                    "conversation.created",
                    conversation={"id": self.conversation_id, "object": "realtime.conversation"},
                )
            loop = asyncio.get_running_loop()
            self._expiry = loop.call_later(self.max_session_seconds, self._start_expiry)
            while True:
                message = await self.ws.recv()
                await self._on_message(message)
        except ConnectionClosed:
            pass
        finally:
            if self._expiry is not None:
                self._expiry.cancel()
            self.responses.stop_all()
            # let an expiry finish its closing handshake
            await self.outbox.cancel_tasks(spare=self._expire_task)

    def _start_expiry(self) -> None:
        self._expire_task = self.outbox.spawn(self._expire())

    async def _expire(self) -> None:
        seconds = self.max_session_seconds
        if seconds >= 60 and seconds % 60 == 0:
            length = f"{int(seconds // 60)} minutes"
        else:
            length = f"{seconds:g} seconds"
        message = f"Your session hit the maximum duration of {length}."
        self.responses.stop_all()
        try:
            await self.outbox.send_error(ClientEventError(message, code="session_expired"), None)
            await self.ws.close(1001, message)
        except ConnectionClosed:
            pass

    async def _on_message(self, message: str | bytes) -> None:
        record = self.settings.record
        send_error = self.outbox.send_error
        if log.isEnabledFor(logging.DEBUG):
            log.debug("#%s client -> %r", self.id, message[:300])
        if isinstance(message, (bytes, bytearray)):
            record(Frame(time.monotonic(), "client", self.id, message, None))
            match = _EVENT_ID_SNIFF.search(message[:2048])
            await send_error(
                ClientEventError(
                    "Expected a text WebSocket message; binary frames are not supported.", code="invalid_event"
                ),
                match.group(1).decode() if match else None,
            )
            return
        max_size = self.settings.max_message_size
        if len(message) > max_size:
            record(Frame(time.monotonic(), "client", self.id, message, None))
            match = _EVENT_ID_SNIFF.search(message[:2048].encode("utf-8", "replace"))
            await send_error(
                ClientEventError(
                    f"Invalid event: the message is {len(message)} characters long, more than the maximum of "
                    f"{max_size}. Send large audio in several input_audio_buffer.append events.",
                    code="message_too_large",
                ),
                match.group(1).decode() if match else None,
            )
            return
        try:
            event = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            record(Frame(time.monotonic(), "client", self.id, message, None))
            match = _EVENT_ID_SNIFF.search(message[:2048].encode("utf-8", "replace"))
            await send_error(
                ClientEventError(f"Invalid event: failed to parse JSON value. {exc}", code="invalid_json"),
                match.group(1).decode() if match else None,
            )
            return
        if not isinstance(event, dict):
            record(Frame(time.monotonic(), "client", self.id, message, None))
            await send_error(
                ClientEventError(
                    f"Invalid event: expected a JSON object, but got {describe_kind(event)}.", code="invalid_event"
                ),
                None,
            )
            return
        etype = event.get("type")
        record(Frame(time.monotonic(), "client", self.id, message, etype if isinstance(etype, str) else None))
        event_id = event.get("event_id")
        if not isinstance(event_id, str):
            event_id = None
        try:
            if etype is None:
                raise ClientEventError("The 'type' field is missing.", code="invalid_event")
            if not isinstance(etype, str):
                raise ClientEventError.invalid_type("type", "a string", etype)
            if etype not in self.dialect.client_types:
                raise ClientEventError.invalid_value(etype, self.dialect.client_types, "type")
            _CLIENT_SPECS[etype].check(event, "")
            await self._handlers[etype](event)
        except ClientEventError as err:
            await send_error(err, event_id)
        except (ConnectionClosed, asyncio.CancelledError):
            raise
        except Exception:  # a bug in the mock must not take the session down
            log.exception("mock session %s failed on a %r event", self.id, etype)
            await send_error(
                ClientEventError(
                    "The server had an error while processing your request. Sorry about that!", type="server_error"
                ),
                event_id,
            )

    # ------------------------------------------------------------------ session events

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        await self.outbox.ack_pause()
        new = self.dialect.update_session(self.session, event["session"], self.model)
        view = self.dialect.view(new)
        if self.responses.audio_produced and view.voice != self.view.voice:
            raise ClientEventError(
                "Cannot update a conversation's voice if assistant audio is present.", code="cannot_update_voice"
            )
        old = self.view
        self.session = new
        self.view = view
        self.input_audio.reconfigure(old, view)
        await self.outbox.send("session.updated", session=new)
        await list_new_servers(old.tools, view.tools, self.outbox, self.conversation, self.settings.script)

    async def send_dtmf(self, digits: str) -> None:
        """Send ``input_audio_buffer.dtmf_event_received`` for each key in ``digits``, as a SIP call's keypad does."""
        for digit in digits:
            await self.outbox.send("input_audio_buffer.dtmf_event_received", event=digit, received_at=int(time.time()))

    async def expire(self) -> None:
        """End the session as the service does at its maximum duration: ``session_expired``, then close 1001."""
        if self._expiry is not None:
            self._expiry.cancel()
        await self._expire()

    async def _on_transcription_session_update(self, event: dict[str, Any]) -> None:
        raise ClientEventError(
            "transcription_session.update is only accepted on transcription sessions (?intent=transcription); "
            "use session.update on this session.",
            code="invalid_event",
        )

    async def _on_output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        raise ClientEventError(
            "output_audio_buffer.clear is only supported for WebRTC and SIP connections; over WebSocket send "
            "response.cancel and conversation.item.truncate instead.",
            code="invalid_event",
        )

    async def _on_session_close(self, event: dict[str, Any]) -> None:
        await self.ws.close(1000, "")
