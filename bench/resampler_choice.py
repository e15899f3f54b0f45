"""Our resampler against soxr, on quality and on speed per 20 ms frame, in one run.

Run ``python bench/resampler_choice.py [--json FILE]`` (soxr must be installed:
``pip install soxr``; ``python bench/results_index.py --name FILE`` names a saved run).  Every candidate gets the same
int16 signals as bytes and returns bytes, as a phone bridge would use it.

Quality (one-shot calls on 1 s signals, levels in dB, edges skipped):
  1k round trip    level of a 1 kHz tone after 24 kHz -> 8 kHz -> 24 kHz
  residual         what the round trip adds to that tone (rms error / rms tone)
  3.4k pass        level of a 3.4 kHz tone after 24 kHz -> 8 kHz (telephony band edge)
  alias 6k         what a 6 kHz tone at 24 kHz leaves at 8 kHz (it would fold to 2 kHz);
                   "silent": every output sample is 0
  alias 4.6k       the same for 4.6 kHz (it would fold to 3.4 kHz)
Streaming: latency (ms of output held back while streaming) and whether 20 ms
frames streamed one by one give the same samples as the whole signal at once.
Speed: median microseconds per 20 ms frame through a streaming object,
24 kHz -> 8 kHz (480 samples in) and 8 kHz -> 24 kHz (160 samples in).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from typing import Callable, Dict, List, Optional

import numpy as np

from realtime_fast import audio

try:
    import soxr
except ImportError:  # pragma: no cover - the comparison needs it
    soxr = None

SECOND = 24000
QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")


def tone(freq: float, rate: int, amplitude: float = 20000.0, seconds: float = 1.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def level_db(pcm: bytes, freq: float, rate: int, reference: float = 20000.0) -> float:
    """Level of the ``freq`` component (least squares, middle of the signal) relative to ``reference``."""
    y = samples(pcm)
    y = y[len(y) // 10 : -len(y) // 10]
    t = np.arange(len(y)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coeffs, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return 20 * math.log10(max(math.hypot(*coeffs), 1e-9) / reference)


def rms_db(y: np.ndarray, reference_rms: float) -> float | None:
    """Level of ``y`` relative to ``reference_rms`` in dB; None when every sample is 0 (below 16-bit resolution)."""
    rms = float(np.sqrt(np.mean(y**2)))
    return 20 * math.log10(rms / reference_rms) if rms else None


class Stream:
    """``process(frame) -> bytes`` and ``finish() -> bytes`` (the samples still held back)."""

    def __init__(self, process: Callable[[bytes], bytes], finish: Callable[[], bytes]):
        self.process, self.finish = process, finish


class Candidate:
    """A resampler as a phone bridge uses it: bytes in, bytes out."""

    def __init__(self, name: str, oneshot: Callable[[bytes, int, int], bytes], stream: Callable[[int, int], Stream]):
        self.name, self.oneshot, self.stream = name, oneshot, stream


def ours() -> Candidate:
    def stream(a: int, b: int) -> Stream:
        resampler = audio.Resampler(a, b)
        return Stream(resampler.process, resampler.flush)

    return Candidate(f"realtime_fast ({'compiled' if audio.COMPILED else 'pure'})", audio.resample_pcm16, stream)


def soxr_candidate(quality: str) -> Candidate:
    def oneshot(pcm: bytes, a: int, b: int) -> bytes:
        return soxr.resample(np.frombuffer(pcm, dtype="<i2"), a, b, quality=quality).astype("<i2").tobytes()

    def stream(a: int, b: int) -> Stream:
        resampler = soxr.ResampleStream(a, b, 1, dtype="int16", quality=quality)
        chunk = resampler.resample_chunk
        empty = np.zeros(0, dtype="<i2")
        return Stream(lambda pcm: chunk(np.frombuffer(pcm, dtype="<i2")).tobytes(), lambda: chunk(empty, last=True).tobytes())

    return Candidate(f"soxr {quality}", oneshot, stream)


def latency_ms(c: Candidate, a: int, b: int) -> float:
    """How far a stream's output lags its input: samples due but held back after 1 s of 20 ms frames."""
    signal = tone(440.0, a)
    s = c.stream(a, b)
    size = a // 50 * 2
    returned = sum(len(s.process(signal[i : i + size])) for i in range(0, len(signal), size)) // 2
    return (b - returned) * 1000.0 / b


