"""One connection's state machine: session config, conversation, input audio, responses.

A :class:`Session` reads client frames one at a time, validates each and
answers with the events of REALTIME_PROTOCOL.md section 6 in the connection's
dialect.  Responses stream from their own task; cancellation (``response.cancel``
or a VAD barge-in) closes what was actually streamed, under a per-response lock,
so the closing ``.done`` events never interleave with a delta.
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
from ._errors import ClientEventError
from ._schema import Any_, Int, Nullable, Obj, Str
from ._text import estimate_tokens, text_deltas
from .dialects import Dialect, SessionView
from .items import Conversation, Item, decode_audio
from .outbox import Outbox
from .recording import Frame
from .responses import Response, Responses
from .settings import SessionSettings
from .synth import BYTES_PER_SAMPLE, SAMPLE_RATES, decode_to_pcm16
from .vad import EnergyVAD

if TYPE_CHECKING:  # pragma: no cover
    from websockets.asyncio.server import ServerConnection

__all__ = ["Item", "Response", "Session"]

log = package_logger("realtime_fast.mock")

#: Largest ``input_audio_buffer.append`` audio string ("Each chunk cannot exceed 15 MB").
MAX_APPEND_CHARS = 15 * 1024 * 1024
#: Shortest committable input audio, in ms.
MIN_COMMIT_MS = 100.0
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

class Session:
    """State machine of one Realtime connection (see the module docstring)."""

    def __init__(
        self,
        settings: SessionSettings,
        ws: ServerConnection,
        connection_id: int,
        dialect: Dialect,
        model: str,
        max_session_seconds: float,
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
        self.session: dict[str, Any] = dialect.default_session(
            self.session_id, model, int(self.created_at + max_session_seconds)
        )
        self.view: SessionView = dialect.view(self.session)
        #: The conversation's items and the ``conversation.item.*`` events.
        self.conversation = Conversation(dialect, outbox, settings.script, self._current_view)
        #: The responses and the ``response.*`` events.
        self.responses = Responses(dialect, self.conversation_id, settings, outbox, self.conversation, self._current_view)
        # input audio: uncommitted bytes, absolute sample index of their start, total samples appended
        self._buf = bytearray()
        self._buf_start = 0
        self._clock = 0
        self._vad: EnergyVAD | None = None
        self._vad_item_id: str | None = None
        self._speech_start = 0
        self._configure_vad()
        self._expiry: asyncio.TimerHandle | None = None
        self._expire_task: asyncio.Task[None] | None = None
        self._handlers = {
            "session.update": self._on_session_update,
            "transcription_session.update": self._on_transcription_session_update,
            "input_audio_buffer.append": self._on_append,
            "input_audio_buffer.commit": self._on_commit,
            "input_audio_buffer.clear": self._on_clear,
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
        return self._clock * 1000 / SAMPLE_RATES[self.view.input_format]

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
        try:
            if self.settings.pacing.session_created_delay > 0:
                await asyncio.sleep(self.settings.pacing.session_created_delay)
            await self.outbox.send("session.created", session=self.session)
            if self.settings.emit_conversation_created:
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
        if log.isEnabledFor(logging.DEBUG):
            log.debug("#%s client -> %r", self.id, message[:300])
        if isinstance(message, (bytes, bytearray)):
            record(Frame(time.monotonic(), "client", self.id, message, None))
            match = _EVENT_ID_SNIFF.search(message[:2048])
            await self.outbox.send_error(
                ClientEventError(
                    "Expected a text WebSocket message; binary frames are not supported.", code="invalid_event"
                ),
                match.group(1).decode() if match else None,
            )
            return
        if len(message) > self.settings.max_message_size:
            record(Frame(time.monotonic(), "client", self.id, message, None))
            match = _EVENT_ID_SNIFF.search(message[:2048].encode("utf-8", "replace"))
            await self.outbox.send_error(
                ClientEventError(
                    f"Invalid event: the message is {len(message)} characters long, more than the maximum of "
                    f"{self.settings.max_message_size}. Send large audio in several input_audio_buffer.append events.",
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
            await self.outbox.send_error(
                ClientEventError(f"Invalid event: failed to parse JSON value. {exc}", code="invalid_json"),
                match.group(1).decode() if match else None,
            )
            return
        if not isinstance(event, dict):
            record(Frame(time.monotonic(), "client", self.id, message, None))
            await self.outbox.send_error(
                ClientEventError(
                    f"Invalid event: expected a JSON object, but got {_kind_name(event)}.", code="invalid_event"
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
            await self.outbox.send_error(err, event_id)
        except (ConnectionClosed, asyncio.CancelledError):
            raise
        except Exception:  # a bug in the mock must not take the session down
            log.exception("mock session %s failed on a %r event", self.id, etype)
            await self.outbox.send_error(
                ClientEventError(
                    "The server had an error while processing your request. Sorry about that!", type="server_error"
                ),
                event_id,
            )

    # ------------------------------------------------------------------ session.update

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
        if old.input_format != view.input_format:
            # keep the session clock (ms) continuous across a change of sample rate
            self._clock = self._clock * SAMPLE_RATES[view.input_format] // SAMPLE_RATES[old.input_format]
            self._buf.clear()
            self._buf_start = self._clock
        if old.turn_detection != view.turn_detection or old.input_format != view.input_format:
            self._configure_vad()
        await self.outbox.send("session.updated", session=new)

    async def _on_transcription_session_update(self, event: dict[str, Any]) -> None:
        raise ClientEventError(
            "transcription_session.update is only accepted on transcription sessions (?intent=transcription); "
            "use session.update on this session.",
            code="invalid_event",
        )

    # ------------------------------------------------------------------ input audio

    def _configure_vad(self) -> None:
        td = self.view.turn_detection
        if td is None:
            self._vad = None
            return
        rate = SAMPLE_RATES[self.view.input_format]
        if td["type"] == "semantic_vad":
            silence = {"low": 800, "medium": 500, "high": 250, "auto": 500}[td.get("eagerness", "auto")]
            threshold = 0.5
        else:
            silence = td["silence_duration_ms"]
            threshold = td["threshold"]
        self._vad = EnergyVAD(rate, threshold=threshold, silence_duration_ms=silence, position=self._clock)

    def _prefix_samples(self) -> int:
        td = self.view.turn_detection or {}
        return SAMPLE_RATES[self.view.input_format] * int(td.get("prefix_padding_ms", 300)) // 1000

    def _ms(self, samples: int) -> int:
        return samples * 1000 // SAMPLE_RATES[self.view.input_format]

    async def _on_append(self, event: dict[str, Any]) -> None:
        audio = event["audio"]
        if len(audio) > MAX_APPEND_CHARS:
            raise ClientEventError.too_long("audio", MAX_APPEND_CHARS, len(audio))
        fmt = self.view.input_format
        data = decode_audio(audio, "audio", fmt)
        if not data:
            return
        width = BYTES_PER_SAMPLE[fmt]
        self._buf += data
        self._clock += len(data) // width
        vad = self._vad
        if vad is None:
            return
        for kind, position in vad.feed(decode_to_pcm16(data, fmt)):
            if kind == "start":
                await self._speech_started(position)
            else:
                await self._speech_stopped(position)
        if not vad.speaking:
            # idle: keep only what a future speech start can still reach back to (prefix padding)
            keep_from = self._clock - self._prefix_samples() - vad.frame
            if keep_from > self._buf_start:
                del self._buf[: (keep_from - self._buf_start) * width]
                self._buf_start = keep_from

    async def _speech_started(self, position: int) -> None:
        self._speech_start = max(self._buf_start, position - self._prefix_samples())
        self._vad_item_id = self.outbox.new_id("item_")
        await self.outbox.send(
            "input_audio_buffer.speech_started",
            audio_start_ms=self._ms(self._speech_start),
            item_id=self._vad_item_id,
        )
        td = self.view.turn_detection or {}
        active = self.responses.active
        if active is not None and td.get("interrupt_response", True):
            await self.responses.cancel(active, "turn_detected")

    async def _speech_stopped(self, position: int) -> None:
        item_id = self._vad_item_id or self.outbox.new_id("item_")
        self._vad_item_id = None
        await self.outbox.send(
            "input_audio_buffer.speech_stopped", audio_end_ms=self._ms(position), item_id=item_id
        )
        await self._commit(self._speech_start, position, item_id)
        td = self.view.turn_detection or {}
        # with interrupt_response off a response may still be running: then no new one
        if td.get("create_response", True) and self.responses.active is None:
            await self.responses.start(None)

    async def _on_commit(self, event: dict[str, Any]) -> None:
        await self.outbox.ack_pause()
        fmt = self.view.input_format
        samples = len(self._buf) // BYTES_PER_SAMPLE[fmt]
        duration = samples * 1000 / SAMPLE_RATES[fmt]
        if duration < MIN_COMMIT_MS:
            raise ClientEventError(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {duration:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        item_id = self._vad_item_id if (self._vad is not None and self._vad.speaking and self._vad_item_id) else None
        if self._vad is not None:
            self._vad.speaking = False
        self._vad_item_id = None
        await self._commit(self._buf_start, self._buf_start + samples, item_id or self.outbox.new_id("item_"))

    async def _commit(self, start: int, end: int, item_id: str) -> None:
        """Turn input samples [start, end) into a user item (committed, item events, transcription)."""
        fmt = self.view.input_format
        width = BYTES_PER_SAMPLE[fmt]
        lo = max(0, (start - self._buf_start) * width)
        hi = max(lo, (end - self._buf_start) * width)
        audio = bytes(self._buf[lo:hi])
        del self._buf[:hi]
        self._buf_start += hi // width
        duration_ms = len(audio) / width * 1000 / SAMPLE_RATES[fmt]
        heard, before, fail = self.settings.script.next_turn(duration_ms)
        previous = self.conversation.last_id()
        await self.outbox.send("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        transcription = self.view.transcription
        if transcription is not None and before:
            await self._transcribe(item_id, heard, duration_ms, transcription, fail)
        item = Item(
            {
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [
                    {
                        "type": "input_audio",
                        "transcript": heard if (transcription is not None and before and not fail) else None,
                    }
                ],
            },
            audio=audio,
            audio_format=fmt,
            heard=heard,
        )
        item.audio_ms = duration_ms
        self.conversation.insert(item)
        await self.conversation.announce(item, previous)
        if transcription is not None and not before:
            delay = self.settings.pacing.transcription_delay
            if delay <= 0:
                await self._transcribe(item_id, heard, duration_ms, transcription, fail)
            else:
                self.outbox.spawn(self._transcribe_later(delay, item_id, heard, duration_ms, transcription, fail))

    async def _transcribe_later(
        self, delay: float, item_id: str, text: str, duration_ms: float, config: dict[str, Any], fail: bool
    ) -> None:
        await asyncio.sleep(delay)
        try:
            await self._transcribe(item_id, text, duration_ms, config, fail)
        except ConnectionClosed:
            pass

    async def _transcribe(
        self, item_id: str, text: str, duration_ms: float, config: dict[str, Any], fail: bool = False
    ) -> None:
        """Send the input transcription events of user item ``item_id``.

        ``whisper-1``: one ``.delta`` holding the whole ``text``; other models
        (``gpt-4o-transcribe``, ...): a delta per few words; then ``.completed``.
        With ``fail``: one ``.failed`` event instead, and no transcript.
        """
        if fail:
            error = {
                "type": "transcription_error",
                "code": "audio_unintelligible",
                "message": "The audio could not be transcribed.",
                "param": None,
            }
            await self.outbox.send(
                "conversation.item.input_audio_transcription.failed", item_id=item_id, content_index=0, error=error
            )
            return
        model = config.get("model") or "whisper-1"
        deltas = [text] if model == "whisper-1" else text_deltas(text)
        for delta in deltas:
            await self.outbox.send(
                "conversation.item.input_audio_transcription.delta", item_id=item_id, content_index=0, delta=delta
            )
        if model == "whisper-1":
            usage: dict[str, Any] = {"type": "duration", "seconds": round(duration_ms / 1000, 3)}
        else:
            audio_tokens = max(1, int(duration_ms // 100))
            out = estimate_tokens(text)
            usage = {
                "type": "tokens",
                "input_tokens": audio_tokens,
                "output_tokens": out,
                "total_tokens": audio_tokens + out,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
            }
        item = self.conversation.get(item_id)
        if item is not None and item.data.get("content"):
            item.data["content"][0]["transcript"] = text
        await self.outbox.send(
            "conversation.item.input_audio_transcription.completed",
            item_id=item_id,
            content_index=0,
            transcript=text,
            usage=usage,
        )

    async def _on_clear(self, event: dict[str, Any]) -> None:
        await self.outbox.ack_pause()
        self._buf.clear()
        self._buf_start = self._clock
        if self._vad is not None:
            self._vad.reset(self._clock)
        self._vad_item_id = None
        await self.outbox.send("input_audio_buffer.cleared")

    async def _on_output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        raise ClientEventError(
            "output_audio_buffer.clear is only supported for WebRTC and SIP connections; over WebSocket send "
            "response.cancel and conversation.item.truncate instead.",
            code="invalid_event",
        )

    async def _on_session_close(self, event: dict[str, Any]) -> None:
        await self.ws.close(1000, "")


def _kind_name(value: Any) -> str:
    from ._errors import describe_kind

    return describe_kind(value)
