"""Benchmarks of the wire-event codec: compiled vs pure vs the stdlib way.

Run with ``pytest bench/test_bench_events.py --benchmark-only``; compare rows
within a group (one group per operation; ``receive one frame`` compares
``parse_frame`` with the two-step path it replaced in the API).  Inputs are built outside the timed
bodies.  The bar: the fused audio-delta path (parse + decode + append) of the
compiled core is at least 5x faster than ``json.loads`` + ``base64.b64decode``
+ ``bytearray +=``.
"""

from __future__ import annotations

import base64
import importlib
import json
import os

import numpy as np
import pytest

IMPLS = ["compiled", "pure", "stdlib"]
ITEM = "item_C1PSb7Qz0rYfGkWx3mHtJ"
SAMPLE_RATE = 24000
# Buffers keep at most this many samples (10 s) so long benchmark runs stay bounded in memory.
CAP_SAMPLES = 10 * SAMPLE_RATE


def _modules(impl: str):
    """(events module, audio module) of one implementation."""
    if impl == "pure":
        return importlib.import_module("realtime_fast._events_py"), importlib.import_module("realtime_fast._audio_py")
    try:
        return importlib.import_module("realtime_fast._events"), importlib.import_module("realtime_fast._audio")
    except ImportError as exc:
        if os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") == "1":
            raise
        pytest.skip(f"compiled core not built: {exc}")


def _pcm(ms: int) -> bytes:
    n = SAMPLE_RATE * ms // 1000
    return np.random.default_rng(ms).integers(-32768, 32767, n, dtype="<i2").tobytes()


def _compact(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


AUDIO_DELTA = _compact(
    {
        "type": "response.output_audio.delta",
        "event_id": "event_C1PSbHk2rT8mNq4vXyZ0a",
        "response_id": "resp_C1PSbG7wLp3dF9sKj2Hq1",
        "item_id": ITEM,
        "output_index": 0,
        "content_index": 0,
        "delta": base64.b64encode(_pcm(100)).decode(),  # 4 800 bytes of PCM, 6 400 characters
    }
)
TEXT_DELTA = _compact(
    {
        "type": "response.output_text.delta",
        "event_id": "event_C1PSbHk2rT8mNq4vXyZ0b",
        "response_id": "resp_C1PSbG7wLp3dF9sKj2Hq1",
        "item_id": ITEM,
        "output_index": 0,
        "content_index": 0,
        "delta": " word",
        "obfuscation": "aB3xYz8Kq",
    }
)
SESSION_UPDATED = _compact(
    {
        "type": "session.updated",
        "event_id": "event_CAb3ZAXsM0HXH7L6hDjZB",
        "session": {
            "type": "realtime",
            "object": "realtime.session",
            "id": "sess_CAb3Z9vUpJcqXn5dPRc6u",
            "model": "gpt-realtime-2025-08-28",
            "output_modalities": ["audio"],
            "instructions": "You are a helpful, witty and friendly assistant. Keep answers short. " * 4,
            "tools": [
                {
                    "type": "function",
                    "name": "get_weather",
                    "description": "Get the weather for a location.",
                    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
                }
            ],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "prompt": None,
            "expires_at": 1756324625,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "whisper-1"},
                    "noise_reduction": None,
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 300,
                        "silence_duration_ms": 200,
                        "idle_timeout_ms": None,
                        "create_response": True,
                        "interrupt_response": True,
                    },
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0},
            },
            "include": None,
        },
    }
)


# ---------------------------------------------------------------------------
# parse_event
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(AUDIO_DELTA, id="audio-delta-4.8KB"),
        pytest.param(TEXT_DELTA, id="text-delta"),
        pytest.param(SESSION_UPDATED, id="session-updated"),
    ],
)
@pytest.mark.parametrize("impl", IMPLS)
def test_parse_event(benchmark, impl, frame):
    event_type = json.loads(frame)["type"]
    benchmark.group = f"parse_event {event_type} ({len(frame)} B)"
    parse = json.loads if impl == "stdlib" else _modules(impl)[0].parse_event
    event = benchmark(parse, frame)
    assert event["type"] == event_type


# ---------------------------------------------------------------------------
# the fused audio-delta path
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
def test_fused_audio_delta(benchmark, impl):
    benchmark.group = "audio delta 100 ms: parse + base64 decode + append"
    if impl == "stdlib":
        audio = bytearray()
        limit = 2 * CAP_SAMPLES
        loads, b64decode = json.loads, base64.b64decode

        def run(frame):
            nonlocal audio
            event = loads(frame)
            audio += b64decode(event.pop("delta"))
            if len(audio) > limit:
                audio = bytearray()
            return event

    else:
        events, audio_mod = _modules(impl)
        buffers = {ITEM: audio_mod.AudioBuffer(max_samples=CAP_SAMPLES)}
        parse_audio_delta = events.parse_audio_delta

        def run(frame):
            return parse_audio_delta(frame, buffers)[0]

    event = benchmark(run, AUDIO_DELTA)
    assert event["item_id"] == ITEM and "delta" not in event


@pytest.mark.parametrize("impl", ["compiled", "pure"])
def test_fused_path_on_non_audio_event(benchmark, impl):
    """What every non-audio frame costs before the caller falls back to parse_event."""
    benchmark.group = "parse_audio_delta on a text delta (returns None)"
    events, audio_mod = _modules(impl)
    buffers = {ITEM: audio_mod.AudioBuffer()}
    assert benchmark(events.parse_audio_delta, TEXT_DELTA, buffers) is None


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(AUDIO_DELTA, id="audio-delta-4.8KB"),
        pytest.param(TEXT_DELTA, id="text-delta"),
        pytest.param(SESSION_UPDATED, id="session-updated"),
    ],
)
@pytest.mark.parametrize("way", ["parse_frame", "two-step"])
@pytest.mark.parametrize("impl", ["compiled", "pure"])
def test_parse_frame(benchmark, impl, way, frame):
    """One server frame as the API reads it: parse_frame, or the former parse_audio_delta then parse_event."""
    event_type = json.loads(frame)["type"]
    benchmark.group = f"receive one frame: {event_type} ({len(frame)} B)"
    events, audio_mod = _modules(impl)
    buffers = {ITEM: audio_mod.AudioBuffer(max_samples=CAP_SAMPLES)}
    if way == "parse_frame":
        parse_frame = events.parse_frame

        def run(data):
            return parse_frame(data, buffers)[0]

    else:
        parse_audio_delta, parse_event = events.parse_audio_delta, events.parse_event

        def run(data):
            fast = parse_audio_delta(data, buffers)
            return parse_event(data) if fast is None else fast[0]

    event = benchmark(run, frame)
    assert event["type"] == event_type


# ---------------------------------------------------------------------------
# dumps_append_audio
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("ms", [20, 100])
@pytest.mark.parametrize("impl", IMPLS)
def test_dumps_append_audio(benchmark, impl, ms):
    pcm = _pcm(ms)
    benchmark.group = f"input_audio_buffer.append frame, {ms} ms ({len(pcm)} B PCM)"
    if impl == "stdlib":
        dumps, b64encode = json.dumps, base64.b64encode

        def run(data, event_id):
            event = {"event_id": event_id, "type": "input_audio_buffer.append", "audio": b64encode(data).decode()}
            return dumps(event, separators=(",", ":")).encode()

    else:
        run = _modules(impl)[0].dumps_append_audio
    frame = benchmark(run, pcm, "evt_7Yq3zPw9XkLm2Nb4R")
    assert base64.b64decode(json.loads(frame)["audio"]) == pcm
