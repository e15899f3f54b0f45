"""MCP tools: items finalised from their events, approvals, MCP tools kept in the session config,
and the mock's scripted MCP servers (every event validated against openai's types)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List

import pytest

from realtime_fast import RealtimeClient
from realtime_fast.mock import MockRealtimeServer
from _realtime_helpers import KEY, EventLog, client_events, received
from test_mock_support import assert_valid_events

pytestmark = pytest.mark.timeout(60)

DOCS = {"type": "mcp", "server_label": "docs", "server_url": "https://docs.example.com/mcp"}
RESPONSE = "resp_mcp00000000000000001"


def _frame(event: Dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def _offline_client() -> RealtimeClient:
    return RealtimeClient(api_key=KEY, transport="websockets")


def _feed(client: RealtimeClient, events: List[Dict[str, Any]]) -> None:
    for number, event in enumerate(events):
        event.setdefault("event_id", f"event_{number}")
        client.realtime.receive_frame(_frame(event))


def _call_events(output: Any = "42 results", error: Any = None) -> List[Dict[str, Any]]:
    """A response that calls an MCP tool, as the service streams it."""
    call = {"id": "mcp_1", "type": "mcp_call", "server_label": "docs", "name": "search", "arguments": ""}
    final = dict(call, arguments='{"q":"x"}', output=output, error=error)
    common = {"item_id": "mcp_1", "output_index": 0}
    return [
        {"type": "response.created", "response": {"object": "realtime.response", "id": RESPONSE, "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "response_id": RESPONSE, "output_index": 0, "item": call},
        {"type": "conversation.item.added", "previous_item_id": None, "item": call},
        {"type": "response.mcp_call_arguments.delta", "response_id": RESPONSE, **common, "delta": '{"q":'},
        {"type": "response.mcp_call_arguments.delta", "response_id": RESPONSE, **common, "delta": '"x"}'},
        {"type": "response.mcp_call_arguments.done", "response_id": RESPONSE, **common, "arguments": '{"q":"x"}'},
        {"type": "response.mcp_call.in_progress", **common},
        {"type": "response.mcp_call.failed" if error else "response.mcp_call.completed", **common},
        {"type": "conversation.item.done", "previous_item_id": None, "item": final},
        {"type": "response.output_item.done", "response_id": RESPONSE, "output_index": 0, "item": final},
    ]


def test_an_mcp_call_is_finalised_from_its_events_and_completes_once() -> None:
    client = _offline_client()
    log = EventLog(client, ["conversation.updated", "conversation.item.completed", "error"])
    _feed(client, _call_events())
    item = client.conversation.get_item("mcp_1")
    assert item["status"] == "completed"
    assert item["arguments"] == '{"q":"x"}' and item["output"] == "42 results"
    assert item["formatted"]["tool"] == {"type": "mcp", "server_label": "docs", "name": "search", "arguments": '{"q":"x"}'}
    assert item["formatted"]["output"] == "42 results"
    assert [e["delta"] for e in log.of("conversation.updated") if e["delta"]] == [{"arguments": '{"q":'}, {"arguments": '"x"}'}]
    assert [e["item"]["id"] for e in log.of("conversation.item.completed")] == ["mcp_1"]
    assert log.of("error") == []


def test_an_mcp_call_is_in_progress_until_its_final_item() -> None:
    client = _offline_client()
    events = _call_events()
    _feed(client, events[:8])  # up to response.mcp_call.completed
    item = client.conversation.get_item("mcp_1")
    assert item["status"] == "in_progress" and item["formatted"]["output"] is None
    _feed(client, events[8:])
    assert item["status"] == "completed" and item["formatted"]["output"] == "42 results"


def test_a_failed_mcp_call_is_incomplete_with_its_error_and_never_completed() -> None:
    client = _offline_client()
    log = EventLog(client, ["conversation.item.completed", "error"])
    error = {"type": "tool_execution_error", "message": "backend down"}
    _feed(client, _call_events(output=None, error=error))
    item = client.conversation.get_item("mcp_1")
    assert item["status"] == "incomplete" and item["error"] == error
    assert log.of("conversation.item.completed") == [] and log.of("error") == []


def test_an_mcp_tool_list_takes_its_tools_and_a_failed_one_stays_incomplete() -> None:
    client = _offline_client()
    log = EventLog(client, ["conversation.item.completed", "error"])
    tools = [{"name": "search", "description": "Search", "input_schema": {"type": "object"}}]
    for label, item_id, outcome in (("docs", "mcpl_1", "completed"), ("down", "mcpl_2", "failed")):
        listing = {"id": item_id, "type": "mcp_list_tools", "server_label": label, "tools": []}
        _feed(client, [
            {"type": "conversation.item.added", "previous_item_id": None, "item": listing},
            {"type": "mcp_list_tools.in_progress", "item_id": item_id},
            {"type": f"mcp_list_tools.{outcome}", "item_id": item_id},
            {"type": "conversation.item.done", "previous_item_id": None,
             "item": dict(listing, tools=tools if outcome == "completed" else [])},
        ])
    done = client.conversation.get_item("mcpl_1")
    assert done["status"] == "completed" and done["tools"] == tools and done["formatted"]["tools"] == tools
    assert client.conversation.get_item("mcpl_2")["status"] == "incomplete"
    assert [e["item"]["id"] for e in log.of("conversation.item.completed")] == ["mcpl_1"]
    # A lifecycle event for an item the conversation never saw is ignored, not an error.
    _feed(client, [{"type": "mcp_list_tools.in_progress", "item_id": "mcpl_unknown"},
                   {"type": "response.mcp_call.failed", "item_id": "mcp_unknown", "output_index": 0}])
    assert log.of("error") == []


def test_an_approval_request_is_complete_when_announced() -> None:
    client = _offline_client()
    log = EventLog(client, ["conversation.item.completed"])
    request = {"id": "mcpr_1", "type": "mcp_approval_request", "server_label": "docs", "name": "search", "arguments": "{}"}
    _feed(client, [{"type": "conversation.item.added", "previous_item_id": None, "item": request},
                   {"type": "conversation.item.done", "previous_item_id": None, "item": request}])
    item = client.conversation.get_item("mcpr_1")
    assert item["status"] == "completed"
    assert item["formatted"]["tool"] == {"type": "mcp", "server_label": "docs", "name": "search", "arguments": "{}"}
    assert len(log.of("conversation.item.completed")) == 1


def test_approve_mcp_call_checks_its_arguments() -> None:
    client = _offline_client()
    with pytest.raises(ValueError, match="id of the mcp_approval_request"):
        client.approve_mcp_call("", True)
    with pytest.raises(TypeError, match="approve must be True or False"):
        client.approve_mcp_call("mcpr_1", "yes")  # type: ignore[arg-type]
    _feed(client, [{"type": "conversation.item.added", "previous_item_id": None, "item": {
        "id": "item_user", "object": "realtime.item", "type": "message", "role": "user", "content": []}}])
    with pytest.raises(ValueError, match='"item_user" is a message, not an mcp_approval_request'):
        client.approve_mcp_call("item_user", True)


def test_mcp_tools_are_kept_in_the_session_config_by_server_label() -> None:
    client = _offline_client()
    client.add_tool({"name": "get_time", "parameters": {"type": "object"}}, lambda args: "noon")
    client.update_session(tools=[DOCS, {"name": "once", "parameters": {"type": "object"}}])
    assert [t.get("name") or t.get("server_label") for t in client.session_config["tools"]] == ["once", "get_time", "docs"]
    client.update_session(instructions="Be brief.")  # function tools given once are gone; the MCP tool stays
    assert [t.get("name") or t.get("server_label") for t in client.session_config["tools"]] == ["get_time", "docs"]
    replaced = dict(DOCS, require_approval="never")
    client.update_session(tools=[replaced, dict(DOCS, server_label="wiki")])
    assert client.mcp_tools == {"docs": replaced, "wiki": dict(DOCS, server_label="wiki")}
    client.remove_mcp_tool("wiki")
    assert [t.get("server_label") for t in client.session_config["tools"] if t["type"] == "mcp"] == ["docs"]
    with pytest.raises(ValueError, match='MCP tool "wiki" does not exist'):
        client.remove_mcp_tool("wiki")
    with pytest.raises(ValueError, match="MCP tool needs a \"server_label\""):
        client.update_session(tools=[{"type": "mcp", "server_url": "https://x.example.com"}])
    assert "wiki" not in client.mcp_tools


# -- against the mock --------------------------------------------------------------------------


@pytest.fixture
async def mcp_server():
    """A fast mock with a scripted MCP server "docs"; every event it sent is validated at teardown."""
    async with MockRealtimeServer(profile="fast") as server:
        server.script.add_mcp_tool("docs", "search", lambda args: f"3 pages about {args.get('q')}", description="Search the docs")
        server.script.add_mcp_call("react", "docs", "search", {"q": "react"})
        yield server
    assert_valid_events(server)


async def _connected(server: MockRealtimeServer, transport_name: str, *tools: Dict[str, Any]) -> RealtimeClient:
    client = RealtimeClient(server.url, KEY, transport=transport_name)
    client.update_session(modalities=["text"], tools=list(tools))
    await client.connect()
    await client.wait_for_session_created()
    return client


@pytest.mark.parametrize("transport_name", ["websockets", "picows"])
async def test_an_mcp_call_with_approval_against_the_mock(mcp_server, transport_name) -> None:
    client = await _connected(mcp_server, transport_name, DOCS)
    log = EventLog(client, ["conversation.item.completed", "conversation.updated", "error"])
    try:
        listing = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["type"] == "mcp_list_tools"))["item"]
        assert [tool["name"] for tool in listing["formatted"]["tools"]] == ["search"]
        client.send_user_message_content([{"type": "input_text", "text": "Tell me about react"}])
        request = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["type"] == "mcp_approval_request"))["item"]
        assert request["formatted"]["tool"]["arguments"] == '{"q": "react"}'
        client.approve_mcp_call(request["id"], True, reason="fine")
        reply = (await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "assistant"))["item"]
        call = next(i for i in client.conversation.items if i["type"] == "mcp_call")
        assert call["status"] == "completed" and call["approval_request_id"] == request["id"]
        assert call["formatted"]["output"] == "3 pages about react"
        assert reply["formatted"]["text"] == "The result is: 3 pages about react"
        assert [i["type"] for i in client.conversation.items] == [
            "mcp_list_tools", "message", "mcp_approval_request", "mcp_approval_response", "mcp_call", "message"]
        answer = client_events(mcp_server, "conversation.item.create")[-1]["item"]
        assert answer == {"type": "mcp_approval_response", "approval_request_id": request["id"], "approve": True, "reason": "fine"}
        assert log.of("error") == []
        # The MCP tool stays in the session config: a later update sends it again, and lists nothing new.
        client.update_session(instructions="Be brief.")
        updates = await received(mcp_server, "session.update", 2)
        assert updates[-1]["session"]["tools"] == [DOCS]
        await mcp_server.wait_for_frame("session.updated")
        assert len(mcp_server.frames_of_type("mcp_list_tools.in_progress")) == 1
    finally:
        await client.disconnect()


async def test_a_refused_mcp_call_is_not_made(mcp_server) -> None:
    client = await _connected(mcp_server, "websockets", DOCS)
    log = EventLog(client, ["conversation.item.completed"])
    try:
        client.send_user_message_content([{"type": "input_text", "text": "react please"}])
        request = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["type"] == "mcp_approval_request"))["item"]
        client.approve_mcp_call(request["id"], False)
        reply = (await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "assistant"
                                    and e["item"]["formatted"]["text"].startswith("I did not")))["item"]
        assert reply["formatted"]["text"] == "I did not run search, as you asked."
        assert not any(i["type"] == "mcp_call" for i in client.conversation.items)
    finally:
        await client.disconnect()


async def test_calls_of_a_tool_that_needs_no_approval_and_of_one_that_fails(mcp_server) -> None:
    mcp_server.script.add_mcp_tool("docs", "broken", error="backend down")
    mcp_server.script.add_mcp_call("broken", "docs", "broken")
    client = await _connected(mcp_server, "websockets", dict(DOCS, require_approval="never"))
    log = EventLog(client, ["conversation.item.completed", "conversation.updated"])
    try:
        client.send_user_message_content([{"type": "input_text", "text": "react"}])
        await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "assistant")
        call = next(i for i in client.conversation.items if i["type"] == "mcp_call")
        assert call["status"] == "completed" and "approval_request_id" not in call
        assert not any(i["type"] == "mcp_approval_request" for i in client.conversation.items)
        mark = log.mark()
        client.send_user_message_content([{"type": "input_text", "text": "use the broken one"}])
        reply = (await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "assistant", after=mark))["item"]
        failed = [i for i in client.conversation.items if i["type"] == "mcp_call"][-1]
        assert failed["status"] == "incomplete"
        assert failed["error"] == {"type": "tool_execution_error", "message": "backend down"}
        assert reply["formatted"]["text"] == "The tool broken failed: backend down"
        assert mcp_server.frames_of_type("response.mcp_call.failed")
    finally:
        await client.disconnect()


async def test_a_server_the_script_declares_no_tools_for_fails_to_list(mcp_server) -> None:
    client = await _connected(mcp_server, "websockets", dict(DOCS, server_label="unknown"))
    try:
        await mcp_server.wait_for_frame("conversation.item.done")
        await asyncio.sleep(0.05)
        listing = next(i for i in client.conversation.items if i["type"] == "mcp_list_tools")
        assert listing["status"] == "incomplete" and listing["formatted"]["tools"] == []
        assert mcp_server.frames_of_type("mcp_list_tools.failed")
    finally:
        await client.disconnect()


async def test_the_mock_rejects_an_approval_of_an_unknown_request(mcp_server) -> None:
    client = await _connected(mcp_server, "websockets")
    log = EventLog(client, ["error"])
    try:
        client.approve_mcp_call("mcpr_nothing", True, respond=False)
        error = await log.wait_for("error")
        assert error["error"]["param"] == "item.approval_request_id"
    finally:
        await client.disconnect()


async def test_the_mock_checks_mcp_tools_and_honours_allowed_tools(mcp_server) -> None:
    client = await _connected(mcp_server, "websockets", dict(DOCS, allowed_tools={"tool_names": ["other"]}, require_approval="never"))
    log = EventLog(client, ["conversation.item.completed", "error"])
    try:
        client.send_user_message_content([{"type": "input_text", "text": "react"}])
        reply = (await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "assistant"))["item"]
        assert reply["formatted"]["text"] == 'You said: "react"'  # search is not an allowed tool
        client.realtime.send("session.update", {"session": {"type": "realtime", "tools": [dict(DOCS, color="blue")]}})
        error = await log.wait_for("error")
        assert error["error"]["code"] == "unknown_parameter" and error["error"]["param"] == "session.tools[0].color"
    finally:
        await client.disconnect()
