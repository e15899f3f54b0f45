"""Audio core: base64 codecs, float conversion, AudioBuffer, G.711 and resampling, against both implementations."""

from __future__ import annotations

import base64
import bisect
import binascii
import copy
import importlib
import math
import os
import pickle
import re
import struct
import warnings
from array import array

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import realtime_fast._audio_py as pure

# audio_impl is a module, so sharing it across generated inputs is safe.
SETTINGS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
VIEWS_EXIST = re.escape("AudioBuffer cannot be resized while a memoryview")


def _compiled():
    if os.environ.get("REALTIME_FAST_NO_EXTENSIONS") == "1":
        pytest.skip("extensions disabled")
    try:
        return importlib.import_module("realtime_fast._audio")
    except ImportError:
        if os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") == "1":
            raise
        pytest.skip("realtime_fast._audio not built")


def even_bytes(max_size: int = 600):
    return st.binary(max_size=max_size).map(lambda b: b[: len(b) & ~1])


def stdlib_strict_ok(text: str) -> bool:
    """RFC 4648 with padding, the oracle for our strict decoder."""
    return len(text) % 4 == 0 and re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text) is not None


# ---------------------------------------------------------------------------
# base64 encode / decode
# ---------------------------------------------------------------------------


def test_round_trip_known_vector(audio_impl):
    pcm = struct.pack("<4h", 0, 1, -1, 32767)
    text = audio_impl.b64encode_pcm16(pcm)
    assert text == "AAABAP///38="
    assert isinstance(text, str)
    assert audio_impl.b64decode_pcm16(text) == pcm


def test_empty_and_one_sample(audio_impl):
    assert audio_impl.b64encode_pcm16(b"") == ""
    assert audio_impl.b64decode_pcm16("") == b""
    assert audio_impl.b64decode_pcm16(b"") == b""
    assert audio_impl.b64encode_pcm16(b"\x34\x12") == "NBI="
    assert audio_impl.b64decode_pcm16("NBI=") == b"\x34\x12"


@SETTINGS
@given(data=even_bytes())
def test_encode_and_decode_match_stdlib(audio_impl, data):
    expected = base64.b64encode(data).decode("ascii")
    assert audio_impl.b64encode_pcm16(data) == expected
    assert audio_impl.b64decode_pcm16(expected) == data
    assert audio_impl.b64decode_pcm16(expected.encode("ascii")) == data


@SETTINGS
@given(text=st.text(alphabet=B64_CHARS + "=", max_size=40) | st.text(alphabet=B64_CHARS + "=-_ \n\x00é", max_size=12))
def test_decode_random_strings_like_strict_stdlib(audio_impl, text):
    if stdlib_strict_ok(text):
        expected = binascii.a2b_base64(text)  # exact on text the oracle accepted, on every Python
        if len(expected) % 2 == 0:
            assert audio_impl.b64decode_pcm16(text) == expected
            return
    with pytest.raises(ValueError, match="offset"):
        audio_impl.b64decode_pcm16(text)


@pytest.mark.parametrize("size", [2, 4, 6, 46, 48, 50, 4800, 48000])
def test_round_trip_sizes_around_simd_blocks(audio_impl, size):
    data = os.urandom(size)
    text = audio_impl.b64encode_pcm16(data)
    assert text == base64.b64encode(data).decode()
    assert audio_impl.b64decode_pcm16(text) == data


def test_huge_round_trip(audio_impl):
    data = os.urandom(3 * 1024 * 1024)
    text = audio_impl.b64encode_pcm16(data)
    assert text == base64.b64encode(data).decode()
    assert audio_impl.b64decode_pcm16(text) == data


def test_huge_invalid_input_reports_the_offset(audio_impl):
    text = "A" * (2 * 1024 * 1024) + "!AAA"
    with pytest.raises(ValueError, match=f"'!' at offset {2 * 1024 * 1024}"):
        audio_impl.b64decode_pcm16(text)


def test_encode_accepts_buffers_and_int16_arrays(audio_impl):
    samples = np.array([0, 1, -1, 1000, -32768, 32767], dtype=np.int16)
    raw = samples.astype("<i2").tobytes()
    expected = base64.b64encode(raw).decode()
    for data in (raw, bytearray(raw), memoryview(raw), array("h", samples.tolist()), samples, samples.reshape(2, 3)):
        assert audio_impl.b64encode_pcm16(data) == expected


def test_encode_non_contiguous_and_read_only(audio_impl):
    samples = np.arange(-50, 50, dtype=np.int16)
    strided = samples[::3]
    assert not strided.flags.c_contiguous
    assert audio_impl.b64encode_pcm16(strided) == base64.b64encode(strided.tobytes()).decode()
    column = np.arange(12, dtype=np.int16).reshape(3, 4)[:, 1]
    assert audio_impl.b64encode_pcm16(column) == base64.b64encode(column.tobytes()).decode()
    raw = bytes(range(40))
    every_other = memoryview(raw)[::2]  # 20 bytes, itemsize 1, strided
    assert audio_impl.b64encode_pcm16(every_other) == base64.b64encode(raw[::2]).decode()
    frozen = np.arange(8, dtype=np.int16)
    frozen.flags.writeable = False
    assert audio_impl.b64encode_pcm16(frozen) == base64.b64encode(frozen.tobytes()).decode()
    assert audio_impl.b64encode_pcm16(memoryview(raw).toreadonly()) == base64.b64encode(raw).decode()


def test_encode_rejects_odd_length_and_non_pcm(audio_impl):
    with pytest.raises(ValueError, match="b64encode_pcm16 got 3 bytes, an odd count"):
        audio_impl.b64encode_pcm16(b"abc")
    with pytest.raises(TypeError, match="format 'f'.*float_to_pcm16"):
        audio_impl.b64encode_pcm16(np.zeros(4, dtype=np.float32))
    with pytest.raises(TypeError, match="format '>h'"):
        audio_impl.b64encode_pcm16(np.zeros(4, dtype=">i2"))
    for bad in ("AAAA", [1, 2], 7, None):
        with pytest.raises(TypeError, match="expects PCM16 audio"):
            audio_impl.b64encode_pcm16(bad)


def test_decode_accepts_str_and_bytes_like(audio_impl):
    raw = os.urandom(300)
    text = base64.b64encode(raw)
    framed = b"xx" + text + b"yy"
    for source in (text.decode(), text, bytearray(text), memoryview(framed)[2:-2], memoryview(text).toreadonly()):
        assert audio_impl.b64decode_pcm16(source) == raw


