"""Calls by id (the "sideband" connection of a SIP or WebRTC call): the URL, what is sent on
connect, DTMF digits and idle timeouts, and the mock's calls (every event validated against
openai's types)."""

from __future__ import annotations

import asyncio
from typing import Any, Dict

import pytest

from realtime_fast import RealtimeAPI, RealtimeClient
from realtime_fast.mock import MockRealtimeServer
from _realtime_helpers import KEY, EventLog, chunks, client_events, received, silence, tone
from test_mock_support import assert_valid_events

pytestmark = pytest.mark.timeout(60)

ACCEPTED: Dict[str, Any] = {
    "instructions": "You answer the phone for a bakery.",
    "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 5000}}, "output": {"voice": "marin"}},
}


def test_a_call_connection_has_the_call_id_and_no_model_in_its_url() -> None:
    api = RealtimeAPI("wss://relay.example.com/v1/realtime?region=eu", KEY, call_id="rtc_123")
    assert api.connect_url() == "wss://relay.example.com/v1/realtime?region=eu&call_id=rtc_123"
    assert RealtimeAPI(api_key=KEY).connect_url() == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert RealtimeAPI(api_key=KEY, intent="transcription").connect_url() == "wss://api.openai.com/v1/realtime?intent=transcription"
    with pytest.raises(ValueError, match="GA protocol"):
        RealtimeClient(api_key=KEY, call_id="rtc_123", protocol="beta")
    with pytest.raises(ValueError, match="call_id must be the id of a call"):
        RealtimeAPI(api_key=KEY, call_id="")


@pytest.fixture
async def call_server():
    async with MockRealtimeServer(profile="fast") as server:
        yield server
    assert_valid_events(server)


@pytest.mark.parametrize("transport_name", ["websockets", "picows"])
async def test_a_call_by_id_with_dtmf_and_an_idle_timeout(call_server, transport_name) -> None:
    call_id = call_server.create_call(ACCEPTED)
    client = RealtimeClient(call_server.url, KEY, call_id=call_id, transport=transport_name)
    log = EventLog(client, ["call.dtmf", "conversation.idle_timeout", "conversation.item.completed", "error"])
    await client.connect()
    try:
        await client.wait_for_session_created()
        record = call_server.connection_log[-1]
        assert record.query == {"call_id": [call_id]} and record.model is None
        # The call's session is the one it was accepted with, and the client left it alone.
        assert client.session["instructions"] == ACCEPTED["instructions"]
        assert client.session["audio"]["output"]["voice"] == "marin"
        await asyncio.sleep(0.05)
        assert client_events(call_server) == []
        assert await call_server.send_dtmf(call_id, "42#") == 1
        digits = [(await log.wait_for("call.dtmf", after=n))["digit"] for n in range(3)]
        assert digits == ["4", "2", "#"]
        dtmf = log.of("call.dtmf")[0]
        assert isinstance(dtmf["received_at"], int) and dtmf["event"]["type"] == "input_audio_buffer.dtmf_event_received"
        for chunk in chunks(silence(5200), 100):  # the line is silent for longer than idle_timeout_ms
            client.append_input_audio(chunk)
        idle = await log.wait_for("conversation.idle_timeout")
        assert idle["audio_end_ms"] - idle["audio_start_ms"] == 5000
        assert idle["event"]["type"] == "input_audio_buffer.timeout_triggered"
        reply = await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant")
        assert reply["item"]["formatted"]["transcript"] == "Are you still there?"
        user = client.conversation.get_item(idle["item_id"])
        assert user is not None and user["role"] == "user"
        assert log.of("error") == []
    finally:
        await client.disconnect()


async def test_on_a_call_only_the_settings_given_are_sent(call_server) -> None:
    call_id = call_server.create_call(ACCEPTED)
    client = RealtimeClient(call_server.url, KEY, call_id=call_id, transport="websockets")
    client.update_session(instructions="Speak French.")
    await client.connect()
    try:
        first = (await received(call_server, "session.update"))[0]["session"]
        assert first == {"type": "realtime", "instructions": "Speak French."}
        client.add_tool({"name": "open_hours", "parameters": {"type": "object"}}, lambda args: "9-5")
        second = (await received(call_server, "session.update", 2))[-1]["session"]
        assert second["instructions"] == "Speak French." and [t["name"] for t in second["tools"]] == ["open_hours"]
        assert "audio" not in second and "output_modalities" not in second
        await call_server.wait_for_frame("session.updated")
        await asyncio.sleep(0.05)
        turn_detection = client.session["audio"]["input"]["turn_detection"]
        assert turn_detection["type"] == "server_vad" and turn_detection["idle_timeout_ms"] == 5000  # kept
    finally:
        await client.disconnect()


async def test_the_mock_refuses_an_unknown_call_and_bad_call_settings(call_server) -> None:
    client = RealtimeClient(call_server.url, KEY, call_id="rtc_nothing", transport="websockets")
    log = EventLog(client, ["error", "close"])
    await client.connect()
    close = await log.wait_for("close")
    assert close["code"] == 4000
    assert log.of("error")[0]["error"]["code"] == "call_not_found"
    with pytest.raises(ValueError, match="create_call: invalid session settings"):
        call_server.create_call({"voice": "alloy"})
    with pytest.raises(ValueError, match="no call"):
        await call_server.send_dtmf("rtc_nothing", "1")
    with pytest.raises(ValueError, match="keys a keypad does not have"):
        await call_server.send_dtmf(call_server.create_call(), "1x")


async def test_idle_timeout_counts_from_the_end_of_the_last_response(call_server) -> None:
    # A session of its own (no call): server VAD with idle_timeout_ms, speech, a reply, then silence.
    client = RealtimeClient(call_server.url, KEY, transport="websockets")
    client.update_session(turn_detection={"type": "server_vad", "idle_timeout_ms": 5000}, modalities=["text"])
    log = EventLog(client, ["conversation.idle_timeout", "conversation.item.completed"])
    await client.connect()
    try:
        await client.wait_for_session_created()
        await call_server.wait_for_frame("session.updated")
        for chunk in chunks(tone(600), 20):
            client.append_input_audio(chunk)
        for chunk in chunks(silence(400), 20):
            client.append_input_audio(chunk)
        await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant")
        for chunk in chunks(silence(4000), 100):  # not long enough yet
            client.append_input_audio(chunk)
        await asyncio.sleep(0.05)
        assert log.of("conversation.idle_timeout") == []
        for chunk in chunks(silence(1200), 100):
            client.append_input_audio(chunk)
        idle = await log.wait_for("conversation.idle_timeout")
        assert idle["audio_end_ms"] - idle["audio_start_ms"] >= 5000
    finally:
        await client.disconnect()


def test_the_thread_runner_forwards_the_call_and_fault_api() -> None:
    with MockRealtimeServer(profile="fast").run_in_thread() as handle:
        call_id = handle.create_call()
        assert handle.send_dtmf(call_id, "1") == 0  # nobody is connected to it yet
        assert handle.drop_connections() == 0 and handle.expire_sessions() == 0
