"""Wire-event codec: parse_event, parse_audio_delta, dumps_event, dumps_append_audio, against both implementations."""

from __future__ import annotations

import base64
import importlib
import json
import os
import re
import tracemalloc
import types
from array import array

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_fast.errors import EventParseError

# The fixtures are modules, so sharing them across generated inputs is safe.
SETTINGS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
GA_AUDIO = "response.output_audio.delta"
BETA_AUDIO = "response.audio.delta"
ITEM = "item_C1PSb7Qz0rYfGkWx3mHtJ"


def _both(name: str):
    """(pure, compiled) modules, skipping when the compiled one is not built."""
    pure = importlib.import_module(f"realtime_fast.{name}_py")
    if os.environ.get("REALTIME_FAST_NO_EXTENSIONS") == "1":
        pytest.skip("extensions disabled")
    try:
        compiled = importlib.import_module(f"realtime_fast.{name}")
    except ImportError:
        if os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") == "1":
            raise
        pytest.skip(f"realtime_fast.{name} not built")
    return pure, compiled


def pcm_bytes(n_samples: int, seed: int = 1) -> bytes:
    return np.random.default_rng(seed).integers(-32768, 32767, n_samples, dtype="<i2").tobytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def frame_types(text: str) -> list:
    """The same frame as every type a transport may hand over."""
    raw = text.encode("utf-8")
    return [raw, text, bytearray(raw), memoryview(raw), memoryview(bytearray(raw))]


# Example frames of REALTIME_PROTOCOL.md (sections 4 and 7), beta then GA spellings.
SERVER_FRAMES = [
    '{"type":"error","event_id":"event_890","error":{"type":"invalid_request_error","code":"invalid_event","message":"The \'type\' field is missing.","param":null,"event_id":"event_567"}}',
    '{"type":"session.created","event_id":"event_AHBM…","session":{"id":"sess_AHBM…","object":"realtime.session","model":"gpt-4o-realtime-preview","expires_at":1728659509,"modalities":["audio","text"],"instructions":"Your knowledge cutoff is 2023-10. …","voice":"alloy","turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":200},"input_audio_format":"pcm16","output_audio_format":"pcm16","input_audio_transcription":null,"tool_choice":"auto","temperature":0.8,"max_response_output_tokens":"inf","tools":[]}}',
    '{"type":"input_audio_buffer.speech_started","event_id":"event_AHBO…","audio_start_ms":140448,"item_id":"item_AHBOfW2l…"}',
    '{"type":"conversation.item.created","event_id":"event_C1PS…","previous_item_id":null,"item":{"id":"item_C1PS…","object":"realtime.item","type":"message","status":"in_progress","role":"assistant","content":[]}}',
    '{"type":"response.created","event_id":"event_AH9u…","response":{"object":"realtime.response","id":"resp_AH9u…","status":"in_progress","status_details":null,"output":[],"usage":null}}',
    '{"type":"response.done","event_id":"event_AH9r…","response":{"object":"realtime.response","id":"resp_AH9r…","status":"completed","status_details":null,"output":[{"id":"item_AH9r…","object":"realtime.item","type":"message","status":"completed","role":"assistant","content":[{"type":"audio","transcript":"It sounds like you were interested…"}]}],"usage":{"total_tokens":1062,"input_tokens":919,"output_tokens":143,"input_token_details":{"cached_tokens":0,"text_tokens":643,"audio_tokens":276},"output_token_details":{"text_tokens":36,"audio_tokens":107}}}}',
    '{"type":"response.content_part.added","event_id":"event_…","response_id":"resp_…","item_id":"item_…","output_index":0,"content_index":0,"part":{"type":"audio","transcript":""}}',
    '{"type":"response.audio.delta","event_id":"event_AH9u…","response_id":"resp_AH9u…","item_id":"item_AH9u…","output_index":0,"content_index":0,"delta":"/P/f125z2t5j"}',
    '{"type":"response.function_call_arguments.delta","event_id":"event_5354","response_id":"resp_002","item_id":"fc_001","output_index":0,"call_id":"call_001","delta":"{\\"location\\": \\"San\\""}',
    '{"type":"rate_limits.updated","event_id":"event_5758","rate_limits":[{"name":"requests","limit":1000,"remaining":999,"reset_seconds":60},{"name":"tokens","limit":50000,"remaining":49950,"reset_seconds":60}]}',
    '{"type":"input_audio_buffer.committed","event_id":"event_1121","previous_item_id":"msg_001","item_id":"msg_002"}',
    '{"type":"input_audio_buffer.cleared","event_id":"event_1314"}',
    '{"type":"conversation.item.input_audio_transcription.completed","event_id":"event_AHBOm…","item_id":"item_AHBOfW2l…","content_index":0,"transcript":"and you are going to be taking a call from a person whose name is Rene.\\n"}',
    '{"type":"conversation.item.input_audio_transcription.failed","event_id":"event_2324","item_id":"msg_003","content_index":0,"error":{"type":"transcription_error","code":"audio_unintelligible","message":"The audio could not be transcribed.","param":null}}',
    '{"type":"conversation.item.truncated","event_id":"event_2526","item_id":"msg_004","content_index":0,"audio_end_ms":1500}',
    '{"type":"conversation.item.deleted","event_id":"event_2728","item_id":"msg_005"}',
    '{"type":"response.output_item.added","event_id":"event_…","response_id":"resp_…","output_index":0,"item":{"id":"item_…","object":"realtime.item","type":"function_call","status":"in_progress","name":"get_weather","call_id":"call_…","arguments":""}}',
    '{"type":"response.text.delta","event_id":"event_C1PSb…","response_id":"resp_C1PS…","item_id":"item_C1PS…","output_index":0,"content_index":0,"delta":" word"}',
    '{"type":"response.audio_transcript.done","event_id":"event_AHBN…","response_id":"resp_AHBN…","item_id":"item_AHBN…","output_index":0,"content_index":0,"transcript":"Nice to meet you,"}',
    '{"type":"response.audio.done","event_id":"event_5152","response_id":"resp_001","item_id":"msg_008","output_index":0,"content_index":0}',
    '{"type":"response.function_call_arguments.done","event_id":"event_5556","response_id":"resp_002","item_id":"fc_001","output_index":0,"call_id":"call_001","name":"get_weather","arguments":"{\\"location\\": \\"San Francisco\\"}"}',
    '{"type":"response.output_item.done","event_id":"event_…","response_id":"resp_…","output_index":0,"item":{"id":"item_…","object":"realtime.item","type":"message","status":"completed","role":"assistant","content":[{"type":"audio","transcript":"Hello!"}]}}',
    # GA
    '{"type":"session.updated","event_id":"event_CAb3ZAXsM0HXH7L6hDjZB","session":{"type":"realtime","object":"realtime.session","id":"sess_CAb3Z9vUpJcqXn5dPRc6u","model":"gpt-realtime-2025-08-28","output_modalities":["audio"],"instructions":"You are a helpful assistant.","tools":[],"tool_choice":"auto","max_output_tokens":"inf","tracing":null,"prompt":null,"expires_at":1756324625,"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,"noise_reduction":null,"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":200,"idle_timeout_ms":null,"create_response":true,"interrupt_response":true}},"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin","speed":1.0}},"include":null}}',
    '{"type":"conversation.item.added","event_id":"event_CAb4","previous_item_id":null,"item":{"id":"item_CAb4","type":"message","status":"completed","role":"user","content":[{"type":"input_text","text":"Hi"}]}}',
    '{"type":"conversation.item.done","event_id":"event_CAb5","previous_item_id":"item_CAb4","item":{"id":"item_CAb6","type":"message","status":"completed","role":"assistant","content":[{"type":"output_audio","transcript":"Hello!"}]}}',
    '{"type":"response.output_text.delta","event_id":"event_CAb7","response_id":"resp_CAb7","item_id":"item_CAb6","output_index":0,"content_index":0,"delta":"Hel","obfuscation":"x8Kq2"}',
    '{"type":"response.output_audio_transcript.delta","event_id":"event_CAb8","response_id":"resp_CAb7","item_id":"item_CAb6","output_index":0,"content_index":0,"delta":"Hello","obfuscation":"Zq"}',
    '{"type":"response.output_audio.delta","event_id":"event_CAb9","response_id":"resp_CAb7","item_id":"item_CAb6","output_index":0,"content_index":0,"delta":"AAABAP///38=","obfuscation":"k2"}',
    '{"type":"response.output_audio.done","event_id":"event_CAc0","response_id":"resp_CAb7","item_id":"item_CAb6","output_index":0,"content_index":0}',
    '{"type":"input_audio_buffer.timeout_triggered","event_id":"event_CAc1","audio_start_ms":1000,"audio_end_ms":3000,"item_id":"item_CAc1"}',
]


