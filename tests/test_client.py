"""RealtimeClient against the mock server: the reference client's own scenarios, its errors and its events.

Every test runs on each available transport and in both wire dialects.
"""

from __future__ import annotations

import asyncio
import base64
import copy

import numpy as np
import pytest
from _realtime_helpers import (  # noqa: F401  (fixtures)
    HIGH_LEVEL_EVENTS,
    KEY,
    EventLog,
    client,
    client_events,
    make_client,
    protocol,
    received,
    samples_of,
    server,
    tone,
    transport_name,
)

from realtime_fast import ConnectionStateError, RealtimeClient
from realtime_fast.audio import float_to_pcm16
from realtime_fast.client import DEFAULT_SESSION_CONFIG
from realtime_fast.mock import MockRealtimeServer

pytestmark = pytest.mark.timeout(60)


# -- connecting ------------------------------------------------------------------------


async def test_connect_without_key_gets_the_servers_auth_error(make_client):
    # No key: no Authorization header at all (the reference sends "Bearer null"); the
    # service answers "Missing bearer ..." and closes with 3000.
    c = make_client(api_key=None)
    log = EventLog(c, ["error", "close"])
    raw = EventLog(c.realtime, ["server.error"])
    await c.connect()  # the upgrade succeeds; the refusal comes as an event
    event = await raw.wait_for("server.error")
    assert event["error"]["message"] == "Missing bearer or basic authentication in header"
    error = await log.wait_for("error")
    assert error["source"] == "server" and error["error"]["message"] == event["error"]["message"]
    close = await log.wait_for("close")
    assert (close["code"], close["error"]) == (3000, False)
    assert not c.is_connected()


async def test_wrong_key_gets_incorrect_api_key_provided(transport_name, protocol):
    async with MockRealtimeServer(api_key="sk-the-right-key-000000", profile="fast") as mock:
        c = RealtimeClient(mock.url, "sk-the-wrong-key-123456", transport=transport_name, protocol=protocol)
        raw = EventLog(c.realtime, ["server.error", "close"])
        await c.connect()
        event = await raw.wait_for("server.error")
        assert "Incorrect API key provided" in event["error"]["message"]
        assert "sk-the-wrong-key-123456" not in repr(c)
        await raw.wait_for("close")
        await c.disconnect()


async def test_connect_sends_session_update_then_session_created_arrives(transport_name, protocol):
    # The reference asserts that exactly these two events exist once waitForSessionCreated() returns.
    async with MockRealtimeServer(profile="realistic") as mock:
        c = RealtimeClient(mock.url, KEY, transport=transport_name, protocol=protocol)
        seen = []
        c.on("realtime.event", lambda e: seen.append((e["source"], e["event"]["type"])))
        assert await c.connect() is True
        assert c.is_connected()
        assert await c.wait_for_session_created() is True
        assert seen == [("client", "session.update"), ("server", "session.created")]
        await c.disconnect()
        assert not c.is_connected()


async def test_session_update_carries_the_whole_config_in_the_dialects_shape(client, server, protocol):
    [update] = client_events(server, "session.update")
    session = update["session"]
    if protocol == "ga":
        assert session["type"] == "realtime"
        assert session["output_modalities"] == ["audio"]
        assert session["audio"]["output"]["voice"] == "verse"
        assert session["audio"]["input"]["turn_detection"] is None
        assert "temperature" not in session and "modalities" not in session
    else:
        assert session == DEFAULT_SESSION_CONFIG
    assert update["event_id"].startswith("evt_") and len(update["event_id"]) == 21


async def test_dialect_headers_and_model_in_the_url(client, server, protocol):
    [record] = server.connection_log
    assert record.dialect == protocol
    assert record.model == "gpt-realtime"
    assert record.api_key == KEY
    assert ("OpenAI-Beta" in record.headers) == (protocol == "beta")


async def test_url_query_is_kept_and_model_honoured(server, make_client):
    c = make_client(url=server.url + "?foo=bar", model="gpt-realtime-mini")
    await c.connect()
    await c.wait_for_session_created()
    [record] = server.connection_log
    assert record.model == "gpt-realtime-mini" and record.query["foo"] == ["bar"]
    await c.disconnect()


