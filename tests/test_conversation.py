"""RealtimeConversation on synthetic server events, in the beta and the GA spelling."""

from __future__ import annotations

import base64
import itertools

import numpy as np
import pytest

from realtime_fast import AudioBuffer, ConversationError, RealtimeConversation

_ids = itertools.count()

GA_NAMES = {
    "conversation.item.created": "conversation.item.added",
    "response.audio.delta": "response.output_audio.delta",
    "response.text.delta": "response.output_text.delta",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
}


@pytest.fixture(params=["beta", "ga"])
def dialect(request):
    return request.param


@pytest.fixture
def ev(dialect):
    """Build a server event in the fixture's dialect (beta names are translated for GA)."""

    def build(event_type: str, **fields):
        if dialect == "ga":
            event_type = GA_NAMES.get(event_type, event_type)
        return {"event_id": f"event_{next(_ids)}", "type": event_type, **fields}

    return build


def pcm(samples) -> bytes:
    return np.asarray(samples, dtype="<i2").tobytes()


def b64(samples) -> str:
    return base64.b64encode(pcm(samples)).decode()


def assistant(item_id="item_a"):
    return {"id": item_id, "object": "realtime.item", "type": "message", "status": "in_progress", "role": "assistant", "content": []}


def start_response(conv, ev, item_id="item_a", response_id="resp_1", part_type="audio", **response_fields):
    conv.process_event(ev("response.created", response={"id": response_id, "object": "realtime.response", "status": "in_progress", "output": [], **response_fields}))
    conv.process_event(ev("response.output_item.added", response_id=response_id, output_index=0, item=assistant(item_id)))
    item, delta = conv.process_event(ev("conversation.item.created", previous_item_id=None, item=assistant(item_id)))
    part = {"type": part_type, "transcript": ""} if part_type == "audio" else {"type": part_type, "text": ""}
    conv.process_event(ev("response.content_part.added", response_id=response_id, item_id=item_id, output_index=0, content_index=0, part=part))
    return item


def test_user_text_message_is_completed_with_formatted_text(ev):
    conv = RealtimeConversation()
    user = {"id": "item_u", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "How are "}, {"type": "input_text", "text": "you?"}]}
    item, delta = conv.process_event(ev("conversation.item.created", previous_item_id=None, item=user))
    assert delta is None
    assert item["status"] == "completed"
    assert item["formatted"]["text"] == "How are you?"
    assert item["formatted"]["transcript"] == ""
    assert isinstance(item["formatted"]["audio"], AudioBuffer) and len(item["formatted"]["audio"]) == 0
    assert conv.get_item("item_u") is item and conv.get_items() == [item]
    assert item is not user and item["content"] is not user["content"]  # deep copy: the raw event stays untouched
    assert "formatted" not in user


def test_assistant_audio_response_builds_audio_and_transcript(ev):
    conv = RealtimeConversation()
    item = start_response(conv, ev)
    assert item["status"] == "in_progress" and item["formatted"]["text"] == ""
    assert item["content"] == [{"type": "audio", "transcript": ""}]
    got_audio = []
    for chunk in ([1, 2, 3], [4, 5], [-6]):
        item2, delta = conv.process_event(ev("response.audio.delta", response_id="resp_1", item_id="item_a", output_index=0, content_index=0, delta=b64(chunk)))
        assert item2 is item
        assert isinstance(delta["audio"], bytes)
        got_audio.append(delta["audio"])
    for text in ("Hel", "lo"):
        _, delta = conv.process_event(ev("response.audio_transcript.delta", response_id="resp_1", item_id="item_a", output_index=0, content_index=0, delta=text))
        assert delta == {"transcript": text}
    assert got_audio == [pcm([1, 2, 3]), pcm([4, 5]), pcm([-6])]
    assert np.frombuffer(item["formatted"]["audio"], np.int16).tolist() == [1, 2, 3, 4, 5, -6]
    assert item["formatted"]["transcript"] == "Hello" and item["content"][0]["transcript"] == "Hello"
    done_item = dict(assistant(), status="completed", content=[{"type": "audio", "transcript": "Hello"}])
    item3, delta = conv.process_event(ev("response.output_item.done", response_id="resp_1", output_index=0, item=done_item))
    assert item3 is item and item["status"] == "completed" and delta is None
    assert conv.response_lookup["resp_1"]["output"] == ["item_a"]


