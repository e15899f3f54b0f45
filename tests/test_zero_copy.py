"""Zero copy on the picows path: an audio delta is decoded from the transport's receive buffer.

The compiled picows listener hands each text frame to the compiled
FrameReceiver as a pointer into picows' buffer, and the base64 ``delta`` is
decoded from there straight onto the item's AudioBuffer: no ``bytes`` or
``str`` of the frame or of its base64 text is made.  tracemalloc sees every
allocation of the Python allocators (``bytes``, ``str`` and AudioBuffer
storage alike), so the peak traced while a large delta is received says
whether a copy was made.  The websockets transport, which delivers ``bytes``,
is measured the same way to show that a copy is seen when there is one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import queue
import socket
import struct
import threading
import tracemalloc
from typing import Any, List

import pytest

from realtime_fast.audio import AudioBuffer
from realtime_fast.events import FrameReceiver
from realtime_fast.transport import available_transports, create_transport

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ITEM = "item_zero_copy_0000000001"
SAMPLES = 400_000  # 800 KB of PCM, 1.07 MB of base64 text


def _compiled_listener() -> None:
    if os.environ.get("REALTIME_FAST_NO_EXTENSIONS") == "1" or "picows" not in available_transports():
        pytest.skip("the compiled picows listener is not in use")
    from realtime_fast.transport.picows_transport import COMPILED_LISTENER

    if not COMPILED_LISTENER:
        if os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") == "1":
            pytest.fail("the compiled picows listener did not load")
        pytest.skip("the compiled picows listener is not built")


def _text_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 127, n)
    return head + payload


def _audio_frame(samples: int, event_id: str) -> bytes:
    pcm = (bytes(range(256)) * (2 * samples // 256 + 1))[: 2 * samples]
    event = {"type": "response.output_audio.delta", "event_id": event_id, "response_id": "resp_1",
             "item_id": ITEM, "output_index": 0, "content_index": 0, "delta": base64.b64encode(pcm).decode()}
    return json.dumps(event, separators=(",", ":")).encode()


class _Server(threading.Thread):
    """A WebSocket server thread that sends frame i when the test puts i on ``go`` (None ends it).

    Blocking sockets and pre-built frames: ``sendall`` writes from the frame's
    own memory, so the server allocates nothing while the client is measured.
    """

    def __init__(self, frames: List[bytes]) -> None:
        super().__init__(daemon=True)
        self.wire = [_text_frame(f) for f in frames]
        self.go: "queue.Queue[Any]" = queue.Queue()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]

    def run(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key"))
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            while (index := self.go.get()) is not None:
                conn.sendall(self.wire[index])
        self.listener.close()


async def _peak_while_receiving(transport_name: str) -> tuple[int, int, AudioBuffer]:
    """(bytes traced at peak while the second delta is received, its frame size, the item's buffer)."""
    frames = [_audio_frame(SAMPLES, "event_1"), _audio_frame(SAMPLES, "event_2")]
    server = _Server(frames)
    server.start()
    buffer = AudioBuffer()
    received: List[Any] = []
    errors: List[Any] = []
    arrived = asyncio.Event()

    def on_audio(event: Any, buf: Any, start: int) -> None:
        received.append((event["event_id"], len(buf) - start))
        arrived.set()

    receiver = FrameReceiver({ITEM: buffer}, lambda event: errors.append(event), on_audio, lambda *a: errors.append(a))
    transport = create_transport(transport_name)
    await transport.connect(f"ws://127.0.0.1:{server.port}/", headers={}, subprotocols=(), on_message=receiver,
                            on_binary=lambda data: errors.append(bytes(data)), on_close=lambda *a: None, ping_interval=None)
    try:
        # The first delta grows the transport's receive buffer and the AudioBuffer to size.
        server.go.put(0)
        await asyncio.wait_for(arrived.wait(), 10)
        arrived.clear()
        buffer.truncate(0)  # keeps its storage: the second delta needs no new AudioBuffer memory
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            server.go.put(1)
            await asyncio.wait_for(arrived.wait(), 10)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    finally:
        server.go.put(None)  # the server hangs up; close() then need not wait for its answer
        server.join(10)
        await transport.close()
    assert errors == []
    assert received == [("event_1", SAMPLES), ("event_2", SAMPLES)]
    return peak, len(frames[1]), buffer


async def test_the_compiled_picows_path_decodes_audio_without_copying_the_frame() -> None:
    _compiled_listener()
    peak, size, buffer = await _peak_while_receiving("picows")
    assert buffer.to_bytes()[:6] == bytes(range(6)) and len(buffer) == SAMPLES
    # A copy of the frame (or of its base64 text) would be about `size` bytes; what is
    # traced is the event dict and the callback's small objects.
    assert peak < size // 20, f"{peak} bytes allocated while receiving a {size}-byte frame"


async def test_a_copying_transport_is_seen_by_the_same_measure() -> None:
    # The measure is not blind: websockets hands the frame over as bytes, a copy of its size.
    peak, size, _ = await _peak_while_receiving("websockets")
    assert peak >= size
