"""Mock server: session.update, bad client frames (section 6 e), conversation items, input buffer."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from realtime_fast.mock import MockRealtimeServer
from test_mock_support import (  # noqa: F401 - fixtures
    WireClient,
    assert_valid_events,
    audio_session,
    b64,
    dialect,
    mock_server,
    names,
    silence,
    tone,
    types_of,
    user_text,
)

pytestmark = pytest.mark.timeout(30)


# --------------------------------------------------------------------------- session.update


async def test_ga_session_update_merges_nested_fields(mock_server):
    async with await WireClient.open(mock_server) as c:
        await c.send(
            "session.update",
            session={"type": "realtime", "instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}},
        )
        first = (await c.recv())["session"]
        await c.send(
            "session.update",
            session={
                "type": "realtime",
                "output_modalities": ["text"],
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.8}}},
            },
        )
        second = (await c.recv())["session"]
    assert first["instructions"] == "Be brief." and first["audio"]["output"]["voice"] == "marin"
    assert first["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert second["output_modalities"] == ["text"]
    assert second["audio"]["output"]["voice"] == "marin" and second["instructions"] == "Be brief."
    vad = second["audio"]["input"]["turn_detection"]
    assert vad["threshold"] == 0.8 and vad["prefix_padding_ms"] == 300 and vad["silence_duration_ms"] == 200
    assert vad["create_response"] is True and vad["interrupt_response"] is True


async def test_beta_session_update_merges_flat_fields(mock_server):
    async with await WireClient.open(mock_server, dialect="beta") as c:
        # what the reference client sends on connect
        await c.send(
            "session.update",
            session={
                "modalities": ["text", "audio"],
                "instructions": "",
                "voice": "verse",
                "input_audio_format": "pcm16",
                "output_audio_format": "pcm16",
                "input_audio_transcription": None,
                "turn_detection": None,
                "tools": [{"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}],
                "tool_choice": "auto",
                "temperature": 0.8,
                "max_response_output_tokens": 4096,
            },
        )
        first = (await c.recv())["session"]
        await c.send(
            "session.update",
            session={"turn_detection": {"type": "server_vad"}, "input_audio_transcription": {"model": "whisper-1"}},
        )
        second = (await c.recv())["session"]
    assert first["voice"] == "verse" and first["turn_detection"] is None and first["max_response_output_tokens"] == 4096
    assert first["tools"] == [
        {"type": "function", "name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}
    ]
    assert second["voice"] == "verse" and second["tools"] == first["tools"]
    assert second["turn_detection"]["type"] == "server_vad" and second["turn_detection"]["silence_duration_ms"] == 200
    assert second["input_audio_transcription"] == {"model": "whisper-1"}


@pytest.mark.parametrize(
    ("dialect_", "session", "code", "param", "message"),
    [
        (
            "ga",
            {"instructions": "x"},
            "missing_required_parameter",
            "session.type",
            "Missing required parameter: 'session.type'.",
        ),
        (
            "ga",
            {"type": "realtime", "voice": "alloy"},
            "unknown_parameter",
            "session.voice",
            "Unknown parameter: 'session.voice'.",
        ),
        (
            "ga",
            {"type": "realtime", "audio": {"output": {"voice": "bogus"}}},
            "invalid_value",
            "session.audio.output.voice",
            "Invalid value: 'bogus'. Supported values are: 'alloy', 'ash', 'ballad', 'coral', 'echo', 'sage', 'shimmer', 'verse', 'marin', and 'cedar'.",
        ),
        (
            "ga",
            {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
            "integer_below_min_value",
            "session.audio.input.format.rate",
            "Invalid 'session.audio.input.format.rate': integer below minimum value. Expected a value >= 24000, but got 16000 instead.",
        ),
        (
            "ga",
            {"type": "realtime", "tools": [{"type": "function", "name": "f", "description": "d" * 2000}]},
            "string_above_max_length",
            "session.tools[0].description",
            "Invalid 'session.tools[0].description': string too long. Expected a string with maximum length 1024, but got a string with length 2000 instead.",
        ),
        (
            "ga",
            {"type": "realtime", "instructions": 5},
            "invalid_type",
            "session.instructions",
            "Invalid type for 'session.instructions': expected a string, but got an integer instead.",
        ),
        (
            "ga",
            {"type": "realtime", "output_modalities": ["text", "audio"]},
            "invalid_value",
            "session.output_modalities",
            None,
        ),
        ("ga", {"type": "realtime", "tool_choice": "sometimes"}, "invalid_value", "session.tool_choice", None),
        (
            "beta",
            {"voice": "bogus"},
            "invalid_value",
            "session.voice",
            "Invalid value: 'bogus'. Supported values are: 'alloy', 'ash', 'ballad', 'coral', 'echo', 'sage', 'shimmer', and 'verse'.",
        ),
        ("beta", {"foo": 1}, "unknown_parameter", "session.foo", "Unknown parameter: 'session.foo'."),
        ("beta", {"temperature": 2.0}, "decimal_above_max_value", "session.temperature", None),
        (
            "beta",
            {"max_response_output_tokens": 0},
            "integer_below_min_value",
            "session.max_response_output_tokens",
            None,
        ),
        (
            "beta",
            {"turn_detection": {"type": "server_vad", "threshold": "high"}},
            "invalid_type",
            "session.turn_detection.threshold",
            None,
        ),
        (
            "beta",
            {"tools": [{"type": "function", "description": "no name"}]},
            "missing_required_parameter",
            "session.tools[0].name",
            None,
        ),
        ("beta", {"input_audio_format": "mp3"}, "invalid_value", "session.input_audio_format", None),
        ("beta", {"modalities": ["audio"]}, "invalid_value", "session.modalities", None),
    ],
)
async def test_invalid_session_update_rejected_whole_with_param(mock_server, dialect_, session, code, param, message):
    async with await WireClient.open(mock_server, dialect=dialect_) as c:
        # the valid field next to the invalid one must not be applied either
        poisoned = {"instructions": "CHANGED", **session} if "instructions" not in session else session
        event_id = await c.send("session.update", session=poisoned)
        error = await c.recv()
        probe = {"type": "realtime"} if dialect_ == "ga" else {}
        await c.send("session.update", session=probe)
        after = (await c.recv())["session"]
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert (error["error"]["code"], error["error"]["param"], error["error"]["event_id"]) == (code, param, event_id)
    if message is not None:
        assert error["error"]["message"] == message
    assert after["instructions"] != "CHANGED"


async def test_beta_turn_detection_none_type_is_treated_as_null(mock_server):
    async with await WireClient.open(mock_server, dialect="beta") as c:
        await c.send("session.update", session={"turn_detection": {"type": "none"}})
        updated = await c.recv()
    assert updated["type"] == "session.updated" and updated["session"]["turn_detection"] is None


async def test_voice_is_locked_after_assistant_audio(mock_server, dialect):
    def voice(name: str) -> dict:
        return {"type": "realtime", "audio": {"output": {"voice": name}}} if dialect == "ga" else {"voice": name}

    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await c.send("session.update", session=audio_session(dialect))
        await c.recv()
        await c.send("session.update", session=voice("echo"))  # no assistant audio yet: allowed
        before = await c.recv()
        await c.send("conversation.item.create", item=user_text("hi"))
        await c.send("response.create")
        await c.until("rate_limits.updated")
        await c.send("session.update", session=voice("alloy"))
        error = await c.recv()
        await c.send("session.update", session=voice("echo"))  # unchanged voice: fine
        same = await c.recv()
    assert before["type"] == "session.updated"
    assert error["error"]["code"] == "cannot_update_voice"
    assert error["error"]["message"] == "Cannot update a conversation's voice if assistant audio is present."
    assert same["type"] == "session.updated"


async def test_model_cannot_change(mock_server):
    async with await WireClient.open(mock_server) as c:
        await c.send("session.update", session={"type": "realtime", "model": "gpt-realtime"})
        same = await c.recv()
        await c.send("session.update", session={"type": "realtime", "model": "gpt-realtime-mini"})
        error = await c.recv()
    assert same["type"] == "session.updated"
    assert error["error"]["param"] == "session.model"


# --------------------------------------------------------------------------- bad frames (6 e)


def _supported(dialect: str) -> str:
    if dialect == "ga":
        return (
            "'session.update', 'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', "
            "'conversation.item.create', 'conversation.item.retrieve', 'conversation.item.truncate', "
            "'conversation.item.delete', 'response.create', 'response.cancel', 'output_audio_buffer.clear', and 'session.close'"
        )
    return (
        "'session.update', 'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', "
        "'conversation.item.create', 'conversation.item.retrieve', 'conversation.item.truncate', "
        "'conversation.item.delete', 'response.create', 'response.cancel', 'transcription_session.update', and "
        "'output_audio_buffer.clear'"
    )


BAD_FRAMES = [
    # (frame, code, param, echoes event_id "evt_bad", message or None)
    ("not json {", "invalid_json", None, False, None),
    ('{"event_id": "evt_bad", "type": "response.create",', "invalid_json", None, True, None),
    ("[1, 2]", "invalid_event", None, False, None),
    ('{"event_id": "evt_bad"}', "invalid_event", None, True, "The 'type' field is missing."),
    ('{"event_id": "evt_bad", "type": 5}', "invalid_type", "type", True, None),
    (
        '{"event_id": "evt_bad", "type": "conversation.item.delete"}',
        "missing_required_parameter",
        "item_id",
        True,
        "Missing required parameter: 'item_id'.",
    ),
    (
        '{"event_id": "evt_bad", "type": "conversation.item.truncate", "item_id": "x", "content_index": "0", "audio_end_ms": 5}',
        "invalid_type",
        "content_index",
        True,
        None,
    ),
    (
        '{"event_id": "evt_bad", "type": "response.create", "bogus": 1}',
        "unknown_parameter",
        "bogus",
        True,
        "Unknown parameter: 'bogus'.",
    ),
    (
        '{"event_id": "evt_bad", "type": "input_audio_buffer.append", "audio": "!!not base64!!"}',
        "invalid_value",
        "audio",
        True,
        "Invalid 'audio'. Expected base64-encoded audio bytes (mono PCM16 at 24kHz) but got an invalid value.",
    ),
    (
        '{"event_id": "evt_bad", "type": "input_audio_buffer.append", "audio": "AA=="}',
        "invalid_value",
        "audio",
        True,
        None,
    ),
    (
        '{"event_id": "evt_bad", "type": "conversation.item.create", "item": {"role": "user"}}',
        "missing_required_parameter",
        "item.type",
        True,
        None,
    ),
    (
        '{"event_id": "evt_bad", "type": "response.create", "response": {"conversation": "other"}}',
        "invalid_value",
        "response.conversation",
        True,
        None,
    ),
    ('{"event_id": "evt_bad", "type": "output_audio_buffer.clear"}', "invalid_event", None, True, None),
]


@pytest.mark.parametrize(("frame", "code", "param", "echo", "message"), BAD_FRAMES)
async def test_bad_frame_gets_exactly_one_error_and_session_goes_on(
    mock_server, dialect, frame, code, param, echo, message
):
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await c.send_raw(frame)
        await c.send("input_audio_buffer.clear")
        error, probe = await c.recv(), await c.recv()
    assert error["type"] == "error" and probe["type"] == "input_audio_buffer.cleared"
    assert error["error"]["code"] == code and error["error"]["param"] == param
    assert error["error"]["event_id"] == ("evt_bad" if echo else None)
    if message is not None:
        assert error["error"]["message"] == message


async def test_unknown_type_lists_the_dialects_client_events(mock_server, dialect):
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        event_id = await c.send("response.bogus")
        error = await c.recv()
    assert error["error"]["code"] == "invalid_value" and error["error"]["param"] == "type"
    assert error["error"]["event_id"] == event_id
    assert error["error"]["message"] == f"Invalid value: 'response.bogus'. Supported values are: {_supported(dialect)}."


async def test_binary_frame_is_rejected_with_its_event_id(mock_server):
    async with await WireClient.open(mock_server) as c:
        await c.send_raw(b'{"event_id": "evt_bin", "type": "response.create"}')
        await c.send("input_audio_buffer.clear")
        error, probe = await c.recv(), await c.recv()
    assert error["error"]["code"] == "invalid_event" and error["error"]["event_id"] == "evt_bin"
    assert error["error"]["message"] == "Expected a text WebSocket message; binary frames are not supported."
    assert probe["type"] == "input_audio_buffer.cleared"
    assert mock_server.frames_of_type(None, direction="client")[0].is_binary


async def test_oversize_message_gets_an_error_and_session_goes_on():
    async with MockRealtimeServer(profile="fast", max_message_size=4096) as server:
        async with await WireClient.open(server) as c:
            await c.send_raw(
                '{"event_id": "evt_big", "type": "input_audio_buffer.append", "audio": "' + "A" * 8000 + '"}'
            )
            await c.send("input_audio_buffer.clear")
            error, probe = await c.recv(), await c.recv()
    assert error["error"]["code"] == "message_too_large" and error["error"]["event_id"] == "evt_big"
    assert probe["type"] == "input_audio_buffer.cleared"
    assert_valid_events(server)


async def test_message_over_twice_the_limit_closes_1009():
    async with MockRealtimeServer(profile="fast", max_message_size=4096) as server:
        client = await WireClient.open(server)
        await client.send_raw('{"type": "input_audio_buffer.append", "audio": "' + "A" * 9000 + '"}')
        with pytest.raises(ConnectionClosed):
            await client.recv()
        assert client.ws.close_code == 1009
    assert_valid_events(server)


async def test_too_long_event_id(mock_server):
    async with await WireClient.open(mock_server) as c:
        await c.send_raw('{"event_id": "' + "e" * 513 + '", "type": "input_audio_buffer.clear"}')
        error = await c.recv()
    assert error["error"]["code"] == "string_above_max_length" and error["error"]["param"] == "event_id"


# --------------------------------------------------------------------------- items


async def test_items_keep_order_with_previous_item_id_root_and_delete_repair(mock_server, dialect):
    n = names(dialect)
    async with await WireClient.open(mock_server, dialect=dialect) as c:

        async def create(text, previous=..., **extra):
            fields = {"item": {**user_text(text), **extra}}
            if previous is not ...:
                fields["previous_item_id"] = previous
            await c.send("conversation.item.create", **fields)
            events = await c.until("conversation.item.done" if dialect == "ga" else "conversation.item.created")
            added = next(e for e in events if e["type"] == n["item"])
            return added

        a = await create("A")
        b = await create("B")
        c_ = await create("C", previous=None)
        root = await create("R", previous="root")
        after_a = await create("AA", previous=a["item"]["id"])
        assert a["previous_item_id"] is None
        assert b["previous_item_id"] == a["item"]["id"]
        assert c_["previous_item_id"] == b["item"]["id"]
        assert root["previous_item_id"] is None
        assert after_a["previous_item_id"] == a["item"]["id"]
        await c.send("conversation.item.delete", item_id=b["item"]["id"])
        deleted = await c.recv()
        assert deleted == {**deleted, "type": "conversation.item.deleted", "item_id": b["item"]["id"]}
        # the chain is repaired: inserting after C's predecessor (now AA) works, and order is kept
        after_aa = await create("X", previous=after_a["item"]["id"])
        assert after_aa["previous_item_id"] == after_a["item"]["id"]
        texts = [i["content"][0]["text"] for i in mock_server.connections[1].items]
        assert texts == ["R", "A", "AA", "X", "C"]
        await c.send("conversation.item.delete", item_id=b["item"]["id"])
        gone = await c.recv()
        assert gone["error"]["code"] == "item_not_found" and gone["error"]["param"] == "item_id"
        assert gone["error"]["message"] == f"Item with item_id not found: {b['item']['id']}"
        await c.send("conversation.item.create", previous_item_id="item_nope", item=user_text("?"))
        missing_prev = await c.recv()
        assert (
            missing_prev["error"]["code"] == "item_not_found" and missing_prev["error"]["param"] == "previous_item_id"
        )


async def test_created_items_echo_content_and_ga_sends_added_then_done(mock_server, dialect):
    n = names(dialect)
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await c.send("conversation.item.create", item={"id": "my_item_1", **user_text("How are you?")})
        events = await c.until("conversation.item.done" if dialect == "ga" else "conversation.item.created")
        await c.send(
            "conversation.item.create",
            item={"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Be nice."}]},
        )
        system = (await c.until(n["item"]))[-1]
        await c.send(
            "conversation.item.create",
            item={
                "type": "message",
                "role": "assistant",
                "content": [{"type": n["text_type"], "text": "Earlier reply."}],
            },
        )
        assistant = (await c.until(n["item"]))[-1]
    expected = (
        ["conversation.item.added", "conversation.item.done"] if dialect == "ga" else ["conversation.item.created"]
    )
    assert types_of(events) == expected
    item = events[0]["item"]
    assert item == {
        "id": "my_item_1",
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_text", "text": "How are you?"}],
    }
    assert system["item"]["role"] == "system" and system["previous_item_id"] == "my_item_1"
    assert assistant["item"]["content"] == [{"type": n["text_type"], "text": "Earlier reply."}]


@pytest.mark.parametrize(
    ("item", "code", "param"),
    [
        ({"type": "message", "role": "robot", "content": []}, "invalid_value", "item.role"),
        ({"type": "message", "role": "user"}, "missing_required_parameter", "item.content"),
        (
            {"type": "message", "role": "system", "content": [{"type": "input_audio", "audio": ""}]},
            "invalid_value",
            "item.content[0].type",
        ),
        (
            {"type": "message", "role": "user", "content": [{"type": "input_text"}]},
            "missing_required_parameter",
            "item.content[0].text",
        ),
        (
            {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": "###"}]},
            "invalid_value",
            "item.content[0].audio",
        ),
        ({"type": "reasoning"}, "invalid_value", "item.type"),
        (
            {"type": "function_call_output", "call_id": "call_unknown", "output": "{}"},
            "invalid_tool_call_id",
            "item.call_id",
        ),
        ({"type": "function_call", "arguments": "{}"}, "missing_required_parameter", "item.name"),
        ({"id": "x" * 33, **user_text("hi")}, "string_above_max_length", "item.id"),
    ],
)
async def test_invalid_items_are_rejected(mock_server, dialect, item, code, param):
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        event_id = await c.send("conversation.item.create", item=item)
        error = await c.recv()
    assert (error["error"]["code"], error["error"]["param"], error["error"]["event_id"]) == (code, param, event_id)
    assert mock_server.connections == {} or mock_server.connections[1].items == []


async def test_duplicate_item_id_and_function_items(mock_server, dialect):
    n = names(dialect)
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await c.send(
            "conversation.item.create",
            item={"id": "fc_1", "type": "function_call", "call_id": "call_abc", "name": "f", "arguments": "{}"},
        )
        call = (await c.until(n["item"]))[-1]
        await c.send(
            "conversation.item.create",
            item={"type": "function_call_output", "call_id": "call_abc", "output": '{"ok": true}'},
        )
        output = (await c.until(n["item"]))[-1]
        await c.send("conversation.item.create", item={"id": "fc_1", **user_text("dup")})
        dup = await c.until("error")
    assert call["item"]["call_id"] == "call_abc" and call["item"]["name"] == "f"
    assert output["item"]["type"] == "function_call_output" and output["item"]["output"] == '{"ok": true}'
    assert dup[-1]["error"]["param"] == "item.id"


async def test_retrieve_returns_the_item_with_audio(mock_server, dialect):
    n = names(dialect)
    audio = b64(tone(300))
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await c.send(
            "conversation.item.create",
            item={"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": audio}]},
        )
        created = (await c.until(n["item"]))[-1]
        await c.send("conversation.item.retrieve", item_id=created["item"]["id"])
        retrieved = await c.until("conversation.item.retrieved")
        await c.send("conversation.item.retrieve", item_id="item_missing")
        missing = await c.recv()
    # the created echo carries no audio bytes; the retrieved item does
    assert created["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    assert retrieved[-1]["item"]["content"][0]["audio"] == audio
    assert missing["error"]["code"] == "item_not_found"


# --------------------------------------------------------------------------- input buffer (manual)


@pytest.mark.parametrize("ms", [0, 60])
async def test_commit_needs_100_ms(mock_server, dialect, ms):
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await c.send("session.update", session=audio_session(dialect))
        await c.recv()
        if ms:
            await c.send("input_audio_buffer.append", audio=b64(tone(ms)))
        event_id = await c.send("input_audio_buffer.commit")
        error = await c.recv()
    assert error["error"]["code"] == "input_audio_buffer_commit_empty" and error["error"]["event_id"] == event_id
    assert error["error"]["message"] == (
        "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
        f"but buffer only has {ms:.2f}ms of audio."
    )


async def test_manual_commit_creates_a_user_audio_item_and_clear_empties(mock_server, dialect):
    n = names(dialect)
    async with await WireClient.open(mock_server, dialect=dialect) as c:
        await c.send("session.update", session=audio_session(dialect))
        await c.recv()
        await c.send("conversation.item.create", item=user_text("first"))
        first = (await c.until(n["item"]))[-1]
        if dialect == "ga":
            await c.recv()  # conversation.item.done
        await c.send("input_audio_buffer.append", audio=b64(silence(250)))
        await c.send("input_audio_buffer.commit")
        events = await c.until(n["item"])
        await c.send("input_audio_buffer.append", audio=b64(silence(250)))
        await c.send("input_audio_buffer.clear")
        if dialect == "ga":
            await c.recv()
        cleared = await c.recv()
        await c.send("input_audio_buffer.commit")
        empty = await c.recv()
    committed, created = events[0], events[-1]
    assert committed["type"] == "input_audio_buffer.committed"
    assert committed["previous_item_id"] == first["item"]["id"]
    assert created["item"]["id"] == committed["item_id"]
    assert created["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    assert created["item"]["role"] == "user" and created["item"]["status"] == "completed"
    assert cleared["type"] == "input_audio_buffer.cleared"
    assert empty["error"]["code"] == "input_audio_buffer_commit_empty"
