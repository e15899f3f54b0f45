"""Reconnects that keep the conversation (``replay="text"``), and the mock's fault API that tests them."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest

from realtime_fast import RealtimeClient, RealtimeConversation
from realtime_fast.conversation import ConversationError
from realtime_fast.mock import MockRealtimeServer
from _realtime_helpers import KEY, EventLog
from test_mock_support import assert_valid_events

pytestmark = pytest.mark.timeout(60)


def _item(item_id: str, **fields: Any) -> Dict[str, Any]:
    return {"type": "conversation.item.added", "event_id": f"e_{item_id}", "previous_item_id": None,
            "item": {"id": item_id, "object": "realtime.item", "status": "completed", **fields}}


def _conversation(*events: Dict[str, Any]) -> RealtimeConversation:
    conversation = RealtimeConversation()
    for event in events:
        conversation.process_event(event)
    return conversation


def test_text_history_turns_items_into_text_items() -> None:
    conversation = _conversation(
        _item("sys", type="message", role="system", content=[{"type": "input_text", "text": "Be brief."}]),
        _item("u1", type="message", role="user", content=[{"type": "input_audio", "transcript": "Hi there"}]),
        _item("a1", type="message", role="assistant", content=[{"type": "output_audio", "transcript": "Hello!"}]),
        _item("u2", type="message", role="user", content=[{"type": "input_audio", "transcript": ""}]),  # nothing said
        _item("c1", type="function_call", call_id="call_1", name="get_time", arguments='{"tz":"UTC"}'),
        _item("o1", type="function_call_output", call_id="call_1", output='"noon"'),
        _item("c2", type="function_call", call_id="call_2", name="get_time", arguments="{}"),  # no output
        _item("m1", type="mcp_list_tools", server_label="docs", tools=[]),
        _item("a2", type="message", role="assistant", content=[{"type": "output_text", "text": "It is noon."}]),
    )
    history = conversation.text_history()
    assert history == [
        ("sys", {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Be brief."}]}),
        ("u1", {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi there"}]}),
        ("a1", {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]}),
        ("c1", {"type": "function_call", "call_id": "call_1", "name": "get_time", "arguments": '{"tz":"UTC"}'}),
        ("o1", {"type": "function_call_output", "call_id": "call_1", "output": '"noon"'}),
        ("a2", {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It is noon."}]}),
    ]
    # The newest N; an output whose call was cut off is left out with it.
    assert [item_id for item_id, _ in conversation.text_history(2)] == ["o1", "a2"][1:]
    assert [item_id for item_id, _ in conversation.text_history(3)] == ["c1", "o1", "a2"]
    assert conversation.text_history(0) == []
    beta = conversation.text_history(assistant_text_type="text")
    assert beta[2][1]["content"][0]["type"] == "text"


def test_replay_as_moves_an_item_to_its_new_id_and_takes_the_acknowledgement_quietly() -> None:
    conversation = _conversation(_item("u1", type="message", role="user", content=[{"type": "input_text", "text": "Hi"}]))
    item = conversation.get_item("u1")
    assert conversation.mark_completed(item)
    assert conversation.replay_as("u1", "item_new") is item
    assert item["id"] == "item_new" and conversation.get_item("u1") is None and conversation.get_item("item_new") is item
    assert "item_new" in conversation.audio_buffers and "u1" not in conversation.audio_buffers
    assert not conversation.mark_completed(item)  # still reported once
    added = _item("item_new", type="message", role="user", content=[{"type": "input_text", "text": "Hi"}])
    assert conversation.process_event(added) == (None, None)
    done = dict(added, type="conversation.item.done")
    assert conversation.process_event(done) == (None, None)
    assert conversation.duplicate_ids == set() and conversation.get_items() == [item]
    with pytest.raises(ConversationError, match='Cannot replay item "u1"'):
        conversation.replay_as("u1", "item_other")
    with pytest.raises(ConversationError, match="that id is taken"):
        _conversation(_item("a", type="message", role="user", content=[]), _item("b", type="message", role="user", content=[])).replay_as("a", "b")


def test_replay_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="Unknown replay 'all'"):
        RealtimeClient(api_key=KEY, replay="all")
    with pytest.raises(ValueError, match="replay_max_items must be a number of items"):
        RealtimeClient(api_key=KEY, replay="text", replay_max_items=-1)


async def _turn(client: RealtimeClient, log: EventLog, text: str) -> Dict[str, Any]:
    mark = log.mark()
    client.send_user_message_content([{"type": "input_text", "text": text}])
    done = await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant", after=mark)
    return done["item"]


def _server_items(server: MockRealtimeServer) -> List[Dict[str, Any]]:
    (session,) = server.connections.values()
    return session.items


@pytest.mark.parametrize("protocol", ["ga", "beta"])
@pytest.mark.parametrize("fault", ["drop", "expire"])
async def test_a_reconnect_with_replay_keeps_a_five_turn_conversation(protocol: str, fault: str) -> None:
    async with MockRealtimeServer(profile="fast") as server:
        server.script.default_reply = 'You said: "{text}" (I see {item_count} items)'
        client = RealtimeClient(
            server.url, KEY, transport="websockets", protocol=protocol, reconnect=True, reconnect_delay=0.01, replay="text"
        )
        client.update_session(modalities=["text"])
        log = EventLog(client, ["conversation.item.completed", "conversation.item.appended", "reconnected", "close"])
        await client.connect()
        try:
            for number in range(1, 6):
                await _turn(client, log, f"turn {number}")
            before = [(item["role"], item["formatted"]["text"]) for item in client.conversation.items]
            first_connection = list(server.connections)
            if fault == "drop":
                assert await server.drop_connections() == 1
            else:
                assert await server.expire_sessions() == 1
            await log.wait_for("reconnected")
            close = log.of("close")[0]
            assert close["reconnecting"] and (close["code"] == 1001 if fault == "expire" else close["error"])
            # The new session holds the same ten items (five turns), as text, in order ...
            await server.wait_for_frame("conversation.item.create", direction="client", timeout=5)
            while len(server.connections) != 1 or list(server.connections) == first_connection or len(_server_items(server)) < 10:
                await asyncio.sleep(0.01)
            items = _server_items(server)
            text_type = "output_text" if protocol == "ga" else "text"
            assert [(i["role"], i["content"][0]["text"]) for i in items] == before
            assert [i["content"][0]["type"] for i in items] == ["input_text", text_type] * 5
            # ... under the ids the local items took, with nothing reported twice.
            assert [i["id"] for i in items] == [i["id"] for i in client.conversation.items]
            completed = [e["item"]["id"] for e in log.of("conversation.item.completed")]
            assert len(completed) == 10 and len(log.of("conversation.item.appended")) == 10
            creates = server.events("conversation.item.create", direction="client", connection=list(server.connections)[0])
            assert creates[0]["previous_item_id"] == "root"
            assert [c["previous_item_id"] for c in creates[1:]] == [c["item"]["id"] for c in creates[:-1]]
            # The next response sees them.
            reply = await _turn(client, log, "turn 6")
            assert reply["formatted"]["text"] == 'You said: "turn 6" (I see 11 items)'
            assert len(client.conversation.items) == 12
        finally:
            await client.disconnect()
    assert_valid_events(server)


async def test_replay_max_items_and_no_replay() -> None:
    async with MockRealtimeServer(profile="fast") as server:
        for replay, expected in (("text", 3), ("none", 0)):
            client = RealtimeClient(server.url, KEY, transport="websockets", reconnect=True, reconnect_delay=0.01,
                                    replay=replay, replay_max_items=3)
            client.update_session(modalities=["text"])
            log = EventLog(client, ["conversation.item.completed", "reconnected"])
            await client.connect()
            try:
                for number in range(3):
                    await _turn(client, log, f"turn {number}")
                await server.drop_connections(1012, "service restart")
                await log.wait_for("reconnected")
                await asyncio.sleep(0.1)
                items = _server_items(server)
                assert len(items) == expected
                if expected:
                    assert [i["content"][0]["text"] for i in items] == ['You said: "turn 1"', "turn 2", 'You said: "turn 2"']
            finally:
                await client.disconnect()
        assert server.connection_log[0].close_code == 1012
