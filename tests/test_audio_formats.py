"""Audio formats end to end: G.711 sessions keep 8 kHz PCM16 items, count time at 8 kHz, and take phone-line bytes.

The AudioBuffer tests run against both implementations (``audio_impl``); the
client tests run against the mock server on every transport and in both
dialects, with each G.711 law.
"""

from __future__ import annotations

import asyncio
import base64
import json
import pickle
import re
from typing import Any, List

import numpy as np
import pytest

import realtime_fast._audio_py as pure
from realtime_fast import RealtimeClient
from realtime_fast.audio import alaw_to_pcm16, pcm16_to_alaw, pcm16_to_ulaw, ulaw_to_pcm16
from _realtime_helpers import (  # noqa: F401  (fixtures)
    KEY,
    EventLog,
    client_events,
    make_client,
    protocol,
    received,
    server,
    transport_name,
)

ALL_CODES = bytes(range(256))
DECODERS = {"g711_ulaw": pure.ulaw_to_pcm16, "g711_alaw": pure.alaw_to_pcm16}
ENCODERS = {"g711_ulaw": pcm16_to_ulaw, "g711_alaw": pcm16_to_alaw}


# ---------------------------------------------------------------------------
# AudioBuffer formats
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_a_g711_buffer_decodes_every_code_into_8khz_pcm16(audio_impl, fmt):
    buf = audio_impl.AudioBuffer(format=fmt)
    assert (buf.format, buf.rate) == (fmt, 8000)
    buf.append_base64(base64.b64encode(ALL_CODES).decode())  # str
    buf.append_base64(base64.b64encode(ALL_CODES[:3]))  # bytes, an odd number of samples
    buf.append_encoded(memoryview(ALL_CODES[3:8]))
    expected = DECODERS[fmt](ALL_CODES + ALL_CODES[:8])
    assert buf == expected and buf.to_bytes() == expected
    assert len(buf) == 264 and buf.duration_ms() == 33.0  # 264 samples at 8 kHz
    assert buf.duration_ms(24000) == 11.0


@pytest.mark.parametrize("name, fmt", [("audio/pcmu", "g711_ulaw"), ("audio/pcma", "g711_alaw"), ("audio/pcm", "pcm16")])
def test_ga_format_names_are_accepted(audio_impl, name, fmt):
    buf = audio_impl.AudioBuffer(None, name)
    assert buf.format == fmt and buf.rate == {"pcm16": 24000}.get(fmt, 8000)
    assert audio_impl.audio_format({"type": name}) == fmt


def test_unknown_formats_are_refused_with_the_known_ones_named(audio_impl):
    for bad in ("opus", {"type": "audio/pcm", "rate": 16000}, None, 3):
        with pytest.raises(ValueError, match=re.escape("'pcm16', 'g711_ulaw' and 'g711_alaw'")):
            audio_impl.AudioBuffer(format=bad) if not isinstance(bad, dict) else audio_impl.audio_format(bad)
    assert audio_impl.audio_format({"type": "audio/pcm", "rate": 24000}) == "pcm16"


def test_a_g711_buffer_keeps_its_format_through_copies_and_pickling(audio_impl):
    buf = audio_impl.AudioBuffer(100, "g711_alaw")
    buf.append_encoded(ALL_CODES[:10])
    part = buf.slice(2, 6)
    assert part.format == "g711_alaw" and part == pure.alaw_to_pcm16(ALL_CODES[2:6])
    again = pickle.loads(pickle.dumps(buf))
    assert (again.format, again.max_samples, again.to_bytes()) == ("g711_alaw", 100, buf.to_bytes())
    assert repr(buf) == "AudioBuffer(format='g711_alaw', samples=10, duration_ms=1.2, offset=0, max_samples=100)"
    assert repr(audio_impl.AudioBuffer()) == "AudioBuffer(samples=0, duration_ms=0.0, offset=0, max_samples=None)"


