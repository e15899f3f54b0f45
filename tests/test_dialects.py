"""Wire dialects: the reference's flat session config on the GA and beta wires, event aliases."""

from __future__ import annotations

import re

import copy
import logging

import pytest
from pydantic import BaseModel

from realtime_fast.client import DEFAULT_SERVER_VAD_CONFIG, DEFAULT_SESSION_CONFIG
from realtime_fast.dialects import (
    AUDIO_DELTA_TYPES,
    SERVER_EVENT_ALIASES,
    canonical_event_type,
    get_dialect,
    turn_detection_of,
)

ga_types = pytest.importorskip("openai.types.realtime")
beta_types = pytest.importorskip("openai.types.beta.realtime")

TOOL = {"type": "function", "name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {}}}


def assert_no_unknown_fields(model: BaseModel, path: str = "") -> None:
    """The official models allow extra fields; a field they do not know is a translation bug."""
    extra = model.model_extra or {}
    assert not extra, f"unknown fields at {path or 'top'}: {sorted(extra)}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, BaseModel):
                assert_no_unknown_fields(v, f"{path}.{name}")


def full_config(**changes):
    config = copy.deepcopy(DEFAULT_SESSION_CONFIG)
    config.update(changes)
    return config


def test_default_config_in_ga_shape_is_a_valid_session_update():
    session = get_dialect("ga").session_payload(full_config())
    assert session == {
        "type": "realtime",
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": 4096,
        "audio": {
            "input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": None, "turn_detection": None},
            "output": {"voice": "verse", "format": {"type": "audio/pcm", "rate": 24000}},
        },
    }
    event = ga_types.SessionUpdateEvent.model_validate({"type": "session.update", "session": session})
    assert_no_unknown_fields(event)


def test_every_flat_key_lands_where_ga_expects_it():
    config = full_config(
        modalities=["text"],
        voice="marin",
        input_audio_format="g711_ulaw",
        output_audio_format="g711_alaw",
        input_audio_transcription={"model": "whisper-1", "language": "en"},
        turn_detection=dict(DEFAULT_SERVER_VAD_CONFIG),
        input_audio_noise_reduction={"type": "near_field"},
        speed=1.2,
        tools=[TOOL],
        tool_choice="required",
        max_response_output_tokens="inf",
        instructions="Be brief.",
    )
    session = get_dialect("ga").session_payload(config)
    assert session["output_modalities"] == ["text"]
    assert session["audio"]["input"] == {
        "format": {"type": "audio/pcmu"},
        "transcription": {"model": "whisper-1", "language": "en"},
        "turn_detection": DEFAULT_SERVER_VAD_CONFIG,
        "noise_reduction": {"type": "near_field"},
    }
    assert session["audio"]["output"] == {"voice": "marin", "format": {"type": "audio/pcma"}, "speed": 1.2}
    assert session["max_output_tokens"] == "inf"
    assert session["tools"] == [TOOL] and session["tool_choice"] == "required"
    assert session["instructions"] == "Be brief."
    for gone in ("modalities", "voice", "temperature", "turn_detection", "input_audio_format", "max_response_output_tokens"):
        assert gone not in session
    assert_no_unknown_fields(ga_types.SessionUpdateEvent.model_validate({"type": "session.update", "session": session}))


@pytest.mark.parametrize(
    ("modalities", "expected"),
    [(["text", "audio"], ["audio"]), (["audio", "text"], ["audio"]), (["audio"], ["audio"]), (["text"], ["text"])],
)
def test_ga_output_modalities_are_audio_or_text_never_both(modalities, expected):
    assert get_dialect("ga").session_payload({"modalities": modalities})["output_modalities"] == expected


def test_temperature_is_left_out_of_ga_with_a_debug_log(caplog):
    with caplog.at_level(logging.DEBUG, logger="realtime_fast"):
        session = get_dialect("ga").session_payload({"temperature": 0.7, "instructions": "x"})
    assert session == {"type": "realtime", "instructions": "x"}
    assert any("temperature" in r.getMessage() for r in caplog.records)


def test_ga_native_keys_pass_as_given_and_win_over_flat_ones():
    config = full_config(
        output_modalities=["text"],
        audio={"output": {"voice": "cedar", "speed": 0.9}, "input": {"noise_reduction": {"type": "far_field"}}},
        max_output_tokens=100,
        tracing="auto",
        truncation="auto",
    )
    session = get_dialect("ga").session_payload(config)
    assert session["output_modalities"] == ["text"]
    assert session["max_output_tokens"] == 100
    assert session["audio"]["output"] == {"voice": "cedar", "format": {"type": "audio/pcm", "rate": 24000}, "speed": 0.9}
    assert session["audio"]["input"]["noise_reduction"] == {"type": "far_field"}
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["tracing"] == "auto" and session["truncation"] == "auto"
    assert_no_unknown_fields(ga_types.SessionUpdateEvent.model_validate({"type": "session.update", "session": session}))


def test_turn_detection_type_none_means_off_in_ga():
    session = get_dialect("ga").session_payload({"turn_detection": {"type": "none"}})
    assert session["audio"]["input"]["turn_detection"] is None