def ga_audio_frame(pcm: bytes, item_id: str = ITEM, **extra) -> str:
    event = {
        "type": GA_AUDIO,
        "event_id": "event_C1PSbHk2rT8mNq4vXyZ0a",
        "response_id": "resp_C1PSbG7wLp3dF9sKj2Hq1",
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
        "delta": b64(pcm),
    }
    event.update(extra)
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def beta_audio_frame(pcm: bytes, item_id: str = ITEM) -> str:
    event = {
        "event_id": "event_AH9uXk3",
        "type": BETA_AUDIO,
        "response_id": "resp_AH9u",
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
        "delta": b64(pcm),
    }
    return json.dumps(event, separators=(",", ":"))


def expected_delta(text: str | bytes) -> dict:
    event = json.loads(text)
    del event["delta"]
    return event


def check_fused(events_impl, audio_impl, frame, *, item_id: str = ITEM, prefix: bytes = b"\x01\x00" * 3):
    """parse_audio_delta must equal parse_event + b64decode_pcm16 + append, done by hand."""
    buffer = audio_impl.AudioBuffer()
    buffer.append(prefix)
    result = events_impl.parse_audio_delta(frame, {item_id: buffer, "other": audio_impl.AudioBuffer()})
    assert result is not None
    event, got_buffer, start = result
    reference = events_impl.parse_event(frame)
    added = audio_impl.b64decode_pcm16(reference.pop("delta"))
    assert event == reference
    assert list(event) == list(reference)  # wire order kept
    assert got_buffer is buffer
    assert start == len(prefix) // 2
    assert buffer.to_bytes() == prefix + added
    return event


# ---------------------------------------------------------------------------
# parse_event
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", SERVER_FRAMES, ids=lambda t: json.loads(t)["type"])
def test_parse_event_matches_json_for_every_frame_type(events_impl, text):
    expected = json.loads(text)
    for frame in frame_types(text):
        event = events_impl.parse_event(frame)
        assert event == expected
        assert list(event) == list(expected)


def test_parse_event_accepts_whitespace_and_unicode(events_impl):
    text = ' \n{ "type" : "response.output_text.delta" ,\t"delta" : "héllo \\u00e9 \\ud83d\\ude00" }\r\n'
    for frame in frame_types(text):
        assert events_impl.parse_event(frame) == {"type": "response.output_text.delta", "delta": "héllo é 😀"}


def _orjson_reason(frame) -> str:
    try:
        orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        return str(exc)
    raise AssertionError("frame is valid JSON")


NOT_JSON = [b"", b"{", b'{"type":"x"', b'{"type":"x"} x', b"\xff\xfe", b'{"type":"a\x01"}', b"{'type':'x'}"]
SHAPE_ERRORS = [
    (b"[1,2]", "Event frame is an array, not a JSON object; every Realtime event is an object."),
    (b'"session.created"', "Event frame is a string, not a JSON object; every Realtime event is an object."),
    (b"3", "Event frame is a number, not a JSON object; every Realtime event is an object."),
    (b"1.5", "Event frame is a number, not a JSON object; every Realtime event is an object."),
    (b"null", "Event frame is null, not a JSON object; every Realtime event is an object."),
    (b"true", "Event frame is a boolean, not a JSON object; every Realtime event is an object."),
    (b"{}", "Event has no 'type' field; every Realtime event needs a string 'type'."),
    (b'{"event_id":"event_1"}', "Event has no 'type' field; every Realtime event needs a string 'type'."),
    (b'{"type":5}', "Event 'type' is a number, not a string."),
    (b'{"type":null,"event_id":"e"}', "Event 'type' is null, not a string."),
    (b'{"type":["a"]}', "Event 'type' is an array, not a string."),
    (b'{"type":{"name":"x"}}', "Event 'type' is an object, not a string."),
    (b'{"type":false}', "Event 'type' is a boolean, not a string."),
]


@pytest.mark.parametrize("frame", NOT_JSON)
def test_not_json_is_event_parse_error_with_reason(events_impl, frame):
    message = f"Event frame is not valid JSON ({_orjson_reason(frame)})."
    for parse in (events_impl.parse_event, lambda f: events_impl.parse_audio_delta(f, {})):
        with pytest.raises(EventParseError) as info:
            parse(frame)
        assert str(info.value) == message
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value.__cause__, orjson.JSONDecodeError)


@pytest.mark.parametrize("frame,message", SHAPE_ERRORS, ids=[f.decode() for f, _ in SHAPE_ERRORS])
def test_wrong_shape_is_event_parse_error(events_impl, frame, message):
    for variant in frame_types(frame.decode()):
        with pytest.raises(EventParseError) as info:
            events_impl.parse_event(variant)
        assert str(info.value) == message
        with pytest.raises(EventParseError) as info:
            events_impl.parse_audio_delta(variant, {"x": None})
        assert str(info.value) == message


def test_str_frame_with_lone_surrogate_is_event_parse_error(events_impl):
    frame = '{"type":"response.output_audio.delta","item_id":"a","delta":"\ud800"}'
    message = f"Event frame is not valid JSON ({_orjson_reason(frame)})."
    with pytest.raises(EventParseError, match=re.escape(message)):
        events_impl.parse_event(frame)
    with pytest.raises(EventParseError, match=re.escape(message)):
        events_impl.parse_audio_delta(frame, {"a": None})


def test_frame_of_wrong_type_is_type_error(events_impl):
    for bad, name in ((42, "int"), (None, "NoneType"), ({"type": "x"}, "dict")):
        for parse in (events_impl.parse_event, lambda f: events_impl.parse_audio_delta(f, {})):
            with pytest.raises(TypeError, match=f"^Event frame must be bytes, bytearray, memoryview or str, not {name}.$"):
                parse(bad)


