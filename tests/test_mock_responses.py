"""Mock server: response event orderings of section 6 (a), (c), (d) and the response errors, both dialects."""

from __future__ import annotations

import base64
import re

import pytest

from realtime_fast.mock import MockRealtimeServer, Pacing, Script
from realtime_fast.mock.synth import speech_audio
from test_mock_support import (  # noqa: F401 - fixtures
    WireClient,
    assert_valid_events,
    audio_session,
    dialect,
    mock_server,
    names,
    text_session,
    types_of,
    user_text,
)

pytestmark = pytest.mark.timeout(30)

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def collapse(types: list[str]) -> list[str]:
    """Consecutive repeats folded into one (delta runs)."""
    out: list[str] = []
    for t in types:
        if not out or out[-1] != t:
            out.append(t)
    return out


async def _configure(c: WireClient, dialect: str, session: dict) -> None:
    await c.send("session.update", session=session)
    assert (await c.recv())["type"] == "session.updated"


async def _user_turn(c: WireClient, dialect: str, text: str, **response) -> list[dict]:
    await c.send("conversation.item.create", item=user_text(text))
    if response:
        await c.send("response.create", response=response)
    else:
        await c.send("response.create")
    return await c.until("rate_limits.updated")


# --------------------------------------------------------------------------- (a) text


