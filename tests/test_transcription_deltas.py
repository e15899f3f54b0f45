"""Input transcription deltas, failures and retrieved items: the conversation, the client, and against the mock."""

from __future__ import annotations

import base64
import itertools

import numpy as np
import pytest
from _realtime_helpers import (  # noqa: F401  (fixtures)
    KEY,
    EventLog,
    chunks,
    client,
    make_client,
    protocol,
    received,
    samples_of,
    server,
    silence,
    tone,
    transport_name,
)

from test_mock_support import assert_valid_events

from realtime_fast import ConversationError, RealtimeClient, RealtimeConversation
from realtime_fast.conversation import MAX_QUEUED

pytestmark = pytest.mark.timeout(60)

DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"
FAILED = "conversation.item.input_audio_transcription.failed"
RETRIEVED = "conversation.item.retrieved"
_ids = itertools.count()


@pytest.fixture(params=["beta", "ga"])
def created_name(request):
    """The item creation event of each dialect (the transcription events have the same names in both)."""
    return "conversation.item.created" if request.param == "beta" else "conversation.item.added"


def ev(event_type: str, **fields):
    return {"event_id": f"event_{next(_ids)}", "type": event_type, **fields}


def user_audio_item(item_id: str = "item_u", **extra):
    return {"id": item_id, "object": "realtime.item", "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}], **extra}


def pcm(samples) -> bytes:
    return np.asarray(samples, dtype="<i2").tobytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def with_user_item(created_name, item_id: str = "item_u"):
    conv = RealtimeConversation()
    item, _ = conv.process_event(ev(created_name, item=user_audio_item(item_id)))
    return conv, item


# -- deltas -----------------------------------------------------------------------------------------


def test_deltas_accumulate_in_the_part_and_formatted(created_name):
    conv, item = with_user_item(created_name)
    results = [conv.process_event(ev(DELTA, item_id="item_u", content_index=0, delta=d)) for d in ("Book a", " table", " for two")]
    assert [r[0] for r in results] == [item, item, item]
    assert [r[1] for r in results] == [{"transcript": "Book a"}, {"transcript": " table"}, {"transcript": " for two"}]
    assert item["content"][0]["transcript"] == "Book a table for two"
    assert item["formatted"]["transcript"] == "Book a table for two"
    assert conv.get_items() == [item]


def test_delta_without_content_index_goes_to_part_zero(created_name):
    conv, item = with_user_item(created_name)
    got, delta = conv.process_event(ev(DELTA, item_id="item_u", delta="hi"))
    assert got is item and delta == {"transcript": "hi"}
    assert item["content"][0]["transcript"] == "hi"


def test_delta_naming_a_missing_part_still_updates_formatted(created_name):
    conv, item = with_user_item(created_name)
    got, delta = conv.process_event(ev(DELTA, item_id="item_u", content_index=3, delta="hi"))
    assert got is item and delta == {"transcript": "hi"}
    assert item["formatted"]["transcript"] == "hi" and item["content"] == [{"type": "input_audio", "transcript": None}]


@pytest.mark.parametrize("fields", [{}, {"delta": None}, {"delta": ""}, {"logprobs": [{"token": "a", "logprob": -0.1}]}])
def test_delta_without_text_changes_nothing(created_name, fields):
    conv, item = with_user_item(created_name)
    assert conv.process_event(ev(DELTA, item_id="item_u", content_index=0, **fields)) == (None, None)
    assert item["formatted"]["transcript"] == "" and item["content"][0]["transcript"] is None


@pytest.mark.parametrize("bad", [5, ["a"], {"text": "a"}, b"a"])
def test_delta_that_is_not_text_is_a_conversation_error_and_changes_nothing(created_name, bad):
    conv, item = with_user_item(created_name)
    conv.process_event(ev(DELTA, item_id="item_u", delta="so far"))
    with pytest.raises(ConversationError, match='"delta" must be a string'):
        conv.process_event(ev(DELTA, item_id="item_u", delta=bad))
    assert item["formatted"]["transcript"] == "so far" == item["content"][0]["transcript"]


@pytest.mark.parametrize("event_type", [DELTA, COMPLETED, FAILED])
@pytest.mark.parametrize("item_id", [None, "", 7])
def test_transcription_event_without_item_id_is_a_conversation_error(event_type, item_id):
    conv = RealtimeConversation()
    fields = {} if item_id is None else {"item_id": item_id}
    with pytest.raises(ConversationError, match='Missing "item_id"'):
        conv.process_event(ev(event_type, delta="x", transcript="x", **fields))
    assert conv.queued_transcript_items == {}


# -- completed after deltas ---------------------------------------------------------------------------


def test_completed_after_deltas_adds_only_the_rest_so_deltas_add_up_to_the_final_text(created_name):
    conv, item = with_user_item(created_name)
    seen = [conv.process_event(ev(DELTA, item_id="item_u", content_index=0, delta=d))[1] for d in ("Hello", " there")]
    got, delta = conv.process_event(ev(COMPLETED, item_id="item_u", content_index=0, transcript="Hello there, friend."))
    seen.append(delta)
    assert got is item and delta == {"transcript": ", friend."}
    assert "".join(d["transcript"] for d in seen) == "Hello there, friend." == item["formatted"]["transcript"]
    assert item["content"][0]["transcript"] == "Hello there, friend."


def test_completed_equal_to_the_deltas_adds_nothing(created_name):
    conv, item = with_user_item(created_name)
    conv.process_event(ev(DELTA, item_id="item_u", content_index=0, delta="Whole text\n"))
    got, delta = conv.process_event(ev(COMPLETED, item_id="item_u", content_index=0, transcript="Whole text\n"))
    assert got is item and delta == {"transcript": ""}
    assert item["formatted"]["transcript"] == "Whole text\n"


def test_completed_that_differs_from_the_deltas_replaces_them(created_name):
    conv, item = with_user_item(created_name)
    conv.process_event(ev(DELTA, item_id="item_u", content_index=0, delta="Wreck a nice"))
    conv.process_event(ev(DELTA, item_id="item_u", content_index=0, delta=" beach"))
    got, delta = conv.process_event(ev(COMPLETED, item_id="item_u", content_index=0, transcript="Recognize speech"))
    assert got is item and delta is None  # not an append: re-read the item
    assert item["formatted"]["transcript"] == "Recognize speech" == item["content"][0]["transcript"]


def test_empty_completed_after_deltas_is_shown_as_a_space(created_name):
    conv, item = with_user_item(created_name)
    conv.process_event(ev(DELTA, item_id="item_u", content_index=0, delta="uh"))
    got, delta = conv.process_event(ev(COMPLETED, item_id="item_u", content_index=0, transcript=""))
    assert got is item and delta is None
    assert item["formatted"]["transcript"] == " " and item["content"][0]["transcript"] == ""


def test_completed_without_deltas_keeps_the_reference_payload(created_name):
    conv, item = with_user_item(created_name)
    got, delta = conv.process_event(ev(COMPLETED, item_id="item_u", content_index=0, transcript="hi"))
    assert got is item and delta == {"transcript": "hi"}


# -- queued before the item -----------------------------------------------------------------------------


def test_deltas_before_the_item_are_queued_and_applied_when_it_arrives(created_name):
    conv = RealtimeConversation()
    for d in ("early", " words"):
        assert conv.process_event(ev(DELTA, item_id="item_u", content_index=0, delta=d)) == (None, None)
    assert conv.get_items() == []
    item, delta = conv.process_event(ev(created_name, item=user_audio_item()))
    assert delta is None
    assert item["formatted"]["transcript"] == "early words" == item["content"][0]["transcript"]
    assert conv.queued_transcript_items == {}
    # later deltas and the completed transcript continue from there
    assert conv.process_event(ev(DELTA, item_id="item_u", content_index=0, delta=" here"))[1] == {"transcript": " here"}
    assert conv.process_event(ev(COMPLETED, item_id="item_u", content_index=0, transcript="early words here."))[1] == {"transcript": "."}
    assert item["formatted"]["transcript"] == "early words here."


def test_completed_before_the_item_replaces_the_queued_deltas(created_name):
    conv = RealtimeConversation()
    conv.process_event(ev(DELTA, item_id="item_u", content_index=0, delta="draft"))
    conv.process_event(ev(COMPLETED, item_id="item_u", content_index=0, transcript="final"))
    item, _ = conv.process_event(ev(created_name, item=user_audio_item()))
    assert item["formatted"]["transcript"] == "final" == item["content"][0]["transcript"]


def test_queued_deltas_for_other_items_stay_apart_and_the_queue_is_bounded():
    conv = RealtimeConversation()
    conv.process_event(ev(DELTA, item_id="item_a", delta="for a"))
    conv.process_event(ev(DELTA, item_id="item_b", delta="for b"))
    conv.process_event(ev(DELTA, item_id="item_a", delta=" again"))
    assert conv.queued_transcript_items["item_a"]["transcript"] == "for a again"
    assert conv.queued_transcript_items["item_b"]["transcript"] == "for b"
    for n in range(MAX_QUEUED):
        conv.process_event(ev(DELTA, item_id=f"item_x{n}", delta="x"))
    assert len(conv.queued_transcript_items) == MAX_QUEUED
    assert "item_a" not in conv.queued_transcript_items  # the oldest went first
    item, _ = conv.process_event(ev("conversation.item.created", item=user_audio_item("item_a")))
    assert item["formatted"]["transcript"] == ""


def test_clear_forgets_queued_deltas():
    conv = RealtimeConversation()
    conv.process_event(ev(DELTA, item_id="item_u", delta="stale"))
    conv.clear()
    item, _ = conv.process_event(ev("conversation.item.created", item=user_audio_item()))
    assert item["formatted"]["transcript"] == ""


# -- failed ------------------------------------------------------------------------------------------------


def test_failed_transcription_leaves_the_item_as_it_was(created_name):
    conv, item = with_user_item(created_name)
    error = {"type": "transcription_error", "code": "audio_unintelligible", "message": "The audio could not be transcribed.", "param": None}
    assert conv.process_event(ev(FAILED, item_id="item_u", content_index=0, error=error)) == (None, None)
    assert item["formatted"]["transcript"] == "" and item["content"][0]["transcript"] is None
    # an unknown item is not an error either (the failure may come before the item)
    assert conv.process_event(ev(FAILED, item_id="item_later", content_index=0, error=error)) == (None, None)
    assert conv.get_items() == [item]


# -- retrieved ----------------------------------------------------------------------------------------------


def test_retrieved_refreshes_the_known_item_in_place_and_keeps_local_audio(created_name):
    conv, item = with_user_item(created_name)
    local = pcm([1, 2, 3, 4])
    item["formatted"]["audio"].append(local)
    buffer = item["formatted"]["audio"]
    server_copy = user_audio_item(content=[{"type": "input_audio", "transcript": "hello", "audio": b64(pcm([9, 9]))}])
    got, delta = conv.process_event(ev(RETRIEVED, item=server_copy))
    assert got is item and delta is None
    assert conv.get_items() == [item] and conv.get_item("item_u") is item
    assert item["content"][0]["transcript"] == "hello" and item["formatted"]["transcript"] == "hello"
    assert item["formatted"]["audio"] is buffer and bytes(buffer) == local
    assert conv.audio_buffers["item_u"] is buffer
    server_copy["content"][0]["transcript"] = "changed later"
    assert item["content"][0]["transcript"] == "hello"  # a copy, not the event's dict


def test_retrieved_fills_an_empty_audio_buffer_from_the_item(created_name):
    conv, item = with_user_item(created_name)
    audio = pcm(range(-50, 50))
    server_copy = user_audio_item(content=[{"type": "input_audio", "transcript": None, "audio": b64(audio)}])
    got, _ = conv.process_event(ev(RETRIEVED, item=server_copy))
    assert got is item and bytes(item["formatted"]["audio"]) == audio
    assert conv.audio_buffers["item_u"] is item["formatted"]["audio"]


def test_retrieved_with_a_null_transcript_keeps_live_captions(created_name):
    conv, item = with_user_item(created_name)
    conv.process_event(ev(DELTA, item_id="item_u", delta="still talking"))
    conv.process_event(ev(RETRIEVED, item=user_audio_item()))
    assert item["formatted"]["transcript"] == "still talking"


def test_retrieved_assistant_item_updates_status_text_and_transcript():
    conv = RealtimeConversation()
    conv.process_event(ev("response.created", response={"id": "resp_1", "status": "in_progress", "output": []}))
    assistant = {"id": "item_a", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    item, _ = conv.process_event(ev("conversation.item.created", item=assistant))
    full = dict(assistant, status="completed", content=[{"type": "output_text", "text": "Done."}, {"type": "output_audio", "transcript": "Said."}])
    got, _ = conv.process_event(ev(RETRIEVED, item=full))
    assert got is item and item["status"] == "completed"
    assert item["formatted"]["text"] == "Done." and item["formatted"]["transcript"] == "Said."


def test_retrieved_function_call_updates_the_tool():
    conv = RealtimeConversation()
    call = {"id": "item_c", "type": "function_call", "status": "in_progress", "name": "f", "call_id": "call_1", "arguments": ""}
    item, _ = conv.process_event(ev("conversation.item.created", item=call))
    conv.process_event(ev(RETRIEVED, item=dict(call, status="completed", arguments='{"a": 1}')))
    assert item["status"] == "completed" and item["arguments"] == '{"a": 1}'
    assert item["formatted"]["tool"] == {"type": "function", "name": "f", "call_id": "call_1", "arguments": '{"a": 1}'}


def test_retrieved_unknown_item_is_added_like_a_created_one():
    conv = RealtimeConversation()
    first, _ = conv.process_event(ev("conversation.item.created", item=user_audio_item("item_first")))
    audio = pcm([5, -5, 7])
    conv.process_event(ev(DELTA, item_id="item_old", delta="queued words"))
    got, delta = conv.process_event(ev(RETRIEVED, item=user_audio_item("item_old", content=[{"type": "input_audio", "transcript": None, "audio": b64(audio)}])))
    assert delta is None and got is conv.get_item("item_old")
    assert conv.get_items() == [first, got]
    assert bytes(got["formatted"]["audio"]) == audio and got["status"] == "completed"
    assert got["formatted"]["transcript"] == "queued words"
    # retrieved again: refreshed, not duplicated
    again, _ = conv.process_event(ev(RETRIEVED, item=user_audio_item("item_old")))
    assert again is got and len(conv.get_items()) == 2


def test_retrieved_unknown_item_does_not_take_audio_queued_for_the_next_commit():
    conv = RealtimeConversation()
    queued = conv.queue_input_audio(pcm([1, 2, 3]))
    got, _ = conv.process_event(ev(RETRIEVED, item=user_audio_item("item_old")))
    assert len(got["formatted"]["audio"]) == 0 and conv.queued_input_audio is queued


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (ev(RETRIEVED), 'Missing "item"'),
        (ev(RETRIEVED, item={"type": "message"}), 'Missing "item"'),
        (ev(RETRIEVED, item=user_audio_item("item_bad", content=[{"type": "input_audio", "audio": "not base64!"}])), "not base64 pcm16"),
    ],
)
def test_malformed_retrieved_is_a_conversation_error_and_adds_nothing(event, message):
    conv = RealtimeConversation()
    with pytest.raises(ConversationError, match=message):
        conv.process_event(event)
    assert conv.get_items() == [] and conv.item_lookup == {}