def test_strided_memoryview_is_type_error(events_impl):
    strided = memoryview(b'{"type":"x"}  ' * 2)[::2]
    for parse in (events_impl.parse_event, lambda f: events_impl.parse_audio_delta(f, {})):
        with pytest.raises(TypeError, match="memoryview is not C-contiguous"):
            parse(strided)


def test_error_messages_are_identical_across_implementations():
    pure, compiled = _both("_events")
    frames = [*NOT_JSON, *(f for f, _ in SHAPE_ERRORS), 42, memoryview(b"{}  ")[::2]]
    for frame in frames:
        for name in ("parse_event", "parse_audio_delta"):
            outcomes = []
            for mod in (pure, compiled):
                args = (frame,) if name == "parse_event" else (frame, {})
                with pytest.raises((TypeError, ValueError)) as info:
                    getattr(mod, name)(*args)
                outcomes.append((type(info.value), str(info.value)))
            assert outcomes[0] == outcomes[1], (name, frame)


def test_released_memoryview_frame_is_an_error(events_impl):
    view = memoryview(b'{"type":"x"}')
    view.release()
    with pytest.raises(ValueError, match="released"):
        events_impl.parse_event(view)


# ---------------------------------------------------------------------------
# parse_audio_delta: equals parse_event + decode + append
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [ga_audio_frame, beta_audio_frame], ids=["ga", "beta"])
def test_fused_canonical_frames(events_impl, audio_impl, make):
    pcm = pcm_bytes(2400)
    for frame in frame_types(make(pcm)):
        event = check_fused(events_impl, audio_impl, frame)
        assert "delta" not in event
        assert event["item_id"] == ITEM


def test_fused_type_first_and_delta_first_orders(events_impl, audio_impl):
    pcm = pcm_bytes(480)
    orders = [
        ("type", "event_id", "response_id", "item_id", "output_index", "content_index", "delta"),
        ("event_id", "type", "response_id", "item_id", "output_index", "content_index", "delta"),
        ("delta", "content_index", "output_index", "item_id", "response_id", "event_id", "type"),
        ("item_id", "delta", "type", "event_id", "response_id", "content_index", "output_index"),
    ]
    base = json.loads(ga_audio_frame(pcm))
    for order in orders:
        text = json.dumps({k: base[k] for k in order}, separators=(",", ":"))
        event = check_fused(events_impl, audio_impl, text)
        assert list(event) == [k for k in order if k != "delta"]


def test_fused_both_type_names(events_impl, audio_impl):
    pcm = pcm_bytes(100)
    for type_name in (GA_AUDIO, BETA_AUDIO):
        event = check_fused(events_impl, audio_impl, ga_audio_frame(pcm, type=type_name))
        assert event["type"] == type_name


def test_fused_extra_fields(events_impl, audio_impl):
    pcm = pcm_bytes(240)
    text = ga_audio_frame(
        pcm,
        obfuscation="aB3xYz",
        big=123456789012345678,
        bigger=12345678901234567890,
        negative=-5,
        ratio=0.25,
        exp=1e3,
        flag=True,
        off=False,
        nothing=None,
        nested={"a": [1, {"b": "c"}]},
        empty_list=[],
        unicode="héllo ☃",
        zero=0,
    )
    event = check_fused(events_impl, audio_impl, text)
    assert event["obfuscation"] == "aB3xYz"
    assert event["bigger"] == 12345678901234567890 and event["negative"] == -5
    assert type(event["ratio"]) is float and type(event["exp"]) is float
    assert event["flag"] is True and event["off"] is False and event["nothing"] is None
    assert event["nested"] == {"a": [1, {"b": "c"}]}


def test_fused_escaped_strings(events_impl, audio_impl):
    pcm = bytes(range(256)) * 4  # base64 with plenty of '/' and '+'
    text = ga_audio_frame(pcm, item_id="item_A")
    escaped = text.replace('"item_A"', '"item_\\u0041"').replace("/", "\\/")
    assert "\\/" in escaped and "\\u0041" in escaped
    for frame in frame_types(escaped):
        check_fused(events_impl, audio_impl, frame, item_id="item_A")


def test_fused_escaped_id_needing_escapes(events_impl, audio_impl):
    item_id = 'it"em\\\n\u00e9\u2028'
    text = ga_audio_frame(pcm_bytes(50), item_id=item_id)
    for frame in frame_types(text):
        check_fused(events_impl, audio_impl, frame, item_id=item_id)


def test_fused_whitespace_variants(events_impl, audio_impl):
    event = json.loads(beta_audio_frame(pcm_bytes(300)))
    for text in (
        json.dumps(event),
        json.dumps(event, indent=2),
        json.dumps(event, separators=(" ,", " : ")),
        "\n\t " + json.dumps(event, indent="\t") + " \r\n",
    ):
        check_fused(events_impl, audio_impl, text)


def test_fused_duplicate_keys_follow_the_general_parser(events_impl, audio_impl):
    pcm1, pcm2 = pcm_bytes(10, seed=1), pcm_bytes(20, seed=2)
    text = (
        f'{{"type":"{GA_AUDIO}","item_id":"other","event_id":"a","item_id":"{ITEM}",'
        f'"delta":"{b64(pcm1)}","event_id":"b","delta":"{b64(pcm2)}"}}'
    )
    event = check_fused(events_impl, audio_impl, text)
    assert event == {"type": GA_AUDIO, "item_id": ITEM, "event_id": "b"}


def test_fused_empty_delta_adds_nothing(events_impl, audio_impl):
    check_fused(events_impl, audio_impl, ga_audio_frame(b""))


def test_fused_appends_after_existing_samples(events_impl, audio_impl):
    buffer = audio_impl.AudioBuffer()
    chunks = [pcm_bytes(n, seed=n) for n in (2400, 1, 480)]
    for chunk in chunks:
        before = len(buffer)
        event, got, start = events_impl.parse_audio_delta(ga_audio_frame(chunk), {ITEM: buffer})
        assert got is buffer and start == before
        assert buffer.to_bytes()[2 * start :] == chunk
    assert buffer.to_bytes() == b"".join(chunks)


def test_fused_start_accounts_for_a_capped_buffer(events_impl, audio_impl):
    buffer = audio_impl.AudioBuffer(max_samples=3000)
    buffer.append(pcm_bytes(2000, seed=7))
    new = pcm_bytes(2400, seed=8)
    _, _, start = events_impl.parse_audio_delta(ga_audio_frame(new), {ITEM: buffer})
    assert len(buffer) == 3000
    assert start == 600
    assert buffer.to_bytes()[2 * start :] == new
    bigger = pcm_bytes(4000, seed=9)  # more than the cap: only its newest samples stay
    _, _, start = events_impl.parse_audio_delta(ga_audio_frame(bigger), {ITEM: buffer})
    assert start == 0
    assert buffer.to_bytes() == bigger[-6000:]


def test_fused_with_any_mapping(events_impl, audio_impl):
    buffer = audio_impl.AudioBuffer()
    pcm = pcm_bytes(64)
    result = events_impl.parse_audio_delta(ga_audio_frame(pcm), types.MappingProxyType({ITEM: buffer}))
    assert result is not None and result[1] is buffer
    assert buffer.to_bytes() == pcm
    assert events_impl.parse_audio_delta(ga_audio_frame(pcm), types.MappingProxyType({})) is None


# ---------------------------------------------------------------------------
# parse_audio_delta: None, errors, buffer left unchanged
# ---------------------------------------------------------------------------