def test_text_response_builds_formatted_text(ev):
    conv = RealtimeConversation()
    item = start_response(conv, ev, part_type="text")
    for text in ("a", "b", "c"):
        _, delta = conv.process_event(ev("response.text.delta", response_id="resp_1", item_id="item_a", output_index=0, content_index=0, delta=text))
        assert delta == {"text": text}
    assert item["formatted"]["text"] == "abc" and item["content"][0]["text"] == "abc"


def test_long_streamed_text_never_changes_a_string_someone_holds(ev):
    conv = RealtimeConversation()
    item = start_response(conv, ev)
    words = [f" w{i}" for i in range(3000)]
    held = []
    for i, word in enumerate(words):
        conv.process_event(ev("response.audio_transcript.delta", response_id="resp_1", item_id="item_a", output_index=0, content_index=0, delta=word))
        if i % 700 == 0:
            held.append((item["formatted"]["transcript"], item["content"][0]["transcript"], "".join(words[: i + 1])))
    assert item["formatted"]["transcript"] == item["content"][0]["transcript"] == "".join(words)
    for formatted, part, expected in held:  # strings handed out earlier are immutable snapshots
        assert formatted == part == expected


def test_streamed_text_onto_a_null_or_missing_value(ev):
    conv = RealtimeConversation()
    item = start_response(conv, ev, part_type="text")
    item["content"][0]["text"] = None
    conv.process_event(ev("response.text.delta", response_id="resp_1", item_id="item_a", output_index=0, content_index=0, delta="Hi"))
    assert item["content"][0]["text"] == "Hi" and item["formatted"]["text"] == "Hi"
    del item["content"][0]["text"]
    conv.process_event(ev("response.text.delta", response_id="resp_1", item_id="item_a", output_index=0, content_index=0, delta="!"))
    assert item["content"][0]["text"] == "!" and item["formatted"]["text"] == "Hi!"


def test_function_call_arguments_accumulate(ev):
    conv = RealtimeConversation()
    conv.process_event(ev("response.created", response={"id": "resp_1", "output": []}))
    call = {"id": "item_f", "type": "function_call", "status": "in_progress", "name": "get_weather", "call_id": "call_1", "arguments": ""}
    item, _ = conv.process_event(ev("conversation.item.created", item=call))
    assert item["status"] == "in_progress"
    assert item["formatted"]["tool"] == {"type": "function", "name": "get_weather", "call_id": "call_1", "arguments": ""}
    for part in ('{"city":', ' "Paris"}'):
        _, delta = conv.process_event(ev("response.function_call_arguments.delta", response_id="resp_1", item_id="item_f", output_index=0, call_id="call_1", delta=part))
        assert delta == {"arguments": part}
    assert item["arguments"] == item["formatted"]["tool"]["arguments"] == '{"city": "Paris"}'


def test_function_call_arguments_taken_from_done_item_when_no_deltas_came(ev):
    conv = RealtimeConversation()
    conv.process_event(ev("conversation.item.created", item={"id": "item_f", "type": "function_call", "name": "f", "call_id": "c", "arguments": ""}))
    item, _ = conv.process_event(ev("response.output_item.done", response_id="r", item={"id": "item_f", "type": "function_call", "status": "completed", "name": "f", "call_id": "c", "arguments": "{}"}))
    assert item["formatted"]["tool"]["arguments"] == "{}"


def test_function_call_output_is_completed_with_output(ev):
    conv = RealtimeConversation()
    item, _ = conv.process_event(ev("conversation.item.created", item={"id": "item_o", "type": "function_call_output", "call_id": "c", "output": '{"t": 20}'}))
    assert item["status"] == "completed" and item["formatted"]["output"] == '{"t": 20}'


