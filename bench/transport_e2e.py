"""End-to-end receive cost over loopback: bare WebSocket loops, the transports, and RealtimeClient.

A server in a separate process streams one GA response per round: a preamble
(``response.created``, ``response.output_item.added``, ``conversation.item.added``,
``response.content_part.added``), then ``--pairs`` (default 1500) 100 ms audio
deltas (2,400 samples, 6,400 base64 characters), each followed by a transcript
delta.  Only the receiving process's CPU time (``time.process_time``) is
counted, from the client's request until the last frame has been handled, and
divided by the number of messages.  Every client runs ``--rounds`` times,
interleaved; the table shows the median and min/max in microseconds per
message, messages per second per core (1e6 / median), and the ratio to the
bare picows loop measured in the same run.

Sources (``--source``):
  raw    (default) a minimal sender: the stream is encoded once, before the run,
         and written as it is.  ``--pace-ms 0`` writes it all at once (burst:
         the client reads many frames per wake-up); ``--pace-ms 1`` writes one
         pair per millisecond on an absolute schedule (paced: every pair pays its
         own wake-up and read, as on a real server).
  mock   the package's mock server (``MockRealtimeServer``, ``fast`` profile,
         ``ms_per_char=20`` so that its reply is exactly 150 s = 1,500 100 ms
         audio deltas, with word-group transcript deltas in between), started
         in its own process; each round is a ``response.create``.  With
         ``--pace-ms`` the mock streams audio at that many ms per 100 ms delta.
         Its transcript deltas do not alternate exactly with the audio ones; the
         message count is learnt in the warm-up round.

Clients:
  picows bare               picows WSListener that only counts text frames      (a)
  websockets bare           websockets ``async for message in ws``              (e)
  websockets naive          the same + json.loads + base64.b64decode + bytearray +=   (c)
  <t> transport             realtime_fast transport ``t``, on_message counts
  <t> transport+core        transport ``t`` + the event core (parse_frame into an AudioBuffer)
  RealtimeClient <t>        RealtimeClient on transport ``t`` with a conversation.updated handler  (b, d)
  RealtimeClient picows (pure listener)   the same with picows' frame listener in Python (the A/B of the
                            compiled listener; listed when that is built)

After every round the RealtimeClient and naive clients check that the
assistant item holds exactly pairs x 2,400 samples and the whole transcript.

Run: ``PYTHONPATH=src python bench/transport_e2e.py [--loop asyncio|uvloop|both] [--pace-ms 1] [--source mock]``
(``--json FILE`` also writes the raw numbers; ``--markdown FILE`` prints a saved run as markdown tables).
"""

from __future__ import annotations

import os

# One BLAS thread: numpy (imported by the package) must not leave spinning worker threads
# in the measured process, whose whole CPU time is counted.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import base64
import gc
import hashlib
import json
import multiprocessing
import platform
import statistics
import struct
import time
from typing import Any, Callable

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

SAMPLES_PER_DELTA = 2400  # 100 ms at 24 kHz
ITEM_ID = "item_C9bV2pXrEgwP7s3kJd1Qa"
RESPONSE_ID = "resp_C9bV2pXrEgwP7s3kJd1Qb"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WORDS = ["Hello", " there", ",", " this", " is", " a", " streamed", " transcript", " of", " speech", "."]
#: The key the clients present (the mock refuses a connection without a real-looking one).
API_KEY = "sk-bench-0123456789abcdef"
#: Text frames that start a stream: the raw sender's ("go", "go:<ms>"), the mock's.
RAW_TRIGGER = b"go"
MOCK_TRIGGER = b'{"type":"response.create"}'
#: Minor page faults per message of each client's rounds (filled by measure(); Unix only).
FAULTS: dict[str, list[float]] = {}
#: Messages per stream (and RealtimeClient updates per stream) of the last measure() (learnt for the mock).
STREAM_SHAPE: dict[str, int] = {}


# ------------------------------------------------------------------ the stream


def _frame(payload: bytes, opcode: int = 0x1) -> bytes:
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x80 | opcode, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