def test_translation_does_not_share_or_change_the_callers_config():
    config = full_config(turn_detection=dict(DEFAULT_SERVER_VAD_CONFIG), tools=[copy.deepcopy(TOOL)])
    before = copy.deepcopy(config)
    for name in ("ga", "beta"):
        session = get_dialect(name).session_payload(config)
        session["tools"][0]["name"] = "changed"
        assert config == before


def test_beta_sends_the_flat_config_as_is():
    config = full_config(turn_detection=dict(DEFAULT_SERVER_VAD_CONFIG), tools=[TOOL])
    session = get_dialect("beta").session_payload(config)
    assert session == config
    assert_no_unknown_fields(beta_types.SessionUpdateEvent.model_validate({"type": "session.update", "session": session}))


def test_beta_translates_ga_native_keys_back():
    session = get_dialect("beta").session_payload(
        {
            "type": "realtime",
            "output_modalities": ["audio"],
            "max_output_tokens": 50,
            "audio": {
                "input": {"format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": None, "transcription": {"model": "whisper-1"}},
                "output": {"voice": "alloy", "format": {"type": "audio/pcmu"}},
            },
        }
    )
    assert session == {
        "modalities": ["text", "audio"],
        "max_response_output_tokens": 50,
        "input_audio_format": "pcm16",
        "turn_detection": None,
        "input_audio_transcription": {"model": "whisper-1"},
        "voice": "alloy",
        "output_audio_format": "g711_ulaw",
    }


def test_response_payloads_in_both_dialects():
    params = {"modalities": ["text"], "voice": "ash", "max_response_output_tokens": 10, "instructions": "x", "conversation": "none"}
    ga = get_dialect("ga").response_payload(params)
    assert ga == {"output_modalities": ["text"], "audio": {"output": {"voice": "ash"}}, "max_output_tokens": 10, "instructions": "x", "conversation": "none"}
    assert_no_unknown_fields(ga_types.ResponseCreateEvent.model_validate({"type": "response.create", "response": ga}))
    beta = get_dialect("beta").response_payload({"output_modalities": ["text"], "audio": {"output": {"voice": "ash"}}, "instructions": "x"})
    assert beta == {"modalities": ["text"], "voice": "ash", "instructions": "x"}


def test_headers_per_dialect():
    assert get_dialect("ga").headers("sk-test") == {"Authorization": "Bearer sk-test"}
    assert get_dialect("ga").headers(None) == {}
    assert get_dialect("beta").headers("sk-test") == {"Authorization": "Bearer sk-test", "OpenAI-Beta": "realtime=v1"}
    assert get_dialect("beta").headers(None) == {"OpenAI-Beta": "realtime=v1"}


def test_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match="Unknown protocol 'v2'"):
        get_dialect("v2")


def test_ga_event_names_map_to_the_names_the_conversation_processes():
    assert canonical_event_type("response.output_audio.delta") == "response.audio.delta"
    assert canonical_event_type("response.output_text.delta") == "response.text.delta"
    assert canonical_event_type("response.output_audio_transcript.delta") == "response.audio_transcript.delta"
    assert canonical_event_type("conversation.item.added") == "conversation.item.created"
    assert canonical_event_type("response.audio.delta") == "response.audio.delta"
    assert canonical_event_type("session.created") == "session.created"
    # every alias is a real GA server event name
    ga_names = set()
    for name in dir(ga_types):
        model = getattr(ga_types, name)
        if isinstance(model, type) and issubclass(model, BaseModel) and "type" in model.model_fields:
            annotation = model.model_fields["type"].annotation
            ga_names.update(getattr(annotation, "__args__", ()))
    assert set(SERVER_EVENT_ALIASES) <= ga_names
    assert AUDIO_DELTA_TYPES == {"response.audio.delta", "response.output_audio.delta"}


def test_turn_detection_of_reads_either_shape():
    assert turn_detection_of({"turn_detection": None}) is None
    assert turn_detection_of({"turn_detection": {"type": "none"}}) is None
    assert turn_detection_of({"turn_detection": {"type": "server_vad"}}) == {"type": "server_vad"}
    native = {"turn_detection": None, "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}
    assert turn_detection_of(native) == {"type": "semantic_vad"}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"speed": 1.1}, "speed"),
        ({"temperature": 0.7, "voice": "ash"}, "temperature"),
        ({"input_audio_format": "pcm16", "turn_detection": None}, "input_audio_format, turn_detection"),
        ({"audio": {"output": {"voice": "ash", "speed": 1.2}}}, "audio.output.speed"),
        ({"audio": {"input": {"format": {"type": "audio/pcm"}}}}, "audio (only audio.output"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_ga_response_refuses_what_a_response_does_not_take(params, named):
    # The GA response.create has voice and format as its only audio settings; anything else
    # would come back as an error event, so it is refused before anything is sent.
    from realtime_fast.dialects.ga import to_ga_response

    with pytest.raises(ValueError, match=f"has no {re.escape(named)}"):
        to_ga_response(params)
    assert to_ga_response({"voice": "alloy", "output_audio_format": "g711_ulaw", "instructions": "x"}) == {
        "audio": {"output": {"voice": "alloy", "format": {"type": "audio/pcmu"}}},
        "instructions": "x",
    }