def test_truncation_cuts_audio_and_clears_the_transcript(ev):
    conv = RealtimeConversation()
    item = start_response(conv, ev)
    conv.process_event(ev("response.audio.delta", response_id="resp_1", item_id="item_a", content_index=0, delta=b64(range(4800))))
    conv.process_event(ev("response.audio_transcript.delta", response_id="resp_1", item_id="item_a", content_index=0, delta="words"))
    item2, delta = conv.process_event(ev("conversation.item.truncated", item_id="item_a", content_index=0, audio_end_ms=150))
    assert item2 is item and delta is None
    assert len(item["formatted"]["audio"]) == 150 * 24000 // 1000 == 3600
    assert item["formatted"]["transcript"] == ""


def test_truncation_while_a_numpy_view_exists_swaps_in_a_copy(ev):
    conv = RealtimeConversation()
    item = start_response(conv, ev)
    conv.process_event(ev("response.audio.delta", response_id="resp_1", item_id="item_a", content_index=0, delta=b64(range(100))))
    view = np.frombuffer(item["formatted"]["audio"], np.int16)
    conv.process_event(ev("conversation.item.truncated", item_id="item_a", content_index=0, audio_end_ms=1))
    assert len(item["formatted"]["audio"]) == 24
    assert len(view) == 100  # the user's view still shows what it was made from
    assert conv.audio_buffers["item_a"] is item["formatted"]["audio"]


def test_audio_keeps_flowing_while_a_user_holds_a_view(ev):
    conv = RealtimeConversation()
    item = start_response(conv, ev)
    conv.process_event(ev("response.audio.delta", response_id="resp_1", item_id="item_a", content_index=0, delta=b64([1, 2])))
    view = np.frombuffer(item["formatted"]["audio"], np.int16)
    _, delta = conv.process_event(ev("response.audio.delta", response_id="resp_1", item_id="item_a", content_index=0, delta=b64([3])))
    assert delta == {"audio": pcm([3])}
    assert np.frombuffer(item["formatted"]["audio"], np.int16).tolist() == [1, 2, 3]
    assert view.tolist() == [1, 2]
    assert conv.audio_buffers["item_a"] is item["formatted"]["audio"]


def test_audio_appended_reports_samples_added_by_the_fast_path(ev):
    conv = RealtimeConversation()
    item = start_response(conv, ev)
    buffer = conv.audio_buffers["item_a"]
    buffer.append(pcm([7, 8]))
    start = len(buffer)
    buffer.append(pcm([9, 10, 11]))
    got, delta = conv.audio_appended("item_a", buffer, start)
    assert got is item and delta == {"audio": pcm([9, 10, 11])}
    with pytest.raises(ConversationError):
        conv.audio_appended("nope", buffer, 0)


def test_deleted_items_leave_list_lookup_and_audio_sinks(ev):
    conv = RealtimeConversation()
    item = start_response(conv, ev)
    got, delta = conv.process_event(ev("conversation.item.deleted", item_id="item_a"))
    assert got is item and delta is None
    assert conv.get_items() == [] and conv.get_item("item_a") is None and "item_a" not in conv.audio_buffers


def test_input_transcription_sets_the_transcript(ev):
    conv = RealtimeConversation()
    user = {"id": "item_u", "type": "message", "role": "user", "content": [{"type": "input_audio", "transcript": None}]}
    item, _ = conv.process_event(ev("conversation.item.created", item=user))
    got, delta = conv.process_event(ev("conversation.item.input_audio_transcription.completed", item_id="item_u", content_index=0, transcript="hi there"))
    assert got is item and delta == {"transcript": "hi there"}
    assert item["formatted"]["transcript"] == "hi there" and item["content"][0]["transcript"] == "hi there"