# -- client routing without a server -----------------------------------------------------------------------


def offline_client():
    return RealtimeClient("ws://127.0.0.1:9/v1/realtime", KEY)


def test_client_dispatches_transcription_deltas_and_reports_malformed_ones():
    client = offline_client()
    log = EventLog(client, ["conversation.updated", "error"])
    client.realtime.receive("conversation.item.added", ev("conversation.item.added", item=user_audio_item()))
    client.realtime.receive(DELTA, ev(DELTA, item_id="item_u", content_index=0, delta="live"))
    client.realtime.receive(DELTA, ev(DELTA, item_id="item_u", content_index=0, delta=42))
    updates = log.of("conversation.updated")
    assert [u["delta"] for u in updates] == [None, {"transcript": "live"}]
    assert updates[-1]["item"] is client.conversation.get_item("item_u")
    [error] = log.of("error")
    assert error["source"] == "protocol" and '"delta" must be a string' in error["message"]
    assert error["event"]["delta"] == 42


def test_client_reports_a_failed_transcription_as_a_server_error():
    client = offline_client()
    log = EventLog(client, ["conversation.updated", "error"])
    raw = EventLog(client.realtime, ["server." + FAILED])
    client.realtime.receive("conversation.item.added", ev("conversation.item.added", item=user_audio_item()))
    error = {"type": "transcription_error", "code": "audio_unintelligible", "message": "The audio could not be transcribed.", "param": None}
    failed = ev(FAILED, item_id="item_u", content_index=0, error=error)
    client.realtime.receive(FAILED, failed)
    [reported] = log.of("error")
    assert reported["source"] == "server" and reported["error"] == error and reported["event"] is failed
    assert "item_u" in reported["message"] and "could not be transcribed" in reported["message"]
    assert raw.of("server." + FAILED) == [failed]
    assert len(log.of("conversation.updated")) == 1  # only the item's creation