def _compact(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def preamble_events() -> list[dict]:
    """What a GA server sends before the first delta of an audio response (the item and its audio part)."""
    item = {"id": ITEM_ID, "object": "realtime.item", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    return [
        {"type": "response.created", "event_id": "event_p0", "response": {
            "object": "realtime.response", "id": RESPONSE_ID, "status": "in_progress", "status_details": None,
            "output": [], "conversation_id": "conv_1", "output_modalities": ["audio"], "usage": None}},
        {"type": "response.output_item.added", "event_id": "event_p1", "response_id": RESPONSE_ID, "output_index": 0, "item": item},
        {"type": "conversation.item.added", "event_id": "event_p2", "previous_item_id": None, "item": item},
        {"type": "response.content_part.added", "event_id": "event_p3", "response_id": RESPONSE_ID, "item_id": ITEM_ID,
         "output_index": 0, "content_index": 0, "part": {"type": "audio", "transcript": ""}},
    ]


PREAMBLE_MESSAGES = len(preamble_events())


def expected_transcript(pairs: int) -> str:
    """The transcript the raw stream of ``pairs`` pairs spells."""
    return "".join(WORDS[i % len(WORDS)] for i in range(pairs))


def build_frames(pairs: int) -> list[bytes]:
    """The raw stream as WebSocket frames (bytes): the preamble, then ``pairs`` audio + transcript pairs."""
    out = [_frame(_compact(event)) for event in preamble_events()]
    for i in range(pairs):
        pcm = (bytes([(i * 7 + j) & 0xFF for j in range(64)]) * (SAMPLES_PER_DELTA * 2 // 64 + 1))[: SAMPLES_PER_DELTA * 2]
        audio = {
            "type": "response.output_audio.delta",
            "event_id": f"event_{i:021d}",
            "response_id": RESPONSE_ID,
            "item_id": ITEM_ID,
            "output_index": 0,
            "content_index": 0,
            "delta": base64.b64encode(pcm).decode(),
        }
        text = {
            "type": "response.output_audio_transcript.delta",
            "event_id": f"event_t{i:020d}",
            "response_id": RESPONSE_ID,
            "item_id": ITEM_ID,
            "output_index": 0,
            "content_index": 0,
            "delta": WORDS[i % len(WORDS)],
            "obfuscation": "aB3dE5",
        }
        out.append(_frame(_compact(audio)) + _frame(_compact(text)))
    return out


def build_stream(pairs: int) -> bytes:
    """The whole raw stream of ``pairs`` pairs (preamble included) as one block of frames."""
    return b"".join(build_frames(pairs))


# ------------------------------------------------------------------ the raw sender (own process)


async def _read_client_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4)
    payload = await reader.readexactly(n)
    key = (mask * (n // 4 + 1))[:n]
    data = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")
    return b0 & 0x0F, data


async def _serve(conn: Any, pairs: int) -> None:
    frames = build_frames(pairs)
    blob = b"".join(frames)
    head, pair_frames = b"".join(frames[:PREAMBLE_MESSAGES]), frames[PREAMBLE_MESSAGES:]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            loop = asyncio.get_running_loop()
            while True:
                opcode, payload = await _read_client_frame(reader)
                if opcode == 0x1 and payload.startswith(RAW_TRIGGER):  # "go" or "go:<ms>"; other text is ignored
                    pace = float(payload[3:]) / 1000 if payload.startswith(b"go:") else 0.0
                    if pace <= 0:
                        writer.write(blob)
                    else:  # one pair per `pace` seconds on an absolute schedule (a late wake-up catches up)
                        writer.write(head)
                        due = loop.time()
                        for pair in pair_frames:
                            writer.write(pair)
                            due += pace
                            delay = due - loop.time()
                            if delay > 0:
                                await asyncio.sleep(delay)
                elif opcode == 0x8:
                    writer.write(_frame(payload[:2], 0x8))
                    break
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    conn.send(server.sockets[0].getsockname()[1])
    async with server:
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop


def _raw_process(conn: Any, pairs: int) -> None:
    asyncio.run(_serve(conn, pairs))


MOCK_MS_PER_CHAR = 20.0


def mock_reply(pairs: int) -> str:
    """A reply whose synthetic speech lasts exactly ``pairs`` x 100 ms at MOCK_MS_PER_CHAR (5 characters per delta)."""
    return ("Hi a " * pairs)[: pairs * 5]


async def _serve_mock(conn: Any, pairs: int, pace_ms: float) -> None:
    from realtime_fast.mock import MockRealtimeServer, Pacing

    pacing = Pacing.fast() if pace_ms <= 0 else Pacing(audio_realtime_factor=pace_ms / 100.0)
    server = MockRealtimeServer(
        profile=pacing, audio_chunk_ms=100, ms_per_char=MOCK_MS_PER_CHAR, rate_limits=None,
        ping_interval=None, compression=False, record=False,
    )
    server.script.greeting = mock_reply(pairs)  # the reply to a response.create with no user text
    async with server:
        conn.send(server.port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)


def _mock_process(conn: Any, pairs: int, pace_ms: float) -> None:
    asyncio.run(_serve_mock(conn, pairs, pace_ms))


class StreamServer:
    """The stream's source in its own process (so its CPU is not counted); use as a context manager.

    ``source="raw"`` is the minimal sender, ``"mock"`` the package's mock server
    (whose ``pace_ms`` is fixed when it starts; the raw sender takes it per round).
    """

    def __init__(self, pairs: int, source: str = "raw", pace_ms: float = 0.0) -> None:
        self.pairs, self.source = pairs, source
        ctx = multiprocessing.get_context("spawn")
        self._conn, theirs = ctx.Pipe()
        if source == "raw":
            self._process = ctx.Process(target=_raw_process, args=(theirs, pairs), daemon=True)
        elif source == "mock":
            self._process = ctx.Process(target=_mock_process, args=(theirs, pairs, pace_ms), daemon=True)
        else:
            raise ValueError(f"Unknown source {source!r}: use 'raw' or 'mock'.")

    def __enter__(self) -> str:
        self._process.start()
        port = self._conn.recv()
        return f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"

    def __exit__(self, *exc: Any) -> None:
        self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._conn.close()


# ------------------------------------------------------------------ the clients
#
# Each client is a session: open() connects once; prepare() readies a round
# (outside the timed region); stream(trigger, expected) sends the trigger and
# returns when the round's `expected` units have been handled (messages, or
# conversation updates for RealtimeClient); check() verifies what was received
# (outside the timed region); close() disconnects.  learn(trigger) runs one
# round to its end (response.done) and returns its count, for sources whose
# length is not known in advance.

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


class _Counting:
    """Shared round bookkeeping: a message counter and the future of the round's end."""

    count = 0
    expected = -1
    done: asyncio.Future | None = None

    def _tick(self) -> None:
        self.count += 1
        if self.count == self.expected:
            self.done.set_result(None)  # type: ignore[union-attr]

    async def prepare(self) -> None:
        self.count, self.expected = 0, -1

    async def _await_round(self, expected: int) -> None:
        self.done = asyncio.get_running_loop().create_future()
        self.expected = expected
        if self.count >= expected:
            self.done.set_result(None)
        await self.done

    def check(self, pairs: int, source: str) -> None:
        pass


class PicowsBare(_Counting):
    """A picows listener that only counts text frames."""

    async def open(self, url: str) -> None:
        import picows

        self._text = picows.WSMsgType.TEXT
        session = self

        class Counter(picows.WSListener):
            def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
                if frame.msg_type == session._text:
                    session._tick()

        self.ws, _ = await picows.ws_connect(Counter, url, max_frame_size=1 << 25, extra_headers=HEADERS)

    async def stream(self, trigger: bytes, expected: int) -> None:
        self.ws.send(self._text, trigger)
        await self._await_round(expected)

    async def close(self) -> None:
        import picows

        self.ws.send_close(picows.WSCloseCode.OK)
        await self.ws.wait_disconnected()


class WebsocketsBare(_Counting):
    """``async for message in ws`` on a websockets connection (str messages), optionally doing the naive decode."""

    def __init__(self, naive: bool = False) -> None:
        self.naive = naive

    async def open(self, url: str) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(url, compression=None, max_size=None, ping_interval=None, additional_headers=HEADERS)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def prepare(self) -> None:
        await super().prepare()
        self.audio = bytearray()
        self.transcript: list[str] = []

    async def _read(self) -> None:
        try:
            if not self.naive:
                async for _ in self.ws:
                    self._tick()
                return
            async for message in self.ws:
                event = json.loads(message)
                kind = event["type"]
                if kind == "response.output_audio.delta":
                    self.audio += base64.b64decode(event["delta"])
                elif kind == "response.output_audio_transcript.delta":
                    self.transcript.append(event["delta"])
                elif kind == "response.done":
                    self.response_done = True
                self._tick()
        except Exception:  # the connection closed
            pass

    async def stream(self, trigger: bytes, expected: int) -> None:
        await self.ws.send(trigger.decode())
        await self._await_round(expected)

    async def learn(self, trigger: bytes) -> int:
        """One round until response.done (naive only); returns its message count."""
        await self.prepare()
        self.response_done = False
        await self.ws.send(trigger.decode())
        while not self.response_done:
            await asyncio.sleep(0.01)
        return self.count

    def check(self, pairs: int, source: str) -> None:
        if self.naive:
            assert len(self.audio) == pairs * SAMPLES_PER_DELTA * 2, (len(self.audio), pairs)
            want = expected_transcript(pairs) if source == "raw" else mock_reply(pairs)
            assert "".join(self.transcript) == want

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


class TransportClient(_Counting):
    """A realtime_fast transport whose on_message counts, or parses with the event core."""

    def __init__(self, name: str, with_core: bool) -> None:
        self.name, self.with_core = name, with_core

    async def open(self, url: str) -> None:
        from realtime_fast.audio import AudioBuffer
        from realtime_fast.events import parse_frame
        from realtime_fast.transport import create_transport

        self._new_buffer = AudioBuffer
        self.buffers = {ITEM_ID: AudioBuffer()}
        self.transcript: list[str] = []
        transcript_type = "response.output_audio_transcript.delta"

        def count_only(data: Any) -> None:
            self._tick()

        def parse(data: Any) -> None:
            event, buffer, _ = parse_frame(data, self.buffers)
            if buffer is None and event["type"] == transcript_type:
                self.transcript.append(event["delta"])
            self._tick()

        self.transport = create_transport(self.name)
        await self.transport.connect(
            url, headers=HEADERS, subprotocols=[], on_message=parse if self.with_core else count_only,
            on_binary=lambda data: None, on_close=lambda code, reason, exc: None, ping_interval=None,
        )

    async def prepare(self) -> None:
        await super().prepare()
        self.buffers[ITEM_ID] = self._new_buffer()
        self.transcript = []

    async def stream(self, trigger: bytes, expected: int) -> None:
        self.transport.send_text(trigger)
        await self._await_round(expected)

    def check(self, pairs: int, source: str) -> None:
        if self.with_core and source == "raw":  # the mock's item ids are its own
            assert len(self.buffers[ITEM_ID]) == pairs * SAMPLES_PER_DELTA
            assert "".join(self.transcript) == expected_transcript(pairs)

    async def close(self) -> None:
        await self.transport.close()


class RealtimeClientSession:
    """RealtimeClient (compiled core when built) with one ``conversation.updated`` handler.

    The handler counts the updates that carry a delta (one per audio or
    transcript delta) and keeps the transcript deltas, as a UI would.
    """

    def __init__(self, transport: str, pure_listener: bool = False) -> None:
        self.transport = transport
        self.pure_listener = pure_listener

    async def open(self, url: str) -> None:
        from realtime_fast import RealtimeClient

        transport: Any = self.transport
        if self.pure_listener:
            # The A/B of the compiled listener: this connection gets the pure one.
            from realtime_fast.transport import _picows_listener_py
            from realtime_fast.transport.picows_transport import PicowsTransport

            transport = type("PurePicows", (PicowsTransport,), {"listener_class": _picows_listener_py.Listener})
        base, _, query = url.partition("?")
        self.client = RealtimeClient(base, api_key=API_KEY, model=query.partition("=")[2], transport=transport, ping_interval=None)
        self.updates = 0
        self.expected = -1
        self.done: asyncio.Future | None = None
        self.transcript: list[str] = []

        def on_updated(event: dict) -> None:
            delta = event["delta"]
            if delta is not None:
                text = delta.get("transcript")
                if text is not None:
                    self.transcript.append(text)
                self.updates += 1
                if self.updates == self.expected:
                    self.done.set_result(None)  # type: ignore[union-attr]

        self.client.on("conversation.updated", on_updated)
        await self.client.connect()

    async def prepare(self) -> None:
        self.client.conversation.clear()  # the next round creates the item afresh
        self.updates, self.expected, self.transcript = 0, -1, []

    async def stream(self, trigger: bytes, expected: int) -> None:
        self.done = asyncio.get_running_loop().create_future()
        self.expected = expected
        self.client.realtime.transport.send_text(trigger)  # type: ignore[union-attr]
        await self.done

    async def learn(self, trigger: bytes) -> int:
        """One round until response.done; returns the number of updates with a delta."""
        await self.prepare()
        done = asyncio.ensure_future(self.client.realtime.wait_for_next("server.response.done"))
        await asyncio.sleep(0)
        self.client.realtime.transport.send_text(trigger)  # type: ignore[union-attr]
        await done
        return self.updates

    def check(self, pairs: int, source: str) -> None:
        items = [i for i in self.client.conversation.get_items() if i.get("role") == "assistant"]
        assert len(items) == 1, len(items)
        formatted = items[0]["formatted"]
        assert len(formatted["audio"]) == pairs * SAMPLES_PER_DELTA, (len(formatted["audio"]), pairs)
        want = expected_transcript(pairs) if source == "raw" else mock_reply(pairs)
        assert formatted["transcript"] == want
        assert "".join(self.transcript) == want

    async def close(self) -> None:
        await self.client.disconnect()


def clients() -> dict[str, Callable[[], Any]]:
    """Client name -> factory of a new session object."""
    from realtime_fast.transport import available_transports

    table: dict[str, Callable[[], Any]] = {}
    try:
        import picows  # noqa: F401  (only probes that picows is installed)

        table["picows bare"] = PicowsBare
    except ImportError:
        pass
    table["websockets bare"] = WebsocketsBare
    table["websockets naive"] = lambda: WebsocketsBare(naive=True)
    for name in available_transports():
        table[f"{name} transport"] = lambda name=name: TransportClient(name, False)
        table[f"{name} transport+core"] = lambda name=name: TransportClient(name, True)
    for name in available_transports():
        table[f"RealtimeClient {name}"] = lambda name=name: RealtimeClientSession(name)
    if "picows" in available_transports():
        from realtime_fast.transport.picows_transport import COMPILED_LISTENER

        if COMPILED_LISTENER:
            table["RealtimeClient picows (pure listener)"] = lambda: RealtimeClientSession("picows", pure_listener=True)
    return table


# ------------------------------------------------------------------ the run


async def measure(
    url: str, pairs: int, rounds: int, pace_ms: float = 0.0, source: str = "raw", only: list[str] | None = None
) -> dict[str, list[float]]:
    """Microseconds of client CPU per message, per client, one value per round (rounds interleaved)."""
    sessions = {name: factory() for name, factory in clients().items() if only is None or name in only}
    for session in sessions.values():
        await session.open(url)
    if source == "raw":
        trigger = f"go:{pace_ms}".encode() if pace_ms > 0 else RAW_TRIGGER
        messages = PREAMBLE_MESSAGES + 2 * pairs
        updates = 2 * pairs
    else:
        await asyncio.sleep(0.2)  # session.created / session.updated of every connection
        trigger = MOCK_TRIGGER
        probe = WebsocketsBare(naive=True)
        await probe.open(url)
        await asyncio.sleep(0.1)
        messages = await probe.learn(trigger)
        probe.check(pairs, source)
        await probe.close()
        updates = -1
    STREAM_SHAPE.update(messages=messages, updates=updates)
    results: dict[str, list[float]] = {name: [] for name in sessions}
    try:
        for name, session in sessions.items():  # warm-up round (learns the mock's update count)
            await session.prepare()
            if isinstance(session, RealtimeClientSession) and updates < 0:
                updates = await session.learn(trigger)
            else:
                await session.stream(trigger, updates if isinstance(session, RealtimeClientSession) else messages)
            session.check(pairs, source)
            await asyncio.sleep(0.05)  # stragglers (response.done) are handled before the next round
        for _ in range(rounds):
            for name, session in sessions.items():
                await session.prepare()
                gc.collect()
                expected = updates if isinstance(session, RealtimeClientSession) else messages
                faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource else 0
                start = time.process_time()
                await session.stream(trigger, expected)
                results[name].append((time.process_time() - start) / messages * 1e6)
                if resource:
                    FAULTS.setdefault(name, []).append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / messages)
                session.check(pairs, source)
                await asyncio.sleep(0.05 if source == "mock" else 0)
    finally:
        for session in sessions.values():
            await session.close()
    return results


def describe_machine() -> str:
    """One line: CPU model, cores, Python, base64 kernel."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        from realtime_fast import _audio

        kernel = _audio._b64_kernel()
    except ImportError:
        kernel = "pure Python (binascii)"
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, base64 kernel {kernel}"


def table(results: dict[str, list[float]], markdown: bool = False) -> list[str]:
    """Rows of the result table (median, min, max us/message, messages/s per core, x picows bare)."""
    base = statistics.median(results["picows bare"]) if "picows bare" in results else None
    if markdown:
        rows = ["| client | us/msg median | min | max | msg/s per core | x picows bare |", "|---|---:|---:|---:|---:|---:|"]
    else:
        rows = [f"{'client':38} {'us/msg median':>14} {'min':>7} {'max':>7} {'msg/s/core':>11} {'x picows bare':>14} {'faults/msg':>10}"]
    for name, values in results.items():
        median = statistics.median(values)
        ratio = f"{median / base:.2f}" if base else "-"
        if markdown:
            rows.append(f"| {name} | {median:.2f} | {min(values):.2f} | {max(values):.2f} | {1e6 / median:,.0f} | {ratio} |")
        else:
            faults = f"{statistics.median(FAULTS[name]):.2f}" if FAULTS.get(name) else "-"
            rows.append(f"{name:38} {median:14.2f} {min(values):7.2f} {max(values):7.2f} {1e6 / median:11,.0f} {ratio:>14} {faults:>10}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1500, help="audio+transcript delta pairs per stream (default 1500)")
    parser.add_argument("--rounds", type=int, default=5, help="runs per client (default 5; the median is shown)")
    parser.add_argument("--loop", choices=["asyncio", "uvloop", "both"], default="both", help="event loop(s) to measure on")
    parser.add_argument("--pace-ms", type=float, default=0.0,
                        help="ms between pairs (raw) or per 100 ms audio delta (mock); default 0: as fast as possible")
    parser.add_argument("--source", choices=["raw", "mock"], default="raw", help="the stream's sender (default raw)")
    parser.add_argument("--clients", default=None, help="comma-separated client names to run (default: all)")
    parser.add_argument("--json", default=None, help="also write the per-round numbers to this file")
    parser.add_argument("--markdown", default=None, metavar="JSON", help="print the tables of an earlier --json file as markdown, and exit")
    args = parser.parse_args()
    if args.markdown:
        with open(args.markdown) as f:
            saved = json.load(f)
        for kind, results in saved["loops"].items():
            print(f"\n{saved['source']} source, {saved['pairs']} pairs, pace {saved['pace_ms']:g} ms, "
                  f"{saved.get('messages_per_stream')} messages per stream, {saved['rounds']} rounds, loop {kind}:\n")
            print("\n".join(table(results, markdown=True)))
        return

    from realtime_fast import events
    from realtime_fast.transport import loops

    kinds = ["asyncio", "uvloop"] if args.loop == "both" else [args.loop]
    kinds = [k for k in kinds if k in loops.available_loops()]
    only = args.clients.split(",") if args.clients else None
    report: dict[str, Any] = {"pairs": args.pairs, "rounds": args.rounds, "pace_ms": args.pace_ms, "source": args.source,
                              "machine": describe_machine(), "core": "compiled" if events.COMPILED else "pure", "loops": {}}
    with StreamServer(args.pairs, args.source, args.pace_ms) as url:
        print(f"source {args.source}, {args.pairs} pairs per stream, {args.rounds} rounds, pace {args.pace_ms:g} ms, "
              f"event core {report['core']}\n{report['machine']}")
        for kind in kinds:
            FAULTS.clear()
            results = loops.run(measure(url, args.pairs, args.rounds, args.pace_ms, args.source, only), loop=kind)
            report["loops"][kind] = results
            report.setdefault("minor_faults_per_message", {})[kind] = {name: list(v) for name, v in FAULTS.items()}
            report["messages_per_stream"] = STREAM_SHAPE.get("messages")
            print(f"\nloop: {kind} ({STREAM_SHAPE.get('messages')} messages per stream)")
            for row in table(results):
                print(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
