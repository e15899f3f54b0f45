"""Every GA server event type in openai's types is either processed by the client or documented as
passed through raw (with the reason), and the mock emits every type the client processes.

A new event type in a future openai release fails the first test until it is classified: add a
route for it (``realtime_fast.client``) with a test, or a row to the table of raw-only events in
docs/events.md.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Dict, Set

import numpy as np
import pytest

from realtime_fast import RealtimeClient
from realtime_fast.client import HANDLED_SERVER_EVENTS
from realtime_fast.mock import MockRealtimeServer
from _realtime_helpers import KEY, EventLog, chunks, silence, tone
from test_mock_support import assert_valid_events

pytestmark = pytest.mark.timeout(90)

EVENTS_DOC = Path(__file__).resolve().parents[1] / "docs" / "events.md"
RAW_HEADING = "### Server events passed through raw"


def _ga_server_event_types() -> Set[str]:
    from openai.types.realtime import realtime_server_event

    union = realtime_server_event.RealtimeServerEvent
    members = typing.get_args(union)
    if members and typing.get_origin(union) is typing.Annotated:
        members = typing.get_args(members[0])
    types: Set[str] = set()
    for model in members:
        types.update(typing.get_args(model.model_fields["type"].annotation))
    return types


def _documented_raw_events() -> Dict[str, str]:
    """The table of raw-only server events in docs/events.md: event type -> the reason given."""
    text = EVENTS_DOC.read_text(encoding="utf-8")
    assert RAW_HEADING in text, f"docs/events.md has no section {RAW_HEADING!r}"
    section = text.split(RAW_HEADING, 1)[1].split("\n#", 1)[0]
    rows: Dict[str, str] = {}
    for line in section.splitlines():
        match = re.match(r"^\|\s*`([a-z_.]+)`\s*\|\s*(.*?)\s*\|\s*$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_every_ga_server_event_type_is_processed_or_documented_as_raw() -> None:
    pytest.importorskip("openai.types.realtime")
    union = _ga_server_event_types()
    raw = _documented_raw_events()
    processed = HANDLED_SERVER_EVENTS & union
    unclassified = union - processed - set(raw)
    assert not unclassified, (
        f"server event types neither processed nor documented as raw in docs/events.md: {sorted(unclassified)}"
    )
    assert not set(raw) & processed, f"documented as raw but processed: {sorted(set(raw) & processed)}"
    assert set(raw) <= union, f"documented as raw but not a GA server event type: {sorted(set(raw) - union)}"
    assert all(len(reason) > 10 for reason in raw.values()), "each raw-only event needs its reason"
    assert len(processed) + len(raw) == len(union)


async def _ga_realtime_session(server: MockRealtimeServer) -> None:
    """A GA session that makes the mock send every item, response, audio and MCP event the client processes."""
    server.script.add_tool_call("weather", "get_weather", {"city": "Paris"})
    server.script.add_mcp_tool("docs", "search", "3 pages")
    server.script.add_mcp_tool("docs", "broken", error="backend down")
    server.script.add_mcp_call("react", "docs", "search", {"q": "react"})
    server.script.add_mcp_call("broken", "docs", "broken")
    server.script.set_transcript("What is the weather like")
    server.script.set_transcript("mumble", fail=True)
    client = RealtimeClient(server.url, KEY, transport="websockets")
    client.update_session(
        input_audio_transcription={"model": "gpt-4o-transcribe"},
        tools=[
            {"type": "mcp", "server_label": "docs", "server_url": "https://docs.example.com/mcp", "require_approval": "never"},
            {"type": "mcp", "server_label": "down", "server_url": "https://down.example.com/mcp"},
        ],
    )
    client.add_tool({"name": "get_weather", "parameters": {"type": "object"}}, lambda args: {"sky": "clear"})
    log = EventLog(client, ["conversation.item.completed", "conversation.updated", "error"])
    await client.connect()
    try:
        await client.wait_for_session_created()

        async def assistant_reply(after: int) -> dict:
            done = await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "assistant", after=after)
            return done["item"]

        for text in ("weather in Paris?", "tell me about react", "try the broken one"):
            mark = log.mark()
            client.send_user_message_content([{"type": "input_text", "text": text}])
            await assistant_reply(mark)
        mark = log.mark()
        client.send_user_message_content([{"type": "input_text", "text": "in text please"}], respond=False)
        client.create_response({"modalities": ["text"]})
        await assistant_reply(mark)
        # Server VAD turns with input transcription: one transcribed, one failing.
        client.update_session(turn_detection={"type": "server_vad"})
        for _ in range(2):
            mark = log.mark()
            for chunk in chunks(np.concatenate([silence(300), tone(700), silence(500)])):
                client.append_input_audio(chunk)
            await assistant_reply(mark)
        audio_item = next(i for i in reversed(client.conversation.items) if i.get("role") == "assistant")
        client.realtime.send("conversation.item.retrieve", {"item_id": audio_item["id"]})
        client.cancel_response(audio_item["id"], 2400)
        await server.wait_for_frame("conversation.item.truncated")
        client.delete_item(audio_item["id"])
        await server.wait_for_frame("conversation.item.deleted")
        client.realtime.send("conversation.item.delete", {"item_id": "item_none"})
        await log.wait_for("error", lambda e: "item_none" in e["message"])
    finally:
        await client.disconnect()


async def _ga_call_and_transcription(server: MockRealtimeServer) -> None:
    call_id = server.create_call({"audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 5000}}}})
    call = RealtimeClient(server.url, KEY, transport="websockets", call_id=call_id)
    log = EventLog(call, ["call.dtmf", "conversation.idle_timeout"])
    await call.connect()
    try:
        await call.wait_for_session_created()
        await server.send_dtmf(call_id, "1")
        await log.wait_for("call.dtmf")
        for chunk in chunks(silence(5100), 100):
            call.append_input_audio(chunk)
        await log.wait_for("conversation.idle_timeout")
    finally:
        await call.disconnect()
    server.script.set_transcript("One. Two.")
    listener = RealtimeClient(server.url, KEY, transport="websockets")
    listener.update_session(type="transcription", input_audio_transcription={"model": "gpt-4o-transcribe-diarize"},
                            turn_detection={"type": "server_vad"})
    log = EventLog(listener, ["conversation.updated"])
    await listener.connect()
    try:
        await server.wait_for_frame("session.updated")
        for chunk in chunks(np.concatenate([silence(300), tone(700), silence(500)])):
            listener.append_input_audio(chunk)
        await log.wait_for("conversation.updated", lambda e: "segment" in (e["delta"] or {}))
    finally:
        await listener.disconnect()


async def _beta_session(server: MockRealtimeServer) -> None:
    client = RealtimeClient(server.url, KEY, transport="websockets", protocol="beta", model="gpt-4o-realtime-preview")
    log = EventLog(client, ["conversation.item.completed"])
    await client.connect()
    try:
        for modalities in (["text"], ["text", "audio"]):
            mark = log.mark()
            client.send_user_message_content([{"type": "input_text", "text": "hello"}], respond=False)
            client.create_response({"modalities": modalities})
            await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant", after=mark)
    finally:
        await client.disconnect()


async def test_the_mock_emits_every_event_type_the_client_processes() -> None:
    async with MockRealtimeServer(profile="fast") as server:
        await _ga_realtime_session(server)
        await _ga_call_and_transcription(server)
        await _beta_session(server)
    emitted = {frame.type for frame in server.frames if frame.direction == "server"}
    missing = HANDLED_SERVER_EVENTS - emitted
    assert not missing, f"event types the client processes that the mock never sent: {sorted(missing)}"
    assert assert_valid_events(server) > 100


async def test_client_session_is_the_servers_effective_session() -> None:
    async with MockRealtimeServer(profile="fast") as server:
        client = RealtimeClient(server.url, KEY, transport="websockets")
        assert client.session is None
        client.update_session(turn_detection={"type": "server_vad", "silence_duration_ms": 400})
        await client.connect()
        try:
            await client.wait_for_session_created()
            created = client.session
            assert created["object"] == "realtime.session"
            await server.wait_for_frame("session.updated")
            updated = await client.realtime.wait_for_next("server.session.updated", 5) if client.session is created else None
            assert updated is None or updated["session"] is client.session
            turn_detection = client.session["audio"]["input"]["turn_detection"]
            # What the client asked for, plus what the server filled in.
            assert turn_detection["silence_duration_ms"] == 400 and turn_detection["threshold"] == 0.5
            assert client.session_config["turn_detection"] == {"type": "server_vad", "silence_duration_ms": 400}
        finally:
            await client.disconnect()
        assert client.session is not None  # kept after the connection ends