def test_decode_rejects_non_text(audio_impl):
    for bad in (12, None, ["QUFB"], np.zeros(4, dtype=np.int16)):
        with pytest.raises(TypeError, match="b64decode_pcm16 expects base64 text"):
            audio_impl.b64decode_pcm16(bad)


BAD_BASE64 = [
    # (text, message fragment)
    ("QUJD!A==", "Invalid base64 character '!' at offset 4"),
    ("QUJDRA-=", "Invalid base64 character '-' at offset 6"),
    ("QU_D", "Invalid base64 character '_' at offset 2"),
    ("QUJD RA==", "Invalid base64 character ' ' at offset 4"),
    ("QUJD\nRA==", "Invalid base64 character '\\n' at offset 4"),
    ("QU\x00D", "Invalid base64 character '\\x00' at offset 2"),
    ("QUé=", "Invalid base64 character 'é' at offset 2"),
    ("AAAA\u20acAAA", "Invalid base64 character '€' at offset 4"),
    (b"QU\xffD", "Invalid base64 character b'\\xff' at offset 2"),
    (b"QU\x80D", "Invalid base64 character b'\\x80' at offset 2"),
    ("QQ==QQ==", "continues at offset 4 after '=' padding at offset 2"),
    ("QQ=QAAAA", "continues at offset 3 after '=' padding at offset 2"),
    ("=AAA", "continues at offset 1 after '=' padding at offset 0"),
    ("Q===", "3 '=' padding characters from offset 1"),
    ("AAAA====", "4 '=' padding characters from offset 4"),
    ("AAA", "ends mid-group at offset 3"),
    ("AAAAA", "ends mid-group at offset 5"),
    ("AAAAA=", "ends mid-group at offset 6"),
    ("AAAA=", "ends mid-group at offset 5"),
    ("QUJDRA", "ends mid-group at offset 6"),
    ("QQ==", "odd number of bytes (1) at offset 4"),
    ("QUJD", "odd number of bytes (3) at offset 4"),
    ("A" * 64 + "AAA=" + "!", "Invalid base64 character '!' at offset 68"),
    ("A" * 100 + "$" + "A" * 99, "Invalid base64 character '$' at offset 100"),
]


@pytest.mark.parametrize("text, fragment", BAD_BASE64)
def test_decode_rejects_bad_base64_naming_the_offset(audio_impl, text, fragment):
    with pytest.raises(ValueError) as info:
        audio_impl.b64decode_pcm16(text)
    assert fragment in str(info.value)


def test_error_messages_identical_across_implementations():
    compiled = _compiled()
    inputs = [text for text, _ in BAD_BASE64]
    inputs += [t.encode("utf-8") for t in inputs if isinstance(t, str)]
    inputs += [bytearray(b"QUJD!A=="), memoryview(b"xxQQ==")[2:]]
    for text in inputs:
        messages = []
        for impl in (pure, compiled):
            with pytest.raises(ValueError) as info:
                impl.b64decode_pcm16(text)
            messages.append(str(info.value))
            buf = impl.AudioBuffer()
            with pytest.raises(ValueError) as info:
                buf.append_base64(text)
            messages.append(str(info.value))
        assert len(set(messages)) == 1, messages
    for call in (
        lambda impl: impl.b64encode_pcm16(b"abc"),
        lambda impl: impl.b64encode_pcm16(np.zeros(2, dtype=np.float64)),
        lambda impl: impl.b64encode_pcm16([1]),
        lambda impl: impl.b64decode_pcm16(5),
        lambda impl: impl.AudioBuffer().append(b"abc"),
        lambda impl: impl.AudioBuffer(max_samples=0),
        lambda impl: impl.AudioBuffer().discard(-1),
        lambda impl: impl.float_to_pcm16(np.zeros(2, dtype=np.int16)),
        lambda impl: impl.float_to_pcm16("0.5"),
    ):
        errors = []
        for impl in (pure, compiled):
            with pytest.raises((TypeError, ValueError)) as info:
                call(impl)
            errors.append((type(info.value), str(info.value)))
        assert errors[0] == errors[1]


def test_c_level_api_for_other_compiled_modules():
    """append_b64_raw / encode_b64_into (cimported by _events) behave like the Python API."""
    compiled = _compiled()
    raw = os.urandom(4800)
    buf = compiled.AudioBuffer(max_samples=3000)
    compiled._append_b64_raw(buf, base64.b64encode(raw))
    compiled._append_b64_raw(buf, b"")
    assert buf.to_bytes() == raw[-6000:] and buf.offset == 0
    for size in (0, 2, 4, 4800, 4802):
        data = os.urandom(size)
        assert compiled._encode_b64_into(data) == base64.b64encode(data)
    for text, fragment in BAD_BASE64:
        # A JSON parser hands the pure twin a str; the compiled one sees its UTF-8 bytes.
        # Bytes that are not UTF-8 are described as bytes by both.
        raw_text = text.encode("utf-8") if isinstance(text, str) else text
        target = compiled.AudioBuffer()
        with pytest.raises(ValueError) as info:
            compiled._append_b64_raw(target, raw_text)
        reference = pure.AudioBuffer()
        with pytest.raises(ValueError) as expected:
            reference.append_base64(text)
        assert str(info.value) == str(expected.value)
        assert fragment in str(info.value)
        assert len(target) == 0
    with memoryview(buf):
        with pytest.raises(BufferError, match=VIEWS_EXIST):
            compiled._append_b64_raw(buf, b"AAAA")


def test_scalar_and_simd_kernels_agree():
    compiled = _compiled()
    rng = np.random.default_rng(7)
    sizes = list(range(0, 130, 2)) + [4800, 4802, 65536]
    try:
        for simd in (False, True):
            compiled._use_simd(simd)
            for size in sizes:
                data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
                text = base64.b64encode(data).decode()
                assert compiled.b64encode_pcm16(data) == text, (compiled._b64_kernel(), size)
                assert compiled.b64decode_pcm16(text) == data, (compiled._b64_kernel(), size)
            for text, fragment in BAD_BASE64:
                with pytest.raises(ValueError) as info:
                    compiled.b64decode_pcm16(text)
                assert fragment in str(info.value)
            # every byte value at every position of a SIMD block must be judged right
            block = bytearray(b"A" * 72)
            for position in (0, 5, 31, 33, 47):
                for value in range(256):
                    block[position] = value
                    valid = chr(value) in B64_CHARS
                    if valid:
                        assert compiled.b64decode_pcm16(bytes(block)) == base64.b64decode(bytes(block))
                    else:
                        with pytest.raises(ValueError, match=f"offset {position}"):
                            compiled.b64decode_pcm16(bytes(block))
                block[position] = ord("A")
    finally:
        compiled._use_simd(True)


