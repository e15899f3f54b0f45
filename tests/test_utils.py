"""RealtimeUtils, run over both audio implementations."""

from __future__ import annotations

import base64
import math
import struct
from array import array

import numpy as np
import pytest

from realtime_fast import utils
from realtime_fast.utils import BASE58_ALPHABET, RealtimeUtils


@pytest.fixture
def rtu(audio_impl, monkeypatch):
    """RealtimeUtils wired to the pure or the compiled audio core."""
    monkeypatch.setattr(utils, "_audio", audio_impl)
    return RealtimeUtils


def test_float_to_16bit_pcm_follows_the_reference_rule(rtu):
    samples = np.array([0.0, 0.5, -0.5, 1.5, -1.5, math.nan, -0.0], dtype=np.float32)
    assert rtu.float_to_16bit_pcm(samples) == struct.pack("<7h", 0, 16383, -16384, 32767, -32768, 0, 0)


def test_base64_round_trip(rtu):
    raw = struct.pack("<3h", 1, -1, 300)
    text = rtu.array_buffer_to_base64(raw)
    assert text == base64.b64encode(raw).decode()
    assert rtu.base64_to_array_buffer(text) == raw
    assert rtu.base64_to_array_buffer(text.encode()) == raw


def test_base64_handles_odd_byte_counts_like_the_reference(rtu):
    assert rtu.array_buffer_to_base64(b"abc") == "YWJj"
    assert rtu.base64_to_array_buffer("YWJj") == b"abc"
    assert rtu.base64_to_array_buffer(bytearray(b"YQ==")) == b"a"


def test_base64_to_array_buffer_stays_strict(rtu):
    for bad, fragment in (("YW Jj", "' ' at offset 2"), ("YQ=", "offset 3"), ("YQ==YQ==", "after '=' padding")):
        with pytest.raises(ValueError, match=fragment):
            rtu.base64_to_array_buffer(bad)


def test_array_buffer_to_base64_converts_floats_first(rtu):
    floats = np.array([0.25, -1.0, 2.0], dtype=np.float32)
    expected = base64.b64encode(struct.pack("<3h", 8191, -32768, 32767)).decode()
    assert rtu.array_buffer_to_base64(floats) == expected
    assert rtu.array_buffer_to_base64(array("f", floats.tolist())) == expected
    assert rtu.array_buffer_to_base64(floats.astype(np.float64)) == expected


def test_array_buffer_to_base64_takes_int16_as_is(rtu, audio_impl):
    ints = np.array([1, -2, 32767], dtype=np.int16)
    expected = base64.b64encode(ints.tobytes()).decode()
    assert rtu.array_buffer_to_base64(ints) == expected
    assert rtu.array_buffer_to_base64(array("h", [1, -2, 32767])) == expected
    buf = audio_impl.AudioBuffer()
    buf.append(ints)
    assert rtu.array_buffer_to_base64(buf) == expected


def test_merge_int16_arrays(rtu, audio_impl):
    left = np.array([1, 2], dtype=np.int16)
    right = array("h", [3])
    buf = audio_impl.AudioBuffer()
    buf.append(np.array([4, 5], dtype=np.int16))
    merged = rtu.merge_int16_arrays(left, right)
    assert merged.dtype == np.int16 and merged.tolist() == [1, 2, 3]
    assert rtu.merge_int16_arrays(merged, buf).tolist() == [1, 2, 3, 4, 5]
    assert rtu.merge_int16_arrays(buf, np.zeros(0, dtype=np.int16)).tolist() == [4, 5]
    merged[0] = 9  # a new array: the inputs are not shared
    assert left.tolist() == [1, 2]


@pytest.mark.parametrize(
    "left, right",
    [
        ([1, 2], np.zeros(1, dtype=np.int16)),
        (np.zeros(1, dtype=np.int16), b"\x00\x00"),
        (np.zeros(1, dtype=np.float32), np.zeros(1, dtype=np.int16)),
        (array("i", [1]), array("h", [1])),
    ],
)
def test_merge_int16_arrays_rejects_other_types(rtu, left, right):
    with pytest.raises(TypeError, match="Both items must be Int16Array"):
        rtu.merge_int16_arrays(left, right)


def test_generate_id(rtu):
    ids = {rtu.generate_id("evt_") for _ in range(200)}
    assert len(ids) == 200
    for item_id in ids:
        assert len(item_id) == 21 and item_id.startswith("evt_")
        assert set(item_id[4:]) <= set(BASE58_ALPHABET)
    assert len(rtu.generate_id("item_", 32)) == 32
    assert rtu.generate_id("abc", 3) == "abc"
    with pytest.raises(ValueError, match="shorter than the prefix"):
        rtu.generate_id("long_prefix_", 5)


def test_generate_id_characters_are_equally_likely(rtu):
    from collections import Counter

    counts = Counter("".join(rtu.generate_id("", 17) for _ in range(20000)))
    expected = 20000 * 17 / len(BASE58_ALPHABET)  # about 5,862 each; one standard deviation is about 77
    assert set(counts) == set(BASE58_ALPHABET)
    assert all(abs(n - expected) < 0.1 * expected for n in counts.values()), counts.most_common(3)


def test_base58_alphabet_has_no_look_alikes():
    assert len(BASE58_ALPHABET) == 58 and not set("0OIl") & set(BASE58_ALPHABET)
