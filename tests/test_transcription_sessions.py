"""Transcription sessions (``type="transcription"``): what is sent, the URL, live transcripts and
diarized segments on the user's items, against the mock (every event validated against openai's
types)."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from realtime_fast import RealtimeClient
from realtime_fast.dialects import get_dialect
from realtime_fast.mock import MockRealtimeServer
from _realtime_helpers import KEY, EventLog, chunks, received, silence, tone
from test_mock_support import assert_valid_events

pytestmark = pytest.mark.timeout(60)

ga = pytest.importorskip("openai.types.realtime")


def test_a_transcription_session_sends_only_what_the_service_takes(caplog) -> None:
    client = RealtimeClient(api_key=KEY)
    client.update_session(
        type="transcription",
        instructions="Be brief.",
        tools=[{"name": "x", "parameters": {"type": "object"}}],
        input_audio_transcription={"model": "gpt-4o-transcribe", "language": "en"},
        turn_detection={"type": "server_vad", "silence_duration_ms": 500},
        input_audio_noise_reduction={"type": "near_field"},
        include=["item.input_audio_transcription.logprobs"],
    )
    with caplog.at_level(logging.DEBUG, logger="realtime_fast"):
        session = get_dialect("ga").session_payload(client.session_config)
    assert session == {
        "type": "transcription",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                "noise_reduction": {"type": "near_field"},
            }
        },
        "include": ["item.input_audio_transcription.logprobs"],
    }
    ga.RealtimeTranscriptionSessionCreateRequest.model_validate(session)
    assert any("do not apply" in r.getMessage() and "instructions" in r.getMessage() for r in caplog.records)


@pytest.fixture
async def mock():
    async with MockRealtimeServer(profile="fast") as server:
        yield server
    assert_valid_events(server)


def _turn() -> np.ndarray:
    return np.concatenate([silence(300), tone(800), silence(600)])


@pytest.mark.parametrize("transport_name", ["websockets", "picows"])
async def test_a_transcription_session_end_to_end_with_segments(mock, transport_name) -> None:
    mock.script.set_transcript("Hello there. How can I help? Thanks.")
    mock.script.set_transcript("The second turn")
    client = RealtimeClient(mock.url, KEY, transport=transport_name)
    client.update_session(
        type="transcription",
        input_audio_transcription={"model": "gpt-4o-transcribe-diarize"},
        turn_detection={"type": "server_vad"},
    )
    log = EventLog(client, ["conversation.updated", "conversation.item.completed", "error"])
    await client.connect()
    try:
        await client.wait_for_session_created()
        assert mock.connection_log[-1].query == {"intent": ["transcription"]}
        update = (await received(mock, "session.update"))[0]["session"]
        assert update["type"] == "transcription" and set(update) == {"type", "audio"}
        await mock.wait_for_frame("session.updated")
        await asyncio.sleep(0.02)
        assert client.session["type"] == "transcription"
        assert client.session["audio"]["input"]["transcription"] == {"model": "gpt-4o-transcribe-diarize"}
        for chunk in chunks(_turn()):
            client.append_input_audio(chunk)
        first = (await log.wait_for("conversation.updated", lambda e: (e["delta"] or {}).get("transcript")))["item"]
        assert [s["text"] for s in first["formatted"]["segments"]] == ["Hello there.", "How can I help?", "Thanks."]
        assert [s["speaker"] for s in first["formatted"]["segments"]] == ["A", "B", "A"]
        segments = [e["delta"]["segment"] for e in log.of("conversation.updated") if e["delta"] and "segment" in e["delta"]]
        assert segments == first["formatted"]["segments"]
        assert first["formatted"]["transcript"] == "Hello there. How can I help? Thanks."
        # Another model streams deltas; the session takes the change, and no response is ever made.
        client.update_session(input_audio_transcription={"model": "gpt-4o-transcribe"})
        await received(mock, "session.update", 2)
        mark = log.mark()
        for chunk in chunks(_turn()):
            client.append_input_audio(chunk)
        await log.wait_for("conversation.updated", lambda e: (e["delta"] or {}).get("transcript") == "", after=mark)
        deltas = [e["delta"]["transcript"] for e in log.of("conversation.updated")[mark:] if e["delta"]]
        assert "".join(deltas) == "The second turn" and len(deltas) > 2
        assert all(item["role"] == "user" for item in client.conversation.items)
        assert mock.frames_of_type("response.") == []
        assert log.of("error") == []
        client.create_response()
        refused = await log.wait_for("error")
        assert "transcription session" in refused["message"]
    finally:
        await client.disconnect()


async def test_the_mock_keeps_realtime_and_transcription_sessions_apart(mock) -> None:
    realtime = RealtimeClient(mock.url, KEY, transport="websockets")
    log = EventLog(realtime, ["error"])
    await realtime.connect()
    try:
        realtime.realtime.send("session.update", {"session": {"type": "transcription"}})
        error = await log.wait_for("error")
        assert error["message"].startswith("Passing a transcription session update event to a realtime session is not allowed")
    finally:
        await realtime.disconnect()
    transcription = RealtimeClient(mock.url, KEY, transport="websockets")
    transcription.update_session(type="transcription")
    log = EventLog(transcription, ["error"])
    await transcription.connect()
    try:
        transcription.realtime.send("session.update", {"session": {"type": "realtime", "instructions": "x"}})
        error = await log.wait_for("error")
        assert error["message"] == "Passing a realtime session update event to a transcription session is not allowed."
    finally:
        await transcription.disconnect()
