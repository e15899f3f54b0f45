"""PCM16 audio core: base64 codecs, float conversion and AudioBuffer, against both implementations."""

from __future__ import annotations

import base64
import binascii
import copy
import importlib
import math
import os
import pickle
import re
import struct
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
