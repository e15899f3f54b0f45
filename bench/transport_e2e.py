"""End-to-end receive cost of the WebSocket transports over loopback.

A server in a separate process streams a GA response: ``--pairs`` (default
1500) 100 ms audio deltas (2,400 samples, 6,400 base64 characters), each
followed by a transcript delta, written as fast as the socket takes them.  Only
the receiving process's CPU time (``time.process_time``) is counted, from the
client's "go" message until the last frame has been delivered, and divided by
the number of messages.  Every client runs ``--rounds`` times, interleaved; the
table shows the median (and the minimum) in microseconds per message and the
ratio to the bare picows loop on the same event loop.

Clients:
  picows bare           picows WSListener that only counts frames
  websockets bare       websockets ``async for message in ws`` (str messages)
  websockets naive      the same + json.loads + base64.b64decode + bytearray +=
  <t> transport         realtime_fast transport ``t``, on_message counts
  <t> transport+core    transport ``t`` + the event core: parse_audio_delta into
                        an AudioBuffer, parse_event for the transcript deltas

Run: ``PYTHONPATH=src python bench/transport_e2e.py [--loop asyncio|uvloop|both]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hashlib
import json
import multiprocessing
import os
import statistics
import struct
import time
from typing import Any, Callable

SAMPLES_PER_DELTA = 2400  # 100 ms at 24 kHz
ITEM_ID = "item_C9bV2pXrEgwP7s3kJd1Qa"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ------------------------------------------------------------------ the stream


def _frame(payload: bytes, opcode: int = 0x1) -> bytes:
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x80 | opcode, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


def build_stream(pairs: int) -> bytes:
    """``pairs`` audio deltas, each followed by a transcript delta, as server frames (bytes)."""
    words = ["Hello", " there", ",", " this", " is", " a", " streamed", " transcript", " of", " speech", "."]
    out = bytearray()
    for i in range(pairs):
        pcm = (bytes([(i * 7 + j) & 0xFF for j in range(64)]) * (SAMPLES_PER_DELTA * 2 // 64 + 1))[: SAMPLES_PER_DELTA * 2]
        audio = {
            "type": "response.output_audio.delta",
            "event_id": f"event_{i:021d}",
            "response_id": "resp_C9bV2pXrEgwP7s3kJd1Qb",
            "item_id": ITEM_ID,
            "output_index": 0,
            "content_index": 0,
            "delta": base64.b64encode(pcm).decode(),
        }
        text = {
            "type": "response.output_audio_transcript.delta",
            "event_id": f"event_t{i:020d}",
            "response_id": "resp_C9bV2pXrEgwP7s3kJd1Qb",
            "item_id": ITEM_ID,
            "output_index": 0,
            "content_index": 0,
            "delta": words[i % len(words)],
            "obfuscation": "aB3dE5",
        }
        out += _frame(json.dumps(audio, separators=(",", ":")).encode())
        out += _frame(json.dumps(text, separators=(",", ":")).encode())
    return bytes(out)


# ------------------------------------------------------------------ the server (own process)


async def _read_client_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4)
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(n)))
    return b0 & 0x0F, data


async def _serve(conn: Any, pairs: int) -> None:
    blob = build_stream(pairs)
    frames = []  # the same stream cut into (audio, transcript) pairs, for paced streaming
    pos = 0
    while pos < len(blob):
        start = pos
        for _ in range(2):
            n = blob[pos + 1] & 0x7F
            head = 2 + (2 if n == 126 else 8 if n == 127 else 0)
            n = struct.unpack("!H", blob[pos + 2 : pos + 4])[0] if n == 126 else struct.unpack("!Q", blob[pos + 2 : pos + 10])[0] if n == 127 else n
            pos += head + n
        frames.append(blob[start:pos])

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            while True:
                opcode, payload = await _read_client_frame(reader)
                if opcode == 0x1:  # "go" or "go:<ms>": stream once, at once or one pair per <ms>
                    pace = float(payload[3:]) / 1000 if payload.startswith(b"go:") else 0.0
                    if pace <= 0:
                        writer.write(blob)
                    else:
                        for pair in frames:
                            writer.write(pair)
                            await asyncio.sleep(pace)
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


def _server_process(conn: Any, pairs: int) -> None:
    asyncio.run(_serve(conn, pairs))


class StreamServer:
    """The streaming server in its own process (so its CPU is not counted); use as a context manager."""

    def __init__(self, pairs: int) -> None:
        self.pairs = pairs
        ctx = multiprocessing.get_context("spawn")
        self._conn, theirs = ctx.Pipe()
        self._process = ctx.Process(target=_server_process, args=(theirs, pairs), daemon=True)

    def __enter__(self) -> str:
        self._process.start()
        port = self._conn.recv()
        return f"ws://127.0.0.1:{port}/v1/realtime"

    def __exit__(self, *exc: Any) -> None:
        self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._conn.close()


# ------------------------------------------------------------------ the clients
#
# Each client is a session: open() connects once, stream() asks for one stream
# and returns when its last message has been delivered, close() disconnects.


class PicowsBare:
    """A picows listener that only counts text frames."""

    async def open(self, url: str) -> None:
        import picows

        self._text = picows.WSMsgType.TEXT
        session = self

        class Counter(picows.WSListener):
            def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
                if frame.msg_type == session._text:
                    session.count += 1
                    if session.count == session.expected:
                        session.done.set_result(None)

        self.ws, _ = await picows.ws_connect(Counter, url, max_frame_size=1 << 25)

    async def stream(self, expected: int, go: bytes = b"go") -> None:
        self.count, self.expected = 0, expected
        self.done = asyncio.get_running_loop().create_future()
        self.ws.send(self._text, go)
        await self.done

    async def close(self) -> None:
        import picows

        self.ws.send_close(picows.WSCloseCode.OK)
        await self.ws.wait_disconnected()


class WebsocketsBare:
    """``async for message in ws`` on a websockets connection (messages as str), optionally doing the naive decode."""

    def __init__(self, naive: bool = False) -> None:
        self.naive = naive

    async def open(self, url: str) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(url, compression=None, max_size=None, ping_interval=None)

    async def stream(self, expected: int, go: bytes = b"go") -> None:
        await self.ws.send(go.decode())
        count = 0
        if not self.naive:
            async for _ in self.ws:
                count += 1
                if count == expected:
                    return
        audio = bytearray()
        transcript = []
        async for message in self.ws:
            event = json.loads(message)
            if event["type"] == "response.output_audio.delta":
                audio += base64.b64decode(event["delta"])
            elif event["type"] == "response.output_audio_transcript.delta":
                transcript.append(event["delta"])
            count += 1
            if count == expected:
                break
        assert len(audio) == expected // 2 * SAMPLES_PER_DELTA * 2

    async def close(self) -> None:
        await self.ws.close()


class TransportClient:
    """A realtime_fast transport whose on_message counts, or parses with the event core."""

    def __init__(self, name: str, with_core: bool) -> None:
        self.name, self.with_core = name, with_core

    async def open(self, url: str) -> None:
        from realtime_fast.audio import AudioBuffer
        from realtime_fast.events import parse_audio_delta, parse_event
        from realtime_fast.transport import create_transport

        self._new_buffer = AudioBuffer
        self.buffers = {ITEM_ID: AudioBuffer()}
        self.transcript: list[str] = []

        def count_only(data: Any) -> None:
            self.count += 1
            if self.count == self.expected:
                self.done.set_result(None)

        def parse(data: Any) -> None:
            if parse_audio_delta(data, self.buffers) is None:
                self.transcript.append(parse_event(data)["delta"])
            self.count += 1
            if self.count == self.expected:
                self.done.set_result(None)

        self.transport = create_transport(self.name)
        await self.transport.connect(
            url, headers={}, subprotocols=[], on_message=parse if self.with_core else count_only,
            on_binary=lambda data: None, on_close=lambda code, reason, exc: None, ping_interval=None,
        )

    async def stream(self, expected: int, go: bytes = b"go") -> None:
        self.count, self.expected = 0, expected
        self.buffers[ITEM_ID] = self._new_buffer()
        self.done = asyncio.get_running_loop().create_future()
        self.transport.send_text(go)
        await self.done
        if self.with_core:
            assert len(self.buffers[ITEM_ID]) == expected // 2 * SAMPLES_PER_DELTA

    async def close(self) -> None:
        await self.transport.close()


def clients() -> dict[str, Callable[[], Any]]:
    """Client name -> factory of a new session object."""
    from realtime_fast.transport import available_transports

    table: dict[str, Callable[[], Any]] = {}
    try:
        import picows  # noqa: F401

        table["picows bare"] = PicowsBare
    except ImportError:
        pass
    table["websockets bare"] = WebsocketsBare
    table["websockets naive"] = lambda: WebsocketsBare(naive=True)
    for name in available_transports():
        table[f"{name} transport"] = lambda name=name: TransportClient(name, False)
        table[f"{name} transport+core"] = lambda name=name: TransportClient(name, True)
    return table


# ------------------------------------------------------------------ the run


async def measure(url: str, pairs: int, rounds: int, pace_ms: float = 0.0) -> dict[str, list[float]]:
    """Microseconds of client CPU per message, per client, one value per round (rounds interleaved)."""
    sessions = {name: factory() for name, factory in clients().items()}
    for session in sessions.values():
        await session.open(url)
    expected = 2 * pairs
    go = f"go:{pace_ms}".encode() if pace_ms > 0 else b"go"
    results: dict[str, list[float]] = {name: [] for name in sessions}
    try:
        for session in sessions.values():  # warm-up
            await session.stream(expected, go)
        for _ in range(rounds):
            for name, session in sessions.items():
                gc.collect()
                start = time.process_time()
                await session.stream(expected, go)
                results[name].append((time.process_time() - start) / expected * 1e6)
    finally:
        for session in sessions.values():
            await session.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1500, help="audio+transcript delta pairs per stream (default 1500)")
    parser.add_argument("--rounds", type=int, default=5, help="runs per client (default 5; the median is shown)")
    parser.add_argument("--loop", choices=["asyncio", "uvloop", "both"], default="both", help="event loop(s) to measure on")
    parser.add_argument("--pace-ms", type=float, default=0.0,
                        help="server pause after each pair in ms (default 0: the whole stream at once); "
                             "pacing makes every message cost its own wake-up and read, as on a real network")
    args = parser.parse_args()

    from realtime_fast import events
    from realtime_fast.transport import loops

    kinds = ["asyncio", "uvloop"] if args.loop == "both" else [args.loop]
    kinds = [k for k in kinds if k in loops.available_loops()]
    with StreamServer(args.pairs) as url:
        print(f"{args.pairs} pairs ({2 * args.pairs} messages) per stream, {args.rounds} rounds, "
              f"pace {args.pace_ms:g} ms/pair, event core {'compiled' if events.COMPILED else 'pure'}, {os.cpu_count()} CPUs")
        for kind in kinds:
            results = loops.run(measure(url, args.pairs, args.rounds, args.pace_ms), loop=kind)
            base = statistics.median(results["picows bare"]) if "picows bare" in results else None
            print(f"\nloop: {kind}")
            print(f"{'client':26} {'us/msg (median)':>16} {'min':>8} {'x picows bare':>14}")
            for name, values in results.items():
                median = statistics.median(values)
                ratio = f"{median / base:.2f}" if base else "-"
                print(f"{name:26} {median:16.2f} {min(values):8.2f} {ratio:>14}")


if __name__ == "__main__":
    main()
