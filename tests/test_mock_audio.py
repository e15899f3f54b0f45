"""Mock server: server VAD on a synthetic signal, barge-in, input transcription, synthetic speech, big messages."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from realtime_fast.mock import MockRealtimeServer, Pacing
from realtime_fast.mock.synth import speech_audio, speech_pcm16, ulaw_decode, ulaw_encode, alaw_decode, alaw_encode
from realtime_fast.mock.vad import EnergyVAD, level_for_threshold
from test_mock_support import (  # noqa: F401 - fixtures
    WireClient,
    assert_valid_events,
    b64,
    chunks,
    dialect,
    mock_server,
    names,
    silence,
    text_session,
    tone,
    types_of,
    user_text,
)

pytestmark = pytest.mark.timeout(30)


def _vad_session(dialect: str, **vad) -> dict:
    turn = {"type": "server_vad", **vad}
    if dialect == "ga":
        return {"type": "realtime", "output_modalities": ["text"], "audio": {"input": {"turn_detection": turn}}}
    return {"modalities": ["text"], "turn_detection": turn}


def _transcription_session(dialect: str, model: str) -> dict:
    if dialect == "ga":
        return {
            "type": "realtime",
            "output_modalities": ["text"],
            "audio": {"input": {"turn_detection": None, "transcription": {"model": model}}},
        }
    return {"modalities": ["text"], "turn_detection": None, "input_audio_transcription": {"model": model}}


async def _append(c: WireClient, samples: np.ndarray, ms: int = 100) -> None:
    for chunk in chunks(samples, ms):
        await c.send("input_audio_buffer.append", audio=chunk)


# --------------------------------------------------------------------------- VAD


@pytest.mark.parametrize(
    ("vad", "start_ms", "end_ms"),
    [({}, 700, 2200), ({"prefix_padding_ms": 100, "silence_duration_ms": 500, "threshold": 0.3}, 900, 2500)],
)
async def test_b_server_vad_turn(mock_server, dialect, vad, start_ms, end_ms):
    n = names(dialect)
    signal = np.concatenate([silence(1000), tone(1000), silence(1000)])
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await c.send("session.update", session=_vad_session(dialect, **vad))
        await c.recv()
        await _append(c, signal, ms=100)
        events = await c.until("rate_limits.updated")
        started, stopped, committed = events[0], events[1], events[2]
        assert types_of(events[:3]) == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
        ]
        assert started["audio_start_ms"] == start_ms and stopped["audio_end_ms"] == end_ms
        assert started["item_id"] == stopped["item_id"] == committed["item_id"]
        item = events[3]
        assert item["type"] == n["item"] and item["item"]["id"] == committed["item_id"]
        assert item["item"]["content"] == [{"type": "input_audio", "transcript": None}]
        assert "response.created" in types_of(events)  # create_response defaults to true
        await c.send("conversation.item.retrieve", item_id=committed["item_id"])
        retrieved = await c.until("conversation.item.retrieved")
        audio = base64.b64decode(retrieved[-1]["item"]["content"][0]["audio"])
        assert audio == signal[start_ms * 24 : end_ms * 24].astype("<i2").tobytes()
        # a second turn: the clock is session-absolute
        await _append(c, np.concatenate([tone(500), silence(1000)]), ms=20)
        second = await c.until("input_audio_buffer.committed")
    assert second[0]["audio_start_ms"] == max(end_ms, 3000 - (vad.get("prefix_padding_ms", 300)))
    assert second[1]["audio_end_ms"] == 3500 + vad.get("silence_duration_ms", 200)
    assert second[2]["previous_item_id"] is not None


async def test_vad_without_create_response(mock_server):
    async with await WireClient.open(mock_server) as c:
        await c.send("session.update", session=_vad_session("ga", create_response=False))
        await c.recv()
        await _append(c, np.concatenate([tone(300), silence(400)]))
        events = await c.until("conversation.item.done")
        await c.expect_silence(0.1)
    assert "response.created" not in types_of(events)


def test_energy_vad_levels():
    assert level_for_threshold(0.0) < level_for_threshold(0.5) < level_for_threshold(1.0) < 20000
    quiet = EnergyVAD(24000, threshold=0.0)
    assert quiet.feed(np.zeros(24000, dtype=np.int16)) == []  # digital silence never triggers
    strict = EnergyVAD(24000, threshold=1.0)
    assert strict.feed(np.full(480, 20000, dtype=np.int16)) == [("start", 0)]  # a constant 20000 always does
    speech = np.frombuffer(speech_pcm16("hello there, how are you"), dtype="<i2")
    vad = EnergyVAD(24000, silence_duration_ms=400)
    events = vad.feed(np.concatenate([np.zeros(4800, dtype=np.int16), speech, np.zeros(24000, dtype=np.int16)]))
    assert [kind for kind, _ in events] == ["start", "stop"]  # synthetic speech is heard as one turn
    assert events[0][1] >= 4800


async def test_barge_in_cancels_the_active_response(dialect):
    n = names(dialect)
    async with MockRealtimeServer(profile=Pacing(audio_realtime_factor=0.1)) as server:
        server.script.reply("A long answer that the user is going to interrupt halfway through, for sure. " * 3)
        async with await WireClient.open(server, dialect=dialect) as c:
            session = {"type": "realtime"} if dialect == "ga" else {}
            await c.send("session.update", session=session)  # defaults: audio out, server VAD
            await c.recv()
            await c.send("conversation.item.create", item=user_text("talk to me"))
            await c.send("response.create")
            events = []
            while sum(e["type"] == n["audio_delta"] for e in events) < 2:
                events.append(await c.recv())
            await c.send("input_audio_buffer.append", audio=b64(tone(300)))
            events += await c.until("rate_limits.updated")
            await c.send("input_audio_buffer.append", audio=b64(silence(400)))
            events += await c.until("response.created")
            await c.send("response.cancel")
            events += await c.until("rate_limits.updated")
    types = types_of(events)
    started = types.index("input_audio_buffer.speech_started")
    first_done = types.index("response.done")
    assert started < types.index(n["audio_done"]) < first_done
    assert n["audio_delta"] not in types[started:first_done]
    done = events[first_done]["response"]
    assert done["status"] == "cancelled" and done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert done["output"][0]["status"] == "incomplete"
    # then the user's turn is committed and answered
    assert types.index("input_audio_buffer.speech_stopped") > first_done
    assert types.count("response.created") == 2
    assert_valid_events(server)


async def test_no_barge_in_when_interrupt_response_is_false(dialect):
    n = names(dialect)
    async with MockRealtimeServer(profile=Pacing(audio_realtime_factor=0.05)) as server:
        async with await WireClient.open(server, dialect=dialect) as c:
            vad = {"type": "server_vad", "interrupt_response": False}
            session = (
                {"type": "realtime", "audio": {"input": {"turn_detection": vad}}}
                if dialect == "ga"
                else {"turn_detection": vad}
            )
            await c.send("session.update", session=session)
            await c.recv()
            await c.send("conversation.item.create", item=user_text("talk to me"))
            await c.send("response.create")
            await c.until(n["audio_delta"])
            await c.send("input_audio_buffer.append", audio=b64(tone(200)))
            events = await c.until("response.done")
    assert "input_audio_buffer.speech_started" in types_of(events)
    assert events[-1]["response"]["status"] == "completed"
    assert_valid_events(server)


# --------------------------------------------------------------------------- transcription


@pytest.mark.parametrize("model", ["whisper-1", "gpt-4o-transcribe"])
async def test_input_transcription_after_item_and_reply_uses_it(mock_server, dialect, model):
    n = names(dialect)
    mock_server.script.set_transcript("what is the weather like today")
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await c.send("session.update", session=_transcription_session(dialect, model))
        await c.recv()
        await c.send("input_audio_buffer.append", audio=b64(tone(500)))
        await c.send("input_audio_buffer.commit")
        events = await c.until("conversation.item.input_audio_transcription.completed")
        await c.send("response.create")
        reply = await c.until(n["text_done"])
    types = types_of(events)
    item_at = types.index(n["item"])
    deltas = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.delta"]
    completed = events[-1]
    assert types[0] == "input_audio_buffer.committed" and item_at < types.index(
        "conversation.item.input_audio_transcription.delta"
    )
    assert "".join(d["delta"] for d in deltas) == completed["transcript"] == "what is the weather like today"
    assert (len(deltas) == 1) if model == "whisper-1" else (len(deltas) > 1)
    assert completed["item_id"] == events[0]["item_id"] and completed["content_index"] == 0
    assert completed["usage"]["type"] == ("duration" if model == "whisper-1" else "tokens")
    assert reply[-1]["text"] == 'You said: "what is the weather like today"'
    assert mock_server.connections[1].items[0]["content"][0]["transcript"] == "what is the weather like today"


async def test_transcript_can_arrive_before_the_item(mock_server, dialect):
    n = names(dialect)
    mock_server.script.set_transcript("hello there", before_item=True)
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await c.send("session.update", session=_transcription_session(dialect, "whisper-1"))
        await c.recv()
        await c.send("input_audio_buffer.append", audio=b64(tone(200)))
        await c.send("input_audio_buffer.commit")
        events = await c.until(n["item"])
    assert types_of(events) == [
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        n["item"],
    ]
    assert events[2]["item_id"] == events[3]["item"]["id"]
    assert events[3]["item"]["content"][0]["transcript"] == "hello there"


async def test_untranscribed_audio_is_described_by_length(mock_server):
    async with await WireClient.open(mock_server) as c:
        await c.send("session.update", session=text_session("ga"))
        await c.recv()
        await c.send("input_audio_buffer.append", audio=b64(tone(2400)))
        await c.send("input_audio_buffer.commit")
        await c.send("response.create")
        events = await c.until("response.output_text.done")
    assert events[-1]["text"] == 'You said: "[2.40 s of audio]"'
    assert not [e for e in events if "transcription" in e["type"]]  # transcription is off


async def test_delayed_transcription_arrives_later(dialect):
    async with MockRealtimeServer(profile=Pacing(transcription_delay=0.05)) as server:
        async with await WireClient.open(server, dialect=dialect) as c:
            await c.send("session.update", session=_transcription_session(dialect, "whisper-1"))
            await c.recv()
            await c.send("input_audio_buffer.append", audio=b64(tone(200)))
            await c.send("input_audio_buffer.commit")
            await c.send("response.create")
            events = await c.until("conversation.item.input_audio_transcription.completed", timeout=5)
    assert types_of(events).index("response.created") < len(events) - 1
    assert_valid_events(server)


# --------------------------------------------------------------------------- synthetic speech


def test_synthetic_speech_is_deterministic_proportional_and_speech_like():
    a = speech_pcm16("Hello world, this is a test.")
    assert a == speech_pcm16("Hello world, this is a test.")
    assert len(a) == 28 * 60 * 48  # 60 ms per character, 48 bytes per ms
    assert len(speech_pcm16("x" * 10, 30.0)) == 10 * 30 * 48
    samples = np.frombuffer(a, dtype="<i2").astype(np.float64)
    frames = samples[: len(samples) // 480 * 480].reshape(-1, 480)
    rms = np.sqrt((frames**2).mean(axis=1))
    assert rms.max() > 2000 and (rms < 1).sum() >= 5  # loud words, silent gaps between them
    spectrum = np.abs(np.fft.rfft(samples))
    assert (spectrum > spectrum.max() * 0.05).sum() > 50  # many frequencies, not a pure tone
    assert speech_pcm16("Hello") != speech_pcm16("World")


def test_g711_codecs_round_trip():
    samples = np.frombuffer(speech_pcm16("round trip"), dtype="<i2")
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        back = decode(encode(samples)).astype(np.int32)
        error = np.abs(back - samples)
        assert error.max() <= np.maximum(64, np.abs(samples) // 8).max()
        assert decode(encode(np.array([0, 1000, -1000, 32767, -32768], dtype=np.int16)))[0] in range(-16, 17)
    assert len(speech_audio("abc", "g711_alaw")) == 3 * 60 * 8  # 8 kHz, one byte per sample
    assert len(speech_audio("a", "g711_ulaw")) == 100 * 8  # never shorter than 100 ms


# --------------------------------------------------------------------------- big messages


async def test_21_mib_message_is_accepted(mock_server):
    pcm = np.zeros(8 * 1024 * 1024, dtype=np.int16)  # 16 MiB of audio -> ~21.3 MiB of base64
    item = {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": b64(pcm)}]}
    async with await WireClient.open(mock_server) as c:
        await c.send("conversation.item.create", item=item)
        events = await c.until("conversation.item.done", timeout=20)
    assert len(mock_server.frames_of_type("conversation.item.create", direction="client")[0].raw) > 21 * 1024 * 1024
    assert events[0]["item"]["content"] == [{"type": "input_audio", "transcript": None}]


async def test_append_over_15_mib_is_an_error(mock_server):
    async with await WireClient.open(mock_server) as c:
        event_id = await c.send("input_audio_buffer.append", audio="A" * (15 * 1024 * 1024 + 4))
        error = await c.recv(timeout=20)
    assert error["error"]["code"] == "string_above_max_length" and error["error"]["param"] == "audio"
    assert error["error"]["event_id"] == event_id
