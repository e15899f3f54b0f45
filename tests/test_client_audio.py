"""RealtimeClient audio: input formats, server VAD, barge-in, cancel and truncate, bounded buffers, long responses."""

from __future__ import annotations

import base64
from array import array

import numpy as np
import pytest
from _realtime_helpers import (  # noqa: F401  (fixtures)
    HIGH_LEVEL_EVENTS,
    KEY,
    EventLog,
    chunks,
    client,
    make_client,
    protocol,
    received,
    samples_of,
    server,
    silence,
    tone,
    transport_name,
)

from realtime_fast import RealtimeClient
from realtime_fast.audio import float_to_pcm16
from realtime_fast.client import VAD_KEEP_MARGIN_MS

pytestmark = pytest.mark.timeout(60)

VAD = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200}
LONG_REPLY = "This answer is long enough to keep streaming audio for a few seconds at least. " * 2


def is_role(role):
    return lambda e: e["item"].get("role") == role


async def enable_vad(client, server, *, transcription=True):
    settings = {"turn_detection": dict(VAD)}
    if transcription:
        settings["input_audio_transcription"] = {"model": "whisper-1"}
    client.update_session(**settings)
    await received(server, "session.updated", 2, direction="server")


def sent_audio(server) -> bytes:
    return b"".join(base64.b64decode(e["audio"]) for e in server.events("input_audio_buffer.append", direction="client"))


# -- input formats ---------------------------------------------------------------------------------

SIGNAL = tone(40)
FLOATS = SIGNAL.astype(np.float32) / 32768.0

INPUTS = {
    "bytes": lambda: SIGNAL.tobytes(),
    "bytearray": lambda: bytearray(SIGNAL.tobytes()),
    "memoryview": lambda: memoryview(SIGNAL.tobytes()),
    "memoryview-int16": lambda: memoryview(SIGNAL),
    "array-h": lambda: array("h", SIGNAL.tolist()),
    "numpy-int16": lambda: SIGNAL.copy(),
    "numpy-int16-strided": lambda: np.repeat(SIGNAL, 2)[::2],
    "numpy-big-endian": lambda: SIGNAL.astype(">i2"),
}
FLOAT_INPUTS = {
    "numpy-float32": lambda: FLOATS.copy(),
    "numpy-float64": lambda: FLOATS.astype(np.float64),
    "array-f": lambda: array("f", FLOATS.tolist()),
}


@pytest.mark.parametrize("kind", sorted(INPUTS) + sorted(FLOAT_INPUTS))
async def test_append_input_audio_accepts_every_documented_type(client, server, kind):
    data = INPUTS[kind]() if kind in INPUTS else FLOAT_INPUTS[kind]()
    assert client.append_input_audio(data) is True
    expected = SIGNAL.tobytes() if kind in INPUTS else float_to_pcm16(FLOATS)
    await received(server, "input_audio_buffer.append")
    assert sent_audio(server) == expected
    assert bytes(client.input_audio_buffer) == expected


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"\x01\x02\x03", ValueError, "odd count"),
        (np.zeros(4, dtype=np.int32), TypeError, "dtype int32"),
        ([0.1, 0.2], TypeError, "not list"),
        ("AAAA", TypeError, "not str"),
        (array("i", [1, 2]), TypeError, r"array\('i'\)"),
    ],
)
async def test_append_input_audio_refuses_other_input(client, server, data, error, message):
    with pytest.raises(error, match=message):
        client.append_input_audio(data)
    assert len(client.input_audio_buffer) == 0


async def test_empty_audio_sends_nothing(client, server):
    assert client.append_input_audio(b"") is True
    assert client.append_input_audio(np.zeros(0, dtype=np.int16)) is True
    client.append_input_audio(b"\x00\x00")
    appends = await received(server, "input_audio_buffer.append")
    assert len(appends) == 1


async def test_drain_after_a_large_append(client, server):
    big = np.zeros(24000 * 60, dtype=np.int16)  # one minute in a single append (about 3.8 MB of base64)
    client.append_input_audio(big)
    await client.drain()
    [append] = await received(server, "input_audio_buffer.append")
    assert len(base64.b64decode(append["audio"])) == big.nbytes


async def test_input_buffer_is_capped(make_client):
    c = make_client(max_input_audio_seconds=0.5)
    await c.connect()
    signal = np.arange(36000, dtype=np.int16)
    for piece in chunks(signal, 100):
        c.append_input_audio(piece)
    assert len(c.input_audio_buffer) == 12000
    assert c.input_audio_buffer.offset == 24000
    assert np.array_equal(samples_of(c.input_audio_buffer), signal[24000:])
    await c.disconnect()


