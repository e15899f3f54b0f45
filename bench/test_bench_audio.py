"""Audio core benchmarks: base64 PCM16 codecs, AudioBuffer appends, G.711 and resampling.

Run ``pytest bench/test_bench_audio.py --benchmark-only``.  The base64 groups
compare the compiled core, its pure-Python twin, the stdlib (``binascii``) and,
when it is installed, ``pybase64``; read the ratios from the group tables.
Inputs are built outside the timed bodies.

Groups:
  decode/encode <size>      one call on 4.8 KB (a 100 ms delta), 48 KB or 1 MB of PCM16
  append_base64 <n> deltas  n appends of 6400-char base64 deltas to a fresh buffer
  append raw <n> deltas     n appends of 4800-byte PCM16 chunks to a fresh buffer
  append_base64 6000 deltas, continuous
                            6000 appends timed per block of 1000 (printed as a table
                            after the report): amortised O(1) appends give a flat row,
                            unbounded and with a 60 s max_samples cap
  ulaw/alaw encode 20 ms    one 20 ms frame at 8 kHz: 320 bytes of PCM16 -> 160 bytes of G.711
  ulaw/alaw decode 20 ms    160 bytes of G.711 -> 320 bytes of PCM16; rows: compiled, pure,
                            "python loop" (a per-sample loop with struct, the kind an app
                            writes without audioop: the group's baseline) and, where it
                            exists, audioop (C, stdlib until 3.13)
  resample 24k->8k 20 ms    one 20 ms frame through a streaming Resampler (480 samples in,
  resample 8k->24k 20 ms    160 out; or 160 in, 480 out); rows: compiled, pure and, when it is
                            installed, soxr (ResampleStream, int16, its default HQ quality,
                            bytes in and out like ours: the group's baseline).  soxr works
                            in blocks, so most calls return nothing and some several
                            frames: its mean is the fairer figure (resampler_choice.py
                            times 2000 frames in a row)
The choice between our resampler and soxr, on quality as well as speed, is
measured by ``bench/resampler_choice.py``.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import math
import os
import statistics
import struct
import time
import warnings

import pytest

import realtime_fast._audio_py as pure

try:
    compiled = importlib.import_module("realtime_fast._audio")
except ImportError:  # not built: its cases are skipped
    compiled = None
try:
    import pybase64
except ImportError:  # optional comparison
    pybase64 = None
try:
    import soxr
except ImportError:  # optional comparison
    soxr = None
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:  # Python 3.13+ without the audioop-lts backport
        audioop = None

DELTA_BYTES = 4800  # 100 ms of 24 kHz PCM16
SIZES = {"4.8KB": DELTA_BYTES, "48KB": 48_000, "1MB": 1 << 20}
IMPLS = ["compiled", "pure", "stdlib", "pybase64"]


def _require(impl: str) -> None:
    if impl == "compiled" and compiled is None:
        pytest.skip("realtime_fast._audio is not built")
    if impl == "pybase64" and pybase64 is None:
        pytest.skip("pybase64 is not installed")


def _decoder(impl: str):
    _require(impl)
    if impl == "compiled":
        return compiled.b64decode_pcm16
    if impl == "pure":
        return pure.b64decode_pcm16
    if impl == "stdlib":
        return binascii.a2b_base64
    return lambda text: pybase64.b64decode(text, validate=True)


def _encoder(impl: str):
    _require(impl)
    if impl == "compiled":
        return compiled.b64encode_pcm16
    if impl == "pure":
        return pure.b64encode_pcm16
    if impl == "stdlib":
        return lambda data: binascii.b2a_base64(data, newline=False)
    return pybase64.b64encode_as_string


def _pcm(nbytes: int, seed: int = 0) -> bytes:
    return bytes((i * 7919 + seed * 104729) & 0xFF for i in range(nbytes))


def _kernel() -> str:
    return compiled._b64_kernel() if compiled is not None else "none"


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("impl", IMPLS)
def test_decode(benchmark, impl, size):
    decode = _decoder(impl)
    data = os.urandom(SIZES[size])
    text = base64.b64encode(data).decode("ascii")  # a str, as json parsing yields
    benchmark.group = f"decode {size}"
    benchmark.extra_info["b64_kernel"] = _kernel()
    assert benchmark(decode, text) == data


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("impl", IMPLS)
def test_encode(benchmark, impl, size):
    encode = _encoder(impl)
    data = os.urandom(SIZES[size])
    expected = base64.b64encode(data)
    benchmark.group = f"encode {size}"
    benchmark.extra_info["b64_kernel"] = _kernel()
    out = benchmark(encode, data)
    assert (out if isinstance(out, bytes) else out.encode("ascii")) == expected


# ---------------------------------------------------------------------------
# Accumulating deltas
# ---------------------------------------------------------------------------

_DELTAS = [_pcm(DELTA_BYTES, seed) for seed in range(8)]
_DELTA_TEXTS = [base64.b64encode(delta).decode("ascii") for delta in _DELTAS]


def _append_b64_fn(impl: str):
    """(make_buffer, append_all) for appending base64 deltas with ``impl``."""
    _require(impl)
    if impl in ("compiled", "pure"):
        module = compiled if impl == "compiled" else pure

        def append_all(buf, texts):
            append = buf.append_base64
            for text in texts:
                append(text)

        return module.AudioBuffer, append_all
    decode = binascii.a2b_base64 if impl == "stdlib" else pybase64.b64decode

    def append_all_bytearray(buf, texts):
        for text in texts:
            buf += decode(text)

    return bytearray, append_all_bytearray


def _append_raw_fn(impl: str):
    _require(impl)
    if impl in ("compiled", "pure"):
        module = compiled if impl == "compiled" else pure

        def append_all(buf, chunks):
            append = buf.append
            for chunk in chunks:
                append(chunk)

        return module.AudioBuffer, append_all

    def append_all_bytearray(buf, chunks):
        for chunk in chunks:
            buf += chunk

    return bytearray, append_all_bytearray


def _rounds(count: int) -> int:
    return 10 if count <= 600 else 3


@pytest.mark.parametrize("count", [600, 6000])
@pytest.mark.parametrize("impl", IMPLS)
def test_append_base64_deltas(benchmark, impl, count):
    make, append_all = _append_b64_fn(impl)
    texts = [_DELTA_TEXTS[i % len(_DELTA_TEXTS)] for i in range(count)]
    benchmark.group = f"append_base64 {count} deltas"
    holder = {}

    def setup():
        holder["buf"] = make()
        return (holder["buf"], texts), {}

    benchmark.pedantic(append_all, setup=setup, rounds=_rounds(count), iterations=1)
    assert len(holder["buf"]) in (count * DELTA_BYTES, count * DELTA_BYTES // 2)


@pytest.mark.parametrize("count", [600, 6000])
@pytest.mark.parametrize("impl", ["compiled", "pure", "stdlib"])
def test_append_raw_deltas(benchmark, impl, count):
    make, append_all = _append_raw_fn(impl)
    chunks = [_DELTAS[i % len(_DELTAS)] for i in range(count)]
    benchmark.group = f"append raw {count} deltas"
    holder = {}

    def setup():
        holder["buf"] = make()
        return (holder["buf"], chunks), {}

    benchmark.pedantic(append_all, setup=setup, rounds=_rounds(count), iterations=1)
    assert len(holder["buf"]) in (count * DELTA_BYTES, count * DELTA_BYTES // 2)


LINEARITY_TITLE = "append_base64 linearity: ms per block of 1000 deltas within one run of 6000 (median of rounds)"


@pytest.mark.parametrize("capped", [False, True], ids=["unbounded", "cap60s"])
@pytest.mark.parametrize("impl", ["compiled", "pure", "stdlib"])
def test_append_linearity(benchmark, bench_table, impl, capped):
    """6000 appends of 6400-char deltas, timed per block of 1000: amortised O(1) means a flat row.

    With the 60 s cap (600 deltas) the first block is cheaper: nothing is dropped
    before delta 600; from then on every block does the same work.
    """
    _require(impl)
    texts = [_DELTA_TEXTS[i % len(_DELTA_TEXTS)] for i in range(1000)]
    max_samples = 60 * 24000 if capped else None
    if impl == "stdlib":  # bytearray + binascii, trimming the front like a capped buffer

        def make():
            return bytearray()

        def append_block(buf):
            for text in texts:
                buf += binascii.a2b_base64(text)
                if max_samples is not None and len(buf) > 2 * max_samples:
                    del buf[: len(buf) - 2 * max_samples]

    else:
        module = compiled if impl == "compiled" else pure

        def make():
            return module.AudioBuffer(max_samples=max_samples)

        def append_block(buf):
            append = buf.append_base64
            for text in texts:
                append(text)

    rounds: list[list[float]] = []

    def setup():
        return (make(),), {}

    def run(buf):
        times = []
        for _ in range(6):
            started = time.perf_counter()
            append_block(buf)
            times.append(time.perf_counter() - started)
        rounds.append(times)

    benchmark.group = "append_base64 6000 deltas, continuous (see linearity table)"
    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    blocks = [statistics.median(r[k] for r in rounds) * 1e3 for k in range(6)]
    benchmark.extra_info["block_ms"] = blocks
    benchmark.extra_info["last_over_first"] = blocks[-1] / blocks[0]
    label = f"{impl}-{'cap60s' if capped else 'unbounded'}"
    cells = " ".join(f"{b:8.2f}" for b in blocks)
    bench_table(
        LINEARITY_TITLE,
        f"{label:20s} {cells}   last/first {blocks[-1] / blocks[0]:.2f}   last/second {blocks[-1] / blocks[1]:.2f}",
    )


# ---------------------------------------------------------------------------
# G.711: one 20 ms frame at 8 kHz
# ---------------------------------------------------------------------------

G711_FRAME_SAMPLES = 160  # 20 ms at 8 kHz: 320 bytes of PCM16, 160 bytes of G.711
G711_IMPLS = ["compiled", "pure", "python loop", "audioop"]


def loop_ulaw_encode(pcm: bytes) -> bytes:
    """mu-law, one sample at a time: what an app without audioop writes."""
    out = bytearray()
    for (sample,) in struct.iter_unpack("<h", pcm):
        value = sample >> 2
        inversion = 0x7F if value < 0 else 0xFF
        value = min(abs(value), 8158) + 33
        segment = 0
        while value >= 64 << segment:
            segment += 1
        out.append(((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ inversion)
    return bytes(out)


def loop_alaw_encode(pcm: bytes) -> bytes:
    out = bytearray()
    for (sample,) in struct.iter_unpack("<h", pcm):
        value = sample >> 3
        inversion = 0xD5 if value >= 0 else 0x55
        if value < 0:
            value = -value - 1
        segment = 0
        while value >= 32 << segment:
            segment += 1
        step = (value >> (segment if segment > 1 else 1)) & 0x0F
        out.append(((segment << 4) | step) ^ inversion)
    return bytes(out)


def loop_ulaw_decode(data: bytes) -> bytes:
    out = bytearray()
    for code in data:
        code ^= 0xFF
        segment = (code >> 4) & 7
        value = (((2 * (code & 0x0F) + 33) << segment) - 33) * 4
        out += struct.pack("<h", -value if code & 0x80 else value)
    return bytes(out)


def loop_alaw_decode(data: bytes) -> bytes:
    out = bytearray()
    for code in data:
        code ^= 0x55
        segment = (code >> 4) & 7
        step = code & 0x0F
        value = (2 * step + 1) * 8 if segment == 0 else (2 * step + 33) << (segment + 2)
        out += struct.pack("<h", value if code & 0x80 else -value)
    return bytes(out)


_G711 = {
    # (law, direction): (name in the audio modules, python loop, audioop function)
    ("ulaw", "encode"): ("pcm16_to_ulaw", loop_ulaw_encode, lambda data: audioop.lin2ulaw(data, 2)),
    ("alaw", "encode"): ("pcm16_to_alaw", loop_alaw_encode, lambda data: audioop.lin2alaw(data, 2)),
    ("ulaw", "decode"): ("ulaw_to_pcm16", loop_ulaw_decode, lambda data: audioop.ulaw2lin(data, 2)),
    ("alaw", "decode"): ("alaw_to_pcm16", loop_alaw_decode, lambda data: audioop.alaw2lin(data, 2)),
}


def _g711_function(impl: str, law: str, direction: str):
    name, loop, stdlib = _G711[law, direction]
    if impl == "compiled":
        _require(impl)
        return getattr(compiled, name)
    if impl == "pure":
        return getattr(pure, name)
    if impl == "python loop":
        return loop
    if audioop is None:
        pytest.skip("audioop is gone (Python 3.13+) and audioop-lts is not installed")
    return stdlib


@pytest.mark.parametrize("direction", ["encode", "decode"])
@pytest.mark.parametrize("law", ["ulaw", "alaw"])
@pytest.mark.parametrize("impl", G711_IMPLS)
def test_g711(benchmark, impl, law, direction):
    function = _g711_function(impl, law, direction)
    pcm = _pcm(2 * G711_FRAME_SAMPLES, seed=3)
    data = pcm if direction == "encode" else getattr(pure, f"pcm16_to_{law}")(pcm)
    expected = getattr(pure, _G711[law, direction][0])(data)
    benchmark.group = f"{law} {direction} 20 ms"
    assert benchmark(function, data) == expected


# ---------------------------------------------------------------------------
# Resampling: one 20 ms frame through a streaming resampler
# ---------------------------------------------------------------------------

RESAMPLE_IMPLS = ["compiled", "pure", "soxr"]


def _frame_at(rate: int) -> bytes:
    """20 ms of a 1 kHz tone at ``rate``."""
    n = rate // 50
    return struct.pack(f"<{n}h", *(round(12000 * math.sin(2 * math.pi * 1000 * i / rate)) for i in range(n)))


def _stream_process(impl: str, from_rate: int, to_rate: int):
    if impl == "compiled":
        _require(impl)
        return compiled.Resampler(from_rate, to_rate).process
    if impl == "pure":
        return pure.Resampler(from_rate, to_rate).process
    if soxr is None:
        pytest.skip("soxr is not installed")
    import numpy as np

    stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16")
    chunk = stream.resample_chunk
    return lambda pcm: chunk(np.frombuffer(pcm, dtype="<i2")).tobytes()


@pytest.mark.parametrize("rates", [(24000, 8000), (8000, 24000)], ids=["24k->8k", "8k->24k"])
@pytest.mark.parametrize("impl", RESAMPLE_IMPLS)
def test_resample_frame(benchmark, impl, rates):
    from_rate, to_rate = rates
    process = _stream_process(impl, from_rate, to_rate)
    frame = _frame_at(from_rate)
    for _ in range(5):  # past the start: every call now returns a whole frame
        process(frame)
    benchmark.group = f"resample {from_rate // 1000}k->{to_rate // 1000}k 20 ms"
    out = benchmark(process, frame)
    if impl != "soxr":  # soxr works in blocks: a call returns nothing, or several frames
        assert len(out) == 2 * (to_rate // 50)