# ---------------------------------------------------------------------------
# float_to_pcm16
# ---------------------------------------------------------------------------


def reference_sample(x: float) -> int:
    """The reference client's rule, one sample at a time (JS semantics)."""
    if math.isnan(x):
        return 0
    x = max(-1.0, min(1.0, x))
    x = struct.unpack("<f", struct.pack("<f", x))[0]  # the sample is a float32
    v = x * 32768 if x < 0 else x * 32767
    return math.trunc(v)


def reference_pcm16(values) -> bytes:
    return struct.pack(f"<{len(values)}h", *(reference_sample(float(v)) for v in values))


def test_float_to_pcm16_special_values(audio_impl):
    values = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, math.nan, math.inf, -math.inf, 1e-9, -1e-9, 1e300, -1e300]
    expected = [0, 0, 32767, -32768, 16383, -16384, 32767, -32768, 0, 32767, -32768, 0, 0, 32767, -32768]
    out = audio_impl.float_to_pcm16(np.array(values, dtype=np.float64))
    assert list(struct.unpack(f"<{len(values)}h", out)) == expected
    finite32 = [v for v in values if abs(v) < 1e38]
    out32 = audio_impl.float_to_pcm16(np.array(finite32, dtype=np.float32))
    assert out32 == reference_pcm16(finite32)
    assert audio_impl.float_to_pcm16([0.5]) == b"\xff\x3f"  # little-endian 16383


def test_float_to_pcm16_is_truncation_toward_zero(audio_impl):
    top = np.nextafter(np.float32(1), np.float32(0))  # largest float32 below 1
    values = np.array([top, -top, 1 / 32767, -1 / 32768, 0.75, -0.75], dtype=np.float32)
    assert audio_impl.float_to_pcm16(values) == reference_pcm16(values.tolist())
    assert struct.unpack("<h", audio_impl.float_to_pcm16(values[:1]))[0] == 32766


@SETTINGS
@given(values=st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), max_size=80))
def test_float_to_pcm16_matches_reference_for_float32(audio_impl, values):
    expected = reference_pcm16(values)
    as_array = np.array(values, dtype=np.float32)
    assert audio_impl.float_to_pcm16(as_array) == expected
    assert audio_impl.float_to_pcm16(array("f", values)) == expected
    assert audio_impl.float_to_pcm16(memoryview(as_array.tobytes()).cast("f")) == expected
    assert audio_impl.float_to_pcm16(values) == expected


@SETTINGS
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=80))
def test_float_to_pcm16_matches_reference_for_float64(audio_impl, values):
    expected = reference_pcm16(values)
    assert audio_impl.float_to_pcm16(np.array(values, dtype=np.float64)) == expected
    assert audio_impl.float_to_pcm16(array("d", values)) == expected


def test_float_to_pcm16_layouts(audio_impl):
    rng = np.random.default_rng(3)
    values = (rng.standard_normal(300) * 0.7).astype(np.float32)
    strided = values[::3]
    assert audio_impl.float_to_pcm16(strided) == reference_pcm16(strided.tolist())
    assert audio_impl.float_to_pcm16(values.reshape(3, 100)) == reference_pcm16(values.tolist())
    assert audio_impl.float_to_pcm16(values.astype(">f4")) == reference_pcm16(values.tolist())
    assert audio_impl.float_to_pcm16(values.astype(np.float16)) == reference_pcm16(values.astype(np.float16).tolist())
    frozen = values.copy()
    frozen.flags.writeable = False
    assert audio_impl.float_to_pcm16(frozen) == reference_pcm16(values.tolist())
    assert audio_impl.float_to_pcm16(np.zeros(0, dtype=np.float32)) == b""
    assert audio_impl.float_to_pcm16([]) == b""


def test_float_to_pcm16_rejects_non_floats(audio_impl):
    for bad in (np.zeros(3, dtype=np.int16), b"\x00\x00", bytearray(4), "0.5", None):
        with pytest.raises(TypeError, match="float_to_pcm16 expects float samples"):
            audio_impl.float_to_pcm16(bad)


# ---------------------------------------------------------------------------
# AudioBuffer
# ---------------------------------------------------------------------------


def pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def test_buffer_append_len_bytes_duration_repr(audio_impl):
    buf = audio_impl.AudioBuffer()
    assert len(buf) == 0 and buf.to_bytes() == b"" and buf.offset == 0 and buf.max_samples is None
    buf.append(pcm(1, 2, 3))
    buf.append(bytearray(pcm(4)))
    buf.append(memoryview(pcm(5, 6)))
    buf.append(np.array([7, 8], dtype=np.int16))
    buf.append(array("h", [9]))
    buf.append(np.arange(20, 30, dtype=np.int16)[::5])  # strided: 20, 25
    buf.append(b"")
    assert len(buf) == 11
    assert buf.to_bytes() == pcm(1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 25)
    assert buf.duration_ms() == pytest.approx(11 / 24)
    assert buf.duration_ms(rate=8000) == pytest.approx(11 / 8)
    assert repr(buf) == "AudioBuffer(samples=11, duration_ms=0.5, offset=0, max_samples=None)"
    with pytest.raises(ValueError, match="rate must be a positive"):
        buf.duration_ms(0)


def test_buffer_rejects_odd_or_non_pcm_input_unchanged(audio_impl):
    buf = audio_impl.AudioBuffer()
    buf.append(pcm(1))
    with pytest.raises(ValueError, match="AudioBuffer.append got 3 bytes"):
        buf.append(b"abc")
    with pytest.raises(TypeError, match="AudioBuffer.append expects PCM16"):
        buf.append("abcd")
    with pytest.raises(TypeError, match="format 'f'"):
        buf.append(np.zeros(2, dtype=np.float32))
    assert buf.to_bytes() == pcm(1)


def test_buffer_append_base64(audio_impl):
    buf = audio_impl.AudioBuffer()
    first, second = pcm(1, -2, 3), pcm(32767, -32768)
    text = base64.b64encode(second)
    buf.append_base64(base64.b64encode(first).decode())
    buf.append_base64(text)
    buf.append_base64(memoryview(b"##" + text + b"##")[2:-2])
    buf.append_base64(bytearray(text))
    buf.append_base64("")
    assert buf.to_bytes() == first + second * 3