def test_client_announces_a_retrieved_item_it_did_not_know():
    client = offline_client()
    log = EventLog(client, ["conversation.updated", "conversation.item.appended", "conversation.item.completed"])
    client.realtime.receive(RETRIEVED, ev(RETRIEVED, item=user_audio_item("item_new")))
    item = client.conversation.get_item("item_new")
    assert log.names() == ["conversation.updated", "conversation.item.appended", "conversation.item.completed"]
    assert all(payload["item"] is item for _, payload in log.records)
    client.realtime.receive(RETRIEVED, ev(RETRIEVED, item=user_audio_item("item_new")))
    assert log.names()[3:] == ["conversation.updated"] and log.records[3][1]["delta"] is None


# -- end to end against the mock ----------------------------------------------------------------------------

VAD = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200}
SPOKEN = "please book a table for two at eight tonight near the river"


async def speak(client, server, model: str) -> None:
    client.update_session(turn_detection=dict(VAD), input_audio_transcription={"model": model})
    await received(server, "session.updated", 2, direction="server")
    for piece in chunks(np.concatenate([silence(200), tone(500), silence(500)]), 20):
        client.append_input_audio(piece)


def transcript_deltas(log, item_id):
    return [
        u["delta"]["transcript"]
        for u in log.of("conversation.updated")
        if u["item"]["id"] == item_id and u["delta"] and "transcript" in u["delta"]
    ]