# -- server VAD ------------------------------------------------------------------------------------


async def test_server_vad_turn(client, server):
    await enable_vad(client, server)
    server.script.set_transcript("hello there")
    log = EventLog(client, HIGH_LEVEL_EVENTS)
    raw = EventLog(client.realtime, ["server.input_audio_buffer.speech_started", "server.input_audio_buffer.speech_stopped"])
    signal = np.concatenate([silence(400), tone(600), silence(600)])
    for piece in chunks(signal, 20):
        client.append_input_audio(piece)
    interrupted = await log.wait_for("conversation.interrupted")
    assert interrupted["type"] == "input_audio_buffer.speech_started"
    user = (await log.wait_for("conversation.item.completed", is_role("user")))["item"]
    started = await raw.wait_for("server.input_audio_buffer.speech_started")
    stopped = await raw.wait_for("server.input_audio_buffer.speech_stopped")
    assert started["item_id"] == stopped["item_id"] == user["id"]
    expected = signal[started["audio_start_ms"] * 24 : stopped["audio_end_ms"] * 24]
    assert len(expected) > 0 and np.array_equal(samples_of(user["formatted"]["audio"]), expected)
    # the transcript arrives later and updates the user item
    update = await log.wait_for("conversation.updated", lambda e: e["item"] is user and bool(e["delta"]) and "transcript" in e["delta"])
    assert update["delta"]["transcript"] == "hello there" == user["formatted"]["transcript"]
    assistant = (await log.wait_for("conversation.item.completed", is_role("assistant")))["item"]
    assert assistant["formatted"]["transcript"] == 'You said: "hello there"'
    # only what a later speech_stopped can still need is kept locally
    keep_from_ms = stopped["audio_end_ms"] - VAD["prefix_padding_ms"] - VAD_KEEP_MARGIN_MS
    assert client.input_audio_buffer.offset == keep_from_ms * 24
    assert client.input_audio_buffer.offset + len(client.input_audio_buffer) == len(signal)


async def test_transcript_before_item_is_applied(client, server):
    await enable_vad(client, server)
    server.script.set_transcript("early words", before_item=True)
    log = EventLog(client, ["conversation.item.completed"])
    for piece in chunks(np.concatenate([tone(400), silence(400)]), 20):
        client.append_input_audio(piece)
    user = (await log.wait_for("conversation.item.completed", is_role("user")))["item"]
    assert user["formatted"]["transcript"] == "early words"


async def test_input_audio_stays_bounded_over_many_vad_turns(client, server):
    await enable_vad(client, server, transcription=False)
    log = EventLog(client, ["conversation.item.completed"])
    turn = np.concatenate([tone(300), silence(900)])
    for n in range(4):
        mark = log.mark()
        for piece in chunks(turn, 20):
            client.append_input_audio(piece)
        await log.wait_for("conversation.item.completed", is_role("assistant"), after=mark)
    buffered_ms = len(client.input_audio_buffer) * 1000 // 24000
    # never more than the silence after the last turn plus the prefix padding a next turn may reach back to
    assert buffered_ms <= 900 + VAD["prefix_padding_ms"] + VAD_KEEP_MARGIN_MS < 4 * 1200
    assert client.input_audio_buffer.offset + len(client.input_audio_buffer) == 4 * len(turn)


async def test_barge_in_during_a_response(client, server):
    await enable_vad(client, server, transcription=False)
    server.pacing.audio_realtime_factor = 1.0  # the answer streams at playback speed
    server.script.reply(LONG_REPLY)
    log = EventLog(client, HIGH_LEVEL_EVENTS)
    client.send_user_message_content([{"type": "input_text", "text": "tell me a story"}])
    first = await log.wait_for("conversation.updated", lambda e: e["item"].get("role") == "assistant" and bool(e["delta"]) and "audio" in e["delta"])
    assistant = first["item"]
    mark = log.mark()
    for piece in chunks(np.concatenate([tone(300), silence(400)]), 20):
        client.append_input_audio(piece)
    await log.wait_for("conversation.interrupted", after=mark)
    server.pacing.audio_realtime_factor = 0.0
    await log.wait_for("conversation.updated", lambda e: e["item"] is assistant and e["item"]["status"] == "incomplete", after=mark)
    user = (await log.wait_for("conversation.item.completed", is_role("user"), after=mark))["item"]
    assert user["content"][0]["type"] == "input_audio"
    await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "assistant" and e["item"] is not assistant, after=mark)
    assert assistant["status"] == "incomplete"
    assert all(e["item"] is not assistant for e in log.of("conversation.item.completed"))
    cancelled = [e for e in server.events("response.done") if e["response"]["status"] == "cancelled"]
    assert cancelled and cancelled[0]["response"]["status_details"]["reason"] == "turn_detected"
    assert log.of("error") == []


