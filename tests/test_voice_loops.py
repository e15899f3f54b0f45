"""What a production voice loop relies on: input control, items created without a response,
finished items reported once, interruptions the service accepts, GA response settings, and
items that keep no audio (both transports, both protocols, against the mock)."""

from __future__ import annotations

import asyncio
from typing import Any, List

import numpy as np
import pytest

from realtime_fast import RealtimeClient
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.mock.pacing import Pacing
from _realtime_helpers import (  # noqa: F401  (fixtures)
    KEY,
    EventLog,
    client,
    client_events,
    make_client,
    protocol,
    server,
    tone,
    transport_name,
)

pytestmark = pytest.mark.timeout(60)


async def _settle(server: Any, count: int, type: str) -> List[dict]:
    """Wait until the mock has received ``count`` client events of ``type``."""
    for _ in range(200):
        events = client_events(server, type)
        if len(events) >= count:
            return events
        await asyncio.sleep(0.01)
    raise AssertionError(f"the mock received {len(client_events(server, type))} {type}, not {count}")


async def test_create_item_adds_items_without_a_response_and_each_completes_once(client, server):
    log = EventLog(client, ["conversation.item.appended", "conversation.item.completed"])
    client.create_item({"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Be brief."}]})
    system = (await log.wait_for("conversation.item.completed"))["item"]
    assert system["role"] == "system" and system["status"] == "completed"
    client.create_item(
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "first"}]}, previous_item_id="root"
    )
    user = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "user"))["item"]
    assert client_events(server, "conversation.item.create")[-1]["previous_item_id"] == "root"
    await asyncio.sleep(0.05)
    assert client_events(server, "response.create") == []  # nothing asked for a response
    client.send_user_message_content([{"type": "input_text", "text": "second"}], respond=False)
    await log.wait_for("conversation.item.completed", lambda e: e["item"]["formatted"]["text"] == "second")
    assert client_events(server, "response.create") == []
    client.create_response()
    assistant = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant"))["item"]
    await asyncio.sleep(0.05)
    completed = [e["item"]["id"] for e in log.of("conversation.item.completed")]
    assert len(completed) == len(set(completed)) == 4  # system, user x2, assistant: once each
    assert assistant["status"] == "completed" and user["id"] in completed and system["id"] in completed
    with pytest.raises(ValueError, match='needs an item with a "type"'):
        client.create_item({"role": "user"})
    with pytest.raises(TypeError, match="item mapping"):
        client.create_item([])  # type: ignore[arg-type]


async def test_finished_items_can_be_pruned(make_client):
    client = make_client(max_history_items=2)
    await client.connect()
    await client.wait_for_session_created()
    log = EventLog(client, ["conversation.item.completed"])
    for n in range(4):
        client.create_item({"type": "message", "role": "system", "content": [{"type": "input_text", "text": f"rule {n}"}]})
        await log.wait_for("conversation.item.completed", lambda e, n=n: e["item"]["formatted"]["text"] == f"rule {n}")
    texts = [item["formatted"]["text"] for item in client.conversation.get_items()]
    assert texts == ["rule 2", "rule 3"]  # system items complete, so the oldest are dropped
    await client.disconnect()


async def test_push_to_talk_commits_and_clears_the_input_buffer(make_client, server):
    client = make_client()
    await client.connect()
    await client.wait_for_session_created()
    log = EventLog(client, ["conversation.item.completed"])
    client.append_input_audio(tone(300))
    client.clear_input_audio()
    assert len(client.input_audio_buffer) == 0
    await _settle(server, 1, "input_audio_buffer.clear")
    speech = tone(400, freq=330.0)
    client.append_input_audio(speech)
    client.commit_input_audio()
    user = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "user"))["item"]
    assert np.array_equal(np.frombuffer(user["formatted"]["audio"].to_bytes(), "<i2"), speech)
    client.create_response()  # the commit was done: create_response must not commit again
    await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant")
    assert len(client_events(server, "input_audio_buffer.commit")) == 1
    await client.disconnect()


async def test_an_interruption_before_the_first_audio_only_cancels(transport_name, protocol):
    # The service rejects a truncation of an item with no audio yet ("Only model output audio
    # messages can be truncated"): with nothing played, cancel_response sends response.cancel alone.
    async with MockRealtimeServer(profile=Pacing(audio_realtime_factor=1.0)) as server:  # audio at the pace of playback
        client = RealtimeClient(server.url, KEY, transport=transport_name, protocol=protocol)
        await client.connect()
        await client.wait_for_session_created()
        await _interrupt_before_audio(client, server)


async def _interrupt_before_audio(client: RealtimeClient, server: Any) -> None:
    errors: List[Any] = []
    client.on("error", errors.append)
    seen: List[Any] = []

    def interrupt(event: Any) -> None:  # as soon as the assistant's item appears: no audio yet
        item = event["item"]
        if item["role"] == "assistant":
            seen.append((len(item["formatted"]["audio"]), client.cancel_response(item["id"], 0)))

    client.on("conversation.item.appended", interrupt)
    client.send_user_message_content([{"type": "input_text", "text": "tell me a story"}])
    await _settle(server, 1, "response.cancel")
    for _ in range(200):
        response = client.conversation.responses[-1] if client.conversation.responses else {}
        if response.get("status") not in (None, "in_progress"):
            break
        await asyncio.sleep(0.01)
    [(audio_then, result)] = seen
    assert audio_then == 0 and result["item"]["role"] == "assistant"
    assert client.conversation.responses[-1]["status"] == "cancelled"
    assert client_events(server, "conversation.item.truncate") == []
    assert errors == []
    await client.disconnect()


async def test_response_settings_the_ga_protocol_lacks_are_refused_before_sending(make_client, server):
    client = make_client(protocol="ga")
    await client.connect()
    await client.wait_for_session_created()
    with pytest.raises(ValueError, match="has no speed"):
        client.create_response({"speed": 1.1})
    client.create_response({"voice": "ash", "instructions": "Short."})
    sent = await _settle(server, 1, "response.create")
    assert sent[-1]["response"] == {"audio": {"output": {"voice": "ash"}}, "instructions": "Short."}
    await client.disconnect()


async def test_items_that_keep_no_audio_still_report_every_delta(make_client, server):
    client = make_client(keep_item_audio=False)
    await client.connect()
    await client.wait_for_session_created()
    audio: List[bytes] = []
    client.on("conversation.updated", lambda e: e["delta"] and "audio" in e["delta"] and audio.append(e["delta"]["audio"]))
    log = EventLog(client, ["conversation.item.completed"])
    for chunk in np.array_split(tone(600), 30):
        client.append_input_audio(chunk.astype("<i2").tobytes())
    assert len(client.input_audio_buffer) <= 1  # sent, not kept
    client.create_response()
    user = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "user"))["item"]
    assistant = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant"))["item"]
    received = sum(len(a) for a in audio) // 2
    assert received > 0
    buffer = assistant["formatted"]["audio"]
    assert len(buffer) == 0 and buffer.offset == received  # nothing kept, everything counted
    assert len(user["formatted"]["audio"]) == 0
    assert len(client_events(server, "input_audio_buffer.commit")) == 1
    # The truncation point is still clamped to what arrived.
    client.cancel_response(assistant["id"], received * 10)
    truncate = (await _settle(server, 1, "conversation.item.truncate"))[-1]
    assert truncate["audio_end_ms"] == received * 1000 // 24000
    await client.disconnect()