def test_unknown_item_gives_none_and_touches_nothing(events_impl, audio_impl):
    buffer = audio_impl.AudioBuffer()
    buffer.append(b"\x05\x00")
    for text in (ga_audio_frame(pcm_bytes(10)), ga_audio_frame(pcm_bytes(10), item_id="item_\u00e9")):
        for frame in frame_types(text):
            assert events_impl.parse_audio_delta(frame, {"item_other": buffer}) is None
    no_item = json.loads(ga_audio_frame(pcm_bytes(10)))
    del no_item["item_id"]
    assert events_impl.parse_audio_delta(json.dumps(no_item), {ITEM: buffer}) is None
    assert events_impl.parse_audio_delta(ga_audio_frame(pcm_bytes(10), item_id=7), {ITEM: buffer, "7": buffer}) is None
    assert buffer.to_bytes() == b"\x05\x00"


@pytest.mark.parametrize(
    "text", [t for t in SERVER_FRAMES if json.loads(t)["type"] not in (GA_AUDIO, BETA_AUDIO)], ids=lambda t: json.loads(t)["type"]
)
def test_other_events_give_none(events_impl, audio_impl, text):
    buffer = audio_impl.AudioBuffer()
    known = {"item_C1PS…": buffer, "item_CAb6": buffer, "item_AH9u…": buffer, "fc_001": buffer, "msg_008": buffer}
    for frame in frame_types(text):
        assert events_impl.parse_audio_delta(frame, known) is None
    assert len(buffer) == 0


def test_protocol_audio_examples(events_impl, audio_impl):
    audio_frames = [t for t in SERVER_FRAMES if json.loads(t)["type"] in (GA_AUDIO, BETA_AUDIO)]
    assert len(audio_frames) == 2
    for text in audio_frames:
        event = json.loads(text)
        if len(base64.b64decode(event["delta"])) % 2:  # the beta doc example is cut mid-sample
            buffer = audio_impl.AudioBuffer()
            with pytest.raises(ValueError, match="odd number of bytes"):
                events_impl.parse_audio_delta(text, {event["item_id"]: buffer})
            assert len(buffer) == 0
        else:
            check_fused(events_impl, audio_impl, text, item_id=event["item_id"])


def test_invalid_json_after_a_non_audio_type_is_still_an_error(events_impl):
    for frame in (
        b'{"type":"response.output_text.delta","delta":"a\x01"}',
        b'{"type":"response.output_text.delta","delta":"\xff"}',
        b'{"type":"response.audio.delta","delta":"AAAA\\","item_id":"unknown"}',
        b'{"type":"response.audio.delta","delta":"AAAA","item_id":"x"',
        b'{"type":"response.text.delta","delta":"x"}}',
    ):
        with pytest.raises(EventParseError, match="not valid JSON"):
            events_impl.parse_audio_delta(frame, {"x": None})


def test_missing_or_non_string_delta_is_event_parse_error(events_impl, audio_impl):
    buffer = audio_impl.AudioBuffer()
    message = f"Audio delta event for item '{ITEM}' has no string 'delta' field."
    for delta in (None, 5, ["AAAA"], {"a": 1}):
        text = ga_audio_frame(b"", delta=delta)
        with pytest.raises(EventParseError, match=f"^{re.escape(message)}$"):
            events_impl.parse_audio_delta(text, {ITEM: buffer})
    text = json.dumps({"type": BETA_AUDIO, "item_id": ITEM})
    with pytest.raises(EventParseError, match=f"^{re.escape(message)}$"):
        events_impl.parse_audio_delta(text, {ITEM: buffer})
    assert len(buffer) == 0


@pytest.mark.parametrize(
    "delta",
    ["AAA", "AA!A", "AAAA=AAA", "AAA\u00e9", "QUJD", "AA A", "AAAA\\n", "AAAA\\t", "AAAA\\u0000"],
    ids=["length", "char", "data-after-pad", "non-ascii", "odd-bytes", "space", "esc-newline", "esc-tab", "esc-nul"],
)
def test_bad_base64_is_value_error_and_buffer_unchanged(events_impl, audio_impl, delta):
    text = ga_audio_frame(b"").replace('"delta":""', f'"delta":"{delta}"')
    decoded_delta = json.loads(text)["delta"]
    with pytest.raises(ValueError) as expected:
        audio_impl.b64decode_pcm16(decoded_delta)
    for frame in frame_types(text):
        buffer = audio_impl.AudioBuffer()
        buffer.append(b"\x07\x00\x08\x00")
        with pytest.raises(ValueError) as info:
            events_impl.parse_audio_delta(frame, {ITEM: buffer})
        assert not isinstance(info.value, EventParseError)
        assert str(info.value) == str(expected.value)
        assert buffer.to_bytes() == b"\x07\x00\x08\x00"


def test_raw_control_character_in_delta_is_event_parse_error(events_impl, audio_impl):
    buffer = audio_impl.AudioBuffer()
    text = ga_audio_frame(b"").replace('"delta":""', '"delta":"AA\nA"')
    with pytest.raises(EventParseError, match="not valid JSON"):
        events_impl.parse_audio_delta(text, {ITEM: buffer})
    assert len(buffer) == 0


def test_buffer_with_views_raises_buffer_error_unchanged(events_impl, audio_impl):
    buffer = audio_impl.AudioBuffer()
    buffer.append(b"\x01\x00")
    pcm = pcm_bytes(240)
    with memoryview(buffer) as view:
        with pytest.raises(BufferError):
            events_impl.parse_audio_delta(ga_audio_frame(pcm), {ITEM: buffer})
        assert view.tobytes() == b"\x01\x00"
    # the caller's recovery: a copy without views takes the delta
    copy = buffer.slice(0)
    _, got, start = events_impl.parse_audio_delta(ga_audio_frame(pcm), {ITEM: copy})
    assert got is copy and start == 1
    assert copy.to_bytes() == b"\x01\x00" + pcm


def test_compiled_fast_path_does_not_materialise_the_base64_text():
    _, compiled = _both("_events")
    _, audio = _both("_audio")
    pcm = pcm_bytes(24000)  # 1 s: 64 000 base64 characters
    frames = [ga_audio_frame(pcm).encode(), beta_audio_frame(pcm), memoryview(bytearray(ga_audio_frame(pcm).encode()))]
    buffer = audio.AudioBuffer()
    buffer.append(pcm * 2)
    buffer.truncate(0)  # keeps its memory, so appending below allocates nothing
    tracemalloc.start()
    try:
        for frame in frames:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            event, _, _ = compiled.parse_audio_delta(frame, {ITEM: buffer})
            peak = tracemalloc.get_traced_memory()[1] - base
            assert peak < 16_000, f"{peak} bytes allocated while parsing a {len(frame)}-byte frame"
            buffer.truncate(0)
    finally:
        tracemalloc.stop()
    assert event["item_id"] == ITEM


# ---------------------------------------------------------------------------
# memoryview frames are borrowed: nothing returned may keep them
# ---------------------------------------------------------------------------


def _overwrite_and_free(storage: bytearray, view: memoryview) -> None:
    view.release()
    storage[:] = b"\x00" * len(storage)
    storage.clear()  # raises BufferError if anything still exports storage