def test_a_g711_buffer_refuses_bad_input_and_stays_unchanged(audio_impl):
    buf = audio_impl.AudioBuffer(format="g711_ulaw")
    buf.append_encoded(b"\x01\x02")
    with pytest.raises(ValueError, match="Invalid base64 character"):
        buf.append_base64("AQI*")
    with pytest.raises(ValueError, match="multiple of 4"):
        buf.append_base64("AQI")
    with pytest.raises(TypeError, match="G.711 audio as bytes"):
        buf.append_encoded(np.zeros(4, dtype=np.int16))
    view = memoryview(buf)
    with pytest.raises(BufferError):
        buf.append_encoded(b"\x03")
    with pytest.raises(BufferError):
        buf.append_base64("AQ==")
    view.release()
    assert buf == pure.ulaw_to_pcm16(b"\x01\x02")


def test_a_capped_g711_buffer_drops_its_oldest_samples(audio_impl):
    buf = audio_impl.AudioBuffer(4, "g711_ulaw")
    buf.append_base64(base64.b64encode(ALL_CODES[:7]))
    assert buf == pure.ulaw_to_pcm16(ALL_CODES[3:7]) and buf.offset == 3


def test_pcm16_buffers_take_pcm16_from_append_encoded(audio_impl):
    buf = audio_impl.AudioBuffer()
    buf.append_encoded(b"\x01\x00\x02\x00")
    assert len(buf) == 2
    with pytest.raises(ValueError, match="odd count"):
        buf.append_encoded(b"\x01")


# ---------------------------------------------------------------------------
# The client in a G.711 session
# ---------------------------------------------------------------------------


def _tone_8k(ms: int) -> np.ndarray:
    t = np.arange(8 * ms)
    return (np.sin(2 * np.pi * 440 * t / 8000) * 8000).astype(np.int16)


def _sent_audio(server: Any, fmt: str) -> bytes:
    """Every audio delta the mock streamed, decoded from its G.711 codes (PCM16 at 8 kHz)."""
    deltas = server.events("response.output_audio.delta", direction="server") + server.events(
        "response.audio.delta", direction="server"
    )
    return DECODERS[fmt](b"".join(base64.b64decode(e["delta"]) for e in deltas))


@pytest.fixture(params=["g711_ulaw", "g711_alaw"])
def g711(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_a_g711_session_keeps_8khz_items_and_truncates_in_8khz_time(make_client, server, g711):
    client = make_client()
    client.update_session(input_audio_format=g711, output_audio_format=g711, turn_detection=None)
    await client.connect()
    await client.wait_for_session_created()
    assert (client.input_audio_format, client.output_audio_format) == (g711, g711)
    log = EventLog(client, ["conversation.item.completed", "conversation.updated"])
    spoken = _tone_8k(1000)
    codes = ENCODERS[g711](spoken.tobytes())
    client.append_input_audio(codes[:4001])  # as a phone line sends them, an odd chunk included
    client.append_input_audio(codes[4001:])
    client.create_response()
    user = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "user"))["item"]
    assert user["formatted"]["audio"].format == g711
    assert user["formatted"]["audio"] == DECODERS[g711](codes)  # the local copy is the audio sent, decoded
    appended = client_events(server, "input_audio_buffer.append")
    assert b"".join(base64.b64decode(e["audio"]) for e in appended) == codes  # the codes went out untouched
    assistant = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant"))["item"]
    audio = assistant["formatted"]["audio"]
    sent = _sent_audio(server, g711)
    assert audio == sent and len(audio) == len(sent) // 2  # T seconds hold T x 8,000 samples
    assert audio.rate == 8000 and audio.duration_ms() == len(audio) / 8
    deltas = [e["delta"]["audio"] for e in log.of("conversation.updated") if e["delta"] and "audio" in e["delta"]]
    assert b"".join(deltas) == sent  # handlers get the same 8 kHz PCM16, delta by delta
    before_cancel = log.mark()
    client.cancel_response(assistant["id"], 4000)
    truncate = (await received(server, "conversation.item.truncate"))[-1]
    assert truncate["audio_end_ms"] == 500
    await log.wait_for(  # the update the server's conversation.item.truncated brings, not an earlier one
        "conversation.updated",
        lambda e: e["item"]["id"] == assistant["id"] and e["delta"] is None,
        after=before_cancel,
    )
    assert len(assistant["formatted"]["audio"]) == 4000  # cut at 500 ms of 8 kHz audio
    await client.disconnect()