@pytest.mark.parametrize("text, fragment", BAD_BASE64)
def test_buffer_append_base64_rejects_like_decode_and_stays_unchanged(audio_impl, text, fragment):
    buf = audio_impl.AudioBuffer(max_samples=4)
    buf.append(pcm(1, 2, 3))
    with pytest.raises(ValueError) as info:
        buf.append_base64(text)
    with pytest.raises(ValueError) as direct:
        audio_impl.b64decode_pcm16(text)
    assert str(info.value) == str(direct.value)
    assert fragment in str(info.value)
    assert buf.to_bytes() == pcm(1, 2, 3) and buf.offset == 0


def test_buffer_to_bytes_of_a_range(audio_impl):
    buf = audio_impl.AudioBuffer()
    buf.append(pcm(*range(10)))
    assert buf.to_bytes() == pcm(*range(10))
    assert buf.to_bytes(7) == pcm(7, 8, 9)
    assert buf.to_bytes(10) == b"" and buf.to_bytes(50) == b""
    assert buf.to_bytes(2, 5) == pcm(2, 3, 4)
    assert buf.to_bytes(-3) == pcm(7, 8, 9)
    assert buf.to_bytes(5, 2) == b"" and buf.to_bytes(8, 100) == pcm(8, 9)
    assert buf.to_bytes(True) == pcm(*range(1, 10))
    for start, stop in [(0, None), (3, None), (-4, -1), (None, 4), (2, 2)]:
        assert buf.to_bytes(start, stop) == buf.slice(start, stop).to_bytes()
    with pytest.raises(TypeError):
        buf.to_bytes("1")
    buf.discard(4)  # indices are relative to the first held sample
    assert buf.to_bytes(1) == pcm(5, 6, 7, 8, 9)
    tail = buf.to_bytes(3)
    buf.append(pcm(10))  # no view is left behind: the buffer still grows
    assert tail == pcm(7, 8, 9) and buf.to_bytes(-1) == pcm(10)


def test_buffer_truncate_slice_discard_clear(audio_impl):
    buf = audio_impl.AudioBuffer()
    buf.append(pcm(*range(10)))
    part = buf.slice(2, 5)
    assert type(part) is type(buf)
    assert part.to_bytes() == pcm(2, 3, 4) and part.offset == 2
    assert buf.slice(-3).to_bytes() == pcm(7, 8, 9)
    assert buf.slice(8, 100).to_bytes() == pcm(8, 9)
    assert buf.slice(5, 2).to_bytes() == b""
    buf.discard(3)
    assert buf.to_bytes() == pcm(*range(3, 10)) and buf.offset == 3
    assert buf.slice(1, 3).offset == 4
    part.append(pcm(99))  # a copy: the source is untouched
    assert buf.to_bytes() == pcm(*range(3, 10))
    buf.truncate(4)
    assert buf.to_bytes() == pcm(3, 4, 5, 6) and buf.offset == 3
    buf.truncate(100)
    assert len(buf) == 4
    buf.discard(100)
    assert len(buf) == 0 and buf.offset == 7
    buf.append(pcm(1))
    buf.truncate(0)
    assert len(buf) == 0
    buf.append(pcm(5, 6))
    buf.clear()
    assert len(buf) == 0 and buf.offset == 0 and buf.to_bytes() == b""
    for method in (buf.truncate, buf.discard):
        with pytest.raises(ValueError, match="n_samples must be a non-negative"):
            method(-1)
        with pytest.raises(TypeError, match="n_samples must be an integer"):
            method(1.5)


def test_buffer_max_samples_keeps_newest(audio_impl):
    buf = audio_impl.AudioBuffer(max_samples=5)
    assert buf.max_samples == 5
    buf.append(pcm(1, 2, 3))
    buf.append(pcm(4, 5, 6, 7))
    assert buf.to_bytes() == pcm(3, 4, 5, 6, 7) and buf.offset == 2
    buf.append(pcm(*range(10, 22)))  # one chunk larger than the cap
    assert buf.to_bytes() == pcm(*range(17, 22)) and buf.offset == 14  # 19 appended, 5 kept
    buf.append_base64(base64.b64encode(pcm(30)))
    assert buf.to_bytes() == pcm(18, 19, 20, 21, 30) and buf.offset == 15
    buf.clear()
    assert buf.offset == 0 and buf.max_samples == 5
    for bad in (0, -3, 2.5, True, "5"):
        with pytest.raises(ValueError, match="max_samples must be a positive"):
            audio_impl.AudioBuffer(max_samples=bad)


def test_buffer_cap_over_many_appends_is_a_sliding_window(audio_impl):
    cap = 2400 * 3
    buf = audio_impl.AudioBuffer(max_samples=cap)
    everything = np.arange(2400 * 40, dtype=np.int64).astype(np.int16)
    for chunk in np.split(everything, 40):
        buf.append(chunk)
    assert np.array_equal(np.frombuffer(buf.to_bytes(), np.int16), everything[-cap:])
    assert buf.offset == len(everything) - cap


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 300)),
        st.tuples(st.just("append_base64"), st.integers(0, 300)),
        st.tuples(st.just("discard"), st.integers(0, 400)),
        st.tuples(st.just("truncate"), st.integers(0, 400)),
        st.tuples(st.just("clear"), st.just(0)),
    ),
    max_size=40,
)