@pytest.mark.parametrize(
    "text",
    [ga_audio_frame(pcm_bytes(2400)), ga_audio_frame(pcm_bytes(10), item_id="item_\\u0041").replace("/", "\\/")],
    ids=["canonical", "escaped"],
)
def test_borrowed_memoryview_frame_is_not_kept(events_impl, audio_impl, text):
    expected_event = expected_delta(text)
    expected_audio = base64.b64decode(json.loads(text)["delta"])
    item_id = expected_event["item_id"]

    storage = bytearray(text.encode())
    view = memoryview(storage)
    buffer = audio_impl.AudioBuffer()
    event, _, start = events_impl.parse_audio_delta(view, {item_id: buffer})
    _overwrite_and_free(storage, view)
    assert event == expected_event and start == 0
    assert buffer.to_bytes() == expected_audio

    storage = bytearray(text.encode())
    view = memoryview(storage)
    event = events_impl.parse_event(view)
    _overwrite_and_free(storage, view)
    assert event == json.loads(text)

    storage = bytearray(text.encode())
    view = memoryview(storage)
    assert events_impl.parse_audio_delta(view, {}) is None
    _overwrite_and_free(storage, view)


def test_bytearray_frame_is_not_kept(events_impl, audio_impl):
    text = ga_audio_frame(pcm_bytes(100))
    storage = bytearray(text.encode())
    buffer = audio_impl.AudioBuffer()
    event, _, _ = events_impl.parse_audio_delta(storage, {ITEM: buffer})
    storage.clear()
    assert event == expected_delta(text)


# ---------------------------------------------------------------------------
# property: the fast path equals the general path
# ---------------------------------------------------------------------------

ids = st.text(max_size=24)
json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False) | ids
extra_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ids, inner, max_size=3), max_leaves=6)


@st.composite
def audio_delta_frames(draw):
    item_id = draw(ids)
    pcm = draw(st.binary(max_size=900).map(lambda b: b[: len(b) & ~1]))
    fields = {
        "type": draw(st.sampled_from([GA_AUDIO, BETA_AUDIO])),
        "event_id": draw(ids),
        "response_id": draw(ids),
        "item_id": item_id,
        "output_index": draw(st.integers(0, 5)),
        "content_index": draw(st.integers(0, 5)),
        "delta": b64(pcm),
    }
    extra = draw(st.dictionaries(ids.filter(lambda k: k not in fields), extra_values, max_size=3))
    fields.update(extra)
    order = draw(st.permutations(list(fields)))
    event = {k: fields[k] for k in order}
    style = draw(st.sampled_from(["compact", "spaced", "indent"]))
    text = json.dumps(
        event,
        ensure_ascii=draw(st.booleans()),
        separators=(",", ":") if style == "compact" else None,
        indent=2 if style == "indent" else None,
    )
    if draw(st.booleans()):
        text = text.replace("/", "\\/")
    kind = draw(st.sampled_from(["bytes", "str", "bytearray", "memoryview"]))
    known = draw(st.booleans())
    return text, kind, item_id, pcm, known


@SETTINGS
@given(case=audio_delta_frames(), prefix_samples=st.integers(0, 50))
def test_property_fast_path_equals_general_path(events_impl, audio_impl, case, prefix_samples):
    text, kind, item_id, pcm, known = case
    frame = {"bytes": text.encode(), "str": text, "bytearray": bytearray(text.encode())}.get(kind)
    if frame is None:
        frame = memoryview(text.encode())
    prefix = b"\x02\x00" * prefix_samples
    buffer = audio_impl.AudioBuffer()
    buffer.append(prefix)
    buffers = {item_id: buffer} if known else {item_id + "x": buffer}
    result = events_impl.parse_audio_delta(frame, buffers)
    if not known:
        assert result is None
        assert buffer.to_bytes() == prefix
        return
    event, got, start = result
    assert event == expected_delta(text)
    assert list(event) == list(expected_delta(text))
    assert got is buffer and start == prefix_samples
    assert buffer.to_bytes() == prefix + pcm


@SETTINGS
@given(case=audio_delta_frames())
def test_property_implementations_agree(case):
    pure, compiled = _both("_events")
    from realtime_fast import _audio

    text, _, item_id, pcm, known = case
    results = []
    for mod in (pure, compiled):
        buffer = _audio.AudioBuffer()
        result = mod.parse_audio_delta(text.encode(), {item_id: buffer} if known else {})
        results.append((None if result is None else (result[0], result[2]), buffer.to_bytes()))
    assert results[0] == results[1]


# ---------------------------------------------------------------------------
# dumps_event
# ---------------------------------------------------------------------------


def test_dumps_event_keeps_key_order_and_round_trips(events_impl):
    event = {
        "event_id": "evt_abc",
        "type": "session.update",
        "session": {"type": "realtime", "instructions": "Be brief: “ok”.\n", "audio": {"output": {"voice": "marin"}}},
        "n": [1, 2.5, None, True],
    }
    out = events_impl.dumps_event(event)
    assert isinstance(out, bytes)
    assert out.startswith(b'{"event_id":"evt_abc","type":"session.update","session":{"type":"realtime"')
    assert json.loads(out) == event


def test_dumps_event_accepts_nested_mappings_and_tuples(events_impl):
    event = types.MappingProxyType({"type": "x", "inner": types.MappingProxyType({"a": (1, 2)})})
    assert json.loads(events_impl.dumps_event(event)) == {"type": "x", "inner": {"a": [1, 2]}}


@pytest.mark.parametrize("value", [b"\x00\x01", bytearray(b"ab"), memoryview(b"ab")], ids=["bytes", "bytearray", "memoryview"])
def test_dumps_event_refuses_bytes_with_advice(events_impl, value):
    with pytest.raises(TypeError) as info:
        events_impl.dumps_event({"type": "input_audio_buffer.append", "audio": value})
    name = type(value).__name__
    assert str(info.value) == f"Event holds a {name} value, but bytes are not JSON; base64-encode audio first."


def test_dumps_event_names_other_unserialisable_types(events_impl):
    class Custom:
        pass

    for value, name in ((Custom(), "Custom"), ({1, 2}, "set"), (np.int16(3), "int16"), (1 + 2j, "complex")):
        with pytest.raises(TypeError) as info:
            events_impl.dumps_event({"type": "x", "v": [value]})
        assert str(info.value) == (
            f"Event holds a value of type {name}, which is not JSON; use str, int, float, bool, None, list or dict."
        )


def test_dumps_event_other_encode_errors(events_impl):
    with pytest.raises(TypeError, match=re.escape("Event cannot be serialised to JSON (Dict key must be str).")):
        events_impl.dumps_event({"type": "x", "v": {1: 2}})
    with pytest.raises(TypeError, match="^Event cannot be serialised to JSON"):
        events_impl.dumps_event({"type": "x", "v": "\ud800"})
    with pytest.raises(TypeError, match=re.escape("dumps_event() takes the event as a Mapping, not list.")):
        events_impl.dumps_event([{"type": "x"}])


# ---------------------------------------------------------------------------
# dumps_append_audio
# ---------------------------------------------------------------------------

PCM = pcm_bytes(480, seed=3)
PCM_INPUTS = [
    pytest.param(PCM, id="bytes"),
    pytest.param(bytearray(PCM), id="bytearray"),
    pytest.param(memoryview(PCM), id="memoryview"),
    pytest.param(memoryview(PCM).cast("h"), id="memoryview-h"),
    pytest.param(array("h", PCM), id="array-h"),
    pytest.param(np.frombuffer(PCM, dtype=np.int16), id="numpy-int16"),
    pytest.param(np.frombuffer(PCM, dtype="<i2").reshape(-1, 2), id="numpy-2d"),
]