@pytest.mark.parametrize("model", ["gpt-4o-transcribe", "whisper-1"])
async def test_spoken_turn_streams_transcript_deltas_that_add_up_to_the_final_transcript(client, server, model):
    server.script.set_transcript(SPOKEN)
    log = EventLog(client, ["conversation.updated", "conversation.item.completed", "error"])
    raw = EventLog(client.realtime, ["server." + DELTA, "server." + COMPLETED])
    await speak(client, server, model)
    completed = await raw.wait_for("server." + COMPLETED)
    user = client.conversation.get_item(completed["item_id"])
    assert user is not None and user["role"] == "user"
    wire = [e["delta"] for e in raw.of("server." + DELTA)]
    if model == "whisper-1":
        assert wire == [SPOKEN]  # one delta with the whole text
    else:
        assert len(wire) > 2  # a few words at a time
    pieces = transcript_deltas(log, user["id"])
    assert pieces[: len(wire)] == wire  # every wire delta reached conversation.updated, in order
    assert "".join(pieces) == SPOKEN == user["formatted"]["transcript"] == user["content"][0]["transcript"]
    reply = await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "assistant")
    assert SPOKEN in reply["item"]["formatted"]["transcript"]
    assert log.of("error") == []
    assert assert_valid_events(server) > 0  # the mock's events match the official models of the dialect