async def test_async_with_connects_and_closes(server, make_client):
    c = make_client()
    log = EventLog(c, ["close"])
    async with c as entered:
        assert entered is c and c.is_connected()
        await c.wait_for_session_created()
    assert not c.is_connected()
    [close] = log.of("close")  # dispatched before disconnect() returned
    assert (close["code"], close["error"]) == (1000, False)


# -- the reference's conversation scenarios ------------------------------------------------


async def test_text_message_round_trip(client):
    log = EventLog(client, HIGH_LEVEL_EVENTS)
    client.send_user_message_content([{"type": "input_text", "text": "How are you?"}])
    user = (await log.wait_for("conversation.item.completed"))["item"]
    assert user["type"] == "message" and user["role"] == "user" and user["status"] == "completed"
    assert user["formatted"]["text"] == "How are you?"
    appended = await log.wait_for("conversation.item.appended", lambda e: e["item"]["role"] == "assistant")
    assistant = appended["item"]
    done = await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant")
    assert done["item"] is assistant
    assert assistant["status"] == "completed"
    assert assistant["formatted"]["text"] == ""
    assert assistant["formatted"]["transcript"] == 'You said: "How are you?"'
    # deltas add up to the item
    updates = [e for e in log.of("conversation.updated") if e["item"] is assistant and e["delta"]]
    transcript = "".join(e["delta"]["transcript"] for e in updates if "transcript" in e["delta"])
    audio = b"".join(e["delta"]["audio"] for e in updates if "audio" in e["delta"])
    assert transcript == assistant["formatted"]["transcript"]
    assert audio == bytes(assistant["formatted"]["audio"]) and len(audio) > 0
    assert client.conversation.get_items() == [user, assistant]


async def test_assistant_item_is_appended_in_progress_with_empty_text(client):
    states = []
    client.on(
        "conversation.item.appended",
        lambda e: states.append((e["item"]["role"], e["item"]["status"], e["item"]["formatted"]["text"])),
    )
    log = EventLog(client, ["conversation.item.completed"])
    client.send_user_message_content([{"type": "input_text", "text": "Hi"}])
    await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant")
    assert states == [("user", "completed", "Hi"), ("assistant", "in_progress", "")]


async def test_audio_message_round_trip(client, server):
    signal = tone(1000).astype(np.float32) / 32768.0  # float samples, converted as the reference does
    log = EventLog(client, ["conversation.item.completed"])
    client.send_user_message_content([{"type": "input_audio", "audio": signal}])
    user = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "user"))["item"]
    assert user["content"][0]["type"] == "input_audio" and user["status"] == "completed"
    assistant = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant"))["item"]
    assert assistant["formatted"]["transcript"] and len(assistant["formatted"]["audio"]) > 0
    [create] = client_events(server, "conversation.item.create")
    sent = base64.b64decode(create["item"]["content"][0]["audio"])
    assert sent == float_to_pcm16(signal)


async def test_text_only_modality_streams_text(client):
    client.update_session(modalities=["text"])
    log = EventLog(client, ["conversation.item.completed", "conversation.updated"])
    client.send_user_message_content([{"type": "input_text", "text": "Hello"}])
    assistant = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant"))["item"]
    assert assistant["formatted"]["text"] == 'You said: "Hello"'
    assert len(assistant["formatted"]["audio"]) == 0
    texts = [e["delta"]["text"] for e in log.of("conversation.updated") if e["delta"] and "text" in e["delta"]]
    assert "".join(texts) == assistant["formatted"]["text"]


async def test_manual_audio_is_committed_and_becomes_the_user_items_audio(client, server):
    pcm = tone(500)
    client.append_input_audio(pcm)
    log = EventLog(client, ["conversation.item.completed"])
    client.create_response()
    user = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "user"))["item"]
    assert np.array_equal(samples_of(user["formatted"]["audio"]), pcm)
    assert [e["type"] for e in client_events(server)][-3:] == ["input_audio_buffer.append", "input_audio_buffer.commit", "response.create"]
    assert len(client.input_audio_buffer) == 0


