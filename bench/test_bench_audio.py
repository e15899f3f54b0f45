"""Audio core benchmarks: base64 PCM16 codecs and AudioBuffer appends.

Run ``pytest bench/test_bench_audio.py --benchmark-only``.  Each group compares
the compiled core, its pure-Python twin, the stdlib (``binascii``) and, when it
is installed, ``pybase64``; read the ratios from the group tables.  Inputs are
built outside the timed bodies.

Groups:
  decode/encode <size>      one call on 4.8 KB (a 100 ms delta), 48 KB or 1 MB of PCM16
  append_base64 <n> deltas  n appends of 6400-char base64 deltas to a fresh buffer
  append raw <n> deltas     n appends of 4800-byte PCM16 chunks to a fresh buffer
  append_base64 6000 deltas, continuous
                            6000 appends timed per block of 1000 (printed as a table
                            after the report): amortised O(1) appends give a flat row,
                            unbounded and with a 60 s max_samples cap
"""

from __future__ import annotations

import base64
import binascii
import importlib
import os
import statistics
import time

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