@SETTINGS
@given(ops=OPS, cap=st.one_of(st.none(), st.integers(1, 500)))
def test_buffer_matches_a_simple_model(audio_impl, ops, cap):
    buf = audio_impl.AudioBuffer(max_samples=cap)
    model, offset, counter = b"", 0, 0
    for op, n in ops:
        if op in ("append", "append_base64"):
            chunk = pcm(*((counter + i) % 65536 - 32768 for i in range(n)))
            counter += n
            if op == "append":
                buf.append(chunk)
            else:
                buf.append_base64(base64.b64encode(chunk).decode())
            model += chunk
            if cap is not None and len(model) > 2 * cap:
                offset += len(model) // 2 - cap
                model = model[-2 * cap :]
        elif op == "discard":
            dropped = min(n, len(model) // 2)
            model, offset = model[2 * dropped :], offset + dropped
            buf.discard(n)
        elif op == "truncate":
            model = model[: 2 * n]
            buf.truncate(n)
        else:
            model, offset = b"", 0
            buf.clear()
        assert buf.to_bytes() == model and len(buf) == len(model) // 2 and buf.offset == offset


def test_buffer_protocol_is_zero_copy(audio_impl):
    buf = audio_impl.AudioBuffer()
    buf.append(pcm(10, 20, 30))
    with memoryview(buf) as view:
        assert view.format == "B" and view.itemsize == 1 and view.nbytes == 6 and not view.readonly
        assert bytes(view) == pcm(10, 20, 30)
        view[0:2] = pcm(-5)
    assert buf.to_bytes() == pcm(-5, 20, 30)
    samples = np.frombuffer(buf, dtype=np.int16)
    assert samples.tolist() == [-5, 20, 30]
    samples[1] = 7  # writes through: no copy was made
    assert buf.to_bytes() == pcm(-5, 7, 30)
    del samples
    buf.append(pcm(40))
    assert np.frombuffer(buf, dtype=np.int16).tolist() == [-5, 7, 30, 40]
    empty = audio_impl.AudioBuffer()
    assert bytes(memoryview(empty)) == b"" and np.frombuffer(empty, np.int16).size == 0


def test_buffer_refuses_resizing_while_a_view_exists(audio_impl):
    buf = audio_impl.AudioBuffer(max_samples=10)
    buf.append(pcm(1, 2, 3))
    text = base64.b64encode(pcm(4)).decode()
    attempts = [
        lambda: buf.append(pcm(4)),
        lambda: buf.append(b""),
        lambda: buf.append(b"odd"),  # the view rule is checked before the input
        lambda: buf.append_base64(text),
        lambda: buf.append_base64(""),
        lambda: buf.append_base64("bad!"),
        lambda: buf.truncate(1),
        lambda: buf.truncate(10),
        lambda: buf.discard(1),
        lambda: buf.discard(0),
        lambda: buf.clear(),
    ]
    view = memoryview(buf)
    for attempt in attempts:
        with pytest.raises(BufferError, match=VIEWS_EXIST) as info:
            attempt()
        assert "release the view" in str(info.value)
        assert buf.to_bytes() == pcm(1, 2, 3) and buf.offset == 0
    assert bytes(view) == pcm(1, 2, 3)
    view.release()
    samples = np.frombuffer(buf, dtype=np.int16)
    with pytest.raises(BufferError, match=VIEWS_EXIST):
        buf.append(pcm(4))
    del samples
    buf.append(pcm(4))
    buf.append_base64(text)
    buf.discard(1)
    assert buf.to_bytes() == pcm(2, 3, 4, 4) and buf.offset == 1
    with memoryview(buf) as m:
        assert bytes(m) == pcm(2, 3, 4, 4)
    buf.clear()
    assert len(buf) == 0


def test_buffer_reads_are_allowed_while_a_view_exists(audio_impl):
    buf = audio_impl.AudioBuffer()
    buf.append(pcm(1, 2, 3))
    with memoryview(buf):
        assert buf.to_bytes() == pcm(1, 2, 3)
        assert buf.slice(1).to_bytes() == pcm(2, 3)
        assert len(buf) == 3 and buf == pcm(1, 2, 3)


def test_buffer_equality(audio_impl):
    buf = audio_impl.AudioBuffer()
    buf.append(pcm(1, 2))
    other = audio_impl.AudioBuffer()
    other.append(pcm(1, 2))
    assert buf == pcm(1, 2) and buf == bytearray(pcm(1, 2)) and buf == memoryview(pcm(1, 2))
    assert buf == other and not buf != other
    assert buf != pcm(1) and buf != pcm(1, 3) and buf != "text" and buf != 3
    assert audio_impl.AudioBuffer() == b""
    with pytest.raises(TypeError):
        hash(buf)


def test_buffer_copies_and_pickles_with_its_state(audio_impl):
    buf = audio_impl.AudioBuffer(max_samples=3)
    buf.append(pcm(1, 2, 3, 4))
    for clone in (copy.copy(buf), copy.deepcopy(buf), pickle.loads(pickle.dumps(buf))):
        assert type(clone) is type(buf) and clone is not buf
        assert clone.to_bytes() == pcm(2, 3, 4) and clone.offset == 1 and clone.max_samples == 3
        clone.append(pcm(5))
        assert clone.to_bytes() == pcm(3, 4, 5) and buf.to_bytes() == pcm(2, 3, 4)


def test_buffer_append_accepts_another_buffer(audio_impl):
    source = audio_impl.AudioBuffer()
    source.append(pcm(1, 2))
    target = audio_impl.AudioBuffer()
    target.append(source)
    target.append(source)
    assert target.to_bytes() == pcm(1, 2, 1, 2)
    assert source.to_bytes() == pcm(1, 2)


def test_buffer_append_base64_of_a_long_text_in_pieces(audio_impl):
    # Long texts are decoded piece by piece (pure twin); the result and the errors are the same.
    samples = np.arange(1_500_000, dtype="<i2").tobytes()  # 4 MB of base64
    text = base64.b64encode(samples).decode()
    buf = audio_impl.AudioBuffer()
    buf.append(pcm(7))
    buf.append_base64(text)
    assert buf.to_bytes() == pcm(7) + samples
    capped = audio_impl.AudioBuffer(max_samples=1000)
    capped.append_base64(text)
    assert capped.to_bytes() == samples[-2000:] and capped.offset == 1_500_000 - 1000
    for bad in (text[:-1] + "!", text + "A", "=" + text[1:]):
        with pytest.raises(ValueError) as info:
            buf.append_base64(bad)
        with pytest.raises(ValueError) as direct:
            audio_impl.b64decode_pcm16(bad)
        assert str(info.value) == str(direct.value)
    assert buf.to_bytes() == pcm(7) + samples
    with memoryview(buf):
        with pytest.raises(BufferError):
            buf.append_base64(text)
    assert buf.to_bytes() == pcm(7) + samples


# ---------------------------------------------------------------------------
# G.711
# ---------------------------------------------------------------------------
#
# The reference is tabulated here from ITU-T G.711's tables (segment end points
# and step sizes, on the 14-bit mu-law and 13-bit A-law magnitude scales), not
# from the implementation's formulas.

ULAW_SEGMENT_ENDS = [31, 95, 223, 479, 991, 2015, 4063, 8159]  # Table 2a, 14-bit magnitudes
ALAW_SEGMENT_STARTS = [0, 32, 64, 128, 256, 512, 1024, 2048]  # Table 1a, 13-bit magnitudes


def ulaw_levels():
    """(lower decision value, reconstruction value) of mu-law magnitude codes 0..127 (segment * 16 + step)."""
    levels = []
    for segment in range(8):
        step = 2 << segment
        for q in range(16):
            if segment == 0:
                lower, value = (0 if q == 0 else 2 * q - 1), 2 * q
            else:
                lower = ULAW_SEGMENT_ENDS[segment - 1] + q * step
                value = lower + step // 2
            levels.append((lower, value))
    return levels


def alaw_levels():
    """(lower decision value, reconstruction value) of A-law magnitude codes 0..127."""
    levels = []
    for segment in range(8):
        step = 2 if segment < 2 else 1 << segment
        for q in range(16):
            lower = ALAW_SEGMENT_STARTS[segment] + q * step
            levels.append((lower, lower + step // 2))
    return levels


ULAW_LEVELS = ulaw_levels()
ALAW_LEVELS = alaw_levels()


def reference_ulaw_decode(code: int) -> int:
    code ^= 0xFF
    value = ULAW_LEVELS[code & 0x7F][1] * 4
    return -value if code & 0x80 else value


def reference_alaw_decode(code: int) -> int:
    code ^= 0x55
    value = ALAW_LEVELS[code & 0x7F][1] * 8
    return value if code & 0x80 else -value


def reference_ulaw_encode(sample: int) -> int:
    """audioop's convention: the magnitude of the 14-bit two's complement value."""
    linear = sample >> 2
    magnitude = min(abs(linear), 8158)  # louder samples get the loudest code
    code = bisect.bisect_right([lower for lower, _ in ULAW_LEVELS], magnitude) - 1
    return code ^ (0x7F if linear < 0 else 0xFF)


def reference_alaw_encode(sample: int) -> int:
    linear = sample >> 3
    magnitude = linear if linear >= 0 else -linear - 1  # ones' complement
    code = bisect.bisect_right([lower for lower, _ in ALAW_LEVELS], magnitude) - 1
    return (code | (0x80 if linear >= 0 else 0)) ^ 0x55


ALL_CODES = bytes(range(256))
ALL_SAMPLES = struct.pack("<65536h", *range(-32768, 32768))


def _audioop():
    """The stdlib's audioop (Python < 3.13) or the audioop-lts backport, as a test-time reference; else skip."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pytest.importorskip("audioop", reason="audioop is gone (Python 3.13+) and audioop-lts is not installed")


def test_g711_decode_equals_the_reference_table_on_all_codes(audio_impl):
    ulaw = struct.unpack("<256h", audio_impl.ulaw_to_pcm16(ALL_CODES))
    alaw = struct.unpack("<256h", audio_impl.alaw_to_pcm16(ALL_CODES))
    assert list(ulaw) == [reference_ulaw_decode(c) for c in range(256)]
    assert list(alaw) == [reference_alaw_decode(c) for c in range(256)]
    assert (min(ulaw), max(ulaw), min(alaw), max(alaw)) == (-32124, 32124, -32256, 32256)
    assert ulaw[0xFF] == ulaw[0x7F] == 0  # mu-law's two zeros
    assert 0 not in alaw and (alaw[0xD5], alaw[0x55]) == (8, -8)


def test_g711_encode_equals_the_reference_on_every_sample(audio_impl):
    ulaw = audio_impl.pcm16_to_ulaw(ALL_SAMPLES)
    alaw = audio_impl.pcm16_to_alaw(ALL_SAMPLES)
    assert ulaw == bytes(reference_ulaw_encode(s) for s in range(-32768, 32768))
    assert alaw == bytes(reference_alaw_encode(s) for s in range(-32768, 32768))


@SETTINGS
@given(data=even_bytes(2000))
def test_g711_encode_random_pcm_equals_the_reference(audio_impl, data):
    n = len(data) // 2
    values = struct.unpack(f"<{n}h", data)
    assert audio_impl.pcm16_to_ulaw(data) == bytes(map(reference_ulaw_encode, values))
    assert audio_impl.pcm16_to_alaw(data) == bytes(map(reference_alaw_encode, values))


def test_g711_matches_audioop(audio_impl):
    audioop = _audioop()
    assert audio_impl.ulaw_to_pcm16(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    assert audio_impl.alaw_to_pcm16(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)
    assert audio_impl.pcm16_to_ulaw(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)
    assert audio_impl.pcm16_to_alaw(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)


def test_g711_round_trips(audio_impl):
    """Encoding a decoded code gives the code back, except mu-law's negative zero 0x7F (it becomes 0xFF)."""
    ulaw_back = audio_impl.pcm16_to_ulaw(audio_impl.ulaw_to_pcm16(ALL_CODES))
    assert [c for c in range(256) if ulaw_back[c] != c] == [0x7F]
    assert ulaw_back[0x7F] == 0xFF
    assert audio_impl.pcm16_to_alaw(audio_impl.alaw_to_pcm16(ALL_CODES)) == ALL_CODES
    # Decoding an encoded sample lands within half a step of it (a step at the top of the range).
    samples = np.arange(-32768, 32768)
    for encode, decode, levels, scale in (
        (audio_impl.pcm16_to_ulaw, audio_impl.ulaw_to_pcm16, ULAW_LEVELS, 4),
        (audio_impl.pcm16_to_alaw, audio_impl.alaw_to_pcm16, ALAW_LEVELS, 8),
    ):
        back = np.frombuffer(decode(encode(ALL_SAMPLES)), dtype="<i2").astype(np.int64)
        error = np.abs(back - samples)
        top_step = (levels[127][0] - levels[126][0]) * scale
        assert error.max() <= top_step and error[np.abs(samples) < 1000].max() <= 64


def test_g711_accepts_bytes_like_inputs(audio_impl):
    codes = os.urandom(321)
    expected = audio_impl.ulaw_to_pcm16(codes)
    assert len(expected) == 642
    for data in (bytearray(codes), memoryview(codes), array("B", codes), np.frombuffer(codes, np.uint8), np.frombuffer(codes, "b")):
        assert audio_impl.ulaw_to_pcm16(data) == expected
    doubled = bytes(b for c in codes for b in (c, 0))
    assert audio_impl.ulaw_to_pcm16(memoryview(doubled)[::2]) == expected  # strided: copied
    assert audio_impl.ulaw_to_pcm16(np.frombuffer(codes[:320], np.uint8).reshape(20, 16)) == expected[:640]
    samples = np.frombuffer(expected, "<i2")
    for data in (expected, bytearray(expected), samples, array("h", samples.tolist()), np.repeat(samples, 2)[::2]):
        assert audio_impl.pcm16_to_ulaw(data) == bytes(map(reference_ulaw_encode, samples.tolist()))
    for call in (audio_impl.ulaw_to_pcm16, audio_impl.alaw_to_pcm16, audio_impl.pcm16_to_ulaw, audio_impl.pcm16_to_alaw):
        assert call(b"") == b""


def test_g711_rejects_odd_pcm_and_wrong_types(audio_impl):
    with pytest.raises(ValueError, match=r"pcm16_to_ulaw got 3 bytes, an odd count: PCM16 audio is made of whole 2-byte samples"):
        audio_impl.pcm16_to_ulaw(b"abc")
    with pytest.raises(ValueError, match="pcm16_to_alaw got 5 bytes, an odd count"):
        audio_impl.pcm16_to_alaw(bytearray(5))
    with pytest.raises(TypeError, match="format 'f'.*float_to_pcm16"):
        audio_impl.pcm16_to_ulaw(np.zeros(4, np.float32))
    with pytest.raises(TypeError, match=r"ulaw_to_pcm16 expects G.711 audio as bytes \(one byte per sample\), got .* format 'h'"):
        audio_impl.ulaw_to_pcm16(np.zeros(4, np.int16))
    for bad in ("abc", [1, 2], None, 7):
        with pytest.raises(TypeError, match="alaw_to_pcm16 expects G.711 audio as a bytes-like object"):
            audio_impl.alaw_to_pcm16(bad)
        with pytest.raises(TypeError, match="pcm16_to_alaw expects PCM16 audio"):
            audio_impl.pcm16_to_alaw(bad)


def test_g711_and_resampler_errors_identical_across_implementations():
    compiled = _compiled()
    for call in (
        lambda impl: impl.pcm16_to_ulaw(b"abc"),
        lambda impl: impl.pcm16_to_alaw(np.zeros(2, dtype=np.float64)),
        lambda impl: impl.ulaw_to_pcm16("x"),
        lambda impl: impl.alaw_to_pcm16(np.zeros(2, dtype=np.int16)),
        lambda impl: impl.resample_pcm16(b"abc", 24000, 8000),
        lambda impl: impl.resample_pcm16(b"", 44100, 8000),
        lambda impl: impl.resample_pcm16(b"", 8000, 8000.0),
        lambda impl: impl.resample_pcm16(b"", True, 8000),
        lambda impl: impl.resample_pcm16("ab", 8000, 8000),
        lambda impl: impl.Resampler(24000, 22050),
        lambda impl: impl.Resampler(24000, 8000).process(b"abc"),
        lambda impl: impl.Resampler(8000, 8000).process(np.zeros(2, dtype=np.float32)),
    ):
        errors = []
        for impl in (pure, compiled):
            with pytest.raises((TypeError, ValueError)) as info:
                call(impl)
            errors.append((type(info.value), str(info.value)))
        assert errors[0] == errors[1]


# ---------------------------------------------------------------------------
# Resampling
# ---------------------------------------------------------------------------

RATES = (8000, 16000, 24000, 48000)
RATE_PAIRS = [(a, b) for a in RATES for b in RATES if a != b]


def sine(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 20000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2")


def tone_level(pcm: bytes, freq: float, rate: int) -> float:
    """Amplitude of the ``freq`` component of the middle 80% of ``pcm`` (least squares)."""
    y = np.frombuffer(pcm, "<i2").astype(np.float64)
    y = y[len(y) // 10 : -len(y) // 10]
    t = np.arange(len(y)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coeffs, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return math.hypot(*coeffs)


def db(ratio: float) -> float:
    return 20 * math.log10(max(ratio, 1e-12))


def test_resample_24k_to_8k_and_back_keeps_a_1khz_tone(audio_impl):
    x = sine(1000, 24000)
    down = audio_impl.resample_pcm16(x, 24000, 8000)
    back = audio_impl.resample_pcm16(down, 8000, 24000)
    assert (len(down), len(back)) == (16000, 48000)
    assert abs(db(tone_level(down, 1000, 8000) / 20000)) < 0.5
    assert abs(db(tone_level(back, 1000, 24000) / 20000)) < 0.5
    error = np.frombuffer(back, "<i2").astype(np.float64) - x
    assert db(np.sqrt(np.mean(error[2400:-2400] ** 2)) / (20000 / math.sqrt(2))) < -60  # and nothing else was added


def test_resample_to_8k_attenuates_what_would_alias(audio_impl):
    for freq in (4600, 6000, 9000):  # would fold to 3.4, 2 and 1 kHz
        out = np.frombuffer(audio_impl.resample_pcm16(sine(freq, 24000, amplitude=32000), 24000, 8000), "<i2").astype(np.float64)
        assert db(np.sqrt(np.mean(out[800:-800] ** 2)) / (32000 / math.sqrt(2))) < -65, freq
    passed = audio_impl.resample_pcm16(sine(3400, 24000), 24000, 8000)
    assert abs(db(tone_level(passed, 3400, 8000) / 20000)) < 0.05  # the telephone band is untouched


@pytest.mark.parametrize("from_rate, to_rate", RATE_PAIRS)
def test_resample_every_pair_keeps_a_passband_tone_and_dc(audio_impl, from_rate, to_rate):
    freq = 0.3 * min(from_rate, to_rate)
    out = audio_impl.resample_pcm16(sine(freq, from_rate, 0.25), from_rate, to_rate)
    assert len(out) == 2 * (to_rate // 4)
    assert abs(db(tone_level(out, freq, to_rate) / 20000)) < 0.05
    dc = np.frombuffer(audio_impl.resample_pcm16(np.full(from_rate // 10, -1234, "<i2"), from_rate, to_rate), "<i2")
    assert (dc[len(dc) // 4 : -len(dc) // 4] == -1234).all()  # each phase sums to exactly 1


def test_resample_lengths_identity_and_inputs(audio_impl):
    x = sine(440, 24000, 0.1)
    for n in (0, 1, 2, 3, 4, 5, 479, 480, 481):
        assert len(audio_impl.resample_pcm16(x[:n], 24000, 8000)) == 2 * -(-n // 3)
        assert len(audio_impl.resample_pcm16(x[:n], 24000, 16000)) == 2 * -(-n * 2 // 3)
        assert len(audio_impl.resample_pcm16(x[:n], 8000, 48000)) == 2 * 6 * n
    raw = x.tobytes()
    assert audio_impl.resample_pcm16(raw, 16000, 16000) == raw
    assert audio_impl.resample_pcm16(bytearray(raw), 8000, 8000) == raw
    expected = audio_impl.resample_pcm16(raw, 24000, 16000)
    for data in (bytearray(raw), memoryview(raw), x, array("h", x.tolist()), np.repeat(x, 2)[::2], x.astype("=i2")):
        assert audio_impl.resample_pcm16(data, 24000, 16000) == expected
    assert audio_impl.resample_pcm16(raw, np.int64(24000), 16000) == expected  # integer-like rates


def test_resample_rejects_other_rates(audio_impl):
    for bad in (44100, 22050, 0, -8000, 8000.0, "8000", None, True):
        with pytest.raises(ValueError, match=r"resample_pcm16 supports sample rates of 8000, 16000, 24000 and 48000 Hz"):
            audio_impl.resample_pcm16(b"", bad, 8000)
        with pytest.raises(ValueError, match=r"Resampler supports sample rates of 8000, 16000, 24000 and 48000 Hz, got to_rate="):
            audio_impl.Resampler(8000, bad)
    with pytest.raises(ValueError, match="Resampler.process got 3 bytes, an odd count"):
        audio_impl.Resampler(24000, 8000).process(b"abc")
    with pytest.raises(TypeError, match="format 'f'"):
        audio_impl.resample_pcm16(np.zeros(4, np.float32), 24000, 8000)


def test_resample_saturates_instead_of_wrapping(audio_impl):
    square = np.where(sine(1000, 24000, 0.1) >= 0, 32767, -32768).astype("<i2")  # overshoots after filtering
    out = np.frombuffer(audio_impl.resample_pcm16(square, 24000, 8000), "<i2").astype(np.int64)
    k = np.arange(len(out))
    off_edges = (k % 4 != 0) & (k > 20) & (k < len(out) - 20)  # 8 samples per period: k % 4 == 0 is an edge
    assert (np.sign(out[off_edges]) == np.sign(np.sin(np.pi * k[off_edges] / 4))).all()
    assert out.max() == 32767 and out.min() == -32768


def _stream(resampler, data: np.ndarray, sizes) -> bytes:
    out, i = [], 0
    for size in sizes:
        out.append(resampler.process(data[i : i + size]))
        i += size
    out.append(resampler.process(data[i:]))
    return b"".join(out) + resampler.flush()


@pytest.mark.parametrize("from_rate, to_rate", RATE_PAIRS)
def test_streaming_20ms_frames_equals_resampling_the_whole(audio_impl, from_rate, to_rate):
    x = sine(997, from_rate, 0.5)
    whole = audio_impl.resample_pcm16(x, from_rate, to_rate)
    frame = from_rate // 50
    resampler = audio_impl.Resampler(from_rate, to_rate)
    assert _stream(resampler, x, [frame] * (len(x) // frame)) == whole
    assert _stream(resampler, x, [frame] * (len(x) // frame)) == whole  # flush() reset it for the next stream


@SETTINGS
@given(
    pair=st.sampled_from(RATE_PAIRS),
    data=even_bytes(4000),
    sizes=st.lists(st.integers(min_value=0, max_value=700), max_size=12),
)
def test_streaming_any_frames_equals_resampling_the_whole(audio_impl, pair, data, sizes):
    x = np.frombuffer(data, "<i2")
    assert _stream(audio_impl.Resampler(*pair), x, sizes) == audio_impl.resample_pcm16(x, *pair)


@pytest.mark.parametrize("from_rate, to_rate", RATE_PAIRS + [(24000, 24000)])
def test_stream_returns_samples_once_their_lookahead_arrived(audio_impl, from_rate, to_rate):
    resampler = audio_impl.Resampler(from_rate, to_rate)
    lookahead = resampler.lookahead
    assert (resampler.from_rate, resampler.to_rate) == (from_rate, to_rate)
    assert resampler.latency_ms == lookahead * 1000 / from_rate <= 2.5
    assert lookahead == (0 if from_rate == to_rate else 20 * from_rate // min(from_rate, to_rate))
    received = returned = 0
    for size in (1, 5, lookahead, from_rate // 50, 3, from_rate // 50):
        returned += len(resampler.process(np.zeros(size, "<i2"))) // 2
        received += size
        assert returned == max(0, -(-(received - lookahead) * to_rate // from_rate))
    returned += len(resampler.flush()) // 2
    assert returned == -(-received * to_rate // from_rate)
    assert "Resampler(from_rate=" in repr(resampler)


def test_stream_reset_starts_over(audio_impl):
    x = sine(1000, 24000, 0.1)
    fresh = audio_impl.Resampler(24000, 8000)
    expected = fresh.process(x)
    used = audio_impl.Resampler(24000, 8000)
    used.process(sine(3000, 24000, 0.05))
    used.reset()
    assert used.process(x) == expected


def test_stateless_frames_click_where_the_stream_does_not(audio_impl):
    """Why Resampler exists: resampling 20 ms frames on their own breaks the waveform at every frame edge."""
    x = sine(1000, 24000, 0.2)
    whole = np.frombuffer(audio_impl.resample_pcm16(x, 24000, 8000), "<i2").astype(np.int64)
    frames = [audio_impl.resample_pcm16(x[i : i + 480], 24000, 8000) for i in range(0, len(x), 480)]
    stateless = np.frombuffer(b"".join(frames), "<i2")
    assert np.abs(stateless.astype(np.int64) - whole).max() > 1000
    resampler = audio_impl.Resampler(24000, 8000)
    streamed = b"".join(resampler.process(x[i : i + 480]) for i in range(0, len(x), 480)) + resampler.flush()
    assert streamed == whole.astype("<i2").tobytes()


@SETTINGS
@given(pair=st.sampled_from(RATE_PAIRS), data=even_bytes(3000), sizes=st.lists(st.integers(0, 500), max_size=8))
def test_resampler_twins_agree(pair, data, sizes):
    compiled = _compiled()
    x = np.frombuffer(data, "<i2")
    assert compiled.resample_pcm16(x, *pair) == pure.resample_pcm16(x, *pair)
    assert _stream(compiled.Resampler(*pair), x, sizes) == _stream(pure.Resampler(*pair), x, sizes)


def test_resampler_kernels_cannot_overflow_32_bits():
    """The fixed-point filters keep every sum of products with 16-bit samples inside 32 bits."""
    for from_rate, to_rate in RATE_PAIRS:
        kernel = pure.resampler_kernel(from_rate, to_rate)
        weights = np.frombuffer(kernel.coefficients, "<i2").astype(np.int64).reshape(kernel.up, kernel.taps)
        assert (weights.sum(axis=1) == 1 << kernel.shift).all()
        assert np.abs(weights).sum(axis=1).max() * 32768 < 2**31
        assert kernel.taps == 40 * from_rate // min(from_rate, to_rate)  # 40 at the lower rate