def _append_expected(pcm_data: bytes, event_id: str) -> bytes:
    return orjson.dumps({"event_id": event_id, "type": "input_audio_buffer.append", "audio": b64(pcm_data)})


@pytest.mark.parametrize("pcm", PCM_INPUTS)
def test_dumps_append_audio_input_types(events_impl, pcm):
    out = events_impl.dumps_append_audio(pcm, "evt_7Yq3zP")
    assert isinstance(out, bytes)
    event = json.loads(out)
    assert list(event) == ["event_id", "type", "audio"]
    assert event == {"event_id": "evt_7Yq3zP", "type": "input_audio_buffer.append", "audio": event["audio"]}
    assert base64.b64decode(event["audio"], validate=True) == PCM
    assert out == _append_expected(PCM, "evt_7Yq3zP")
    assert out == events_impl.dumps_event(event)


def test_dumps_append_audio_strided_numpy_is_copied(events_impl):
    samples = np.arange(-300, 300, dtype=np.int16)
    out = events_impl.dumps_append_audio(samples[::3], "e")
    assert base64.b64decode(json.loads(out)["audio"]) == samples[::3].tobytes()


@pytest.mark.parametrize("size", [0, 2, 4, 6, 960, 4800])
def test_dumps_append_audio_sizes(events_impl, size):
    data = pcm_bytes(size // 2, seed=size)
    out = events_impl.dumps_append_audio(data, "evt_1")
    assert out == _append_expected(data, "evt_1")
    assert base64.b64decode(json.loads(out)["audio"]) == data


@pytest.mark.parametrize(
    "event_id",
    ['evt_"q"', "back\\slash", "line\nbreak", "nul\x00", "\x1f", "tab\t", "é☃", "\u2028\u2029", "😀", "/", "\x7f", ""],
)
def test_dumps_append_audio_escapes_event_id(events_impl, event_id):
    out = events_impl.dumps_append_audio(b"\x01\x02", event_id)
    assert out == _append_expected(b"\x01\x02", event_id)
    assert json.loads(out)["event_id"] == event_id


def test_dumps_append_audio_errors(events_impl):
    with pytest.raises(ValueError, match=r"^dumps_append_audio got 3 bytes, an odd count"):
        events_impl.dumps_append_audio(b"\x00\x01\x02", "e")
    with pytest.raises(ValueError, match=r"^dumps_append_audio got 1 bytes, an odd count"):
        events_impl.dumps_append_audio(bytearray(b"\x00"), "e")
    with pytest.raises(TypeError, match="format 'f'"):
        events_impl.dumps_append_audio(np.zeros(4, dtype=np.float32), "e")
    with pytest.raises(TypeError, match="not str"):
        events_impl.dumps_append_audio("AAAA", "e")
    with pytest.raises(TypeError, match=r"^event_id must be a str, not int\.$"):
        events_impl.dumps_append_audio(b"", 5)
    with pytest.raises(ValueError, match="^event_id contains a lone surrogate"):
        events_impl.dumps_append_audio(b"\x00\x00", "evt_\ud800")


def test_dumps_append_audio_errors_identical_across_implementations():
    pure, compiled = _both("_events")
    cases = [(b"\x00", "e"), (np.zeros(2, dtype=np.float64), "e"), (object(), "e"), (b"", 1.5), (b"", "\udfff")]
    for pcm, event_id in cases:
        outcomes = []
        for mod in (pure, compiled):
            with pytest.raises((TypeError, ValueError)) as info:
                mod.dumps_append_audio(pcm, event_id)
            outcomes.append((type(info.value), str(info.value)))
        assert outcomes[0] == outcomes[1]


@SETTINGS
@given(data=st.binary(max_size=2000).map(lambda b: b[: len(b) & ~1]), event_id=st.text(max_size=40))
def test_property_dumps_append_audio_equals_general_serialiser(events_impl, data, event_id):
    out = events_impl.dumps_append_audio(data, event_id)
    assert out == _append_expected(data, event_id)
    assert out == events_impl.dumps_event({"event_id": event_id, "type": "input_audio_buffer.append", "audio": b64(data)})


MUTATION_BYTES = b'"\\{}[],: \t\n0123456789-.eE+/=aAtfnul\x01\x7f\xc3\xa9\xff'


@SETTINGS
@given(
    data=st.data(),
    pcm=st.binary(max_size=60).map(lambda b: b[: len(b) & ~1]),
    order=st.permutations(["type", "event_id", "item_id", "output_index", "delta"]),
)
def test_property_mutated_frames_agree(data, pcm, order):
    """Damaged and odd frames (mostly invalid JSON): both twins give the same outcome."""
    pure, compiled = _both("_events")
    from realtime_fast import _audio

    fields = {"type": BETA_AUDIO, "event_id": "e_1", "item_id": "it", "output_index": 10, "delta": b64(pcm)}
    raw = bytearray(_compact_frame({k: fields[k] for k in order}))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw)))
        action = data.draw(st.sampled_from(["insert", "replace", "delete"]))
        byte = data.draw(st.sampled_from(MUTATION_BYTES))
        if action == "insert":
            raw.insert(at, byte)
        elif at < len(raw):
            if action == "replace":
                raw[at] = byte
            else:
                del raw[at]
    frame = bytes(raw)
    outcomes = []
    for mod in (pure, compiled):
        buffer = _audio.AudioBuffer()
        buffer.append(b"\x01\x00")
        try:
            result = mod.parse_audio_delta(frame, {"it": buffer})
            outcome = None if result is None else (result[0], list(result[0]), result[2])
        except (ValueError, TypeError) as exc:
            outcome = (type(exc), str(exc))
        outcomes.append((outcome, buffer.to_bytes()))
        whole = _audio.AudioBuffer()
        whole.append(b"\x01\x00")
        outcomes.append((_frame_outcome(lambda: mod.parse_frame(frame, {"it": whole})), whole.to_bytes()))
    assert outcomes[0] == outcomes[2], frame
    assert outcomes[1] == outcomes[3], frame