def test_empty_transcript_is_shown_as_a_space(ev):
    conv = RealtimeConversation()
    conv.process_event(ev("conversation.item.created", item={"id": "u", "type": "message", "role": "user", "content": [{"type": "input_audio", "transcript": None}]}))
    item, delta = conv.process_event(ev("conversation.item.input_audio_transcription.completed", item_id="u", content_index=0, transcript=""))
    assert item["formatted"]["transcript"] == " " and delta == {"transcript": ""}


def test_transcript_arriving_before_its_item_is_applied_when_the_item_comes(ev):
    # The reference reads the queued transcript from the wrong key and loses it.
    conv = RealtimeConversation()
    item, delta = conv.process_event(ev("conversation.item.input_audio_transcription.completed", item_id="u", content_index=0, transcript="early"))
    assert (item, delta) == (None, None)
    item, _ = conv.process_event(ev("conversation.item.created", item={"id": "u", "type": "message", "role": "user", "content": [{"type": "input_audio", "transcript": None}]}))
    assert item["formatted"]["transcript"] == "early" and item["content"][0]["transcript"] == "early"
    assert conv.queued_transcript_items == {}


def test_speech_segment_is_cut_from_session_absolute_positions(ev):
    conv = RealtimeConversation()
    # 1 s of audio was already dropped from the front of the client's buffer (offset 24000).
    audio = AudioBuffer()
    audio.append(pcm(np.arange(48000) % 1000))
    audio.discard(24000)
    assert audio.offset == 24000
    conv.process_event(ev("input_audio_buffer.speech_started", audio_start_ms=1100, item_id="u"))
    conv.process_event(ev("input_audio_buffer.speech_stopped", audio_end_ms=1500, item_id="u"), audio)
    user = {"id": "u", "type": "message", "role": "user", "content": [{"type": "input_audio", "transcript": None}]}
    item, _ = conv.process_event(ev("conversation.item.created", item=user))
    expected = (np.arange(48000) % 1000)[1100 * 24 : 1500 * 24]
    assert np.frombuffer(item["formatted"]["audio"], np.int16).tolist() == expected.tolist()
    assert conv.queued_speech_items == {}


def test_speech_segment_beyond_the_held_audio_is_clipped(ev):
    conv = RealtimeConversation()
    audio = AudioBuffer()
    audio.append(pcm(range(2400)))  # 100 ms
    conv.process_event(ev("input_audio_buffer.speech_started", audio_start_ms=50, item_id="u"))
    conv.process_event(ev("input_audio_buffer.speech_stopped", audio_end_ms=900, item_id="u"), audio)
    assert np.frombuffer(conv.queued_speech_items["u"]["audio"], np.int16).tolist() == list(range(1200, 2400))


def test_speech_stopped_without_start_is_an_error(ev):
    with pytest.raises(ConversationError, match='no speech_started for item "u"'):
        RealtimeConversation().process_event(ev("input_audio_buffer.speech_stopped", audio_end_ms=10, item_id="u"), AudioBuffer())


def test_queued_input_audio_goes_to_the_next_user_audio_item_only(ev):
    conv = RealtimeConversation()
    queued = conv.queue_input_audio(pcm([1, 2, 3]))
    assert isinstance(queued, AudioBuffer)
    text_item, _ = conv.process_event(ev("conversation.item.created", item={"id": "t", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}))
    assert len(text_item["formatted"]["audio"]) == 0
    audio_item, _ = conv.process_event(ev("conversation.item.created", item={"id": "a", "type": "message", "role": "user", "content": [{"type": "input_audio", "transcript": None}]}))
    assert audio_item["formatted"]["audio"] is queued and conv.queued_input_audio is None