def frames_equal_whole(c: Candidate) -> bool:
    """True when 20 ms frames streamed one by one give the same samples as the whole signal in one chunk."""
    x = tone(1000.0, 24000, seconds=0.5)
    framed = c.stream(24000, 8000)
    pieces = b"".join(framed.process(x[i : i + 960]) for i in range(0, len(x), 960)) + framed.finish()
    whole = c.stream(24000, 8000)
    return pieces == whole.process(x) + whole.finish()


def quality(c: Candidate) -> Dict[str, Optional[float]]:
    x = tone(1000.0, 24000)
    back = c.oneshot(c.oneshot(x, 24000, 8000), 8000, 24000)
    n = min(len(x), len(back)) // 2
    mid = slice(n // 10, n - n // 10)
    residual = samples(back)[:n][mid] - samples(x)[:n][mid]
    return {
        "tone_1k_roundtrip_db": level_db(back, 1000.0, 24000),
        "roundtrip_residual_db": rms_db(residual, 20000.0 / math.sqrt(2)),
        "pass_3k4_db": level_db(c.oneshot(tone(3400.0, 24000), 24000, 8000), 3400.0, 8000),
        "alias_6k_db": rms_db(samples(c.oneshot(tone(6000.0, 24000), 24000, 8000))[800:-800], 20000.0 / math.sqrt(2)),
        "alias_4k6_db": rms_db(samples(c.oneshot(tone(4600.0, 24000), 24000, 8000))[800:-800], 20000.0 / math.sqrt(2)),
    }


def per_frame_us(c: Candidate, a: int, b: int, rounds: int = 7, frames: int = 2000) -> float:
    """Median over rounds of the mean time per 20 ms frame through one streaming object."""
    signal = tone(1000.0, a, seconds=frames / 50)
    size = a // 50 * 2
    chunks = [signal[i : i + size] for i in range(0, len(signal), size)]
    results: List[float] = []
    for _ in range(rounds):
        process = c.stream(a, b).process
        started = time.perf_counter()
        for chunk in chunks:
            process(chunk)
        results.append((time.perf_counter() - started) / len(chunks) * 1e6)
    return statistics.median(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    candidates = [ours()] + ([soxr_candidate(q) for q in QUALITIES] if soxr is not None else [])
    rows = []
    for c in candidates:
        row = {"name": c.name, **quality(c)}
        row["latency_24k_8k_ms"] = latency_ms(c, 24000, 8000)
        row["latency_8k_24k_ms"] = latency_ms(c, 8000, 24000)
        row["frames_equal_whole"] = frames_equal_whole(c)
        row["us_per_frame_24k_8k"] = per_frame_us(c, 24000, 8000)
        row["us_per_frame_8k_24k"] = per_frame_us(c, 8000, 24000)
        rows.append(row)
    columns = [
        ("resampler", "name", "{}"),
        ("1k round trip dB", "tone_1k_roundtrip_db", "{:.3f}"),
        ("residual dB", "roundtrip_residual_db", "{:.1f}"),
        ("3.4k pass dB", "pass_3k4_db", "{:.3f}"),
        ("alias 6k dB", "alias_6k_db", "{:.1f}"),
        ("alias 4.6k dB", "alias_4k6_db", "{:.1f}"),
        ("latency ms 24k->8k", "latency_24k_8k_ms", "{:.2f}"),
        ("latency ms 8k->24k", "latency_8k_24k_ms", "{:.2f}"),
        ("frames = whole", "frames_equal_whole", "{}"),
        ("us/frame 24k->8k", "us_per_frame_24k_8k", "{:.2f}"),
        ("us/frame 8k->24k", "us_per_frame_8k_24k", "{:.2f}"),
    ]
    print("| " + " | ".join(title for title, _, _ in columns) + " |")
    print("|---" + "|---:" * (len(columns) - 1) + "|")
    for r in rows:
        print("| " + " | ".join("silent" if r[key] is None else fmt.format(r[key]) for _, key, fmt in columns) + " |")
    if soxr is None:
        print("soxr is not installed: pip install soxr to compare")
    if args.json:
        meta = {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "soxr": getattr(soxr, "__version__", None),
            "numpy": np.__version__,
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
