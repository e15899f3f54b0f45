"""``realtime-fast bench load``: N concurrent real-time voice sessions on one client core.

Method (what one run does):

1. Pin this process to one CPU (``os.sched_setaffinity``, where available) and
   start :class:`~realtime_fast.mock.load.LoadServer` in a child process pinned
   to another one.
2. Open ``--sessions`` sessions at ``--connect-rate`` per second (a steady
   ramp, not a storm).  Each is a :class:`~realtime_fast.RealtimeClient` with
   server VAD, ``raw_audio_deltas=False`` and two handlers: the application's
   ``conversation.updated`` handler (counts the decoded audio and transcript it
   is given) and a raw ``server.*`` handler that counts every event and takes
   its lag: the time the handler ran minus the server's send time carried in
   the event (``mock_sent_at_us``).  The raw handler runs after the
   ``conversation.updated`` dispatch of the same event, so the lag includes it.
3. One ticker task appends 20 ms of PCM16 to *every* session per 20 ms tick
   with ``client.append_input_audio`` (real time; a late tick sends the chunks
   it owes, so each session's audio clock stays real time).  Each session
   speaks for ``SPEECH_S`` seconds then is silent for the rest of a
   ``CYCLE_S`` cycle; session *i* starts its cycle ``i/N`` of a cycle later,
   so turns are spread evenly.  The server's VAD ends each turn after 200 ms
   of silence and answers with a ``RESPONSE_S``-second response: audio deltas
   of 100 ms plus a transcript delta every second audio delta, at real-time pace.
4. Once every session is connected and one more turn cycle has passed (warm-up), measure for ``--duration`` seconds:
   event lag p50/p99/max, events handled, client CPU (``time.process_time``),
   the server's CPU and its own send lag (how late its ticker sent due
   deltas).  Then stop the audio, wait until every response has finished,
   and compare, session by session, the events the server sent with the
   events the client handled (``lost_events``, must be 0).

``--send-only`` appends silence only, so the server's VAD never starts a
turn and nothing but ``session.created``/``session.updated`` comes back: the
run measures the send path alone (client CPU per session-second of appending
in real time).  ``--append-ms`` changes the audio per append (default 20 ms;
fewer, larger frames for the same audio).

Other clients, for comparison (``--client``): ``picows-bare`` is the thinnest
client of this workload (a picows listener, orjson, the compiled base64 and
``dumps_append_audio``; no conversation, no handler layer): the transport's
own ceiling.  ``websockets-plain`` is a
minimal client written for this comparison (the ``websockets`` library, stdlib
``json`` and ``base64``, a dict of items updated per event, one handler call);
``openai`` is the official ``openai`` package's realtime client
(``AsyncOpenAI().realtime.connect()``) pointed at the load server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import platform
import sys
import time
from array import array
from typing import Any, Callable, Dict, List, Optional

__all__ = ["LoadConfig", "run_load", "SPEECH_S", "CYCLE_S", "RESPONSE_S"]

RATE = 24000
CHUNK_MS = 20
CHUNK_SAMPLES = RATE * CHUNK_MS // 1000
#: Seconds of speech at the start of each session cycle.
SPEECH_S = 1.5
#: Seconds of one turn cycle (speech, then silence while the answer plays).
CYCLE_S = 6.0
#: Seconds of audio in each answer of the load server.
RESPONSE_S = 3.0
TS_FIELD = "mock_sent_at_us"
API_KEY = "sk-load-test-0123456789abcdef"
CLIENTS = ("realtime_fast", "picows-bare", "websockets-plain", "openai")


def _speech_chunks(chunk_ms: int = CHUNK_MS) -> List[bytes]:
    """One second of a voiced test signal (220 Hz with two harmonics, peak about -12 dBFS) as ``chunk_ms`` PCM16 chunks."""
    import numpy as np

    t = np.arange(RATE) / RATE
    signal = 0.16 * np.sin(2 * np.pi * 220 * t) + 0.06 * np.sin(2 * np.pi * 440 * t) + 0.03 * np.sin(2 * np.pi * 660 * t)
    pcm = (signal * 32767).astype("<i2").tobytes()
    step = RATE * chunk_ms // 1000 * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


SPEECH = _speech_chunks()
SILENCE = bytes(CHUNK_SAMPLES * 2)


def rss_mb() -> Dict[str, float]:
    """Resident memory of this process, MB: ``{"rss": current, "peak": high-water mark}`` (Linux /proc; else peak only)."""
    out = {"rss": float("nan"), "peak": float("nan")}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss"] = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    out["peak"] = int(line.split()[1]) / 1024
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak"] = peak / (1024 * 1024 if sys.platform == "darwin" else 1024)
        out["rss"] = out["peak"]
    return out


def percentile(sorted_values: Any, q: float) -> float:
    """The ``q``-quantile (0..1, nearest rank) of an ascending sequence; NaN when empty."""
    n = len(sorted_values)
    if not n:
        return float("nan")
    return float(sorted_values[min(n - 1, max(0, math.ceil(q * n) - 1))])


class LagRecorder:
    """Event counts and lags (microseconds) of all sessions, by one-second window."""

    def __init__(self) -> None:
        self.window: List[int] = []
        self.measured = array("q")
        self.measuring = False
        self.events = 0
        self.events_measured = 0

    def take_window(self) -> List[int]:
        window, self.window = self.window, []
        if self.measuring:
            self.measured.extend(window)
            self.events_measured += len(window)
        return window


# --------------------------------------------------------------------------- sessions


class RealtimeFastSession:
    """One session of this package's :class:`~realtime_fast.RealtimeClient` (the client under test)."""

    sync_append = True

    def __init__(self, url: str, transport: str, recorder: LagRecorder, history: Optional[int]) -> None:
        from realtime_fast import RealtimeClient

        self.recorder = recorder
        self.received = 0
        self.audio_bytes = 0
        self.transcript_chars = 0
        self.sid: Optional[str] = None
        client = RealtimeClient(
            url,
            api_key=API_KEY,
            transport=transport,
            raw_audio_deltas=False,
            max_history_items=history,
            connect_timeout=60.0,
        )
        client.update_session(turn_detection={"type": "server_vad"}, modalities=["audio"])
        client.on("conversation.updated", self._on_updated)
        client.realtime.on("server.*", self._on_event)
        client.realtime.on("server.session.created", self._on_created)
        self.client = client

    def _on_updated(self, event: Dict[str, Any]) -> None:
        # What an application does with each update: take the new audio and text.
        delta = event["delta"]
        if delta:
            audio = delta.get("audio")
            if audio is not None:
                self.audio_bytes += len(audio)
            text = delta.get("transcript")
            if text is not None:
                self.transcript_chars += len(text)

    def _on_event(self, event: Dict[str, Any]) -> None:
        now = time.time_ns() // 1000
        self.received += 1
        sent = event.get(TS_FIELD)
        if sent is not None:
            self.recorder.window.append(now - sent)

    def _on_created(self, event: Dict[str, Any]) -> None:
        self.sid = event["session"]["id"]

    async def connect(self) -> None:
        await self.client.connect()

    def append(self, pcm: bytes) -> None:
        self.client.append_input_audio(pcm)

    @property
    def is_open(self) -> bool:
        return self.client.is_connected()

    async def close(self) -> None:
        await self.client.disconnect()


