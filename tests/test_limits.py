"""What one message from the server can cost: the message size limit, the audio delta limit, parsing memory.

The end-to-end tests run on both transports against small servers written
here.  Memory is measured with tracemalloc on the client's receive path, fed
a frame the way each transport hands it over (``bytes``, or a ``memoryview``
of the library's buffer).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import tracemalloc
from typing import Any

import numpy as np
import orjson
import pytest
from _realtime_helpers import KEY, EventLog, TRANSPORTS
from websockets.asyncio.server import serve

from realtime_fast import ConnectionStateError, RealtimeAPI, RealtimeClient
from realtime_fast.api import MAX_AUDIO_DELTA_SIZE
from realtime_fast.errors import MessageTooLarge, TransportError
from realtime_fast.transport import MAX_MESSAGE_SIZE

pytestmark = pytest.mark.timeout(60)

MIB = 1024 * 1024


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


class Server:
    """A WebSocket server that sends ``frames`` (after ``session.created``) and then reads until closed."""

    def __init__(self, *frames: bytes) -> None:
        self.frames = frames

    async def __aenter__(self) -> str:
        async def handler(ws: Any) -> None:
            await ws.send(orjson.dumps({"type": "session.created", "event_id": "e0", "session": {}}), text=True)
            for frame in self.frames:
                await ws.send(frame, text=True)
            async for _ in ws:
                pass

        self.server = await serve(handler, "127.0.0.1", 0, max_size=None, compression=None)
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1/realtime"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()


def assistant_item(item_id: str = "item_a") -> bytes:
    item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant", "status": "in_progress",
            "content": [{"type": "output_audio", "transcript": ""}]}
    return orjson.dumps({"type": "conversation.item.added", "event_id": "e1", "item": item})


def audio_delta(pcm: bytes, item_id: str = "item_a", event_id: str = "e2") -> bytes:
    return orjson.dumps({"type": "response.output_audio.delta", "event_id": event_id, "response_id": "resp_1",
                         "item_id": item_id, "output_index": 0, "content_index": 0,
                         "delta": base64.b64encode(pcm).decode()})


# -- the message size limit ----------------------------------------------------------------------


def test_the_default_limit_fits_an_item_retrieved_with_four_minutes_of_audio() -> None:
    # 24 kHz PCM16 is 48,000 bytes/s, 64,000 bytes/s in base64; the rest of the event is a few hundred bytes.
    assert MAX_MESSAGE_SIZE == 16 * MIB
    assert 4 * 60 * 64_000 + 1_000 < MAX_MESSAGE_SIZE < 30_000_000


async def test_a_30_mb_frame_gets_an_error_naming_its_size_and_the_limit(transport: str) -> None:
    frame = orjson.dumps({"type": "response.done", "event_id": "e1", "response": {"id": "r", "text": "a" * 30_000_000}})
    async with Server(frame) as url:
        client = RealtimeClient(url, KEY, transport=transport)
        log = EventLog(client, ["error", "close"])
        await client.connect()
        close = await log.wait_for("close")
        error = await log.wait_for("error")
    assert (close["code"], close["reason"], close["error"]) == (1009, "message too big", True)
    assert error["source"] == "transport" and isinstance(error["exception"], TransportError)
    assert f"a message of {len(frame)} bytes, over max_message_size ({MAX_MESSAGE_SIZE} bytes)" in error["message"]
    assert "raise max_message_size" in error["message"]
    # Later calls say how the connection died.
    with pytest.raises(ConnectionStateError) as info:
        await client.wait_for_session_created()
    assert str(info.value) == f"Not connected; the last connection failed: {error['message']} Use .connect() to open a new one."
    with pytest.raises(ConnectionStateError, match="RealtimeAPI is not connected; the last connection failed: .* 1009"):
        client.create_response()


async def test_a_30_mb_frame_arrives_whole_when_the_limit_is_raised(transport: str) -> None:
    frame = orjson.dumps({"type": "response.done", "event_id": "e1", "response": {"id": "r", "text": "a" * 30_000_000}})
    async with Server(frame) as url:
        client = RealtimeClient(url, KEY, transport=transport, max_message_size=32 * MIB)
        await client.connect()
        event = await client.realtime.wait_for_next("server.response.done", timeout=30)
        assert len(event["response"]["text"]) == 30_000_000 and client.is_connected()
        await client.disconnect()


@pytest.mark.parametrize("value", [0, -1, 1.5, "16MB", True])
def test_the_limits_must_be_byte_counts(value: Any) -> None:
    with pytest.raises(ValueError, match="max_message_size must be a positive number of bytes"):
        RealtimeAPI(max_message_size=value)
    with pytest.raises(ValueError, match="max_audio_delta_size must be a positive number of bytes or None"):
        RealtimeAPI(max_audio_delta_size=value)


# -- memory per message ----------------------------------------------------------------------------


def large_frames(size: int) -> dict[str, bytes]:
    pcm = bytes(size * 3 // 4 // 2 * 2)
    retrieved = {"id": "item_r", "object": "realtime.item", "type": "message", "role": "user", "status": "completed",
                 "content": [{"type": "input_audio", "audio": base64.b64encode(pcm).decode(), "transcript": "hi"}]}
    return {
        # a nested event with a long text (the parser's general path)
        "text": orjson.dumps({"type": "response.done", "event_id": "e1",
                              "response": {"id": "r", "output": [{"content": [{"type": "output_text", "text": "t" * size}]}]}}),
        # the realistic large message: an item retrieved with its audio (decoded into the conversation, and kept)
        "retrieved-audio": orjson.dumps({"type": "conversation.item.retrieved", "event_id": "e1", "item": retrieved}),
        # a flat event (the parser's fast path)
        "flat": orjson.dumps({"type": "response.output_text.delta", "event_id": "e1", "item_id": "x", "delta": "d" * size}),
    }


@pytest.mark.parametrize("delivery", ["bytes", "memoryview"])
@pytest.mark.parametrize("kind", ["text", "retrieved-audio", "flat"])
def test_a_30_mb_frame_costs_at_most_twice_its_size(kind: str, delivery: str) -> None:
    frame = large_frames(30_000_000)[kind]
    client = RealtimeClient("ws://127.0.0.1:9/v1/realtime", KEY, max_message_size=64 * MIB)
    errors = EventLog(client, ["error"])
    data = frame if delivery == "bytes" else memoryview(bytearray(frame))  # as websockets and picows deliver it
    receive = client.realtime.receive_frame  # the transport's on_message
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        receive(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    assert peak - before <= 2 * len(frame)
    if kind == "retrieved-audio":
        item = client.conversation.get_item("item_r")
        assert len(item["formatted"]["audio"]) * 2 == 30_000_000 * 3 // 4 // 2 * 2
    else:
        assert kind == "flat" or errors.of("error") == []


# -- the audio delta limit ----------------------------------------------------------------------------


async def test_an_audio_delta_over_the_limit_is_dropped_with_an_error_and_the_session_goes_on(transport: str) -> None:
    big = bytes(MAX_AUDIO_DELTA_SIZE * 3 // 4 + 6)  # base64: the limit + 8 bytes
    small = np.arange(480, dtype="<i2").tobytes()
    async with Server(assistant_item(), audio_delta(big, event_id="e2"), audio_delta(small, event_id="e3")) as url:
        client = RealtimeClient(url, KEY, transport=transport)
        log = EventLog(client, ["error", "conversation.updated"])  # (engages the compiled delta path)
        await client.connect()
        await log.wait_for("conversation.updated", lambda e: e["delta"] is not None and "audio" in e["delta"])
        error = await log.wait_for("error")
        item = client.conversation.get_item("item_a")
        assert item["formatted"]["audio"].to_bytes() == small  # the big delta was not appended
        assert client.is_connected()
        await client.disconnect()
    size = len(base64.b64encode(big))
    assert size == MAX_AUDIO_DELTA_SIZE + 8
    assert error["source"] == "protocol" and isinstance(error["exception"], MessageTooLarge)
    assert (error["exception"].size, error["exception"].limit) == (size, MAX_AUDIO_DELTA_SIZE)
    assert error["message"] == (
        f"The server sent an audio delta of {size} bytes of base64 for item 'item_a', over max_audio_delta_size "
        f"({MAX_AUDIO_DELTA_SIZE} bytes); it was dropped: raise max_audio_delta_size if the server sends such deltas."
    )


@pytest.mark.parametrize("limit", [None, 4 * MIB])
async def test_a_large_audio_delta_is_taken_when_the_limit_allows_it(transport: str, limit: Any) -> None:
    big = np.arange(MAX_AUDIO_DELTA_SIZE, dtype="<i2").tobytes()  # 2 MiB of audio: 2.7 MiB of base64
    async with Server(assistant_item(), audio_delta(big)) as url:
        client = RealtimeClient(url, KEY, transport=transport, max_audio_delta_size=limit)
        log = EventLog(client, ["error", "conversation.updated"])
        await client.connect()
        await log.wait_for("conversation.updated", lambda e: e["delta"] is not None and "audio" in e["delta"])
        assert client.conversation.get_item("item_a")["formatted"]["audio"].to_bytes() == big
        assert log.of("error") == []
        await client.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        # flat (the compiled fast path), escaped (the general path decides), nested (orjson), unknown item
        b'{"type":"response.output_audio.delta","event_id":"e","item_id":"item_a","delta":"AAAAAAAAAAAA"}',
        b'{"type":"response.output_audio.delta","event_id":"e","item_id":"item_a","delta":"AAAAAAAA\\/AAA"}',
        b'{"type":"response.audio.delta","event_id":"e","item_id":"item_a","delta":"AAAAAAAAAAAA","x":{"y":1}}',
        b'{"type":"response.output_audio.delta","event_id":"e","item_id":"item_z","delta":"AAAAAAAAAAAA"}',
    ],
    ids=["flat", "escaped", "nested", "unknown-item"],
)
def test_the_receiver_applies_the_audio_delta_limit_on_every_path(events_impl: Any, frame: bytes) -> None:
    from realtime_fast.audio import AudioBuffer

    buffer = AudioBuffer()
    calls: list[tuple[str, Any]] = []
    receiver = events_impl.FrameReceiver(
        {"item_a": buffer},
        lambda event: calls.append(("event", event)),
        lambda event, buf, start: calls.append(("audio", event)),
        lambda message, exc: calls.append(("error", exc)),
        max_audio_delta_size=11,
    )
    receiver(frame)
    receiver(memoryview(bytearray(frame)))
    assert [kind for kind, _ in calls] == ["error", "error"] and len(buffer) == 0
    exc = calls[0][1]
    assert isinstance(exc, MessageTooLarge) and exc.limit == 11 and exc.size == 12
    receiver.max_audio_delta_size = 12
    assert receiver.max_audio_delta_size == 12
    receiver(frame)
    assert calls[-1][0] in ("audio", "event")