async def test_samples_given_to_a_g711_session_are_encoded(make_client, server):
    client = make_client()
    client.update_session(input_audio_format="g711_ulaw", turn_detection=None)
    await client.connect()
    await client.wait_for_session_created()
    spoken = _tone_8k(100)
    client.append_input_audio(spoken)  # int16 samples at 8 kHz
    client.append_input_audio(spoken.astype(np.float32) / 32768)  # float samples
    appended = await received(server, "input_audio_buffer.append", 2)
    assert base64.b64decode(appended[0]["audio"]) == pcm16_to_ulaw(spoken.tobytes())
    assert len(base64.b64decode(appended[1]["audio"])) == 800
    assert len(client.input_audio_buffer) == 1600
    await client.disconnect()


async def test_the_client_follows_a_format_the_server_session_reports(make_client, server):
    client = make_client()
    log = EventLog(client.realtime, ["server.session.updated"])
    await client.connect()
    await log.wait_for("server.session.updated")  # the answer to the client's own session.update
    mark = log.mark()
    protocol_is_ga = client.realtime.dialect.name == "ga"
    session = (
        {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcma"}}}}
        if protocol_is_ga
        else {"output_audio_format": "g711_alaw"}
    )
    client.realtime.send("session.update", {"session": session})  # not through update_session
    await log.wait_for("server.session.updated", after=mark)
    assert client.output_audio_format == "g711_alaw" and client.input_audio_format == "pcm16"
    await client.disconnect()


async def test_an_unknown_format_is_refused_before_anything_is_sent(make_client, server):
    client = make_client()
    await client.connect()
    await client.wait_for_session_created()
    await received(server, "session.update")
    with pytest.raises(ValueError, match="'pcm16', 'g711_ulaw' and 'g711_alaw'"):
        client.update_session(output_audio_format="opus", instructions="changed")
    assert client.session_config["instructions"] == ""  # nothing of the call was kept
    await asyncio.sleep(0.05)
    assert len(client_events(server, "session.update")) == 1
    await client.disconnect()


def test_a_new_input_format_starts_its_buffer_where_the_old_one_ended():
    client = RealtimeClient("ws://127.0.0.1:9", KEY)
    client.input_audio_buffer.append(np.zeros(24000, dtype=np.int16))  # 1 s of pcm16, kept locally
    client.update_session(input_audio_format="g711_ulaw")  # not connected: applies to what follows
    buffer = client.input_audio_buffer
    assert (buffer.format, len(buffer)) == ("g711_ulaw", 0)
    buffer.append_encoded(b"\xff" * 8000)  # 1 s more, at 8 kHz
    for event in (
        {"event_id": "e1", "type": "input_audio_buffer.speech_started", "item_id": "i1", "audio_start_ms": 1500},
        {"event_id": "e2", "type": "input_audio_buffer.speech_stopped", "item_id": "i1", "audio_end_ms": 1750},
    ):
        client.realtime.receive_frame(json.dumps(event).encode())
    cut = client.conversation.queued_speech_items["i1"]["audio"]
    assert (cut.format, len(cut)) == ("g711_ulaw", 2000)  # 1.5 s to 1.75 s of session time, at 8 kHz


async def test_a_phone_call_takes_its_g711_formats_from_the_call_session():
    from realtime_fast.mock import MockRealtimeServer

    async with MockRealtimeServer(profile="fast") as server:
        pcmu = {"type": "audio/pcmu"}
        call_id = server.create_call({"audio": {"input": {"format": pcmu}, "output": {"format": pcmu}}})
        client = RealtimeClient(server.url, KEY, call_id=call_id)
        await client.connect()
        await client.wait_for_session_created()
        assert (client.input_audio_format, client.output_audio_format) == ("g711_ulaw", "g711_ulaw")
        assert client.input_audio_buffer.rate == 8000
        await client.disconnect()