async def test_delete_item(client):
    log = EventLog(client, ["conversation.item.completed", "conversation.updated"])
    client.send_user_message_content([{"type": "input_text", "text": "x"}])
    user = (await log.wait_for("conversation.item.completed"))["item"]
    await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant")
    mark = log.mark()
    assert client.delete_item(user["id"]) is True
    await log.wait_for("conversation.updated", lambda e: e["item"] is user, after=mark)
    assert client.conversation.get_item(user["id"]) is None


async def test_get_turn_detection_type(client):
    assert client.get_turn_detection_type() is None
    client.update_session(turn_detection=client.default_server_vad_config)
    assert client.get_turn_detection_type() == "server_vad"
    client.update_session(turn_detection=None)
    assert client.get_turn_detection_type() is None


# -- update_session -------------------------------------------------------------------------


async def test_update_session_before_connecting_only_stores(make_client, server):
    c = make_client()
    c.update_session(instructions="Be brief.", voice="alloy")
    assert server.connection_log == []
    await c.connect()
    await c.wait_for_session_created()
    [update] = client_events(server, "session.update")
    text = str(update["session"])
    assert "Be brief." in text and "alloy" in text
    await c.disconnect()


async def test_update_session_merges_and_ga_native_keys_pass(client, server, protocol):
    client.update_session({"instructions": "A"}, output_modalities=["text"])
    session = (await received(server, "session.update", 2))[-1]["session"]
    assert session["instructions"] == "A"
    if protocol == "ga":
        assert session["output_modalities"] == ["text"]
    else:
        assert session["modalities"] == ["text"]
    assert client.session_config["voice"] == "verse"  # untouched keys keep their value
    updated = await received(server, "session.updated", 2, direction="server")
    assert updated[-1]["session"]["instructions"] == "A"
    assert server.events("error") == []


async def test_update_session_tools_are_sent_but_not_kept(client, server):
    tool = {"name": "lookup", "description": "d", "parameters": {"type": "object", "properties": {}}}
    client.update_session(tools=[tool])
    assert [t["name"] for t in (await received(server, "session.update", 2))[-1]["session"]["tools"]] == ["lookup"]
    client.update_session(instructions="x")
    assert (await received(server, "session.update", 3))[-1]["session"]["tools"] == []


# -- errors of the reference ------------------------------------------------------------------


async def test_reference_errors_of_connection_state(make_client):
    c = make_client()
    with pytest.raises(ConnectionStateError, match=r"^Not connected, use \.connect\(\) first$"):
        await c.wait_for_session_created()
    with pytest.raises(ConnectionStateError, match=r"^RealtimeAPI is not connected$"):
        c.create_response()
    await c.connect()
    with pytest.raises(ConnectionStateError, match=r"^Already connected, use \.disconnect\(\) first$"):
        await c.connect()
    with pytest.raises(ConnectionStateError, match=r"^Already connected$"):
        await c.realtime.connect()
    with pytest.raises(TypeError, match=r"^data must be an object$"):
        c.realtime.send("response.create", ["not", "an", "object"])  # type: ignore[arg-type]
    await c.disconnect()


