"""The input audio of one mock session: the buffer, commit and clear, server VAD, transcription.

:class:`InputAudio` answers ``input_audio_buffer.append``, ``.commit`` and
``.clear``.  With turn detection on, an energy VAD runs over the appended
audio: speech start interrupts the active response, speech stop commits the
turn and starts a new response.  A committed turn becomes a user item whose
transcription events follow the script (``Script.next_turn``); a diarizing
transcription model (one whose name contains ``diarize``) sends a
``conversation.item.input_audio_transcription.segment`` per sentence, its
speakers taking turns (``A``, ``B``), instead of deltas.

Server VAD's ``idle_timeout_ms`` is measured on the input audio clock: once
that much audio without speech was appended after the last response (and its
audio's playback), ``input_audio_buffer.timeout_triggered`` commits the
silence as a user turn and a response follows (``Script.idle_reply``).  Stream
silence, as a phone line does, to see it.  A transcription session never
makes a response.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Callable

from websockets.exceptions import ConnectionClosed

from ._errors import ClientEventError
from ._text import estimate_tokens, text_deltas
from .dialects import SessionView
from .items import Conversation, Item, decode_audio
from .outbox import Outbox
from .responses import Responses
from .settings import SessionSettings
from .synth import BYTES_PER_SAMPLE, SAMPLE_RATES, decode_to_pcm16
from .vad import EnergyVAD

__all__ = ["MAX_APPEND_CHARS", "MIN_COMMIT_MS", "InputAudio"]

#: A sentence of a transcript, for diarized segments.
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")

#: Largest ``input_audio_buffer.append`` audio string ("Each chunk cannot exceed 15 MB").
MAX_APPEND_CHARS = 15 * 1024 * 1024
#: Shortest committable input audio, in ms.
MIN_COMMIT_MS = 100.0


class InputAudio:
    """The input audio buffer of one session (see the module docstring).

    Positions are counted in samples of the session's input format since the
    session started (the VAD clock); ``view`` returns the session's current
    configuration.
    """

    def __init__(
        self,
        settings: SessionSettings,
        outbox: Outbox,
        conversation: Conversation,
        responses: Responses,
        view: Callable[[], SessionView],
    ) -> None:
        self._settings = settings
        self._outbox = outbox
        self._conversation = conversation
        self._responses = responses
        self._view = view
        # uncommitted bytes, absolute sample index of their start, total samples appended
        self._buf = bytearray()
        self._buf_start = 0
        self._clock = 0
        self._vad: EnergyVAD | None = None
        self._vad_item_id: str | None = None
        self._speech_start = 0
        #: Where the current stretch without speech or response began (samples), None while busy.
        self._idle_since: int | None = None
        self._configure_vad()

    @property
    def appended_ms(self) -> float:
        """Milliseconds of input audio appended since the session started (the VAD clock)."""
        return self._clock * 1000 / SAMPLE_RATES[self._view().input_format]

    def reconfigure(self, old: SessionView, new: SessionView) -> None:
        """Follow a ``session.update`` from ``old`` to ``new`` (audio format, turn detection)."""
        if old.input_format != new.input_format:
            # keep the session clock (ms) continuous across a change of sample rate
            self._clock = self._clock * SAMPLE_RATES[new.input_format] // SAMPLE_RATES[old.input_format]
            self._buf.clear()
            self._buf_start = self._clock
        if old.turn_detection != new.turn_detection or old.input_format != new.input_format:
            self._configure_vad()

    # ------------------------------------------------------------------ client events

    async def on_append(self, event: dict[str, Any]) -> None:
        """``input_audio_buffer.append``: buffer the audio and run the VAD over it."""
        audio = event["audio"]
        if len(audio) > MAX_APPEND_CHARS:
            raise ClientEventError.too_long("audio", MAX_APPEND_CHARS, len(audio))
        fmt = self._view().input_format
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
        await self._check_idle(len(data) // width)
        if not vad.speaking:
            # idle: keep only what a future speech start can still reach back to (prefix padding)
            keep_from = self._clock - self._prefix_samples() - vad.frame
            if keep_from > self._buf_start:
                del self._buf[: (keep_from - self._buf_start) * width]
                self._buf_start = keep_from

    async def on_commit(self, event: dict[str, Any]) -> None:
        """``input_audio_buffer.commit``: the buffered audio becomes a user item."""
        await self._outbox.ack_pause()
        fmt = self._view().input_format
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
        await self._commit(self._buf_start, self._buf_start + samples, item_id or self._outbox.new_id("item_"))

    async def on_clear(self, event: dict[str, Any]) -> None:
        """``input_audio_buffer.clear``: drop the buffered audio (the VAD starts over)."""
        await self._outbox.ack_pause()
        self._buf.clear()
        self._buf_start = self._clock
        if self._vad is not None:
            self._vad.reset(self._clock)
        self._vad_item_id = None
        await self._outbox.send("input_audio_buffer.cleared")

    # ------------------------------------------------------------------ server VAD

    async def _check_idle(self, appended: int) -> None:
        """Fire the idle timeout when ``idle_timeout_ms`` of audio without speech or response has been appended."""
        vad = self._vad
        td = self._view().turn_detection
        timeout_ms = td.get("idle_timeout_ms") if td is not None and td.get("type") == "server_vad" else None
        if vad is None or vad.speaking or self._responses.active is not None or not timeout_ms:
            self._idle_since = None
            return
        rate = SAMPLE_RATES[self._view().input_format]
        if self._idle_since is None:  # idle since this chunk began, plus the last response's playback
            self._idle_since = self._clock - appended + int(self._responses.last_audio_ms * rate / 1000)
        if self._clock - self._idle_since < timeout_ms * rate // 1000:
            return
        start, self._idle_since = self._idle_since, self._clock
        item_id = self._outbox.new_id("item_")
        await self._outbox.send(
            "input_audio_buffer.timeout_triggered",
            audio_start_ms=self._ms(max(start, 0)),
            audio_end_ms=self._ms(self._clock),
            item_id=item_id,
        )
        await self._commit(self._buf_start, self._clock, item_id, idle=True)
        if td is not None and td.get("create_response", True) and self._may_respond():
            await self._responses.start(None)

    def _may_respond(self) -> bool:
        """True when a turn may start a response: none is active, and this is not a transcription session."""
        return self._responses.active is None and not self._view().transcription_only

    def _configure_vad(self) -> None:
        view = self._view()
        td = view.turn_detection
        if td is None:
            self._vad = None
            return
        rate = SAMPLE_RATES[view.input_format]
        if td["type"] == "semantic_vad":
            silence = {"low": 800, "medium": 500, "high": 250, "auto": 500}[td.get("eagerness", "auto")]
            threshold = 0.5
        else:
            silence = td["silence_duration_ms"]
            threshold = td["threshold"]
        self._vad = EnergyVAD(rate, threshold=threshold, silence_duration_ms=silence, position=self._clock)

    def _prefix_samples(self) -> int:
        view = self._view()
        td = view.turn_detection or {}
        return SAMPLE_RATES[view.input_format] * int(td.get("prefix_padding_ms", 300)) // 1000

    def _ms(self, samples: int) -> int:
        return samples * 1000 // SAMPLE_RATES[self._view().input_format]

    async def _speech_started(self, position: int) -> None:
        self._speech_start = max(self._buf_start, position - self._prefix_samples())
        self._vad_item_id = self._outbox.new_id("item_")
        await self._outbox.send(
            "input_audio_buffer.speech_started",
            audio_start_ms=self._ms(self._speech_start),
            item_id=self._vad_item_id,
        )
        td = self._view().turn_detection or {}
        active = self._responses.active
        if active is not None and td.get("interrupt_response", True):
            await self._responses.cancel(active, "turn_detected")

    async def _speech_stopped(self, position: int) -> None:
        item_id = self._vad_item_id or self._outbox.new_id("item_")
        self._vad_item_id = None
        await self._outbox.send("input_audio_buffer.speech_stopped", audio_end_ms=self._ms(position), item_id=item_id)
        await self._commit(self._speech_start, position, item_id)
        td = self._view().turn_detection or {}
        # with interrupt_response off a response may still be running: then no new one
        if td.get("create_response", True) and self._may_respond():
            await self._responses.start(None)

    # ------------------------------------------------------------------ commit and transcription

    async def _commit(self, start: int, end: int, item_id: str, *, idle: bool = False) -> None:
        """Turn input samples [start, end) into a user item (committed, item events, transcription).

        ``idle``: the silence an idle timeout commits (heard as nothing; no scripted transcript is used).
        """
        view = self._view()
        fmt = view.input_format
        width = BYTES_PER_SAMPLE[fmt]
        lo = max(0, (start - self._buf_start) * width)
        hi = max(lo, (end - self._buf_start) * width)
        audio = bytes(self._buf[lo:hi])
        del self._buf[:hi]
        self._buf_start += hi // width
        duration_ms = len(audio) / width * 1000 / SAMPLE_RATES[fmt]
        if idle:
            heard, before, fail = "", False, False
        else:
            heard, before, fail = self._settings.script.next_turn(duration_ms)
        conversation = self._conversation
        previous = conversation.last_id()
        await self._outbox.send("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        transcription = view.transcription
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
        item.idle = idle
        conversation.insert(item)
        await conversation.announce(item, previous)
        if transcription is not None and not before:
            delay = self._settings.pacing.transcription_delay
            if delay <= 0:
                await self._transcribe(item_id, heard, duration_ms, transcription, fail)
            else:
                self._outbox.spawn(self._transcribe_later(delay, item_id, heard, duration_ms, transcription, fail))

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
        send = self._outbox.send
        if fail:
            error = {
                "type": "transcription_error",
                "code": "audio_unintelligible",
                "message": "The audio could not be transcribed.",
                "param": None,
            }
            await send(
                "conversation.item.input_audio_transcription.failed", item_id=item_id, content_index=0, error=error
            )
            return
        model = config.get("model") or "whisper-1"
        if "diarize" in model:
            await self._send_segments(item_id, text, duration_ms)
        else:
            deltas = [text] if model == "whisper-1" else text_deltas(text)
            for delta in deltas:
                await send(
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
        item = self._conversation.get(item_id)
        if item is not None and item.data.get("content"):
            item.data["content"][0]["transcript"] = text
        await send(
            "conversation.item.input_audio_transcription.completed",
            item_id=item_id,
            content_index=0,
            transcript=text,
            usage=usage,
        )

    async def _send_segments(self, item_id: str, text: str, duration_ms: float) -> None:
        """Diarized transcription: one segment per sentence, speakers ``A`` and ``B`` in turn, times by length."""
        sentences = [m.group().strip() for m in _SENTENCE.finditer(text) if m.group().strip()]
        total = sum(len(s) for s in sentences) or 1
        seconds = duration_ms / 1000
        start = 0.0
        for index, sentence in enumerate(sentences):
            end = start + seconds * len(sentence) / total
            await self._outbox.send(
                "conversation.item.input_audio_transcription.segment",
                item_id=item_id,
                content_index=0,
                id=f"seg_{index}",
                speaker="AB"[index % 2],
                start=round(start, 3),
                end=round(end, 3),
                text=sentence,
            )
            start = end