async def test_transcript_deltas_before_the_item_are_applied_to_it(client, server):
    server.script.set_transcript(SPOKEN, before_item=True)
    log = EventLog(client, ["conversation.updated", "conversation.item.completed", "error"])
    await speak(client, server, "gpt-4o-transcribe")
    user = (await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "user"))["item"]
    assert user["formatted"]["transcript"] == SPOKEN == user["content"][0]["transcript"]
    assert client.conversation.queued_transcript_items == {}
    assert log.of("error") == []


async def test_failed_transcription_is_reported_and_the_turn_goes_on(client, server):
    server.script.set_transcript(SPOKEN, fail=True)
    log = EventLog(client, ["conversation.updated", "conversation.item.completed", "error"])
    raw = EventLog(client.realtime, ["server." + FAILED])
    await speak(client, server, "gpt-4o-transcribe")
    failed = await raw.wait_for("server." + FAILED)
    error = await log.wait_for("error")
    assert error["source"] == "server" and error["event"] is failed
    assert error["error"]["code"] == "audio_unintelligible" and failed["item_id"] in error["message"]
    user = client.conversation.get_item(failed["item_id"])
    assert user is not None and user["formatted"]["transcript"] == "" and user["content"][0]["transcript"] is None
    assert transcript_deltas(log, user["id"]) == []
    reply = await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "assistant")
    assert SPOKEN in reply["item"]["formatted"]["transcript"]  # the model heard the audio all the same
    assert server.frames_of_type(DELTA, direction="server") == []
    assert assert_valid_events(server) > 0  # the failed event included