async def test_reference_errors_of_tools(client):
    with pytest.raises(ValueError, match=r"^Missing tool name in definition$"):
        client.add_tool({"description": "x"}, lambda a: a)
    client.add_tool({"name": "t"}, lambda a: a)
    with pytest.raises(ValueError, match=r'^Tool "t" already added\. Please use \.remove_tool\("t"\) before trying to add again\.$'):
        client.add_tool({"name": "t"}, lambda a: a)
    with pytest.raises(TypeError, match=r'^Tool "u" handler must be a function$'):
        client.add_tool({"name": "u"}, "not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r'^Tool "v" does not exist, can not be removed\.$'):
        client.remove_tool("v")
    with pytest.raises(ValueError, match=r'^Tool "t" has already been defined$'):
        client.update_session(tools=[{"name": "t"}])


async def test_reference_errors_of_cancel_response(client):
    log = EventLog(client, ["conversation.item.completed"])
    client.update_session(modalities=["text"])
    client.send_user_message_content([{"type": "input_text", "text": "x"}])
    user = (await log.wait_for("conversation.item.completed"))["item"]
    assistant = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant"))["item"]
    with pytest.raises(ValueError, match=r'^Could not find item "nope"$'):
        client.cancel_response("nope")
    with pytest.raises(ValueError, match=r'^Can only cancelResponse messages with role "assistant"$'):
        client.cancel_response(user["id"])
    with pytest.raises(ValueError, match=r"^Could not find audio on item to cancel$"):
        client.cancel_response(assistant["id"], 100)  # a text-only answer has no audio part to truncate
    # Nothing played: only the response is cancelled (an interruption before the first audio).
    assert client.cancel_response(assistant["id"]) == {"item": assistant}
    client.conversation.item_lookup["fake"] = {"id": "fake", "type": "function_call", "formatted": {}}
    with pytest.raises(ValueError, match=r'^Can only cancelResponse messages with type "message"$'):
        client.cancel_response("fake")


# -- events ---------------------------------------------------------------------------------------


async def test_realtime_event_covers_client_and_server_events(client):
    seen = []
    client.on("realtime.event", seen.append)
    log = EventLog(client, ["conversation.item.completed"])
    client.send_user_message_content([{"type": "input_text", "text": "x"}])
    await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant")
    sources = {e["source"] for e in seen}
    assert sources == {"client", "server"}
    assert all(e["time"].endswith("Z") and "T" in e["time"] for e in seen)
    audio_events = [e["event"] for e in seen if e["event"]["type"] in ("response.audio.delta", "response.output_audio.delta")]
    assert audio_events and all(isinstance(e["delta"], str) for e in audio_events)
    # realtime.event sees the same delta text as the server sent (re-encoded from the decoded samples)
    assistant = client.conversation.items[-1]
    assert b"".join(base64.b64decode(e["delta"]) for e in audio_events) == bytes(assistant["formatted"]["audio"])


async def test_server_error_events_become_error_events(client):
    log = EventLog(client, ["error"])
    client.delete_item("item_does_not_exist")
    error = await log.wait_for("error")
    assert error["source"] == "server"
    assert "item_does_not_exist" in error["message"]
    assert error["event"]["type"] == "error"
    assert client.is_connected()


async def test_an_event_naming_an_unknown_item_is_an_error_event_not_a_crash(client):
    log = EventLog(client, ["error"])
    client.realtime.receive(
        "conversation.item.truncated", {"event_id": "event_x", "type": "conversation.item.truncated", "item_id": "ghost", "content_index": 0, "audio_end_ms": 5}
    )
    error = (await log.wait_for("error"))
    assert error["source"] == "protocol" and 'Item "ghost" not found' in error["message"]
    # the session goes on
    done = EventLog(client, ["conversation.item.completed"])
    client.send_user_message_content([{"type": "input_text", "text": "still here"}])
    await done.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant")


async def test_raising_handlers_are_reported_and_the_session_goes_on(client):
    log = EventLog(client, ["error", "conversation.item.completed"])

    def bad(event):
        raise RuntimeError("handler bug")

    async def bad_async(event):
        raise KeyError("async handler bug")

    client.on("conversation.updated", bad)
    client.on_next("conversation.item.appended", bad_async)
    client.send_user_message_content([{"type": "input_text", "text": "x"}])
    await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant")
    errors = log.of("error")
    assert any(e["source"] == "handler" and "handler bug" in e["message"] and isinstance(e["exception"], RuntimeError) for e in errors)
    await log.wait_for("error", lambda e: isinstance(e.get("exception"), KeyError))
    assert client.is_connected()


async def test_coroutine_handlers_receive_audio_that_stays_valid(client):
    received = []

    async def later(event):
        await asyncio.sleep(0)
        if event["delta"] and "audio" in event["delta"]:
            received.append(event["delta"]["audio"])

    client.on("conversation.updated", later)
    log = EventLog(client, ["conversation.item.completed"])
    client.send_user_message_content([{"type": "input_text", "text": "x"}])
    assistant = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant"))["item"]
    await client.wait_for_handlers(timeout=10)
    assert b"".join(received) == bytes(assistant["formatted"]["audio"])


async def test_on_works_as_a_decorator(client):
    seen = []

    @client.on("conversation.item.appended")
    def appended(event):
        seen.append(event["item"]["role"])

    log = EventLog(client, ["conversation.item.completed"])
    client.send_user_message_content([{"type": "input_text", "text": "x"}])
    await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant")
    assert seen == ["user", "assistant"]


async def test_wait_for_next_item_and_completed_item(client):
    first = asyncio.ensure_future(client.wait_for_next_item())
    completed = asyncio.ensure_future(client.wait_for_next_completed_item())
    await asyncio.sleep(0)
    client.send_user_message_content([{"type": "input_text", "text": "x"}])
    assert (await first)["item"]["role"] == "user"
    assert (await completed)["item"]["role"] == "user"
    # The task that made those waits calls again at once: it gets the assistant's item even
    # when the mock sent it in the same read as the user's (no event lost between two waits).
    assert (await client.wait_for_next_item(timeout=5))["item"]["role"] == "assistant"
    assert (await client.wait_for_next_completed_item(timeout=5))["item"]["role"] == "assistant"
    assert await client.wait_for_next_item(timeout=0.01) is None


# -- reset / disconnect --------------------------------------------------------------------------------


async def test_reset_restores_defaults_and_drops_handlers(client, server):
    client.add_tool({"name": "t"}, lambda a: a)
    client.update_session(instructions="custom", turn_detection=client.default_server_vad_config)
    seen = []
    client.on("conversation.updated", seen.append)
    client.realtime.on("server.*", seen.append)
    assert await client.reset() is True
    assert not client.is_connected()
    assert client.tools == {} and client.session_config == DEFAULT_SESSION_CONFIG
    assert client.conversation.items == []
    await client.connect()
    await client.wait_for_session_created()
    log = EventLog(client, ["conversation.item.completed"])
    client.send_user_message_content([{"type": "input_text", "text": "x"}])
    await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant")
    assert seen == []  # old handlers are gone, internal wiring still works
    [update] = await received(server, "session.update", 1, connection=2)
    assert update["session"]["tools"] == [] and update["session"].get("instructions") == ""


async def test_disconnect_mid_response(client, server):
    server.pacing.audio_realtime_factor = 1.0  # a response that takes seconds
    server.script.reply("A long answer that keeps streaming audio for quite a while. " * 3)
    log = EventLog(client, ["conversation.updated", "close", "error"])
    client.send_user_message_content([{"type": "input_text", "text": "x"}])
    await log.wait_for("conversation.updated", lambda e: bool(e["delta"]) and "audio" in e["delta"])
    assert await client.disconnect() is True
    close = await log.wait_for("close")
    assert close["error"] is False and close.get("reconnecting") is False
    assert not client.is_connected() and client.conversation.items == []
    assert log.of("error") == []
    with pytest.raises(ConnectionStateError):
        client.send_user_message_content([{"type": "input_text", "text": "gone"}])


async def test_repr_redacts_the_key(client):
    text = repr(client) + repr(client.realtime)
    assert KEY not in text and "sk-...6789" in text


async def test_default_session_config_is_not_shared_between_clients(make_client):
    a, b = make_client(), make_client()
    a.session_config["modalities"].append("x")
    assert b.session_config["modalities"] == ["text", "audio"]
    assert DEFAULT_SESSION_CONFIG["modalities"] == ["text", "audio"]
    assert copy.deepcopy(DEFAULT_SESSION_CONFIG) == b.default_session_config


async def test_async_with_cancels_handler_tasks_still_running(server, make_client):
    c = make_client()
    started, cancelled = asyncio.Event(), []

    async def forever(event):
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    c.on_next("conversation.item.appended", forever)
    async with c:
        c.send_user_message_content([{"type": "input_text", "text": "x"}])
        await started.wait()
    assert cancelled == [True]


async def test_send_user_message_content_without_content_only_asks_for_a_response(client, server):
    assert client.send_user_message_content([]) is True
    [create] = await received(server, "response.create")
    assert server.events("conversation.item.create", direction="client") == []


async def test_max_history_items_bounds_the_local_conversation(make_client):
    c = make_client(max_history_items=3)
    await c.connect()
    log = EventLog(c, ["conversation.item.completed"])
    for n in range(3):
        mark = log.mark()
        c.send_user_message_content([{"type": "input_text", "text": f"turn {n}"}])
        await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant", after=mark)
    items = c.conversation.get_items()
    assert len(items) == 3 and items[-1]["formatted"]["transcript"] == 'You said: "turn 2"'
    assert len(c.conversation.item_lookup) == 3 and len(c.conversation.audio_buffers) == 3
    await c.disconnect()