@pytest.mark.parametrize("interrupt_response", [True, False])
async def test_answering_an_interruption_with_cancel_response_is_never_refused(client, server, interrupt_response):
    """The usual barge-in handler: cancel_response(item, played) from conversation.interrupted."""
    await enable_vad(client, server, transcription=False)
    if not interrupt_response:
        client.update_session(turn_detection=dict(VAD, interrupt_response=False))
        await received(server, "session.updated", 3, direction="server")
    server.pacing.audio_realtime_factor = 1.0  # the answer streams at playback speed
    server.script.reply(LONG_REPLY)
    log = EventLog(client, HIGH_LEVEL_EVENTS)
    client.send_user_message_content([{"type": "input_text", "text": "tell me a story"}])
    first = await log.wait_for("conversation.updated", lambda e: e["item"].get("role") == "assistant" and bool(e["delta"]) and "audio" in e["delta"])
    assistant = first["item"]
    client.on("conversation.interrupted", lambda event: client.cancel_response(assistant["id"], 2400))
    mark = log.mark()
    for piece in chunks(np.concatenate([tone(300), silence(400)]), 20):
        client.append_input_audio(piece)
    await log.wait_for("conversation.interrupted", after=mark)
    [truncate] = await received(server, "conversation.item.truncate")
    assert truncate["item_id"] == assistant["id"] and truncate["audio_end_ms"] == 100
    done = await received(server, "response.done", direction="server")
    assert done[0]["response"]["status"] == "cancelled"
    # The server cancelled it itself (interrupt_response on) or was asked to (off): one way, never both.
    assert len(server.events("response.cancel", direction="client")) == (0 if interrupt_response else 1)
    await client.realtime.wait_for_next("server.response.done", timeout=0.001)  # let the server's answers arrive
    assert log.of("error") == []


# -- cancel and truncate --------------------------------------------------------------------------


