"""What one large server message costs the client, and how large the largest real one is.

Two measurements behind the defaults of ``max_message_size`` and the memory
figures of docs/protocol.md ("Limits"):

``sizes``   the size of ``conversation.item.retrieved`` for a user item with
            1, 3, 4 and 5 minutes of 24 kHz PCM16 audio, from the mock server;
``memory``  the memory a 30 MB message costs the client on each transport
            (tracemalloc peak and RSS), with the sender in a child process so
            that only the client's allocations are counted.

Usage::

    python bench/large_message_memory.py sizes
    python bench/large_message_memory.py memory [--mb 30]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np

from realtime_fast import RealtimeClient
from realtime_fast.audio import b64encode_pcm16
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.transport import available_transports

MIB = 1024 * 1024

#: The sender: a websockets server that sends one large frame when the client asks ("send.it").
SENDER = textwrap.dedent(
    """
    import asyncio, base64, sys, orjson
    from websockets.asyncio.server import serve
    kind, size = sys.argv[1], int(float(sys.argv[2]) * 1_000_000)
    if kind == "text":
        frame = orjson.dumps({"type": "response.done", "event_id": "e1", "response": {"id": "r", "text": "a" * size}})
    else:
        pcm = bytes(size * 3 // 4 // 2 * 2)
        item = {"id": "item_1", "object": "realtime.item", "type": "message", "role": "user", "status": "completed",
                "content": [{"type": "input_audio", "audio": base64.b64encode(pcm).decode(), "transcript": "hi"}]}
        frame = orjson.dumps({"type": "conversation.item.retrieved", "event_id": "e1", "item": item})
    async def handler(ws):
        await ws.send(orjson.dumps({"type": "session.created", "event_id": "e0", "session": {}}), text=True)
        while b"send.it" not in (await ws.recv()).encode():
            pass
        await ws.send(frame, text=True)
        await ws.wait_closed()
    async def main():
        async with serve(handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
            print(server.sockets[0].getsockname()[1], len(frame), flush=True)
            await asyncio.sleep(120)
    asyncio.run(main())
    """
)


async def sizes() -> None:
    async with MockRealtimeServer(profile="fast", max_message_size=64 * MIB) as mock:
        client = RealtimeClient(mock.url, "sk-bench-0123456789abcdef", max_message_size=64 * MIB, transport="websockets")
        await client.connect()
        await client.wait_for_session_created()
        for minutes in (1, 3, 4, 5):
            samples = (np.random.default_rng(minutes).standard_normal(24000 * 60 * minutes) * 3000).astype("<i2")
            content = [{"type": "input_audio", "audio": b64encode_pcm16(samples)}]
            client.realtime.send("conversation.item.create", {"item": {"type": "message", "role": "user", "content": content}})
            done = await mock.wait_for_frame("conversation.item.done", timeout=60)
            mock.clear_frames()
            client.realtime.send("conversation.item.retrieve", {"item_id": done.data["item"]["id"]})
            frame = await mock.wait_for_frame("conversation.item.retrieved", timeout=60)
            print(f"{minutes} min of audio: conversation.item.retrieved is {len(frame.raw):,} bytes ({len(frame.raw) / MIB:.2f} MiB)")
            mock.clear_frames()
        await client.disconnect()


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def memory_of(transport: str, kind: str, mb: float) -> None:
    sender = subprocess.Popen([sys.executable, "-c", SENDER, kind, str(mb)], stdout=subprocess.PIPE, text=True)
    try:
        assert sender.stdout is not None
        port, size = map(int, sender.stdout.readline().split())
        client = RealtimeClient(f"ws://127.0.0.1:{port}/v1/realtime", "sk-bench-0123456789abcdef", transport=transport,
                                max_message_size=64 * MIB)
        arrived = asyncio.Event()
        client.realtime.on("server.*", lambda e: e["type"] != "session.created" and arrived.set())
        await client.connect()
        await client.wait_for_session_created()
        gc.collect()
        rss_before = _rss()
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        client.realtime.send("send.it")
        await asyncio.wait_for(arrived.wait(), 60)
        after, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = _rss() - rss_before
        print(
            f"{transport:10s} {kind:9s} {size / 1e6:5.1f} MB: peak +{(peak - before) / size:.2f}x, "
            f"kept +{(after - before) / size:.2f}x (tracemalloc), RSS +{rss / size:.2f}x"
        )
        await client.disconnect()
    finally:
        sender.kill()
        sender.wait()


async def memory(mb: float) -> None:
    for transport in available_transports():
        for kind in ("text", "retrieved"):
            await memory_of(transport, kind, mb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["sizes", "memory"])
    parser.add_argument("--mb", type=float, default=30.0, help="size of the large message, MB (memory)")
    args = parser.parse_args()
    asyncio.run(sizes() if args.what == "sizes" else memory(args.mb))


if __name__ == "__main__":
    main()
