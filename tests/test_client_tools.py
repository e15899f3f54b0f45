"""RealtimeClient tools: the function call, the handler, its output and the follow-up response."""

from __future__ import annotations

import asyncio
import json

import pytest
from _realtime_helpers import (  # noqa: F401  (fixtures)
    EventLog,
    client,
    make_client,
    protocol,
    received,
    server,
    transport_name,
)

pytestmark = pytest.mark.timeout(60)

WEATHER = {
    "name": "get_weather",
    "description": "Current weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def is_assistant(event):
    return event["item"].get("role") == "assistant"


async def run_tool_turn(client, server, *, arguments='{"city": "Paris"}'):
    """Ask the mock for a call of get_weather; wait for the call output and the answer after it."""
    server.script.add_tool_call("weather", "get_weather", arguments)
    log = EventLog(client, ["conversation.item.completed", "error"])
    client.send_user_message_content([{"type": "input_text", "text": "What is the weather in Paris?"}])
    call = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["type"] == "function_call"))["item"]
    output_item = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["type"] == "function_call_output"))["item"]
    answer = (await log.wait_for("conversation.item.completed", is_assistant))["item"]
    creates = await received(server, "response.create", 2)
    return call, output_item, answer, log, creates


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_tool_handler_output_is_sent_then_a_new_response(client, server, kind):
    calls = []
    if kind == "sync":

        def handler(args):
            calls.append(args)
            return {"temperature": 21, "city": args["city"]}

    else:

        async def handler(args):
            await asyncio.sleep(0)
            calls.append(args)
            return {"temperature": 21, "city": args["city"]}

    registration = client.add_tool(WEATHER, handler)
    assert registration == {"definition": WEATHER, "handler": handler}
    call, output_item, answer, log, creates = await run_tool_turn(client, server)
    assert calls == [{"city": "Paris"}]
    assert call["formatted"]["tool"] == {"type": "function", "name": "get_weather", "call_id": call["call_id"], "arguments": '{"city": "Paris"}'}
    assert call["status"] == "completed"
    assert json.loads(output_item["formatted"]["output"]) == {"temperature": 21, "city": "Paris"}
    sent = [e for e in server.events(direction="client") if e["type"] in ("conversation.item.create", "response.create")]
    assert [e["type"] for e in sent][-2:] == ["conversation.item.create", "response.create"]
    assert sent[-2]["item"] == {"type": "function_call_output", "call_id": call["call_id"], "output": output_item["output"]}
    assert answer["formatted"]["transcript"].startswith("The result is:")
    assert log.of("error") == []


@pytest.mark.parametrize(
    ("case", "expected_error"),
    [
        ("raises", "weather service down"),
        ("unknown", 'Tool "get_weather" has not been added'),
        ("malformed", "Expecting property name enclosed in double quotes"),
        ("not_json_result", "is not JSON serializable"),
    ],
)
async def test_failing_tool_calls_answer_with_an_error_output(client, server, case, expected_error):
    arguments = '{"city": "Paris"}'
    if case == "raises":

        def handler(args):
            raise RuntimeError("weather service down")

        client.add_tool(WEATHER, handler)
    elif case == "unknown":
        client.update_session(tools=[WEATHER])  # the model knows the tool, the client has no handler for it
    elif case == "malformed":
        client.add_tool(WEATHER, lambda args: {"ok": True})
        arguments = "{city: Paris"
    else:
        client.add_tool(WEATHER, lambda args: object())
    call, output_item, answer, log, creates = await run_tool_turn(client, server, arguments=arguments)
    output = json.loads(output_item["formatted"]["output"])
    assert set(output) == {"error"} and expected_error in output["error"]
    errors = [e for e in log.of("error") if e["source"] == "tool"]
    assert len(errors) == 1 and expected_error in errors[0]["message"]
    assert answer["formatted"]["transcript"].startswith("The result is:")  # a new response followed
    assert client.is_connected()


async def test_remove_tool_updates_the_session(client, server, protocol):
    client.add_tool(WEATHER, lambda args: {})
    updates = await received(server, "session.update", 2)
    assert [t["name"] for t in updates[-1]["session"]["tools"]] == ["get_weather"]
    assert updates[-1]["session"]["tools"][0]["type"] == "function"
    assert client.remove_tool("get_weather") is True
    updates = await received(server, "session.update", 3)
    assert updates[-1]["session"]["tools"] == []
    assert client.tools == {}


async def test_tools_added_before_connecting_are_sent_on_connect(make_client, server):
    c = make_client()
    c.add_tool(WEATHER, lambda args: {})
    assert server.connection_log == []
    await c.connect()
    [update] = await received(server, "session.update")
    assert [t["name"] for t in update["session"]["tools"]] == ["get_weather"]
    await c.disconnect()


async def test_a_cancelled_function_call_does_not_run_the_tool(client, server):
    calls = []
    client.add_tool(WEATHER, calls.append)
    log = EventLog(client, ["conversation.updated"])
    client.realtime.receive(
        "conversation.item.created",
        {"event_id": "e1", "type": "conversation.item.created", "item": {"id": "fc", "type": "function_call", "name": "get_weather", "call_id": "c1", "arguments": ""}},
    )
    client.realtime.receive(
        "response.output_item.done",
        {"event_id": "e2", "type": "response.output_item.done", "response_id": "r", "item": {"id": "fc", "type": "function_call", "status": "incomplete", "name": "get_weather", "call_id": "c1", "arguments": "{"}},
    )
    await client.wait_for_handlers(timeout=5)
    assert calls == [] and client.conversation.get_item("fc")["status"] == "incomplete"
    assert log.of("conversation.updated")