async def test_cancel_response_mid_stream_truncates_at_the_received_audio(client, server):
    server.pacing.audio_realtime_factor = 1.0
    server.script.reply(LONG_REPLY)
    log = EventLog(client, HIGH_LEVEL_EVENTS)
    raw = EventLog(client.realtime, ["server.conversation.item.truncated"])
    client.send_user_message_content([{"type": "input_text", "text": "go"}])
    first = await log.wait_for("conversation.updated", lambda e: e["item"].get("role") == "assistant" and bool(e["delta"]) and "audio" in e["delta"])
    item = first["item"]
    have = len(item["formatted"]["audio"])
    result = client.cancel_response(item["id"], sample_count=10**9)  # more than was received: clamped
    assert result == {"item": item}
    [truncate] = await received(server, "conversation.item.truncate")
    assert truncate == {"event_id": truncate["event_id"], "type": "conversation.item.truncate", "item_id": item["id"], "content_index": 0, "audio_end_ms": have * 1000 // 24000}
    types = [e["type"] for e in server.events(direction="client")]
    assert types.index("response.cancel") == types.index("conversation.item.truncate") - 1
    truncated = await raw.wait_for("server.conversation.item.truncated")
    assert truncated["audio_end_ms"] == truncate["audio_end_ms"]
    assert len(item["formatted"]["audio"]) == truncate["audio_end_ms"] * 24
    assert item["formatted"]["transcript"] == ""
    done = await received(server, "response.done", direction="server")
    assert done[0]["response"]["status"] == "cancelled"
    assert [e for e in log.of("error")] == []


async def test_cancel_response_after_the_response_finished_only_truncates(client, server):
    log = EventLog(client, ["conversation.item.completed", "error", "conversation.updated"])
    client.send_user_message_content([{"type": "input_text", "text": "hi"}])
    item = (await log.wait_for("conversation.item.completed", is_role("assistant")))["item"]
    await received(server, "response.done", direction="server")
    await client.realtime.wait_for_next("server.response.done", timeout=0.001)  # let response.done be processed
    total = len(item["formatted"]["audio"])
    mark = log.mark()
    client.cancel_response(item["id"], sample_count=total + 5000)
    [truncate] = await received(server, "conversation.item.truncate")
    assert truncate["audio_end_ms"] == total * 1000 // 24000
    assert server.events("response.cancel", direction="client") == []
    await log.wait_for("conversation.updated", lambda e: e["item"] is item and e["item"]["formatted"]["transcript"] == "", after=mark)
    assert len(item["formatted"]["audio"]) == truncate["audio_end_ms"] * 24
    assert log.of("error") == []  # clamped, so the server had nothing to complain about


async def test_cancel_response_with_a_sample_count(client, server):
    log = EventLog(client, ["conversation.item.completed", "conversation.updated"])
    client.send_user_message_content([{"type": "input_text", "text": "hi"}])
    item = (await log.wait_for("conversation.item.completed", is_role("assistant")))["item"]
    mark = log.mark()
    client.cancel_response(item["id"], 2400)
    [truncate] = await received(server, "conversation.item.truncate")
    assert truncate["audio_end_ms"] == 100
    await log.wait_for("conversation.updated", lambda e: e["item"] is item and len(e["item"]["formatted"]["audio"]) == 2400, after=mark)
    with pytest.raises(ValueError, match="non-negative"):
        client.cancel_response(item["id"], -1)
    with pytest.raises(TypeError, match="integer"):
        client.cancel_response(item["id"], 1.5)  # type: ignore[arg-type]


async def test_cancel_response_without_id_sends_response_cancel(client, server):
    assert client.cancel_response() == {"item": None}
    [cancel] = await received(server, "response.cancel")
    assert set(cancel) == {"event_id", "type"}


# -- raw listeners on the audio fast path ---------------------------------------------------------------


async def test_raw_audio_listeners_get_the_delta_text(client, protocol):
    name = "server.response.output_audio.delta" if protocol == "ga" else "server.response.audio.delta"
    raw = []
    client.realtime.on(name, raw.append)
    log = EventLog(client, ["conversation.item.completed"])
    client.send_user_message_content([{"type": "input_text", "text": "hi"}])
    item = (await log.wait_for("conversation.item.completed", is_role("assistant")))["item"]
    assert raw and all(isinstance(e["delta"], str) for e in raw)
    assert b"".join(base64.b64decode(e["delta"]) for e in raw) == bytes(item["formatted"]["audio"])


async def test_raw_audio_deltas_off_keeps_the_audio_out_of_raw_events(make_client, protocol):
    c = make_client(raw_audio_deltas=False)
    await c.connect()
    raw = []
    c.realtime.on("server.*", lambda e: raw.append(e) if e["type"].endswith("audio.delta") else None)
    log = EventLog(c, ["conversation.item.completed"])
    c.send_user_message_content([{"type": "input_text", "text": "hi"}])
    item = (await log.wait_for("conversation.item.completed", is_role("assistant")))["item"]
    assert raw and all("delta" not in e and e["item_id"] == item["id"] for e in raw)
    assert len(item["formatted"]["audio"]) > 0
    await c.disconnect()


async def test_a_numpy_view_of_item_audio_never_loses_samples(client):
    views = []

    def keep_view(event):
        item = event["item"]
        if item.get("role") == "assistant" and event["delta"] and "audio" in event["delta"]:
            views.append(np.frombuffer(item["formatted"]["audio"], np.int16))  # blocks resizing that buffer

    client.on("conversation.updated", keep_view)
    got = []
    client.on("conversation.updated", lambda e: got.append(e["delta"]["audio"]) if e["delta"] and "audio" in e["delta"] else None)
    log = EventLog(client, ["conversation.item.completed", "error"])
    client.send_user_message_content([{"type": "input_text", "text": "hi"}])
    item = (await log.wait_for("conversation.item.completed", is_role("assistant")))["item"]
    assert bytes(item["formatted"]["audio"]) == b"".join(got)
    assert len(views) > 1 and log.of("error") == []


# -- long responses ---------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_ten_minute_response(dialect):
    from realtime_fast.mock import MockRealtimeServer

    text = "ab cd efgh " * 909 + "x"  # 10 000 characters at 60 ms each: 600 s of speech
    assert len(text) == 10000
    async with MockRealtimeServer(profile="fast", record=False) as mock:
        mock.script.reply(text)
        c = RealtimeClient(mock.url, KEY, protocol=dialect)
        deltas = []
        c.on("conversation.updated", lambda e: deltas.append(len(e["delta"]["audio"])) if e["delta"] and "audio" in e["delta"] else None)
        log = EventLog(c, ["conversation.item.completed", "error"])
        await c.connect()
        c.send_user_message_content([{"type": "input_text", "text": "talk"}])
        item = (await log.wait_for("conversation.item.completed", is_role("assistant"), timeout=50))["item"]
        assert len(deltas) == 6000 and set(deltas) == {4800}
        assert len(item["formatted"]["audio"]) == 6000 * 2400
        assert item["formatted"]["transcript"] == text
        assert log.of("error") == []
        await c.disconnect()