def test_a_second_item_with_a_known_id_is_an_error_and_is_never_merged(ev):
    conv = RealtimeConversation()
    ev_ = ev
    created = ev("conversation.item.created")["type"]
    item = start_response(conv, ev_)
    conv.process_event(ev_("response.audio_transcript.delta", item_id="item_a", content_index=0, delta="first"))
    with pytest.raises(ConversationError, match='the server gave a second item the id "item_a"; it was not added'):
        conv.process_event({"event_id": "dup", "type": created, "item": assistant()})
    assert conv.duplicate_ids == {"item_a"} and "item_a" not in conv.audio_buffers
    # Everything about the id from now on belongs to either item: it is ignored, without errors.
    for event in (
        ev_("response.content_part.added", response_id="resp_2", item_id="item_a", content_index=1, part={"type": "audio", "transcript": ""}),
        ev_("response.audio_transcript.delta", item_id="item_a", content_index=0, delta="second"),
        ev_("response.text.delta", item_id="item_a", content_index=0, delta="second"),
        ev_("response.audio.delta", item_id="item_a", content_index=0, delta=b64([1, 2])),
        ev_("response.output_item.done", response_id="resp_2", item=dict(assistant(), status="completed")),
        ev_("conversation.item.input_audio_transcription.delta", item_id="item_a", content_index=0, delta="x"),
    ):
        assert conv.process_event(event) == (None, None)
    assert item["formatted"]["transcript"] == "first" and item["content"] == [{"type": "audio", "transcript": "first"}]
    assert len(item["formatted"]["audio"]) == 0 and item["status"] == "in_progress" and len(conv.items) == 1
    conv.clear()
    assert conv.duplicate_ids == set()


def test_ga_item_done_after_added_is_the_same_item():
    conv = RealtimeConversation()
    added = {"event_id": "e1", "type": "conversation.item.added", "item": assistant()}
    item, _ = conv.process_event(added)
    again, delta = conv.process_event({"event_id": "e2", "type": "conversation.item.done", "item": assistant()})
    assert again is item and delta is None and conv.duplicate_ids == set()


def test_ga_item_done_is_silent_for_known_items_and_adds_unknown_ones():
    conv = RealtimeConversation()
    user = {"id": "u", "type": "message", "role": "user", "status": "completed", "content": [{"type": "input_text", "text": "x"}]}
    item, _ = conv.process_event({"event_id": "e1", "type": "conversation.item.added", "item": user})
    again, delta = conv.process_event({"event_id": "e2", "type": "conversation.item.done", "item": user})
    assert again is item and delta is None and len(conv.items) == 1
    other, _ = conv.process_event({"event_id": "e3", "type": "conversation.item.done", "item": dict(user, id="v")})
    assert other["id"] == "v" and len(conv.items) == 2


def test_ga_output_text_parts_count_as_text():
    conv = RealtimeConversation()
    item, _ = conv.process_event(
        {"event_id": "e", "type": "conversation.item.added", "item": {"id": "x", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]}}
    )
    assert item["formatted"]["text"] == "hi"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"type": "response.created"}, 'Missing "event_id" on event'),
        ({"event_id": "e"}, 'Missing "type" on event'),
        ({"event_id": "e", "type": "rate_limits.updated"}, 'Missing conversation event processor for "rate_limits.updated"'),
        ({"event_id": "e", "type": "conversation.item.truncated", "item_id": "x", "audio_end_ms": 0}, 'item.truncated: Item "x" not found'),
        ({"event_id": "e", "type": "conversation.item.deleted", "item_id": "x"}, 'item.deleted: Item "x" not found'),
        ({"event_id": "e", "type": "response.output_item.added", "response_id": "r", "item": {"id": "x"}}, 'response.output_item.added: Response "r" not found'),
        ({"event_id": "e", "type": "response.output_item.done", "response_id": "r"}, 'response.output_item.done: Missing "item"'),
        ({"event_id": "e", "type": "response.output_item.done", "response_id": "r", "item": {"id": "x"}}, 'response.output_item.done: Item "x" not found'),
        ({"event_id": "e", "type": "response.content_part.added", "item_id": "x", "part": {}}, 'response.content_part.added: Item "x" not found'),
        ({"event_id": "e", "type": "response.audio_transcript.delta", "item_id": "x", "delta": "a"}, 'response.audio_transcript.delta: Item "x" not found'),
        ({"event_id": "e", "type": "response.output_audio.delta", "item_id": "x", "delta": "AAAA"}, 'response.output_audio.delta: Item "x" not found'),
        ({"event_id": "e", "type": "response.output_text.delta", "item_id": "x", "delta": "a"}, 'response.output_text.delta: Item "x" not found'),
        ({"event_id": "e", "type": "response.function_call_arguments.delta", "item_id": "x", "delta": "a"}, 'response.function_call_arguments.delta: Item "x" not found'),
    ],
)
def test_malformed_events_and_unknown_items_raise_conversation_errors(event, message):
    with pytest.raises(ConversationError) as info:
        RealtimeConversation().process_event(event)
    assert str(info.value) == message


