"""Deterministic synthetic speech for assistant audio, plus G.711 codecs.

The assistant's audio is a speech-like signal, not a tone: one voiced segment
per word (a harmonic series on a word-dependent pitch with a slight glide and a
syllable envelope), silence between words.  Its duration is proportional to the
transcript (``ms_per_char`` milliseconds per character, 60 by default), the
same text always gives the same samples, and results are cached so that a
benchmark run never waits for the synthesiser.
"""

from __future__ import annotations

import binascii
import re
import zlib
from functools import lru_cache

import numpy as np

__all__ = [
    "BYTES_PER_SAMPLE",
    "SAMPLE_RATES",
    "alaw_decode",
    "alaw_encode",
    "audio_chunks",
    "b64encode",
    "decode_to_pcm16",
    "speech_audio",
    "speech_pcm16",
    "ulaw_decode",
    "ulaw_encode",
]

#: Samples per second of each wire audio format.
SAMPLE_RATES = {"pcm16": 24000, "g711_ulaw": 8000, "g711_alaw": 8000}
#: Bytes per sample of each wire audio format.
BYTES_PER_SAMPLE = {"pcm16": 2, "g711_ulaw": 1, "g711_alaw": 1}

_TOKENS = re.compile(r"\S+|\s+")
_PEAK = 0.32 * 32767


def b64encode(data: bytes) -> str:
    """Standard base64 (with padding) of ``data`` as ``str``."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _word_signal(word: str, n: int, rate: int) -> np.ndarray:
    seed = zlib.crc32(word.encode("utf-8"))
    f0 = 95.0 + (seed % 130)  # Hz, a male-to-female pitch range
    t = np.arange(n, dtype=np.float64) / rate
    dur = max(n / rate, 1e-3)
    glide = 1.0 + 0.08 * np.sin(np.pi * t / dur + (seed >> 8) % 7)
    phase = 2.0 * np.pi * np.cumsum(f0 * glide) / rate
    signal = np.zeros(n, dtype=np.float64)
    for k in range(1, 7):
        signal += np.sin(k * phase) / k
    syllables = max(1, round(len(word) / 3))
    envelope = np.abs(np.sin(np.pi * syllables * t / dur)) ** 0.6
    return signal * envelope * (_PEAK / 1.8)


@lru_cache(maxsize=512)
def speech_pcm16(text: str, ms_per_char: float = 60.0, rate: int = 24000) -> bytes:
    """Speech-like mono PCM16 (little-endian) for ``text``: ``len(text) * ms_per_char`` ms, at least 100 ms."""
    total = max(int(round(len(text) * ms_per_char * rate / 1000)), rate // 10)
    per_char = total / max(len(text), 1)
    out = np.zeros(total, dtype=np.float64)
    pos = 0.0
    for match in _TOKENS.finditer(text):
        token = match.group()
        start = int(round(pos))
        pos += len(token) * per_char
        end = min(int(round(pos)), total)
        if end > start and not token.isspace():
            out[start:end] = _word_signal(token, end - start, rate)
    return np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()


def _ulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(a & 0x80, magnitude, -magnitude).astype(np.int16)


_ULAW = _ulaw_table()
_ALAW = _alaw_table()


def _encoder(table: np.ndarray):
    order = np.argsort(table, kind="stable")
    values = table[order].astype(np.int32)
    midpoints = (values[:-1] + values[1:]) / 2.0

    def encode(samples: np.ndarray) -> bytes:
        idx = np.searchsorted(midpoints, samples.astype(np.int32), side="left")
        return order[idx].astype(np.uint8).tobytes()

    return encode


_ulaw_encode = _encoder(_ULAW)
_alaw_encode = _encoder(_ALAW)


def ulaw_decode(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes -> int16 samples."""
    return _ULAW[np.frombuffer(data, dtype=np.uint8)]


def alaw_decode(data: bytes) -> np.ndarray:
    """G.711 A-law bytes -> int16 samples."""
    return _ALAW[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(samples: np.ndarray) -> bytes:
    """int16 samples -> G.711 mu-law bytes (nearest code)."""
    return _ulaw_encode(samples)


def alaw_encode(samples: np.ndarray) -> bytes:
    """int16 samples -> G.711 A-law bytes (nearest code)."""
    return _alaw_encode(samples)


def decode_to_pcm16(data: bytes, fmt: str) -> np.ndarray:
    """Wire audio bytes of format ``fmt`` -> int16 samples (at that format's rate)."""
    if fmt == "pcm16":
        return np.frombuffer(data, dtype="<i2")
    if fmt == "g711_ulaw":
        return ulaw_decode(data)
    return alaw_decode(data)


@lru_cache(maxsize=512)
def speech_audio(text: str, fmt: str = "pcm16", ms_per_char: float = 60.0) -> bytes:
    """Synthetic speech for ``text`` in wire format ``fmt`` (``pcm16`` 24 kHz, G.711 8 kHz)."""
    pcm = speech_pcm16(text, ms_per_char, SAMPLE_RATES[fmt])
    if fmt == "pcm16":
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2")
    return ulaw_encode(samples) if fmt == "g711_ulaw" else alaw_encode(samples)


@lru_cache(maxsize=512)
def audio_chunks(
    text: str, fmt: str = "pcm16", chunk_ms: int = 100, ms_per_char: float = 60.0
) -> tuple[tuple[str, float], ...]:
    """The audio of ``text`` cut into ``chunk_ms`` pieces: ``(base64, duration in ms)`` each.

    Every piece holds whole samples and decodes on its own; the last one may be shorter.
    Cached, so repeated replies cost no encoding at all.
    """
    data = speech_audio(text, fmt, ms_per_char)
    rate = SAMPLE_RATES[fmt]
    width = BYTES_PER_SAMPLE[fmt]
    step = max(1, rate * chunk_ms // 1000) * width
    out = []
    for start in range(0, len(data), step):
        piece = data[start : start + step]
        out.append((b64encode(piece), len(piece) / width * 1000 / rate))
    return tuple(out)