def _compact_frame(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------
# parse_frame: parse_audio_delta and parse_event in one call, one parse
# ---------------------------------------------------------------------------


def _frame_outcome(call):
    """(result or exception) of ``call()``, in a form both twins can be compared on."""
    try:
        event, buffer, start = call()
    except (ValueError, TypeError, BufferError) as exc:
        return type(exc), str(exc)
    return event, list(event), buffer is not None, start


def _two_step(events_impl, frame, buffers):
    """What parse_frame must equal: parse_audio_delta, else parse_event."""
    result = events_impl.parse_audio_delta(frame, buffers)
    if result is None:
        return events_impl.parse_event(frame), None, 0
    return result


def _known_items(audio_impl):
    return {
        "item_AH9u…": audio_impl.AudioBuffer(),
        "item_CAb6": audio_impl.AudioBuffer(),
        ITEM: audio_impl.AudioBuffer(),
        "fc_001": audio_impl.AudioBuffer(),
    }


@pytest.mark.parametrize("text", SERVER_FRAMES, ids=lambda t: json.loads(t)["type"])
def test_parse_frame_equals_the_two_step_path(events_impl, audio_impl, text):
    for frame in frame_types(text):
        for buffers_of in (_known_items, lambda impl: {}):
            ours, theirs = buffers_of(audio_impl), buffers_of(audio_impl)
            got = _frame_outcome(lambda: events_impl.parse_frame(frame, ours))
            want = _frame_outcome(lambda: _two_step(events_impl, frame, theirs))
            assert got == want
            assert {k: b.to_bytes() for k, b in ours.items()} == {k: b.to_bytes() for k, b in theirs.items()}


def test_parse_frame_audio_delta_returns_the_buffer_and_start(events_impl, audio_impl):
    pcm = pcm_bytes(2400)
    for make in (ga_audio_frame, beta_audio_frame):
        for frame in frame_types(make(pcm)):
            buffer = audio_impl.AudioBuffer()
            buffer.append(b"\x05\x00" * 7)
            event, got, start = events_impl.parse_frame(frame, {ITEM: buffer, "other": audio_impl.AudioBuffer()})
            assert got is buffer and start == 7
            assert event == expected_delta(make(pcm)) and list(event) == list(expected_delta(make(pcm)))
            assert buffer.to_bytes() == b"\x05\x00" * 7 + pcm


def test_parse_frame_other_events_and_unknown_items_keep_every_field(events_impl, audio_impl):
    buffer = audio_impl.AudioBuffer()
    audio_text = ga_audio_frame(pcm_bytes(10))
    for text, buffers in (
        (audio_text, {}),
        (audio_text, {"item_other": buffer}),
        ('{"type":"response.output_text.delta","item_id":"%s","delta":"Hi"}' % ITEM, {ITEM: buffer}),
        ('{"event_id":"e","type":"response.output_text.delta","item_id":"%s","delta":"Hi"}' % ITEM, {ITEM: buffer}),
        ('{"type":"rate_limits.updated","rate_limits":[{"name":"requests","limit":1}]}', {ITEM: buffer}),
    ):
        for frame in frame_types(text):
            assert events_impl.parse_frame(frame, buffers) == (json.loads(text), None, 0)
    assert len(buffer) == 0


def test_parse_frame_does_not_trust_the_leading_type_alone(events_impl, audio_impl):
    """An escaped or repeated "type" can still name an audio delta: the parsed event decides."""
    pcm = pcm_bytes(12)
    escaped = ga_audio_frame(pcm).replace(GA_AUDIO, "response\\u002eoutput_audio.delta")
    repeated = '{"type":"response.output_text.delta",' + ga_audio_frame(pcm)[1:]
    moved = json.dumps({"event_id": "e", "type": BETA_AUDIO, "item_id": ITEM, "delta": b64(pcm)})
    for text in (escaped, repeated, moved):
        for frame in frame_types(text):
            buffer = audio_impl.AudioBuffer()
            event, got, start = events_impl.parse_frame(frame, {ITEM: buffer})
            assert got is buffer and start == 0 and buffer.to_bytes() == pcm
            assert event == expected_delta(text)


def test_parse_frame_errors_match_parse_audio_delta(events_impl, audio_impl):
    message = f"Audio delta event for item '{ITEM}' has no string 'delta' field."
    with pytest.raises(EventParseError, match=f"^{re.escape(message)}$"):
        events_impl.parse_frame(ga_audio_frame(b"", delta=5), {ITEM: audio_impl.AudioBuffer()})
    for frame in (b"[1]", b'{"type":5}', b'{"type":"x"', b'{"type":"response.output_text.delta","delta":"a\x01"}', b""):
        with pytest.raises(EventParseError) as got:
            events_impl.parse_frame(frame, {ITEM: audio_impl.AudioBuffer()})
        with pytest.raises(EventParseError) as want:
            events_impl.parse_event(frame)
        assert str(got.value) == str(want.value)
    with pytest.raises(TypeError, match="must be bytes, bytearray, memoryview or str"):
        events_impl.parse_frame(12, {})
    buffer = audio_impl.AudioBuffer()
    buffer.append(b"\x07\x00")
    bad = ga_audio_frame(b"").replace('"delta":""', '"delta":"AA!A"')
    with pytest.raises(ValueError) as info:
        events_impl.parse_frame(bad, {ITEM: buffer})
    assert not isinstance(info.value, EventParseError)
    with memoryview(buffer) as view:
        with pytest.raises(BufferError):
            events_impl.parse_frame(ga_audio_frame(pcm_bytes(10)), {ITEM: buffer})
        assert view.tobytes() == b"\x07\x00"
    assert buffer.to_bytes() == b"\x07\x00"


def test_parse_frame_borrowed_memoryview_is_not_kept(events_impl, audio_impl):
    for text in (ga_audio_frame(pcm_bytes(2400)), SERVER_FRAMES[1], ga_audio_frame(pcm_bytes(10)).replace("/", "\\/")):
        storage = bytearray(text.encode())
        view = memoryview(storage)
        buffer = audio_impl.AudioBuffer()
        event, got, _ = events_impl.parse_frame(view, {ITEM: buffer})
        _overwrite_and_free(storage, view)
        if got is None:
            assert event == json.loads(text)
        else:
            assert event == expected_delta(text)
            assert buffer.to_bytes() == base64.b64decode(json.loads(text)["delta"])


def test_pure_parse_frame_parses_each_frame_once(monkeypatch):
    from realtime_fast import _audio_py, _events_py

    calls = []
    real = _events_py._loads

    def counting(frame):
        calls.append(1)
        return real(frame)

    monkeypatch.setattr(_events_py, "_loads", counting)
    buffers = {ITEM: _audio_py.AudioBuffer()}
    for text in [ga_audio_frame(pcm_bytes(100)), *SERVER_FRAMES]:
        calls.clear()
        _events_py.parse_frame(text.encode(), buffers)
        assert len(calls) == 1


@SETTINGS
@given(case=audio_delta_frames(), extra_type=st.sampled_from([None, "response.output_text.delta", GA_AUDIO]))
def test_property_parse_frame_implementations_agree(case, extra_type):
    pure, compiled = _both("_events")
    from realtime_fast import _audio

    text, _, item_id, _, known = case
    if extra_type is not None:  # a second, leading "type" (the parser keeps the last one)
        text = '{"type":%s,%s' % (json.dumps(extra_type), text.lstrip()[1:].lstrip())
    outcomes = []
    for mod in (pure, compiled):
        buffer = _audio.AudioBuffer()
        outcome = _frame_outcome(lambda: mod.parse_frame(text.encode(), {item_id: buffer} if known else {}))
        outcomes.append((outcome, buffer.to_bytes()))
    assert outcomes[0] == outcomes[1]


@st.composite
def flat_event_frames(draw):
    """Flat events of any type (what the compiled scanner builds without orjson), in varied JSON spellings."""
    fields = {"type": draw(st.sampled_from(["response.output_audio_transcript.delta", "response.output_text.delta", GA_AUDIO, "x"]))}
    fields.update(draw(st.dictionaries(st.sampled_from(["event_id", "item_id", "delta", "call_id", "k", "é"]) | ids.filter(lambda k: k != "type"), json_scalars, max_size=6)))
    order = draw(st.permutations(list(fields)))
    event = {k: fields[k] for k in order}
    text = json.dumps(event, ensure_ascii=draw(st.booleans()), separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
    return text


@SETTINGS
@given(text=flat_event_frames(), kind=st.sampled_from(["bytes", "str", "memoryview"]))
def test_property_parse_frame_builds_flat_events_like_json(events_impl, audio_impl, text, kind):
    frame = {"bytes": text.encode(), "str": text}.get(kind) or memoryview(text.encode())
    outcome = _frame_outcome(lambda: events_impl.parse_frame(frame, {"unknown item": audio_impl.AudioBuffer()}))
    expected = json.loads(text)
    assert outcome == (expected, list(expected), False, 0)


# -- FrameReceiver -----------------------------------------------------------------------------


class _Calls:
    """The three FrameReceiver callbacks, recording what they got (audio copied out of the buffer)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_event(self, event):
        self.calls.append(("event", event))

    def on_audio(self, event, buffer, start):
        self.calls.append(("audio", event, bytes(buffer.to_bytes(start))))

    def on_error(self, message, exc):
        self.calls.append(("error", message, exc))


def _receiver(events_impl, buffers):
    calls = _Calls()
    return events_impl.FrameReceiver(buffers, calls.on_event, calls.on_audio, calls.on_error), calls


@pytest.mark.parametrize("kind", [bytes, str, bytearray, memoryview])
def test_frame_receiver_routes_audio_events_and_errors(events_impl, audio_impl, kind):
    buffer = audio_impl.AudioBuffer()
    receiver, calls = _receiver(events_impl, {ITEM: buffer})
    pcm = pcm_bytes(2400)
    audio = ga_audio_frame(pcm)
    other = ga_audio_frame(pcm, item_id="item_unknown")
    text = '{"type":"response.output_audio_transcript.delta","item_id":"%s","delta":"Hi"}' % ITEM
    for frame in (audio, other, text, "not json", '{"no_type":1}'):
        receiver(frame.encode() if kind is bytes else frame if kind is str else kind(frame.encode()))
    assert [c[0] for c in calls.calls] == ["audio", "event", "event", "error", "error"]
    assert calls.calls[0][1] == expected_delta(audio) and calls.calls[0][2] == pcm
    assert calls.calls[1][1] == json.loads(other)  # an item nobody registered: delta kept, nothing decoded
    assert calls.calls[2][1] == json.loads(text)
    for _, message, exc in calls.calls[3:]:
        assert isinstance(exc, EventParseError)
        assert message == f"Could not parse a server frame: {exc}"
    assert bytes(buffer.to_bytes()) == pcm


def test_frame_receiver_reads_buffers_at_every_frame(events_impl, audio_impl):
    buffers: dict = {}
    receiver, calls = _receiver(events_impl, buffers)
    pcm = pcm_bytes(10)
    receiver(ga_audio_frame(pcm))
    buffers[ITEM] = audio_impl.AudioBuffer()
    receiver(ga_audio_frame(pcm))
    del buffers[ITEM]
    receiver(ga_audio_frame(pcm))
    assert [c[0] for c in calls.calls] == ["event", "audio", "event"]
    receiver.buffers = {ITEM: audio_impl.AudioBuffer()}  # replaced: the receiver reads the new mapping
    receiver(beta_audio_frame(pcm))
    assert calls.calls[-1][0] == "audio" and calls.calls[-1][2] == pcm


def test_frame_receiver_hands_up_audio_it_cannot_decode(events_impl, audio_impl):
    buffer = audio_impl.AudioBuffer()
    receiver, calls = _receiver(events_impl, {ITEM: buffer})
    pcm = pcm_bytes(4)
    with memoryview(buffer):  # a live view: the buffer cannot grow now
        receiver(ga_audio_frame(pcm))
    bad = ga_audio_frame(pcm).replace(b64(pcm), "not base64!")
    receiver(bad)
    assert calls.calls == [("event", json.loads(ga_audio_frame(pcm))), ("event", json.loads(bad))]
    assert len(buffer) == 0


def test_frame_receiver_lets_callback_errors_through(events_impl):
    def boom(event):
        raise RuntimeError("handler bug")

    receiver = events_impl.FrameReceiver({}, boom, boom, boom)
    with pytest.raises(RuntimeError, match="handler bug"):
        receiver(b'{"type":"session.created"}')


# -- large frames -------------------------------------------------------------------------------------

LONG = "L" * (1 << 17)  # longer than LARGE_STRING: cut out of the frame
PAD = "p" * (1 << 20)  # makes any frame a large one


def _large(obj: object) -> bytes:
    return orjson.dumps(obj)


LARGE_FRAMES = {
    "long-value": _large({"type": "x", "event_id": "e", "item": {"content": [{"audio": LONG, "n": 1}], "pad": PAD}}),
    "long-key": _large({"type": "x", LONG: 1, "pad": PAD}),
    "long-values-in-a-list": _large({"type": "x", "list": [LONG, "short", LONG + "é", {"a": LONG}], "pad": PAD}),
    "non-ascii": _large({"type": "x", "text": "é€😀" * 50_000, "pad": PAD}),
    "escapes": _large({"type": "x", "text": ('a"b\\c\n' * 40_000), "pad": PAD}),
    "duplicate-keys": b'{"type":"x","a":"' + LONG.encode() + b'","a":"second","pad":"' + PAD.encode() + b'"}',
    "whitespace": b' {\n "type" : "x" ,\t"v" :  "' + PAD.encode() + b'"  }\r\n',
    "a-marker-like-string": _large({"type": "x", "m": "\x00rf:0", "pad": PAD}),
    "many-small-values": _large({"type": "x", "values": ["v"] * 200_000, "pad": PAD}),
}


@pytest.mark.parametrize("name", list(LARGE_FRAMES))
def test_a_large_frame_parses_exactly_as_orjson_does(events_impl, name):
    frame = LARGE_FRAMES[name]
    assert len(frame) >= 1 << 20
    expected = orjson.loads(frame)
    for form in (frame, bytearray(frame), memoryview(frame)):
        assert events_impl.parse_event(form) == expected
    assert events_impl.parse_event(frame.decode()) == expected
    event, buffer, start = events_impl.parse_frame(frame, {})
    assert event == expected and buffer is None


@pytest.mark.parametrize(
    "frame, fragment",
    [
        (b'{"type":"x","v":"' + PAD.encode() + b'\xff"}', "not valid JSON"),  # invalid UTF-8 in a long string
        (b'{"type":"x","v":"' + PAD.encode() + b'\x01"}', "not valid JSON"),  # a raw control character
        (b'{"type":"x","v":"' + PAD.encode(), "not valid JSON"),  # unterminated
        (b'{"type":"x","v":"' + PAD.encode() + b'"', "not valid JSON"),  # unterminated object
        (b'"' + PAD.encode() + b'"', "is a string, not a JSON object"),
        (b'{"type":"x","v":"' + PAD.encode() + b'"} trailing', "not valid JSON"),
    ],
)
def test_a_large_frame_that_is_not_an_event_is_an_event_parse_error(events_impl, frame, fragment):
    with pytest.raises(EventParseError, match=fragment):
        events_impl.parse_event(frame)


def test_parsing_a_large_frame_allocates_about_its_long_strings(events_impl):
    # orjson alone reserves about 13 times the frame's size before parsing it.
    frame = _large({"type": "x", "item": {"content": [{"audio": "A" * 8_000_000}]}})
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        event = events_impl.parse_event(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(event["item"]["content"][0]["audio"]) == 8_000_000
    assert peak - before < 1.2 * len(frame)