async def test_retrieve_refreshes_the_user_item_without_duplicating_it(client, server):
    server.script.set_transcript(SPOKEN)
    log = EventLog(client, ["conversation.updated", "conversation.item.appended", "conversation.item.completed", "error"])
    raw = EventLog(client.realtime, ["server." + COMPLETED, "server." + RETRIEVED])
    await speak(client, server, "whisper-1")
    await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "assistant")
    completed = await raw.wait_for("server." + COMPLETED)
    user = client.conversation.get_item(completed["item_id"])
    local_audio = bytes(user["formatted"]["audio"])
    assert local_audio
    items_before = client.conversation.get_items()
    mark = log.mark()
    client.realtime.send("conversation.item.retrieve", {"item_id": user["id"]})
    update = await log.wait_for("conversation.updated", lambda e: e["delta"] is None and e["item"] is user, after=mark)
    retrieved = await raw.wait_for("server." + RETRIEVED)
    assert update["item"] is user and client.conversation.get_items() == items_before
    assert "conversation.item.appended" not in log.names()[mark:]
    assert bytes(user["formatted"]["audio"]) == local_audio
    assert user["content"][0]["transcript"] == SPOKEN == user["formatted"]["transcript"]
    assert user["content"][0]["audio"] == retrieved["item"]["content"][0]["audio"]
    assert base64.b64decode(retrieved["item"]["content"][0]["audio"])  # the server's copy of the audio
    assert log.of("error") == []
    assert assert_valid_events(server) > 0


async def test_retrieve_of_an_item_the_client_forgot_adds_it_back_with_its_audio(client, server):
    log = EventLog(client, ["conversation.item.appended", "conversation.item.completed", "error"])
    audio = tone(300)
    client.send_user_message_content([{"type": "input_audio", "audio": audio}])
    user = (await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "user"))["item"]
    await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "assistant")
    assert len(user["formatted"]["audio"]) == 0  # the created echo carries no audio bytes
    client.conversation.clear()
    mark = log.mark()
    client.realtime.send("conversation.item.retrieve", {"item_id": user["id"]})
    appended = (await log.wait_for("conversation.item.appended", after=mark))["item"]
    assert appended["id"] == user["id"] and client.conversation.get_items() == [appended]
    assert np.array_equal(samples_of(appended["formatted"]["audio"]), audio)
    assert log.of("error") == []


async def test_retrieve_of_an_unknown_id_is_a_server_error(client, server):
    log = EventLog(client, ["error"])
    client.realtime.send("conversation.item.retrieve", {"item_id": "item_nobody"})
    error = await log.wait_for("error")
    assert error["source"] == "server" and "item_nobody" in error["message"]
    assert client.conversation.get_items() == [] and client.is_connected()
