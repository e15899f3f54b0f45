"""The load-test server (realtime_fast.mock.load): GA event shapes, server-VAD turns, pacing, counters."""

from __future__ import annotations

import asyncio
import base64

import numpy as np
import orjson
import pytest
from websockets.asyncio.client import connect

from realtime_fast.mock.load import LoadServer
from realtime_fast.mock.synth import alaw_decode, ulaw_decode
from test_mock_support import KEY, validate_event

pytestmark = pytest.mark.timeout(60)
TS = "mock_sent_at_us"
VAD_SESSION = {"type": "realtime", "output_modalities": ["audio"], "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}

TURN_TYPES = [
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "conversation.item.added",
    "conversation.item.done",
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
]
DONE_TYPES = [
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
]


def _chunks(ms: int, speech: bool) -> list[str]:
    n = 24000 * ms // 1000
    t = np.arange(n) / 24000
    samples = (8000 * np.sin(2 * np.pi * 220 * t)).astype("<i2") if speech else np.zeros(n, "<i2")
    raw = samples.tobytes()
    step = 960 * 2
    return [base64.b64encode(raw[i : i + step]).decode() for i in range(0, len(raw), step)]


async def _recv(ws, timeout: float = 5.0) -> dict:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def _until(ws, type: str, timeout: float = 5.0) -> list[dict]:
    out = []
    while True:
        event = await _recv(ws, timeout)
        out.append(event)
        if event["type"] == type:
            return out


async def _open(server: LoadServer):
    return await connect(server.url + "?model=gpt-realtime", additional_headers={"Authorization": f"Bearer {KEY}"})


async def test_voice_turn_has_the_ga_events_in_order_and_valid_shapes():
    async with LoadServer(speed=20.0, response_seconds=1.0) as server:
        async with await _open(server) as ws:
            created = await _recv(ws)
            assert created["type"] == "session.created"
            await ws.send(orjson.dumps({"type": "session.update", "session": VAD_SESSION}).decode())
            updated = await _recv(ws)
            assert updated["type"] == "session.updated"
            assert updated["session"]["audio"]["input"]["turn_detection"]["type"] == "server_vad"
            for chunk in _chunks(600, True) + _chunks(400, False):
                await ws.send(orjson.dumps({"event_id": "evt_1", "type": "input_audio_buffer.append", "audio": chunk}).decode())
            turn = await _until(ws, "response.done")
            stats = server.stats(per_session=True)
        events = [created, updated, *turn]
        for event in events:
            validate_event(event, "ga", extra_top={TS})
            assert isinstance(event[TS], int)  # integer microseconds: keeps the client's flat fast path
        types = [e["type"] for e in turn]
        assert types[: len(TURN_TYPES)] == TURN_TYPES
        assert types[-len(DONE_TYPES) :] == DONE_TYPES
        middle = types[len(TURN_TYPES) : -len(DONE_TYPES)]
        assert set(middle) == {"response.output_audio.delta", "response.output_audio_transcript.delta"}
        # the VAD: speech from 0 ms, stopped after 200 ms of silence past the 600 ms of speech
        assert turn[0]["audio_start_ms"] == 0
        assert turn[1]["audio_end_ms"] == 800
        assert turn[0]["item_id"] == turn[1]["item_id"] == turn[2]["item_id"]
        # 1 s of answer in 100 ms deltas, the transcript deltas joined are the final transcript
        audio = b"".join(base64.b64decode(e["delta"]) for e in turn if e["type"] == "response.output_audio.delta")
        assert len(audio) == 24000 * 2
        text = "".join(e["delta"] for e in turn if e["type"] == "response.output_audio_transcript.delta")
        assert text == turn[-1]["response"]["output"][0]["content"][0]["transcript"]
        assert turn[-1]["response"]["status"] == "completed"
        # the server counted exactly what it sent on this session
        assert stats["sent_by_session"][created["session"]["id"]] == len(events)
        assert stats["responses_done"] == 1


@pytest.mark.parametrize("fmt, wire, silence_code", [("g711_ulaw", "audio/pcmu", 0xFF), ("g711_alaw", "audio/pcma", 0xD5)])
async def test_g711_sessions_are_heard_and_answered_at_8khz(fmt, wire, silence_code):
    from realtime_fast.mock.synth import alaw_encode, ulaw_encode

    encode = ulaw_encode if fmt == "g711_ulaw" else alaw_encode
    session = {
        "type": "realtime",
        "output_modalities": ["audio"],
        "audio": {"input": {"format": {"type": wire}, "turn_detection": {"type": "server_vad"}}, "output": {"format": {"type": wire}}},
    }
    t = np.arange(8000 * 600 // 1000) / 8000
    speech = encode((8000 * np.sin(2 * np.pi * 220 * t)).astype("<i2"))
    audio = speech + bytes([silence_code]) * (8000 * 400 // 1000)
    async with LoadServer(speed=20.0, response_seconds=1.0) as server:
        async with await _open(server) as ws:
            await _recv(ws)
            await ws.send(orjson.dumps({"type": "session.update", "session": session}).decode())
            updated = await _recv(ws)
            assert updated["session"]["audio"]["output"]["format"]["type"] == wire
            for i in range(0, len(audio), 160):  # 20 ms of G.711 = 160 bytes
                chunk = base64.b64encode(audio[i : i + 160]).decode()
                await ws.send(orjson.dumps({"type": "input_audio_buffer.append", "audio": chunk}).decode())
            turn = await _until(ws, "response.done")
    # the audio clock runs at 8 kHz: 600 ms of speech, stopped after 200 ms of silence
    assert turn[0]["type"] == "input_audio_buffer.speech_started" and turn[0]["audio_start_ms"] == 0
    assert turn[1]["type"] == "input_audio_buffer.speech_stopped" and turn[1]["audio_end_ms"] == 800
    deltas = [base64.b64decode(e["delta"]) for e in turn if e["type"] == "response.output_audio.delta"]
    assert {len(d) for d in deltas} == {800}  # 100 ms at 8 kHz, one byte per sample
    assert sum(map(len, deltas)) == 8000
    decoded = (ulaw_decode if fmt == "g711_ulaw" else alaw_decode)(b"".join(deltas))
    assert np.abs(decoded.astype(np.int32)).max() > 1000  # speech, not the codes of another format


async def test_silence_alone_makes_no_turn_and_unknown_events_get_an_error():
    async with LoadServer(speed=20.0) as server:
        async with await _open(server) as ws:
            await _recv(ws)
            await ws.send(orjson.dumps({"type": "session.update", "session": VAD_SESSION}).decode())
            await _recv(ws)
            for chunk in _chunks(1000, False):
                await ws.send(orjson.dumps({"type": "input_audio_buffer.append", "audio": chunk}).decode())
            await ws.send(orjson.dumps({"event_id": "evt_x", "type": "response.create"}).decode())
            error = await _recv(ws)
            assert error["type"] == "error"
            assert error["error"]["event_id"] == "evt_x"
            validate_event(error, "ga", extra_top={TS})
            await ws.send(orjson.dumps({"event_id": "evt_y", "type": "session.update", "session": {"voice": 3}}).decode())
            bad = await _recv(ws)
            assert bad["type"] == "error" and bad["error"]["event_id"] == "evt_y"


async def test_many_sessions_are_paced_by_one_ticker_and_all_finish():
    async with LoadServer(speed=10.0, response_seconds=0.5) as server:
        sockets = [await _open(server) for _ in range(20)]
        try:
            for ws in sockets:
                await _recv(ws)
                await ws.send(orjson.dumps({"type": "session.update", "session": VAD_SESSION}).decode())
                await _recv(ws)
            frames = _chunks(300, True) + _chunks(300, False)
            for chunk in frames:
                for ws in sockets:
                    await ws.send(orjson.dumps({"type": "input_audio_buffer.append", "audio": chunk}).decode())
            turns = await asyncio.gather(*(_until(ws, "response.done") for ws in sockets))
        finally:
            for ws in sockets:
                await ws.close()
        assert all(t[-1]["response"]["status"] == "completed" for t in turns)
        assert server.responses_done == 20
        assert server.sent == sum(len(t) for t in turns) + 2 * 20
