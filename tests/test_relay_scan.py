"""The relay's frame scanner: reads the top-level ``type`` (and a ``response.done``'s usage) without parsing.

Run against both implementations; hypothesis checks them against a JSON parser and
against each other.  The property the locked session relies on: whatever the scanner
says a frame's type is, a JSON parser says the same (or the scanner says "parse it").
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_fast.relay import _picows_pipe_py

IMPLS = [pytest.param("realtime_fast.relay._picows_pipe_py", id="pure")]
if os.environ.get("REALTIME_FAST_NO_EXTENSIONS") != "1":
    IMPLS.append(pytest.param("realtime_fast.relay._picows_pipe", id="compiled"))


@pytest.fixture(params=IMPLS)
def pipe(request):
    import importlib

    try:
        return importlib.import_module(request.param)
    except ImportError as exc:
        if os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") == "1":
            raise
        pytest.skip(f"{request.param} not built: {exc}")


@pytest.mark.parametrize(
    "frame, expected",
    [
        (b'{"type":"input_audio_buffer.append","audio":"AAAA"}', b"input_audio_buffer.append"),
        (b'{"event_id":"evt_1","type":"session.update","session":{"type":"realtime"}}', b"session.update"),
        (b' {\n "audio" : "a\\"b\\\\" ,\t"type" : "x" } ', b"x"),
        (b'{"nested":{"type":"inner"},"list":[{"type":"no"},"]"],"type":"outer"}', b"outer"),
        (b'{"n":-1.5e3,"t":true,"f":false,"z":null,"type":"x"}', b"x"),
        (b'{"type":"a","type":"b"}', None),  # twice: a parser takes the last one
        (b'{"type":"session\\u002eupdate"}', None),  # an escape in the type
        (b'{"typ\\u0065":"session.update"}', None),  # an escape in a key
        (b'{"type":1}', None),
        (b'{"kind":"x"}', None),
        (b'["type","x"]', None),
        (b'{"type":"x"', None),
        (b'{"type":"x",}', None),
        (b"", None),
        (b"not json", None),
    ],
)
def test_scan_type(pipe, frame, expected):
    assert pipe.scan_type(frame) == expected
    assert pipe.scan_type(bytearray(frame)) == expected
    assert pipe.scan_type(memoryview(frame)) == expected


def test_scan_usage(pipe):
    done = {
        "type": "response.done",
        "event_id": "event_1",
        "response": {
            "id": "resp_1",
            "output": [{"usage": {"input_tokens": 999}}],
            "usage": {"total_tokens": 1062, "input_tokens": 919, "output_tokens": 143,
                      "input_token_details": {"cached_tokens": 0, "text_tokens": 643, "audio_tokens": 276}},
        },
    }
    assert pipe.scan_usage(json.dumps(done).encode()) == (919, 143, 1062)
    assert pipe.scan_usage(b'{"type":"response.done","response":{"usage":null}}') is None
    assert pipe.scan_usage(b'{"type":"response.done","response":{"usage":{"total_tokens":3}}}') == (0, 0, 3)
    assert pipe.scan_usage(b'{"type":"response.done"}') is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
keys = st.sampled_from(["type", "event_id", "audio", "session", "typ", "Type", "tÿpe"]) | st.text(max_size=6)


@st.composite
def frames(draw):
    members = draw(st.lists(st.tuples(keys, json_values | st.text(max_size=12)), max_size=5))
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")]))
    ascii_only = draw(st.booleans())
    body = separators[0].join(json.dumps(k, ensure_ascii=ascii_only) + separators[1] + json.dumps(v, ensure_ascii=ascii_only) for k, v in members)
    return ("{" + body + "}").encode()


@settings(max_examples=400, deadline=None)
@given(frames())
def test_the_scanner_never_disagrees_with_a_parser(frame):
    parsed = json.loads(frame)  # duplicate keys: the last one wins, as in the service's parser
    for impl in (_picows_pipe_py, _compiled()):
        if impl is None:
            continue
        found = impl.scan_type(frame)
        if found is not None:
            assert isinstance(parsed.get("type"), str) and found.decode() == parsed["type"], (frame, found)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64) | frames())
def test_both_implementations_agree_on_any_bytes(frame):
    compiled = _compiled()
    if compiled is None:
        pytest.skip("the compiled pipe is not built")
    assert compiled.scan_type(frame) == _picows_pipe_py.scan_type(frame)
    assert compiled.scan_usage(frame) == _picows_pipe_py.scan_usage(frame)


def _compiled():
    try:
        from realtime_fast.relay import _picows_pipe
    except ImportError:
        if os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") == "1":
            raise
        return None
    return _picows_pipe