def test_delta_for_a_missing_content_part_is_an_error(ev):
    conv = RealtimeConversation()
    conv.process_event(ev("conversation.item.created", item=assistant()))
    with pytest.raises(ConversationError, match='has no content part 0'):
        conv.process_event(ev("response.audio_transcript.delta", item_id="item_a", content_index=0, delta="x"))


def test_bad_base64_audio_is_an_error_and_changes_nothing(ev):
    conv = RealtimeConversation()
    item = start_response(conv, ev)
    with pytest.raises(ValueError):
        conv.process_event(ev("response.audio.delta", item_id="item_a", content_index=0, delta="!!!!"))
    assert len(item["formatted"]["audio"]) == 0


def test_out_of_band_response_events_are_ignored(ev):
    # conversation "none": the server never creates these items in the conversation.
    conv = RealtimeConversation()
    conv.process_event(ev("response.created", response={"id": "resp_oob", "output": [], "conversation_id": None}))
    conv.process_event(ev("response.output_item.added", response_id="resp_oob", item=assistant("item_x")))
    for event in (
        ev("response.content_part.added", response_id="resp_oob", item_id="item_x", content_index=0, part={"type": "text", "text": ""}),
        ev("response.text.delta", response_id="resp_oob", item_id="item_x", content_index=0, delta="hi"),
        ev("response.audio.delta", response_id="resp_oob", item_id="item_x", content_index=0, delta=b64([1])),
        ev("response.output_item.done", response_id="resp_oob", item=dict(assistant("item_x"), status="completed")),
    ):
        assert conv.process_event(event) == (None, None)
    assert conv.items == []


def test_response_done_updates_the_stored_response(ev):
    conv = RealtimeConversation()
    start_response(conv, ev)
    assert conv.response_status("resp_1") == "in_progress"
    assert conv.response_of_item("item_a")["id"] == "resp_1"
    conv.process_event(ev("response.done", response={"id": "resp_1", "status": "cancelled", "status_details": {"type": "cancelled"}, "output": []}))
    assert conv.response_status("resp_1") == "cancelled"
    assert conv.response_of_item("nope") is None


def test_max_history_items_drops_the_oldest_finished_items(ev):
    conv = RealtimeConversation(max_history_items=3)
    start_response(conv, ev, item_id="busy")  # in_progress: never dropped
    for n in range(5):
        conv.process_event(ev("conversation.item.created", item={"id": f"u{n}", "type": "message", "role": "user", "content": []}))
    assert [i["id"] for i in conv.items] == ["busy", "u3", "u4"]
    assert set(conv.item_lookup) == {"busy", "u3", "u4"} and set(conv.audio_buffers) == {"busy", "u3", "u4"}
    with pytest.raises(ValueError):
        RealtimeConversation(max_history_items=0)


def test_clear_forgets_everything_but_keeps_the_audio_sink_dict(ev):
    conv = RealtimeConversation()
    sinks = conv.audio_buffers
    start_response(conv, ev)
    conv.queue_input_audio(pcm([1]))
    conv.clear()
    assert conv.items == [] and conv.item_lookup == {} and conv.responses == [] and conv.queued_input_audio is None
    assert conv.audio_buffers is sinks and sinks == {}