class PlainWebsocketsSession:
    """A minimal client written for the comparison: ``websockets`` + stdlib ``json``/``base64`` + dict updates."""

    sync_append = False

    def __init__(self, url: str, transport: str, recorder: LagRecorder, history: Optional[int]) -> None:
        self.url = url + "?model=gpt-realtime"
        self.recorder = recorder
        self.received = 0
        self.sid: Optional[str] = None
        self.items: Dict[str, Dict[str, Any]] = {}
        self.audio_bytes = 0
        self.ws: Any = None
        self.reader: Optional[asyncio.Task[None]] = None
        self._n = 0

    async def connect(self) -> None:
        import websockets

        self.ws = await websockets.connect(
            self.url,
            additional_headers={"Authorization": f"Bearer {API_KEY}"},
            max_size=None,
            compression=None,
            open_timeout=60,
        )
        await self.ws.send(
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "output_modalities": ["audio"],
                        "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
                    },
                }
            )
        )
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        import websockets

        try:
            async for message in self.ws:
                self._on_event(json.loads(message))
        except websockets.ConnectionClosed:
            pass

    def _on_event(self, event: Dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "response.output_audio.delta":
            item = self.items.get(event["item_id"])
            if item is not None:
                pcm = base64.b64decode(event["delta"])
                item["audio"] += pcm
                self.audio_bytes += len(pcm)
        elif kind == "response.output_audio_transcript.delta":
            item = self.items.get(event["item_id"])
            if item is not None:
                item["transcript"] += event["delta"]
        elif kind in ("conversation.item.added", "conversation.item.done"):
            raw = event["item"]
            item = self.items.setdefault(raw["id"], {"audio": bytearray(), "transcript": ""})
            item["status"] = raw.get("status")
            if len(self.items) > 50:
                self.items.pop(next(iter(self.items)))
        elif kind == "session.created":
            self.sid = event["session"]["id"]
        self._handler(event)

    def _handler(self, event: Dict[str, Any]) -> None:
        now = time.time_ns() // 1000
        self.received += 1
        sent = event.get(TS_FIELD)
        if sent is not None:
            self.recorder.window.append(now - sent)

    async def append(self, pcm: bytes) -> None:
        self._n += 1
        await self.ws.send(
            json.dumps(
                {"event_id": f"evt_{id(self):x}{self._n}", "type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode("ascii")}
            )
        )

    @property
    def is_open(self) -> bool:
        from websockets.protocol import State

        return self.ws is not None and self.ws.state is State.OPEN

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


class PicowsBareSession:
    """The thinnest client of this workload: the transport's own ceiling (``--client picows-bare``).

    A picows ``WSListener`` per session; ``orjson`` parses each frame; audio
    deltas are decoded by :func:`realtime_fast.audio.b64decode_pcm16` (compiled
    base64) into one ``bytearray`` per item; appends are built by
    :func:`realtime_fast.events.dumps_append_audio` with event ids from a
    counter and written with one ``WSTransport.send`` each.  No conversation,
    no event handler layer, no input-audio copy: what is left is picows, the
    kernel and the few calls any client of this protocol must make.
    """

    sync_append = True

    def __init__(self, url: str, transport: str, recorder: LagRecorder, history: Optional[int]) -> None:
        import itertools

        import orjson
        from picows import WSListener, WSMsgType

        from realtime_fast.audio import b64decode_pcm16
        from realtime_fast.events import dumps_append_audio

        self.url = url + "?model=gpt-realtime"
        self.recorder = recorder
        self.received = 0
        self.audio_bytes = 0
        self.transcript_chars = 0
        self.sid: Optional[str] = None
        self.items: Dict[str, bytearray] = {}
        self.ws: Any = None
        self._dumps_append = dumps_append_audio
        ids = itertools.count(1)
        prefix = f"evt_{id(self):x}_"
        self._next_id = lambda: prefix + str(next(ids))
        session = self
        text, close = WSMsgType.TEXT, WSMsgType.CLOSE
        loads = orjson.loads
        window_of = recorder  # the recorder's window list is swapped each second: look it up per event
        time_ns = time.time_ns
        items = self.items

        class Listener(WSListener):  # one per session
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                kind = frame.msg_type
                if kind == text:
                    event = loads(frame.get_payload_as_memoryview())
                    etype = event["type"]
                    if etype == "response.output_audio.delta":
                        buf = items.get(event["item_id"])
                        if buf is not None:
                            pcm = b64decode_pcm16(event["delta"])
                            buf += pcm
                            session.audio_bytes += len(pcm)
                    elif etype == "response.output_audio_transcript.delta":
                        session.transcript_chars += len(event["delta"])
                    elif etype == "conversation.item.added":
                        items[event["item"]["id"]] = bytearray()
                        if len(items) > 20:
                            del items[next(iter(items))]
                    elif etype == "session.created":
                        session.sid = event["session"]["id"]
                    session.received += 1
                    sent = event.get(TS_FIELD)
                    if sent is not None:
                        window_of.window.append(time_ns() // 1000 - sent)
                elif kind == close:
                    transport.send_close(frame.get_close_code(), frame.get_close_message())
                    transport.disconnect()

        self._listener = Listener

    async def connect(self) -> None:
        import orjson
        from picows import WSMsgType, ws_connect

        self.ws, _ = await ws_connect(
            self._listener,
            self.url,
            extra_headers=[("Authorization", f"Bearer {API_KEY}")],
            websocket_handshake_timeout=60,
            enable_auto_pong=True,
        )
        self._send = self.ws.send
        self._text = WSMsgType.TEXT
        update = {
            "event_id": self._next_id(),
            "type": "session.update",
            "session": {"type": "realtime", "output_modalities": ["audio"], "audio": {"input": {"turn_detection": {"type": "server_vad"}}}},
        }
        self._send(self._text, orjson.dumps(update))

    def append(self, pcm: bytes) -> None:
        self._send(self._text, self._dumps_append(pcm, self._next_id()))

    @property
    def is_open(self) -> bool:
        return self.ws is not None and not self.ws.is_disconnected

    async def close(self) -> None:
        ws = self.ws
        if ws is None or ws.is_disconnected:
            return
        ws.send_close()
        try:
            await asyncio.wait_for(ws.wait_disconnected(), 5.0)
        except asyncio.TimeoutError:
            ws.disconnect()
            await ws.wait_disconnected()


class OpenAISession:
    """The official ``openai`` package's realtime client, pointed at the load server."""

    sync_append = False

    def __init__(self, url: str, transport: str, recorder: LagRecorder, history: Optional[int]) -> None:
        from openai import AsyncOpenAI

        base = url.rsplit("/realtime", 1)[0]  # ws://host:port/v1
        self.openai = AsyncOpenAI(api_key=API_KEY, websocket_base_url=base, base_url=base.replace("ws://", "http://"))
        self.recorder = recorder
        self.received = 0
        self.sid: Optional[str] = None
        self.audio_bytes = 0
        self.items: Dict[str, Dict[str, Any]] = {}
        self.manager: Any = None
        self.conn: Any = None
        self.reader: Optional[asyncio.Task[None]] = None
        self._open = False

    async def connect(self) -> None:
        self.manager = self.openai.realtime.connect(model="gpt-realtime")
        self.conn = await self.manager.__aenter__()
        self._open = True
        await self.conn.session.update(
            session={"type": "realtime", "output_modalities": ["audio"], "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}
        )
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for event in self.conn:
                kind = event.type
                if kind == "response.output_audio.delta":
                    item = self.items.get(event.item_id)
                    if item is not None:
                        pcm = base64.b64decode(event.delta)
                        item["audio"] += pcm
                        self.audio_bytes += len(pcm)
                elif kind == "response.output_audio_transcript.delta":
                    item = self.items.get(event.item_id)
                    if item is not None:
                        item["transcript"] += event.delta
                elif kind in ("conversation.item.added", "conversation.item.done"):
                    self.items.setdefault(event.item.id, {"audio": bytearray(), "transcript": ""})
                    if len(self.items) > 50:
                        self.items.pop(next(iter(self.items)))
                elif kind == "session.created":
                    self.sid = event.session.id
                now = time.time_ns() // 1000
                self.received += 1
                extra = event.model_extra or {}
                sent = extra.get(TS_FIELD)
                if sent is not None:
                    self.recorder.window.append(now - sent)
        except Exception:  # the connection closed (the package raises its own error types)
            pass
        finally:
            self._open = False

    async def append(self, pcm: bytes) -> None:
        await self.conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode("ascii"))

    @property
    def is_open(self) -> bool:
        return self._open

    async def close(self) -> None:
        if self.manager is not None:
            try:
                await self.manager.__aexit__(None, None, None)
            except Exception:
                pass
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)
        await self.openai.close()


SESSION_TYPES: Dict[str, Callable[..., Any]] = {
    "realtime_fast": RealtimeFastSession,
    "websockets-plain": PlainWebsocketsSession,
    "openai": OpenAISession,
    "picows-bare": PicowsBareSession,
}


# --------------------------------------------------------------------------- the run


class LoadConfig:
    """Options of one load run (see ``realtime-fast bench load --help``)."""

    def __init__(
        self,
        sessions: int = 100,
        duration: float = 20.0,
        transport: str = "picows",
        loop: str = "asyncio",
        client: str = "realtime_fast",
        connect_rate: float = 100.0,
        client_cpu: Optional[int] = 0,
        server_cpu: Optional[int] = 1,
        history: Optional[int] = 20,
        quiet: bool = False,
        warmup: float = CYCLE_S,
        send_only: bool = False,
        append_ms: int = CHUNK_MS,
    ) -> None:
        if sessions < 1:
            raise ValueError(f"sessions must be at least 1, got {sessions}.")
        if duration <= 0:
            raise ValueError(f"duration must be a positive number of seconds, got {duration}.")
        if connect_rate <= 0:
            raise ValueError(f"connect_rate must be a positive number of sessions per second, got {connect_rate}.")
        if append_ms not in (10, 20, 40, 50, 100, 200):
            raise ValueError(f"append_ms must be one of 10, 20, 40, 50, 100 or 200 ms, got {append_ms}.")
        if client not in SESSION_TYPES:
            raise ValueError(f"Unknown client {client!r}: use one of {', '.join(CLIENTS)}.")
        self.sessions = sessions
        self.duration = duration
        self.transport = transport
        self.loop = loop
        self.client = client
        self.connect_rate = connect_rate
        self.client_cpu = client_cpu
        self.server_cpu = server_cpu
        self.history = history
        self.quiet = quiet
        self.warmup = warmup
        #: Only silence is appended: the server's VAD never starts a turn, so nothing is received (the send path alone).
        self.send_only = send_only
        #: Milliseconds of audio per append (one append per session every ``append_ms``).
        self.append_ms = append_ms


class _Server:
    """The load server: a child process (default) or, for tests, any running URL with a ``stats`` callable."""

    def __init__(self, config: LoadConfig) -> None:
        from realtime_fast.mock.load import spawn_load_server

        self.proc = spawn_load_server(cpu=config.server_cpu, loop="uvloop" if _has_uvloop() else "asyncio")
        self.url = self.proc.url

    def stats(self, per_session: bool = False) -> Dict[str, Any]:
        return self.proc.stats(per_session=per_session)

    def stop(self) -> None:
        self.proc.stop()


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


async def _run(config: LoadConfig, server: _Server, log: Callable[[str], None]) -> Dict[str, Any]:
    loop = asyncio.get_running_loop()
    recorder = LagRecorder()
    make = SESSION_TYPES[config.client]
    n = config.sessions
    sessions: List[Any] = [make(server.url, config.transport, recorder, config.history) for _ in range(n)]
    live: List[Any] = []  # connected, in the ticker
    phases: List[int] = []
    failures: List[str] = []
    append_ms = config.append_ms
    cycle_ticks = int(CYCLE_S * 1000 / append_ms)
    speech_ticks = 0 if config.send_only else int(SPEECH_S * 1000 / append_ms)
    period = append_ms / 1000.0
    speech = SPEECH if append_ms == CHUNK_MS else _speech_chunks(append_ms)
    silence = bytes(RATE * append_ms // 1000 * 2)
    max_owed = max(1, 100 // append_ms)  # catch up at most 100 ms
    stop_audio = asyncio.Event()
    counters = {"appends": 0, "ticker_late_max": 0.0, "ticks": 0, "tick_busy_max": 0.0}

    async def open_one(index: int) -> None:
        session = sessions[index]
        try:
            await session.connect()
        except Exception as exc:  # counted and reported; the run goes on
            failures.append(f"{type(exc).__name__}: {exc}")
            return
        phases.append(index * cycle_ticks // n)
        live.append(session)

    async def ramp() -> None:
        start = loop.time()
        tasks = []
        for i in range(n):
            delay = start + i / config.connect_rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(loop.create_task(open_one(i)))
        await asyncio.gather(*tasks)

    async def ticker() -> None:
        t0 = loop.time()
        done_ticks = 0
        while not stop_audio.is_set():
            target = t0 + (done_ticks + 1) * period
            delay = target - loop.time()
            # Always yield once per tick: an overloaded client must still receive.
            await asyncio.sleep(delay if delay > 0 else 0)
            now = loop.time()
            if recorder.measuring:
                counters["ticker_late_max"] = max(counters["ticker_late_max"], now - target)
            owed = min(max_owed, int((now - t0) / period) - done_ticks)
            for _ in range(max(1, owed)):
                done_ticks += 1
                for session, phase in zip(live, phases):
                    position = (done_ticks + phase) % cycle_ticks
                    pcm = speech[position % len(speech)] if position < speech_ticks else silence
                    if session.sync_append:
                        try:
                            session.append(pcm)
                        except Exception:
                            continue
                    else:
                        try:
                            await session.append(pcm)
                        except Exception:
                            continue
                    counters["appends"] += 1
            done_ticks = max(done_ticks, int((loop.time() - t0) / period) - max_owed)  # give up what is too late
            counters["ticks"] += 1
            if recorder.measuring:
                counters["tick_busy_max"] = max(counters["tick_busy_max"], loop.time() - now)

    history: List[Dict[str, Any]] = []

    async def progress(phase: Callable[[], str]) -> None:
        last_cpu = time.process_time()
        last_wall = time.monotonic()
        last_server = await loop.run_in_executor(None, server.stats)
        while True:
            await asyncio.sleep(1.0)
            window = recorder.take_window()
            window.sort()
            now_cpu, now_wall = time.process_time(), time.monotonic()
            srv = await loop.run_in_executor(None, server.stats)
            wall = now_wall - last_wall
            line = {
                "t": round(now_wall - started, 1),
                "phase": phase(),
                "connected": len(live),
                "events_per_s": round(len(window) / wall),
                "p50_ms": round(percentile(window, 0.5) / 1000, 2),
                "p99_ms": round(percentile(window, 0.99) / 1000, 2),
                "client_cpu_pct": round(100 * (now_cpu - last_cpu) / wall, 1),
                "server_cpu_pct": round(100 * (srv["cpu_s"] - last_server["cpu_s"]) / (srv["time"] - last_server["time"]), 1),
                "server_send_lag_p99_ms": round(srv["send_lag_p99_ms"], 2),
            }
            history.append(line)
            log(
                f"[{line['t']:6.1f}s {line['phase']:>7}] sessions {line['connected']:5d}/{n}  "
                f"events/s {line['events_per_s']:6d}  lag p50 {line['p50_ms']:6.2f} ms  p99 {line['p99_ms']:7.2f} ms  "
                f"client CPU {line['client_cpu_pct']:5.1f}%  server CPU {line['server_cpu_pct']:5.1f}% "
                f"(send lag p99 {line['server_send_lag_p99_ms']:.2f} ms)"
            )
            last_cpu, last_wall, last_server = now_cpu, now_wall, srv

    started = time.monotonic()
    state = {"phase": "ramp"}
    progress_task = loop.create_task(progress(lambda: state["phase"]))
    ticker_task = loop.create_task(ticker())
    await ramp()
    # Warm up for one turn cycle, so that every session is in its steady turn-taking.
    state["phase"] = "warmup"
    await asyncio.sleep(config.warmup)
    # Measure.
    state["phase"] = "measure"
    recorder.take_window()
    recorder.measuring = True
    server_before = await loop.run_in_executor(None, server.stats)
    getattr(server, "measure_started", lambda: None)()  # a relay benchmark samples the relay's CPU here
    cpu0, wall0 = time.process_time(), time.monotonic()
    times0 = os.times()
    faults0 = _minor_faults()
    history_start = len(history)
    await asyncio.sleep(config.duration)
    cpu1, wall1 = time.process_time(), time.monotonic()
    times1 = os.times()
    faults1 = _minor_faults()
    recorder.take_window()
    recorder.measuring = False
    server_after = await loop.run_in_executor(None, server.stats)
    getattr(server, "measure_ended", lambda: None)()
    memory = rss_mb()
    # Stop the audio, let the responses finish, count.
    state["phase"] = "drain"
    stop_audio.set()
    await ticker_task
    deadline = time.monotonic() + RESPONSE_S + 10
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        srv = await loop.run_in_executor(None, server.stats)
        received = sum(s.received for s in live)
        if srv["active_responses"] == 0 and srv["sent"] - received <= 0:
            break
    await asyncio.sleep(0.3)
    final = await loop.run_in_executor(None, lambda: server.stats(per_session=True))
    progress_task.cancel()
    await asyncio.gather(progress_task, return_exceptions=True)
    sent_by = final["sent_by_session"]
    lost = 0
    unmatched = 0
    for session in live:
        if session.sid is None or session.sid not in sent_by:
            unmatched += 1
            continue
        lost += max(0, sent_by[session.sid] - session.received)
    disconnected = sum(1 for s in live if not s.is_open)
    # Close.
    state["phase"] = "close"
    for start in range(0, len(sessions), 200):
        await asyncio.gather(*(s.close() for s in sessions[start : start + 200]), return_exceptions=True)

    measured = recorder.measured
    lags = sorted(measured)
    duration = wall1 - wall0
    cpu = cpu1 - cpu0
    server_cpu = (server_after["cpu_s"] - server_before["cpu_s"]) / (server_after["time"] - server_before["time"])
    window_lines = history[history_start:]
    p99_lag = percentile(lags, 0.99) / 1000
    result = {
        "sessions": n,
        "connected": len(live),
        "connect_failures": len(failures),
        "connect_failure_examples": failures[:3],
        "client": config.client,
        "transport": config.transport if config.client == "realtime_fast" else ("picows" if config.client == "picows-bare" else "websockets"),
        "loop": config.loop,
        "duration": round(duration, 3),
        "events": recorder.events_measured,
        "events_per_second": round(recorder.events_measured / duration, 1),
        "appends": counters["appends"],
        "send_only": config.send_only,
        "append_ms": append_ms,
        "p50_lag_ms": round(percentile(lags, 0.5) / 1000, 3),
        "p90_lag_ms": round(percentile(lags, 0.9) / 1000, 3),
        "p99_lag_ms": round(p99_lag, 3),
        "max_lag_ms": round((lags[-1] if lags else float("nan")) / 1000, 3),
        "lost_events": lost,
        "sessions_unmatched": unmatched,
        "sessions_disconnected": disconnected,
        "client_cpu_percent": round(100 * cpu / duration, 1),
        "client_cpu_per_session_second": cpu / (duration * max(1, len(live))),
        # User vs kernel (system) time of the client process over the window: the kernel share is
        # mostly the send()/recv() system calls, including loopback TCP delivery run in the sender's context.
        "client_user_cpu_percent": round(100 * (times1.user - times0.user) / duration, 1),
        "client_sys_cpu_percent": round(100 * (times1.system - times0.system) / duration, 1),
        "client_minor_page_faults_per_s": round((faults1 - faults0) / duration),
        "audio_bytes_decoded": sum(getattr(s, "audio_bytes", 0) for s in live),
        "client_ticker_late_max_ms": round(1000 * counters["ticker_late_max"], 2),
        "client_tick_busy_max_ms": round(1000 * counters["tick_busy_max"], 2),
        "rss_mb": round(memory["rss"], 1),
        "rss_peak_mb": round(memory["peak"], 1),
        "server_cpu_percent": round(100 * server_cpu, 1),
        "server_send_lag_p99_ms": round(max((line["server_send_lag_p99_ms"] for line in window_lines), default=float("nan")), 3),
        "server_events_sent": final["sent"],
        "server_responses_done": final["responses_done"],
        "ok": bool(
            (config.send_only or p99_lag < 50) and lost == 0 and not failures and unmatched == 0 and disconnected == 0
        ),
        "progress": window_lines,
    }
    return result


def _minor_faults() -> int:
    """Minor page faults of this process so far (0 where ``resource`` is unavailable)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def run_load(config: LoadConfig, log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Run one load test (see the module docstring) and return its result (the JSON written by the CLI)."""
    from realtime_fast.mock.load import pin_to_cpu
    from realtime_fast.transport.loops import run as run_loop

    if log is None:
        log = (lambda line: None) if config.quiet else (lambda line: print(line, flush=True))
    pinned = pin_to_cpu(config.client_cpu)
    server = _Server(config)
    try:
        log(f"load server: {server.proc.banner}")
        log(
            f"client: {config.client} transport={config.transport} loop={config.loop} pinned to {pinned}; "
            f"{config.sessions} sessions at {config.connect_rate:g}/s, {config.warmup:g} s warm-up, then {config.duration:g} s measured"
        )
        result = run_loop(_run(config, server, log), loop=config.loop)
    finally:
        server.stop()
    result.update(
        {
            "client_cpus": pinned,
            "server_cpu": config.server_cpu,
            "connect_rate": config.connect_rate,
            "warmup": config.warmup,
            "history_items": config.history,
            "python": platform.python_version(),
            "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
            "implementation": _implementation(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "cycle": {"speech_s": 0.0 if config.send_only else SPEECH_S, "cycle_s": CYCLE_S, "response_s": RESPONSE_S, "append_ms": config.append_ms},
        }
    )
    return result


def _implementation() -> str:
    try:
        from realtime_fast.events import COMPILED
    except ImportError:  # pragma: no cover
        return "unknown"
    return "compiled" if COMPILED else "pure"
