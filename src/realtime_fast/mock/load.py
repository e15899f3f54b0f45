"""A lean Realtime server for load tests: thousands of real-time voice sessions on one core.

:class:`LoadServer` speaks the GA events of a server-VAD voice session, with the
same shapes as :class:`~realtime_fast.mock.MockRealtimeServer` (the session
objects come from the same GA dialect code), but does only what a load test
needs, as cheaply as Python allows, so that the *client* is what gets measured:

* It runs on picows (compiled WebSocket framing) and parses
  ``input_audio_buffer.append`` without JSON: it finds the ``audio`` string in
  the frame, counts its samples from its length, and decides speech vs silence
  from the energy of 6 samples decoded from the middle of the chunk (peak above
  ``speech_level``, about -36 dBFS by default).  Other client events are parsed
  with orjson; ``session.update`` is validated and answered as the mock does;
  anything else a load client does not send gets an ``error`` event.
* Audio formats: PCM16 at 24 kHz by default; a ``session.update`` that sets
  G.711 (``audio/pcmu`` or ``audio/pcma``) for input or output makes the
  server count and hear input at 8 kHz, one byte per sample, and stream its
  answers as G.711 at 8 kHz (the same ``audio_chunk_ms`` per delta).
* Turns (server VAD on the audio clock): speech after silence sends
  ``input_audio_buffer.speech_started`` (``audio_start_ms`` = start minus the
  prefix padding); ``silence_duration_ms`` of silence after speech sends
  ``speech_stopped``, ``committed``, the user item (``conversation.item.added``
  and ``.done``) and starts a response: ``response.created``,
  ``response.output_item.added``, ``conversation.item.added``,
  ``response.content_part.added``, then ``response_seconds`` of audio in
  ``audio_chunk_ms`` deltas (``response.output_audio.delta``) at real-time
  pace (divided by ``speed``) with a ``response.output_audio_transcript.delta``
  every ``transcript_every`` audio deltas, then ``response.output_audio.done``,
  ``response.output_audio_transcript.done``, ``response.content_part.done``,
  ``conversation.item.done``, ``response.output_item.done`` and
  ``response.done``.  Responses are not interrupted by new speech (a load
  client's schedule leaves room for them).
* Audio deltas are pre-encoded: a frame is a few byte strings joined around
  the pre-made base64 audio.  All responses of all sessions are paced by one
  ticker (a timing wheel of ``tick_ms`` slots), not one timer per session.
* Every event carries ``timestamp_field`` (default ``mock_sent_at_us``): the
  send time as **integer microseconds** since the epoch (:func:`time.time_ns`
  // 1000).  An integer, because a float would take an audio delta off the
  client's flat fast-path parser and the benchmark would measure the slow path.
* It counts what it sent per session (by ``session.id``), its CPU time, and
  how late the ticker sent each due delta (its own send lag): see
  :meth:`LoadServer.stats`.

Run it in its own process with ``python -m realtime_fast.mock.load`` (prints
its URL; answers ``stats`` / ``final`` lines on stdin with a JSON line) or
:func:`spawn_load_server`.  Given a certificate (``ssl=``, or ``--certfile``
/ ``--keyfile``) it serves ``wss://``: picows' server does TLS (through
aiofastnet when that is installed, as picows does by default).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import re
import ssl as _ssl
import subprocess
import sys
import threading
import time
from typing import Any, Optional

import orjson
from picows import WSListener, WSMsgType, WSTransport, ws_create_server

from ._errors import ClientEventError
from .dialects import GA
from .synth import BYTES_PER_SAMPLE, SAMPLE_RATES, alaw_decode, speech_audio, ulaw_decode

__all__ = ["LoadServer", "LoadServerProcess", "spawn_load_server"]

RATE = 24000
#: The linear magnitude (0..32768) of each G.711 code, by format: the VAD's level of one G.711 sample.
_G711_LEVELS: dict[str, tuple[int, ...]] = {
    "g711_ulaw": tuple(abs(int(v)) for v in ulaw_decode(bytes(range(256)))),
    "g711_alaw": tuple(abs(int(v)) for v in alaw_decode(bytes(range(256)))),
}
_APPEND_MARK = b'"type":"input_audio_buffer.append"'
_AUDIO_KEY = b'"audio":"'
_TEXT = WSMsgType.TEXT
_CLOSE = WSMsgType.CLOSE
_WORDS = (
    "Sure", "here", "is", "a", "short", "answer", "to", "what", "you", "just", "said", "and", "a", "little",
    "more", "so", "that", "the", "reply", "lasts", "a", "few", "seconds", "of", "speech", "thank", "you",
)


def _now_us() -> int:
    return time.time_ns() // 1000


class _Response:
    """One response being streamed (state for the ticker)."""

    __slots__ = ("conn", "rid", "iid", "audio_head", "text_head", "sent", "total", "due", "transcript")

    def __init__(self, conn: _Conn, rid: str, iid: str, total: int, due: float) -> None:
        self.conn = conn
        self.rid = rid
        self.iid = iid
        where = f'"response_id":"{rid}","item_id":"{iid}","output_index":0,"content_index":0,"event_id":"'.encode()
        self.audio_head = b'{"type":"response.output_audio.delta",' + where
        self.text_head = b'{"type":"response.output_audio_transcript.delta",' + where
        self.sent = 0  # audio deltas sent
        self.total = total
        self.due = due  # monotonic time the next delta is due
        self.transcript: list[str] = []


class _Conn(WSListener):
    """One client connection: its session, VAD state and counters."""

    def __init__(self, server: LoadServer) -> None:
        self.server = server
        self.transport: Optional[WSTransport] = None
        self.sid = server._new_id("sess_")
        self._ids = itertools.count(1)
        self._id_prefix = "event_" + self.sid[5:15]
        self.sent = 0
        self.session: dict[str, Any] = {}
        self.position = 0  # samples of input audio received
        self.in_speech = False
        self.silence_run = 0
        self.speech_item: Optional[str] = None
        self.previous_item: Optional[str] = None
        self.conversation_id = server._new_id("conv_")
        self.response: Optional[_Response] = None
        self.prefix_ms = 300
        self.silence_samples = 200 * RATE // 1000
        self.vad = True
        # The input and output audio formats (session.update may set G.711 for both).
        self.in_rate = RATE
        self.in_width = 2  # bytes per input sample
        self.in_levels: Optional[tuple[int, ...]] = None  # G.711: magnitude by code; None: PCM16
        self.out_chunks: list[bytes] = server.audio_chunks["pcm16"]
        self.partial: Optional[bytearray] = None

    # -- picows callbacks -----------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        server = self.server
        server.connections[self.sid] = self
        server.connected_total += 1
        self.session = GA.default_session(self.sid, "gpt-realtime", int(time.time()) + 3600)
        self._configure()
        self.send({"type": "session.created", "event_id": self._eid(), "session": self.session})

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        server = self.server
        server.connections.pop(self.sid, None)
        server.finished_counts[self.sid] = self.sent
        if self.response is not None:
            self.response = None  # the ticker drops it

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        kind = frame.msg_type
        if kind == _TEXT or (kind == WSMsgType.CONTINUATION and self.partial is not None):
            if not frame.fin:
                if self.partial is None:
                    self.partial = bytearray()
                self.partial += frame.get_payload_as_memoryview()
                return
            if self.partial is not None:
                self.partial += frame.get_payload_as_memoryview()
                data = bytes(self.partial)
                self.partial = None
            else:
                data = frame.get_payload_as_bytes()
            self.server.received += 1
            self.on_text(data)
        elif kind == _CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()

    # -- sending --------------------------------------------------------------------

    def _eid(self) -> str:
        return f"{self._id_prefix}{next(self._ids):011d}"

    def send(self, event: dict[str, Any]) -> None:
        """Stamp and send one event built as a dict (the rare, non-delta events)."""
        transport = self.transport
        if transport is None or transport.is_disconnected:
            return
        event[self.server.timestamp_field] = _now_us()
        transport.send(_TEXT, orjson.dumps(event))
        self.sent += 1
        self.server.sent += 1

    def send_raw(self, frame: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_disconnected:
            return
        transport.send(_TEXT, frame)
        self.sent += 1
        self.server.sent += 1

    def _error(self, err: ClientEventError, event_id: Any) -> None:
        self.send({"type": "error", "event_id": self._eid(), "error": err.payload(event_id if isinstance(event_id, str) else None)})

    # -- client events --------------------------------------------------------------

    def on_text(self, data: bytes) -> None:
        head = data[:96]
        if _APPEND_MARK in head:
            start = data.find(_AUDIO_KEY)
            if start >= 0:
                start += len(_AUDIO_KEY)
                end = data.find(b'"', start)
                if end > start:
                    self.on_audio(data, start, end)
                    return
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._error(ClientEventError("The client event is not valid JSON.", code="invalid_json"), None)
            return
        if not isinstance(event, dict):
            self._error(ClientEventError("The client event must be a JSON object.", code="invalid_request_error"), None)
            return
        kind = event.get("type")
        event_id = event.get("event_id")
        if kind == "session.update":
            try:
                self.session = GA.update_session(self.session, event.get("session"), "gpt-realtime")
            except ClientEventError as err:
                self._error(err, event_id)
                return
            self._configure()
            self.send({"type": "session.updated", "event_id": self._eid(), "session": self.session})
        elif kind == "input_audio_buffer.append":  # unusual key order: the general path
            audio = event.get("audio")
            if not isinstance(audio, str):
                self._error(ClientEventError.missing("audio"), event_id)
                return
            raw = audio.encode()
            self.on_audio(raw, 0, len(raw))
        else:
            message = f"The load-test server does not handle '{kind}' events; use the full mock server (MockRealtimeServer)."
            self._error(ClientEventError(message, code="unsupported_event", param="type"), event_id)

    def _configure(self) -> None:
        view = GA.view(self.session)
        in_format = view.input_format
        rate = SAMPLE_RATES[in_format]
        if rate != self.in_rate:  # the audio clock keeps its time, counted in the new rate's samples
            self.position = self.position * rate // self.in_rate
            self.silence_run = self.silence_run * rate // self.in_rate
        self.in_rate = rate
        self.in_width = BYTES_PER_SAMPLE[in_format]
        self.in_levels = _G711_LEVELS.get(in_format)
        self.out_chunks = self.server.audio_chunks[view.output_format]
        turn = view.turn_detection
        self.vad = bool(turn) and turn.get("type") == "server_vad"
        if self.vad:
            self.prefix_ms = int(turn.get("prefix_padding_ms", 300))
            self.silence_samples = int(turn.get("silence_duration_ms", 200)) * self.in_rate // 1000

    def on_audio(self, data: bytes, start: int, end: int) -> None:
        """Advance the audio clock by one base64 chunk ``data[start:end]`` (PCM16 or G.711, the session's input format) and run the VAD."""
        chars = end - start
        pad = 0
        if chars >= 2 and data[end - 1] == 61:  # '='
            pad = 2 if data[end - 2] == 61 else 1
        samples = (chars // 4 * 3 - pad) // self.in_width
        before = self.position
        self.position = before + samples
        if not self.vad or samples <= 0:
            return
        # Energy of a few samples from the middle of the chunk: 16 base64
        # characters = 12 bytes = 6 whole PCM16 samples (or 12 G.711 samples)
        # when the window starts on a multiple of 8 characters.
        mid = start + (chars // 2 // 8) * 8
        window = data[mid : mid + 16]
        speech = False
        if len(window) == 16:
            try:
                raw = base64.b64decode(window)
            except ValueError:
                raw = b""
            level = self.server.speech_level
            levels = self.in_levels
            if levels is not None:
                speech = any(levels[code] > level for code in raw)
            else:
                for i in range(0, len(raw) - 1, 2):
                    v = raw[i] | (raw[i + 1] << 8)
                    if v >= 32768:
                        v = 65536 - v
                    if v > level:
                        speech = True
                        break
        if speech:
            self.silence_run = 0
            if not self.in_speech:
                self.in_speech = True
                self.speech_item = self.server._new_id("item_")
                start_ms = max(0, before * 1000 // self.in_rate - self.prefix_ms)
                self.send(
                    {
                        "type": "input_audio_buffer.speech_started",
                        "event_id": self._eid(),
                        "audio_start_ms": start_ms,
                        "item_id": self.speech_item,
                    }
                )
        elif self.in_speech:
            self.silence_run += samples
            if self.silence_run >= self.silence_samples:
                self.in_speech = False
                self.silence_run = 0
                self._end_turn(self.position * 1000 // self.in_rate)

    def _end_turn(self, end_ms: int) -> None:
        item_id = self.speech_item or self.server._new_id("item_")
        previous = self.previous_item
        self.send({"type": "input_audio_buffer.speech_stopped", "event_id": self._eid(), "audio_end_ms": end_ms, "item_id": item_id})
        self.send({"type": "input_audio_buffer.committed", "event_id": self._eid(), "previous_item_id": previous, "item_id": item_id})
        user = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        for kind in ("conversation.item.added", "conversation.item.done"):
            self.send({"type": kind, "event_id": self._eid(), "previous_item_id": previous, "item": user})
        self.previous_item = item_id
        if self.response is None:
            self._start_response()

    def _response_object(self, rid: str, status: str, output: list[dict[str, Any]], usage: Any) -> dict[str, Any]:
        config = GA.response_config(GA.view(self.session), None)
        return GA.response_object(
            response_id=rid,
            status=status,
            status_details=None,
            output=output,
            usage=usage,
            conversation_id=self.conversation_id,
            config=config,
        )

    def _start_response(self) -> None:
        server = self.server
        rid = server._new_id("resp_")
        iid = server._new_id("item_")
        self.send({"type": "response.created", "event_id": self._eid(), "response": self._response_object(rid, "in_progress", [], None)})
        item = {"id": iid, "object": "realtime.item", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        self.send({"type": "response.output_item.added", "event_id": self._eid(), "response_id": rid, "output_index": 0, "item": item})
        self.send({"type": "conversation.item.added", "event_id": self._eid(), "previous_item_id": self.previous_item, "item": item})
        self.send(
            {
                "type": "response.content_part.added",
                "event_id": self._eid(),
                "response_id": rid,
                "item_id": iid,
                "output_index": 0,
                "content_index": 0,
                "part": {"type": "audio", "transcript": ""},
            }
        )
        response = _Response(self, rid, iid, server.deltas_per_response, time.monotonic() + server.first_delta_delay)
        self.response = response
        server._schedule(response)

    def stream(self, response: _Response, now: float) -> bool:
        """Send the next delta(s) of ``response``; returns True while it has more to send."""
        server = self.server
        ts = str(_now_us()).encode()
        if response.sent % server.transcript_every == 0:
            word = _WORDS[(response.sent // server.transcript_every) % len(_WORDS)]
            text = word if response.sent == 0 else " " + word
            response.transcript.append(text)
            self.send_raw(
                b"".join((response.text_head, self._eid().encode(), b'","delta":', orjson.dumps(text), b',"', server._ts_key, ts, b"}"))
            )
        chunks = self.out_chunks
        chunk = chunks[response.sent % len(chunks)]
        self.send_raw(b"".join((response.audio_head, self._eid().encode(), b'","delta":"', chunk, b'","', server._ts_key, ts, b"}")))
        response.sent += 1
        if response.sent < response.total:
            return True
        self._finish(response)
        return False

    def _finish(self, response: _Response) -> None:
        rid, iid = response.rid, response.iid
        transcript = "".join(response.transcript)
        where = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
        self.send({"type": "response.output_audio.done", "event_id": self._eid(), **where})
        self.send({"type": "response.output_audio_transcript.done", "event_id": self._eid(), **where, "transcript": transcript})
        self.send({"type": "response.content_part.done", "event_id": self._eid(), **where, "part": {"type": "audio", "transcript": transcript}})
        item = {
            "id": iid,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_audio", "transcript": transcript}],
        }
        self.send({"type": "conversation.item.done", "event_id": self._eid(), "previous_item_id": self.previous_item, "item": item})
        self.send({"type": "response.output_item.done", "event_id": self._eid(), "response_id": rid, "output_index": 0, "item": item})
        out_tokens = max(1, len(transcript) // 4) + response.total * 5
        usage = {
            "total_tokens": 40 + out_tokens,
            "input_tokens": 40,
            "output_tokens": out_tokens,
            "input_token_details": {
                "text_tokens": 30,
                "audio_tokens": 10,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0},
            },
            "output_token_details": {"text_tokens": max(1, len(transcript) // 4), "audio_tokens": response.total * 5},
        }
        self.send({"type": "response.done", "event_id": self._eid(), "response": self._response_object(rid, "completed", [item], usage)})
        self.previous_item = iid
        if self.response is response:
            self.response = None
        self.server.responses_done += 1


class LoadServer:
    """The load-test server (see the module docstring).

    Args:
        host / port: where to listen (port 0: a free port; see :attr:`url`).
        audio_chunk_ms: duration of each assistant audio delta, ms (default 100).
        response_seconds: length of each assistant response, seconds of audio (default 3).
        transcript_every: one transcript delta per this many audio deltas (default 2).
        speed: time scale of the response pacing (1 = real time; 20 = twenty
            times faster, for accelerated soaks).
        first_delta_delay: seconds (wall clock) from ``response.created`` to the first delta.
        tick_ms: ticker period, ms (the pacing resolution).
        speech_level: peak PCM16 sample value above which a chunk is speech.
        timestamp_field: name of the integer send-time field (microseconds since the epoch).
        ssl: a server :class:`ssl.SSLContext` to serve ``wss://`` (None: ``ws://``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        audio_chunk_ms: int = 100,
        response_seconds: float = 3.0,
        transcript_every: int = 2,
        speed: float = 1.0,
        first_delta_delay: float = 0.0,
        tick_ms: float = 10.0,
        speech_level: int = 500,
        timestamp_field: str = "mock_sent_at_us",
        ssl: Optional[_ssl.SSLContext] = None,
    ) -> None:
        if not 20 <= audio_chunk_ms <= 200:
            raise ValueError(f"audio_chunk_ms must be between 20 and 200 ms, got {audio_chunk_ms}.")
        if speed <= 0:
            raise ValueError(f"speed must be a positive time scale, got {speed}.")
        if transcript_every < 1:
            raise ValueError(f"transcript_every must be at least 1 audio delta, got {transcript_every}.")
        self.host = host
        self._requested_port = port
        self.port: Optional[int] = None
        self.ssl = ssl
        self.audio_chunk_ms = audio_chunk_ms
        self.deltas_per_response = max(1, round(response_seconds * 1000 / audio_chunk_ms))
        self.transcript_every = transcript_every
        self.speed = speed
        self.interval = audio_chunk_ms / 1000.0 / speed
        self.first_delta_delay = first_delta_delay
        self.tick = tick_ms / 1000.0
        self.speech_level = speech_level
        self.timestamp_field = timestamp_field
        self._ts_key = timestamp_field.encode() + b'":'
        #: Pre-encoded base64 audio of one delta each (cycled through), by output format:
        #: PCM16 at 24 kHz, G.711 at 8 kHz (``audio_chunk_ms`` of audio each).
        self.audio_chunks: dict[str, list[bytes]] = {}
        for fmt, rate in SAMPLE_RATES.items():
            audio = speech_audio(" ".join(_WORDS), fmt, 60.0)
            step = rate * audio_chunk_ms // 1000 * BYTES_PER_SAMPLE[fmt]
            chunks = [audio[i : i + step] for i in range(0, len(audio) - step + 1, step)][:16]
            self.audio_chunks[fmt] = [base64.b64encode(c) for c in chunks]
        self.connections: dict[str, _Conn] = {}
        #: Events sent by sessions that have disconnected, by session id.
        self.finished_counts: dict[str, int] = {}
        self.connected_total = 0
        self.sent = 0
        self.received = 0
        self.responses_done = 0
        self._wheel: dict[int, list[_Response]] = {}
        self._next_tick = 0
        self._lateness: list[float] = []
        self._loop_lateness: list[float] = []
        self._server: Optional[asyncio.AbstractServer] = None
        self._ticker: Optional[asyncio.Task[None]] = None
        self._id_counter = itertools.count(1)
        self._id_salt = os.urandom(4).hex()
        self._t0 = 0.0

    def _new_id(self, prefix: str) -> str:
        """A fresh id: ``prefix`` + 21 characters (a salt and a counter; unique per server)."""
        return f"{prefix}{self._id_salt}{next(self._id_counter):013d}"

    @property
    def url(self) -> str:
        """``ws://host:port/v1/realtime`` (``wss://`` with ``ssl``; once started)."""
        if self.port is None:
            raise RuntimeError("The load server is not started; await start() first.")
        scheme = "wss" if self.ssl is not None else "ws"
        return f"{scheme}://{self.host}:{self.port}/v1/realtime"

    async def start(self) -> LoadServer:
        """Start listening and the ticker; returns ``self``."""
        if self._server is not None:
            return self
        self._server = await ws_create_server(
            lambda request: _Conn(self),
            self.host,
            self._requested_port,
            backlog=4096,
            enable_auto_pong=True,
            websocket_handshake_timeout=30,
            ssl=self.ssl,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._t0 = time.monotonic()
        self._ticker = asyncio.get_running_loop().create_task(self._run_ticker())
        return self

    async def stop(self) -> None:
        """Stop the ticker, disconnect every client and stop listening."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        for conn in list(self.connections.values()):
            if conn.transport is not None:
                conn.transport.disconnect()
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def __aenter__(self) -> LoadServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- pacing -------------------------------------------------------------------------

    def _slot(self, due: float) -> int:
        return max(self._next_tick, int((due - self._t0) / self.tick) + 1)

    def _schedule(self, response: _Response) -> None:
        self._wheel.setdefault(self._slot(response.due), []).append(response)

    async def _run_ticker(self) -> None:
        tick = self.tick
        wheel = self._wheel
        monotonic = time.monotonic
        while True:
            target = self._t0 + self._next_tick * tick
            delay = target - monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now = monotonic()
            self._loop_lateness.append(now - target)
            due_slot = int((now - self._t0) / tick)
            while self._next_tick <= due_slot:
                slot = self._next_tick
                batch = wheel.pop(slot, None)
                self._next_tick += 1
                if not batch:
                    continue
                late = now - (self._t0 + slot * tick)  # how late this slot's sends leave
                lateness = self._lateness
                interval = self.interval
                for response in batch:
                    conn = response.conn
                    if conn.response is not response:
                        continue  # the connection closed
                    lateness.append(late)
                    # Several deltas per tick when they are due faster than the tick (speed > 1).
                    while conn.stream(response, now):
                        response.due += interval
                        if response.due > now:
                            wheel.setdefault(self._slot(response.due), []).append(response)
                            break

    # -- reporting ----------------------------------------------------------------------

    def stats(self, *, per_session: bool = False, reset_window: bool = True) -> dict[str, Any]:
        """Counters and the send lag of the ticker since the previous call.

        ``send_lag_p99_ms`` / ``send_lag_max_ms``: how late deltas left
        compared to their due time; ``loop_lag_max_ms``: how late the ticker
        woke up.  ``cpu_s``: CPU seconds used by this process so far.  With
        ``per_session``, ``sent_by_session`` maps each session id (live or
        closed) to the number of events sent on it.
        """
        lateness = sorted(self._lateness)
        loop_lateness = self._loop_lateness
        result: dict[str, Any] = {
            "time": time.time(),
            "cpu_s": time.process_time(),
            "connections": len(self.connections),
            "connected_total": self.connected_total,
            "sent": self.sent,
            "received": self.received,
            "responses_done": self.responses_done,
            "active_responses": sum(1 for c in self.connections.values() if c.response is not None),
            "send_lag_p99_ms": 1000 * lateness[int(0.99 * (len(lateness) - 1))] if lateness else 0.0,
            "send_lag_max_ms": 1000 * lateness[-1] if lateness else 0.0,
            "loop_lag_max_ms": 1000 * max(loop_lateness) if loop_lateness else 0.0,
            "deltas_paced": len(lateness),
        }
        if reset_window:
            self._lateness = []
            self._loop_lateness = []
        if per_session:
            counts = dict(self.finished_counts)
            counts.update({sid: conn.sent for sid, conn in self.connections.items()})
            result["sent_by_session"] = counts
        return result


# --------------------------------------------------------------------------- process


def pin_to_cpu(cpu: Optional[int]) -> Optional[list[int]]:
    """Pin this process to CPU ``cpu``; returns the CPUs it may run on, or None (``cpu`` None, or pinning unavailable)."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    try:
        os.sched_setaffinity(0, {cpu})
    except (OSError, ValueError):
        return None
    return sorted(os.sched_getaffinity(0))


def _main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realtime_fast.mock.load", description="Run the load-test server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    parser.add_argument("--loop", choices=("asyncio", "uvloop", "auto"), default="auto")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--response-seconds", type=float, default=3.0)
    parser.add_argument("--audio-chunk-ms", type=int, default=100)
    parser.add_argument("--certfile", default=None, help="PEM certificate: serve wss:// (with --keyfile)")
    parser.add_argument("--keyfile", default=None, help="PEM private key of --certfile")
    args = parser.parse_args(argv)
    pinned = pin_to_cpu(args.cpu)
    from ..transport.loops import new_event_loop

    context = None
    if args.certfile is not None:
        context = _ssl.SSLContext(_ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
    loop = new_event_loop(args.loop)
    asyncio.set_event_loop(loop)
    server = LoadServer(
        args.host,
        args.port,
        speed=args.speed,
        response_seconds=args.response_seconds,
        audio_chunk_ms=args.audio_chunk_ms,
        ssl=context,
    )
    loop.run_until_complete(server.start())
    stop = asyncio.Event()
    print(f"realtime-fast load server listening on {server.url} (pinned to {pinned}, loop {type(loop).__module__})", flush=True)

    def answer(line: str) -> None:
        command = line.strip()
        if command in ("stats", "final"):
            result = server.stats(per_session=command == "final")
            sys.stdout.write(json.dumps(result) + "\n")
            sys.stdout.flush()
        elif command == "quit":
            stop.set()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(answer, line)
            if line.strip() == "quit":
                return
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=read_stdin, daemon=True).start()
    try:
        loop.run_until_complete(stop.wait())
    except KeyboardInterrupt:
        pass
    finally:
        loop.run_until_complete(server.stop())
        loop.close()
    return 0


_URL = re.compile(r"wss?://\S+")


class LoadServerProcess:
    """The load server in a child process: :attr:`url`, :meth:`stats`, :meth:`stop` (also a context manager)."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.url: Optional[str] = None
        self.process: Optional[subprocess.Popen[str]] = None
        self._lock = threading.Lock()

    def start(self, timeout: float = 20.0) -> LoadServerProcess:
        """Launch the child and wait for its URL line."""
        env = dict(os.environ)
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "realtime_fast.mock.load", *self.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self._readline(timeout)
        match = _URL.search(line)
        if match is None:
            self.stop()
            raise RuntimeError(f"The load server process did not report its URL (first line: {line!r}).")
        self.url = match.group()
        self.banner = line.strip()
        return self

    def _readline(self, timeout: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        return result[0] if result else ""

    def stats(self, per_session: bool = False, timeout: float = 10.0) -> dict[str, Any]:
        """Ask the child for :meth:`LoadServer.stats` (blocking; call it from a thread inside a loop)."""
        with self._lock:
            if self.process is None or self.process.stdin is None:
                raise RuntimeError("The load server process is not running.")
            self.process.stdin.write("final\n" if per_session else "stats\n")
            self.process.stdin.flush()
            line = self._readline(timeout)
        if not line:
            raise RuntimeError("The load server process did not answer a stats request.")
        return json.loads(line)

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """Ask the child to quit, wait, kill if needed; returns its exit code."""
        proc, self.process = self.process, None
        if proc is None:
            return None
        try:
            if proc.poll() is None and proc.stdin is not None:
                proc.stdin.write("quit\n")
                proc.stdin.flush()
            proc.wait(timeout)
        except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
            proc.kill()
            proc.wait(timeout)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        return proc.returncode

    def __enter__(self) -> LoadServerProcess:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_load_server(
    *,
    cpu: Optional[int] = None,
    loop: str = "auto",
    speed: float = 1.0,
    response_seconds: float = 3.0,
    certfile: Optional[str] = None,
    keyfile: Optional[str] = None,
) -> LoadServerProcess:
    """Start :class:`LoadServer` in a child process (pinned to ``cpu`` when given); returns the running handle.

    With ``certfile`` (PEM, and ``keyfile`` unless the key is in it) it serves ``wss://``.
    """
    args = ["--loop", loop, "--speed", str(speed), "--response-seconds", str(response_seconds)]
    if cpu is not None:
        args += ["--cpu", str(cpu)]
    if certfile is not None:
        args += ["--certfile", certfile] + (["--keyfile", keyfile] if keyfile is not None else [])
    return LoadServerProcess(args).start()


if __name__ == "__main__":
    sys.exit(_main())