async def test_a_text_turn_sequence(mock_server, dialect):
    n = names(dialect)
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await _configure(c, dialect, text_session(dialect))
        events = await _user_turn(c, dialect, "How are you?")
    user_events = (
        ["conversation.item.added", "conversation.item.done"] if dialect == "ga" else ["conversation.item.created"]
    )
    stream = [
        "response.created",
        "response.output_item.added",
        n["item"],
        "response.content_part.added",
        n["text_delta"],
        n["text_done"],
        "response.content_part.done",
        *(["conversation.item.done"] if dialect == "ga" else []),
        "response.output_item.done",
        "response.done",
        "rate_limits.updated",
    ]
    assert collapse(types_of(events)) == user_events + stream
    user = events[0]["item"]
    created = events[len(user_events)]
    assert created["response"]["status"] == "in_progress" and created["response"]["output"] == []
    assert created["response"]["usage"] is None
    rid = created["response"]["id"]
    added = events[len(user_events) + 1]
    assert added["item"]["status"] == "in_progress" and added["item"]["content"] == [] and added["output_index"] == 0
    assistant_created = events[len(user_events) + 2]
    assert (
        assistant_created["previous_item_id"] == user["id"] and assistant_created["item"]["id"] == added["item"]["id"]
    )
    part_added = next(e for e in events if e["type"] == "response.content_part.added")
    assert part_added["part"] == {"type": "text", "text": ""}
    deltas = [e["delta"] for e in events if e["type"] == n["text_delta"]]
    reply = 'You said: "How are you?"'
    assert "".join(deltas) == reply and len(deltas) >= 2
    assert all(len(d.split()) <= 4 for d in deltas)  # a few words each
    assert next(e for e in events if e["type"] == n["text_done"])["text"] == reply
    assert next(e for e in events if e["type"] == "response.content_part.done")["part"] == {
        "type": "text",
        "text": reply,
    }
    done_item = next(e for e in events if e["type"] == "response.output_item.done")["item"]
    assert done_item["status"] == "completed" and done_item["content"] == [{"type": n["text_type"], "text": reply}]
    done = next(e for e in events if e["type"] == "response.done")["response"]
    assert done["id"] == rid and done["status"] == "completed" and done["output"] == [done_item]
    usage = done["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] and usage["output_tokens"] > 0
    for e in events[len(user_events) + 1 :]:
        if "response_id" in e:
            assert e["response_id"] == rid


async def test_a_audio_turn_sequence_and_audio(mock_server, dialect):
    n = names(dialect)
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await _configure(c, dialect, audio_session(dialect))
        events = await _user_turn(c, dialect, "Tell me something nice")
    types = types_of(events)
    start = types.index("response.content_part.added")
    end = types.index(n["audio_done"])
    assert set(types[start + 1 : end]) == {n["audio_delta"], n["transcript_delta"]}
    assert types[end:] == [
        n["audio_done"],
        n["transcript_done"],
        "response.content_part.done",
        *(["conversation.item.done"] if dialect == "ga" else []),
        "response.output_item.done",
        "response.done",
        "rate_limits.updated",
    ]
    assert n["text_delta"] not in types
    assert events[start]["part"] == {"type": "audio", "transcript": ""}
    reply = 'You said: "Tell me something nice"'
    transcript = "".join(e["delta"] for e in events if e["type"] == n["transcript_delta"])
    assert transcript == reply
    assert events[end + 1]["transcript"] == reply
    audio = [base64.b64decode(e["delta"]) for e in events if e["type"] == n["audio_delta"]]
    assert all(len(a) % 2 == 0 and len(a) <= 4800 for a in audio)  # whole samples, <= 100 ms
    pcm = b"".join(audio)
    assert pcm == speech_audio(reply)  # deterministic synthetic speech
    assert abs(len(pcm) / 48 - len(reply) * 60) < 1  # 60 ms per character (48 bytes per ms)
    item = next(e for e in events if e["type"] == "response.output_item.done")["item"]
    assert item["content"] == [{"type": n["audio_type"], "transcript": reply}]
    usage = next(e for e in events if e["type"] == "response.done")["response"]["usage"]
    assert usage["output_token_details"]["audio_tokens"] > 0


async def test_audio_chunk_size_is_configurable(dialect):
    n = names(dialect)
    async with MockRealtimeServer(profile="fast", audio_chunk_ms=40) as server:
        async with await WireClient.open(server, dialect=dialect) as c:
            await _configure(c, dialect, audio_session(dialect))
            events = await _user_turn(c, dialect, "hello")
    sizes = [len(base64.b64decode(e["delta"])) for e in events if e["type"] == n["audio_delta"]]
    assert sizes[:-1] == [1920] * (len(sizes) - 1) and 0 < sizes[-1] <= 1920
    assert_valid_events(server)


async def test_g711_output_is_8khz_bytes(mock_server):
    async with await WireClient.open(mock_server, dialect="beta") as c:
        await _configure(c, "beta", audio_session("beta", output_audio_format="g711_ulaw"))
        events = await _user_turn(c, "beta", "hi there")
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.audio.delta")
    reply = 'You said: "hi there"'
    assert audio == speech_audio(reply, "g711_ulaw") and abs(len(audio) / 8 - len(reply) * 60) < 1


# --------------------------------------------------------------------------- (c) function calls


async def test_c_function_call_then_output_then_reply(mock_server, dialect):
    n = names(dialect)
    mock_server.script.add_tool_call("weather in Paris", "get_weather", {"city": "Paris"})
    tools = {"tools": [WEATHER_TOOL]}
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await _configure(c, dialect, {**text_session(dialect), **tools})
        events = await _user_turn(c, dialect, "What's the weather in Paris?")
        types = collapse(types_of(events))
        start = types.index("response.created")
        assert types[start:] == [
            "response.created",
            "response.output_item.added",
            n["item"],
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            *(["conversation.item.done"] if dialect == "ga" else []),
            "response.output_item.done",
            "response.done",
            "rate_limits.updated",
        ]
        added = next(e for e in events if e["type"] == "response.output_item.added")["item"]
        assert added["type"] == "function_call" and added["arguments"] == "" and added["status"] == "in_progress"
        assert added["name"] == "get_weather" and re.fullmatch(r"call_[A-Za-z0-9]{16}", added["call_id"])
        args = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
        assert args == '{"city": "Paris"}'
        done_args = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        assert (
            done_args["arguments"] == args
            and done_args["name"] == "get_weather"
            and done_args["call_id"] == added["call_id"]
        )
        final = next(e for e in events if e["type"] == "response.done")["response"]
        assert final["output"][0]["arguments"] == args and final["output"][0]["status"] == "completed"
        # the function output, then the client's response.create: a normal reply mentioning the output
        await c.send(
            "conversation.item.create",
            item={"type": "function_call_output", "call_id": added["call_id"], "output": '{"temp_c": 21}'},
        )
        await c.send("response.create")
        after = await c.until("rate_limits.updated")
    text = next(e for e in after if e["type"] == n["text_done"])["text"]
    assert text == 'The result is: {"temp_c": 21}'


async def test_tool_rule_needs_the_tool_configured_and_can_speak_first(mock_server, dialect):
    n = names(dialect)
    mock_server.script.add_tool_call(re.compile(r"weather", re.I), "get_weather", {"city": "Oslo"}, say="Let me check.")
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await _configure(c, dialect, text_session(dialect))
        without_tool = await _user_turn(c, dialect, "Weather please")
        await _configure(c, dialect, {**({"type": "realtime"} if dialect == "ga" else {}), "tools": [WEATHER_TOOL]})
        with_tool = await _user_turn(c, dialect, "Weather please")
    assert "response.function_call_arguments.done" not in types_of(without_tool)
    output = next(e for e in with_tool if e["type"] == "response.done")["response"]["output"]
    assert [o["type"] for o in output] == ["message", "function_call"]
    assert output[0]["content"][0]["text"] == "Let me check."
    indexes = {
        e["type"]: e["output_index"]
        for e in with_tool
        if e["type"] in ("response.function_call_arguments.done", n["text_done"])
    }
    assert indexes == {n["text_done"]: 0, "response.function_call_arguments.done": 1}


async def test_forced_tool_choice_calls_the_tool(mock_server):
    async with await WireClient.open(mock_server) as c:
        await _configure(c, "ga", {**text_session("ga"), "tools": [WEATHER_TOOL]})
        events = await _user_turn(c, "ga", "anything", tool_choice={"type": "function", "name": "get_weather"})
        none = await _user_turn(c, "ga", "anything", tool_choice="none")
    assert next(e for e in events if e["type"] == "response.function_call_arguments.done")["arguments"] == "{}"
    assert "response.function_call_arguments.done" not in types_of(none)


# --------------------------------------------------------------------------- (d) cancel + truncate


def _slow_audio_server(**kw) -> MockRealtimeServer:
    # 100 ms audio chunks every 10 ms: a long reply streams for a while
    return MockRealtimeServer(profile=Pacing(audio_realtime_factor=0.1), **kw)


LONG_REPLY = "This is a long scripted answer that keeps talking for quite a while. " * 4


async def test_d_cancel_mid_stream_then_truncate(dialect):
    n = names(dialect)
    async with _slow_audio_server() as server:
        server.script.reply(LONG_REPLY)
        async with await WireClient.open(server, dialect=dialect) as c:
            await _configure(c, dialect, audio_session(dialect))
            await c.send("conversation.item.create", item=user_text("talk"))
            await c.send("response.create")
            before = []
            while sum(1 for e in before if e["type"] == n["audio_delta"]) < 3:
                before.append(await c.recv())
            item_id = next(e for e in before if e["type"] == "response.output_item.added")["item"]["id"]
            await c.send("response.cancel")
            await c.send("conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=150)
            rest = await c.until("conversation.item.truncated")
            events = before + rest
            types = types_of(events)
            end = types.index(n["audio_done"])
            assert types[end:] == [
                n["audio_done"],
                n["transcript_done"],
                "response.content_part.done",
                *(["conversation.item.done"] if dialect == "ga" else []),
                "response.output_item.done",
                "response.done",
                "rate_limits.updated",
                "conversation.item.truncated",
            ]
            streamed = "".join(e["delta"] for e in events if e["type"] == n["transcript_delta"])
            audio_ms = sum(len(base64.b64decode(e["delta"])) for e in events if e["type"] == n["audio_delta"]) / 48
            assert 0 < len(streamed) < len(LONG_REPLY)
            assert events[end + 1]["transcript"] == streamed
            assert events[end + 2]["part"] == {"type": "audio", "transcript": streamed}
            item = next(e for e in events if e["type"] == "response.output_item.done")["item"]
            assert item["status"] == "incomplete" and item["content"][0]["transcript"] == streamed
            done = next(e for e in events if e["type"] == "response.done")["response"]
            assert done["status"] == "cancelled"
            assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
            assert done["output"] == [item]
            assert done["usage"]["output_token_details"]["audio_tokens"] == int(audio_ms // 50)
            truncated = events[-1]
            assert (truncated["item_id"], truncated["content_index"], truncated["audio_end_ms"]) == (item_id, 0, 150)
            # nothing else is streamed after the cancellation
            await c.expect_silence(0.15)
            # truncating beyond the audio actually sent is an error
            await c.send(
                "conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=int(audio_ms) + 500
            )
            error = await c.recv()
            assert (
                error["error"]["message"] == f"Audio content of 150ms is already shorter than {int(audio_ms) + 500}ms"
            )
            if dialect == "ga":  # GA then truncates to the real length anyway (observed)
                clamped = await c.recv()
                assert clamped["type"] == "conversation.item.truncated" and clamped["audio_end_ms"] == 150
            await c.send("conversation.item.retrieve", item_id=item_id)
            retrieved = await c.recv()
        part = retrieved["item"]["content"][0]
        assert part["transcript"] == "" and len(base64.b64decode(part["audio"])) == 150 * 48
    assert_valid_events(server)


async def test_truncate_too_long_without_cancel_and_wrong_items(mock_server, dialect):
    n = names(dialect)
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await _configure(c, dialect, audio_session(dialect))
        events = await _user_turn(c, dialect, "hello")
        sent_ms = int(sum(len(base64.b64decode(e["delta"])) for e in events if e["type"] == n["audio_delta"]) / 48)
        assistant = next(e for e in events if e["type"] == "response.output_item.done")["item"]["id"]
        user = events[0]["item"]["id"]
        await c.send("conversation.item.truncate", item_id=assistant, content_index=0, audio_end_ms=sent_ms + 1)
        too_long = await c.recv()
        if dialect == "ga":
            await c.recv()
        await c.send("conversation.item.truncate", item_id=user, content_index=0, audio_end_ms=0)
        not_assistant = await c.recv()
        await c.send("conversation.item.truncate", item_id="item_nope", content_index=0, audio_end_ms=0)
        unknown = await c.recv()
        await c.send("conversation.item.truncate", item_id=assistant, content_index=3, audio_end_ms=0)
        bad_index = await c.recv()
        await c.send("conversation.item.truncate", item_id=assistant, content_index=0, audio_end_ms=sent_ms)
        exact = await c.recv()
    assert too_long["error"]["message"] == f"Audio content of {sent_ms}ms is already shorter than {sent_ms + 1}ms"
    assert not_assistant["error"]["message"] == "Only model output audio messages can be truncated"
    assert not_assistant["error"]["code"] is None
    assert unknown["error"]["code"] == "item_not_found"
    assert bad_index["error"]["param"] == "content_index"
    assert exact["type"] == "conversation.item.truncated" and exact["audio_end_ms"] == sent_ms


async def test_text_items_cannot_be_truncated(mock_server):
    async with await WireClient.open(mock_server) as c:
        await _configure(c, "ga", text_session("ga"))
        events = await _user_turn(c, "ga", "hello")
        assistant = next(e for e in events if e["type"] == "response.output_item.done")["item"]["id"]
        await c.send("conversation.item.truncate", item_id=assistant, content_index=0, audio_end_ms=0)
        error = await c.recv()
    assert error["error"]["message"] == "Only model output audio messages can be truncated"


# --------------------------------------------------------------------------- (e) response errors


async def test_second_response_create_and_cancel_errors(dialect):
    async with _slow_audio_server() as server:
        server.script.reply(LONG_REPLY)
        async with await WireClient.open(server, dialect=dialect) as c:
            await _configure(c, dialect, audio_session(dialect))
            event_id = await c.send("response.cancel")
            not_active = await c.recv()
            await c.send("response.create")
            created = await c.recv()
            second_id = await c.send("response.create")
            events = await c.until("error")
            await c.send("response.cancel")
            await c.until("rate_limits.updated")
            await c.send("response.cancel")
            after = await c.until("error")
    assert not_active["error"]["code"] == "response_cancel_not_active" and not_active["error"]["event_id"] == event_id
    assert not_active["error"]["message"] == "Cancellation failed: no active response found"
    busy = events[-1]["error"]
    rid = created["response"]["id"]
    assert busy["code"] == "conversation_already_has_active_response" and busy["event_id"] == second_id
    assert busy["message"] == (
        f"Conversation already has an active response in progress: {rid}. "
        "Wait until the response is finished before creating a new one."
    )
    assert after[-1]["error"]["code"] == "response_cancel_not_active"
    assert_valid_events(server)


async def test_cancel_before_response_created(dialect):
    async with MockRealtimeServer(profile=Pacing(response_created_delay=5.0)) as server:
        async with await WireClient.open(server, dialect=dialect) as c:
            await _configure(c, dialect, text_session(dialect))
            await c.send("response.create")
            await c.send("response.cancel")
            events = await c.until("rate_limits.updated")
    assert types_of(events) == ["response.created", "response.done", "rate_limits.updated"]
    assert events[1]["response"]["status"] == "cancelled" and events[1]["response"]["output"] == []
    assert_valid_events(server)


async def test_out_of_band_response_stays_out_of_the_conversation(mock_server, dialect):
    n = names(dialect)
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await _configure(c, dialect, text_session(dialect))
        await c.send("conversation.item.create", item=user_text("classify me"))
        user = (await c.until(n["item"]))[-1]["item"]["id"]
        if dialect == "ga":
            await c.recv()
        await c.send(
            "response.create",
            response={
                "conversation": "none",
                "metadata": {"topic": "triage"},
                "input": [{"type": "item_reference", "id": user}],
            },
        )
        events = await c.until("rate_limits.updated")
        await c.send(
            "response.create",
            response={"conversation": "none", "input": [{"type": "item_reference", "id": "item_nope"}]},
        )
        missing = await c.recv()
    assert not [e for e in events if e["type"].startswith("conversation.item")]
    done = next(e for e in events if e["type"] == "response.done")["response"]
    assert done["conversation_id"] is None and done["metadata"] == {"topic": "triage"}
    assert done["output"][0]["content"][0]["text"] == 'You said: "classify me"'
    assert [i["id"] for i in mock_server.connections[1].items] == [user]
    assert missing["error"]["code"] == "item_not_found"


async def test_max_output_tokens_makes_the_response_incomplete(mock_server):
    async with await WireClient.open(mock_server) as c:
        await _configure(c, "ga", text_session("ga"))
        events = await _user_turn(c, "ga", "a rather long sentence to repeat", max_output_tokens=2)
    done = next(e for e in events if e["type"] == "response.done")["response"]
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert done["output"][0]["status"] == "incomplete" and len(done["output"][0]["content"][0]["text"]) == 8


@pytest.mark.parametrize("placement", ["after_done", "after_created", None])
async def test_rate_limits_placement_and_decrease(dialect, placement):
    async with MockRealtimeServer(profile="fast", rate_limits=placement) as server:
        async with await WireClient.open(server, dialect=dialect) as c:
            await _configure(c, dialect, text_session(dialect))
            for text in ("one", "two"):
                await c.send("conversation.item.create", item=user_text(text))
                await c.send("response.create")
                await c.until("response.done")
            await c.send("input_audio_buffer.clear")
            await c.until("input_audio_buffer.cleared")
        types = types_of(server.events(connection=1))
        limits = server.events("rate_limits.updated")
    if placement is None:
        assert not limits
    else:
        anchor = "response.done" if placement == "after_done" else "response.created"
        assert [types[i - 1] for i, t in enumerate(types) if t == "rate_limits.updated"] == [anchor, anchor]
        names_ = [[r["name"] for r in e["rate_limits"]] for e in limits]
        assert names_[0] == (["requests", "tokens"] if dialect == "beta" else ["tokens"])
        if placement == "after_done":
            tokens = [next(r["remaining"] for r in e["rate_limits"] if r["name"] == "tokens") for e in limits]
            assert tokens[0] > tokens[1]
    assert_valid_events(server)


# --------------------------------------------------------------------------- script (no sockets)


def test_script_order_queue_rules_default():
    script = Script()
    tools = [{"type": "function", "name": "lookup"}]
    plan = lambda text, tool_output=None: script.plan(
        user_text=text, tool_output=tool_output, tools=tools, tool_choice="auto"
    )  # noqa: E731
    assert plan(None).text == "Hello! How can I help you today?"
    assert plan("hi").text == 'You said: "hi"'
    script.add_rule("ORDER", "Your order is on its way.")
    script.add_rule(re.compile(r"\brefund\b"), lambda text: f"Refunding: {text}", once=True)
    script.add_tool_call(lambda text: text.startswith("find"), "lookup", {"q": 1})
    script.add_tool_call("call missing", "not_configured")
    assert plan("where is my order?").text == "Your order is on its way."
    assert plan("a refund please").text == "Refunding: a refund please"
    assert plan("a refund please").text == 'You said: "a refund please"'  # once
    call = plan("find it")
    assert (call.text, call.tool_name, call.tool_arguments) == (None, "lookup", '{"q": 1}')
    assert plan("call missing").tool_name is None
    script.reply("queued one")
    script.reply("queued two")
    assert [plan("order").text, plan("order").text, plan("order").text] == [
        "queued one",
        "queued two",
        "Your order is on its way.",
    ]
    assert plan("x", ("lookup", "42")).text == "The result is: 42"
    script.set_transcript("spoken words", before_item=True)
    assert script.next_transcript(1234) == ("spoken words", True)
    assert script.next_transcript(2400) == ("[2.40 s of audio]", False)
    script.clear()
    assert script.rules == [] and plan("order").text == 'You said: "order"'
    with pytest.raises(TypeError):
        script.reply(5)  # type: ignore[arg-type]


async def test_tool_choice_shapes_per_dialect(mock_server, dialect):
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        base = {"type": "realtime"} if dialect == "ga" else {}
        selector = {"type": "function", "name": "get_weather"}
        await c.send(
            "session.update",
            session={**base, **text_session(dialect), "tools": [WEATHER_TOOL], "tool_choice": selector},
        )
        session_answer = await c.recv()
        forced = "get_weather" if dialect == "beta" else selector
        await c.send(
            "session.update", session={**base, **text_session(dialect), "tools": [WEATHER_TOOL], "tool_choice": forced}
        )
        forced_answer = await c.recv()
        events = await _user_turn(c, dialect, "hello")
        nested = {"type": "function", "function": {"name": "get_weather"}}
        await c.send("session.update", session={**base, "tool_choice": "auto"})
        await c.recv()
        by_response = await _user_turn(c, dialect, "hello", tool_choice=nested if dialect == "beta" else selector)
    if dialect == "beta":  # beta sessions type tool_choice as a string
        assert (
            session_answer["error"]["code"] == "invalid_type"
            and session_answer["error"]["param"] == "session.tool_choice"
        )
    else:
        assert session_answer["session"]["tool_choice"] == selector
    assert forced_answer["type"] == "session.updated"
    for turn in (events, by_response):
        assert next(e for e in turn if e["type"] == "response.function_call_arguments.done")["name"] == "get_weather"


async def test_a_failing_script_rule_fails_the_response_not_the_session(mock_server, dialect):
    mock_server.script.add_rule("boom", lambda text: str(1 / 0))
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await _configure(c, dialect, text_session(dialect))
        failed = await _user_turn(c, dialect, "boom")
        fine = await _user_turn(c, dialect, "fine")
    done = next(e for e in failed if e["type"] == "response.done")["response"]
    assert done["status"] == "failed" and done["status_details"]["type"] == "failed"
    assert next(e for e in fine if e["type"] == "response.done")["response"]["status"] == "completed"
