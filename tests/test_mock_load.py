"""Mock server under load: 200 concurrent connections, each a full text turn and audio turn (fast profile)."""

from __future__ import annotations

import asyncio
import base64

import pytest

from realtime_fast.mock import MockRealtimeServer
from realtime_fast.mock.synth import speech_audio
from test_mock_support import WireClient, assert_valid_events, b64, tone, user_text

pytestmark = pytest.mark.timeout(120)
CLIENTS = 200


async def _conversation(server: MockRealtimeServer, n: int) -> dict:
    async with await WireClient.open(server) as c:
        await c.send(
            "session.update",
            session={"type": "realtime", "output_modalities": ["text"], "audio": {"input": {"turn_detection": None}}},
        )
        await c.recv()
        await c.send("conversation.item.create", item=user_text(f"client {n} says hi"))
        await c.send("response.create")
        text_turn = await c.until("rate_limits.updated", timeout=60)
        await c.send("input_audio_buffer.append", audio=b64(tone(300)))
        await c.send("input_audio_buffer.commit")
        await c.send("response.create", response={"output_modalities": ["audio"]})
        audio_turn = await c.until("rate_limits.updated", timeout=60)
    return {"text": text_turn, "audio": audio_turn}


async def test_200_concurrent_sessions_lose_nothing():
    async with MockRealtimeServer(profile="fast") as server:
        results = await asyncio.gather(*(_conversation(server, n) for n in range(CLIENTS)))
        assert len(server.connection_log) == CLIENTS
    expected_audio = speech_audio('You said: "[0.30 s of audio]"')
    for n, result in enumerate(results):
        text = "".join(e["delta"] for e in result["text"] if e["type"] == "response.output_text.delta")
        assert text == f'You said: "client {n} says hi"'
        audio = b"".join(
            base64.b64decode(e["delta"]) for e in result["audio"] if e["type"] == "response.output_audio.delta"
        )
        assert audio == expected_audio
        for turn in result.values():
            done = next(e for e in turn if e["type"] == "response.done")
            assert done["response"]["status"] == "completed"
            assert not [e for e in turn if e["type"] == "error"]
    # every frame the server recorded reached its client, in order
    for record in server.connection_log:
        sent = [f.data["event_id"] for f in server.frames if f.connection == record.id and f.direction == "server"]
        assert record.close_code == 1000 and len(sent) > 40
    received = sum(len(r["text"]) + len(r["audio"]) for r in results) + 2 * CLIENTS  # + session.created/updated
    assert received == len([f for f in server.frames if f.direction == "server"])
    assert assert_valid_events(server) == received  # every event against the official models
