"""WAV files in and out of the Realtime API's audio format, and a speech-like test signal.

The Realtime API speaks PCM16: signed 16-bit little-endian mono samples at
24 000 Hz.  :func:`read_wav` loads any uncompressed PCM WAV file (8, 16, 24 or
32-bit integer samples, any rate, any number of channels) and converts it to
that format; :func:`write_wav` writes PCM16 24 kHz mono files that play in any
player.  :func:`speech_like_signal` synthesises a deterministic voice-like
signal (a voiced source with a pitch contour, vowel-like formants and syllable
envelopes, framed by silence) that a server's voice activity detection treats
as one spoken turn; use it when you have no recording at hand.

Everything here uses only the standard library's :mod:`wave` module and numpy.
Lengths are in samples unless a name says ``seconds`` or ``ms``.
"""

from __future__ import annotations

import os
import wave
from typing import Union

import numpy as np

#: The sample rate of the Realtime API's PCM16 audio (Hz).
SAMPLE_RATE: int = 24000

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["SAMPLE_RATE", "read_wav", "resample_linear", "speech_like_signal", "to_mono", "write_wav"]

_FFMPEG_HINT = "convert it first, e.g. `ffmpeg -i in.wav -ac 1 -ar 24000 -sample_fmt s16 out.wav`"


def _decode_frames(raw: bytes, sample_width: int) -> np.ndarray:
    """Decode interleaved little-endian PCM frames of ``sample_width`` bytes to float64 in [-1, 1)."""
    if sample_width == 1:  # 8-bit WAV is unsigned, centred on 128
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if sample_width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    if sample_width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float64) / float(1 << 23)
    if sample_width == 4:
        return np.frombuffer(raw, dtype="<i4").astype(np.float64) / float(1 << 31)
    raise ValueError(f"{sample_width * 8}-bit samples are not supported; {_FFMPEG_HINT}.")


def to_mono(frames: np.ndarray, channels: int) -> np.ndarray:
    """Average ``channels`` interleaved channels of ``frames`` (float samples) into one."""
    if channels == 1:
        return frames
    usable = (len(frames) // channels) * channels
    return frames[:usable].reshape(-1, channels).mean(axis=1)


def resample_linear(samples: np.ndarray, src_rate: int, dst_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample float ``samples`` from ``src_rate`` to ``dst_rate`` Hz by linear interpolation.

    Good enough for speech sent to a model (no anti-alias filter: downsampling
    from rates far above 24 kHz may fold a little high-frequency energy).
    The result has ``round(len(samples) * dst_rate / src_rate)`` samples.
    """
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} Hz -> {dst_rate} Hz.")
    samples = np.asarray(samples, dtype=np.float64)
    if src_rate == dst_rate or len(samples) == 0:
        return samples.copy()
    n_out = int(round(len(samples) * dst_rate / src_rate))
    positions = np.arange(n_out, dtype=np.float64) * (src_rate / dst_rate)
    return np.interp(positions, np.arange(len(samples), dtype=np.float64), samples)


def _float_to_int16(samples: np.ndarray) -> np.ndarray:
    """Clamp float samples to [-1, 1] and scale to int16 (negatives by 32768, others by 32767)."""
    x = np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    x = np.clip(x, -1.0, 1.0)
    return np.where(x < 0, x * 32768.0, x * 32767.0).astype(np.int16)


def read_wav(path: PathLike, *, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Load a PCM WAV file as int16 mono samples at ``rate`` Hz (24 000 by default).

    Files of other rates are resampled (linear interpolation) and multi-channel
    files are averaged to mono, so any uncompressed PCM recording can be sent
    to the Realtime API.  Raises ``FileNotFoundError`` when ``path`` does not
    exist and ``ValueError`` naming the file when it is not a PCM WAV file
    (compressed, floating-point or extensible-format WAV files included).
    """
    with open(path, "rb") as f:
        head = f.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        raise ValueError(f"{os.fspath(path)!r} is not a WAV file (no RIFF/WAVE header); {_FFMPEG_HINT}.")
    try:
        with wave.open(os.fspath(path), "rb") as w:
            channels = w.getnchannels()
            sample_width = w.getsampwidth()
            src_rate = w.getframerate()
            raw = w.readframes(w.getnframes())
    except wave.Error as exc:
        raise ValueError(f"{os.fspath(path)!r} is not a PCM WAV file ({exc}); {_FFMPEG_HINT}.") from None
    except EOFError:
        raise ValueError(f"{os.fspath(path)!r} is truncated or empty; record or export it again.") from None
    if channels < 1 or src_rate < 1:
        raise ValueError(f"{os.fspath(path)!r} declares {channels} channels at {src_rate} Hz; {_FFMPEG_HINT}.")
    try:
        frames = _decode_frames(raw, sample_width)
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)!r}: {exc}") from None
    if sample_width == 2 and channels == 1 and src_rate == rate:
        return np.frombuffer(raw, dtype="<i2").astype(np.int16)  # already in the wire format: exact copy
    return _float_to_int16(resample_linear(to_mono(frames, channels), src_rate, rate))


def write_wav(path: PathLike, samples: object, *, rate: int = SAMPLE_RATE) -> int:
    """Write PCM16 mono ``samples`` to a WAV file at ``rate`` Hz; returns the number of samples written.

    ``samples`` is anything exposing int16 samples through the buffer protocol
    (a numpy int16 array, an :class:`~realtime_fast.audio.AudioBuffer`, an
    ``array('h')``) or raw little-endian PCM16 ``bytes``; a float numpy array
    in [-1, 1] is converted first.  The file plays in any audio player.
    """
    if isinstance(samples, np.ndarray):
        arr = samples
    else:
        try:
            view = memoryview(samples)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"write_wav needs PCM16 bytes, int16 samples or float samples in [-1, 1], not {type(samples).__name__}."
            ) from None
        with view:  # copy, then release the view so an AudioBuffer can grow again
            if view.itemsize == 1:
                if view.nbytes % 2:
                    raise ValueError(f"PCM16 audio must have an even number of bytes, got {view.nbytes}.")
                arr = np.frombuffer(view.tobytes(), dtype="<i2")
            else:
                arr = np.array(view)
    if arr.dtype.kind == "f":
        pcm = _float_to_int16(arr)
    elif arr.dtype == np.int16:
        pcm = arr
    else:
        raise TypeError(f"write_wav needs int16 samples, float samples in [-1, 1] or PCM16 bytes, got {arr.dtype} samples.")
    if pcm.ndim != 1:
        raise ValueError(f"write_wav writes mono audio: expected a 1-D array of samples, got shape {pcm.shape}.")
    pcm = np.ascontiguousarray(pcm, dtype="<i2")
    with wave.open(os.fspath(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return int(len(pcm))


# --------------------------------------------------------------------------- speech-like signal

# (F1, F2, F3) in Hz of a few vowels of an adult voice; each syllable picks one.
_VOWELS: tuple[tuple[float, float, float], ...] = (
    (730.0, 1090.0, 2440.0),  # "a"
    (530.0, 1840.0, 2480.0),  # "e"
    (290.0, 2250.0, 2890.0),  # "i"
    (570.0, 840.0, 2410.0),   # "o"
    (300.0, 870.0, 2240.0),   # "u"
)
_BANDWIDTHS = np.array([90.0, 110.0, 170.0])


def _raised_cosine_envelope(n: int, attack: int, release: int) -> np.ndarray:
    env = np.ones(n, dtype=np.float64)
    attack = min(attack, n // 2)
    release = min(release, n - attack)
    if attack:
        env[:attack] = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, attack, endpoint=False))
    if release:
        env[n - release :] = 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, release))
    return env


def speech_like_signal(
    seconds: float = 2.0,
    *,
    rate: int = SAMPLE_RATE,
    lead_silence: float = 0.4,
    tail_silence: float = 0.8,
    base_pitch: float = 140.0,
    seed: int = 7,
    peak: float = 0.6,
) -> np.ndarray:
    """A deterministic voice-like utterance as int16 mono samples at ``rate`` Hz.

    About ``seconds`` of "speech" — syllables of 120-260 ms separated by
    gaps shorter than 100 ms (so voice activity detection hears one turn), each
    a harmonic voiced source at a pitch around ``base_pitch`` Hz that falls
    over the phrase and rises on accented syllables, shaped by vowel formants
    and a short noise burst at the onset like a consonant — framed by
    ``lead_silence`` and ``tail_silence`` seconds of digital silence so a server
    detects where the speech starts and stops.  The same ``seed`` always gives
    the same samples; ``peak`` is the largest absolute amplitude (1.0 = full scale).
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}.")
    rng = np.random.default_rng(seed)

    # Lay out syllables until the speech part is about `seconds` long.
    syllables: list[tuple[int, int, int, bool]] = []  # (start, length, vowel, accented)
    pos = 0
    target = int(seconds * rate)
    while pos < target:
        length = int(rng.uniform(0.12, 0.26) * rate)
        length = min(length, max(target - pos, int(0.08 * rate)))
        syllables.append((pos, length, int(rng.integers(len(_VOWELS))), bool(rng.random() < 0.35)))
        pos += length + int(rng.uniform(0.03, 0.09) * rate)
    n = syllables[-1][0] + syllables[-1][1]
    t = np.arange(n, dtype=np.float64) / rate

    # Pitch: phrase declination, a slow wobble, and a rise on accented syllables.
    f0 = base_pitch * (1.15 - 0.3 * t / max(t[-1], 1e-9)) * (1.0 + 0.03 * np.sin(2 * np.pi * 3.1 * t))
    envelope = np.zeros(n, dtype=np.float64)
    formants = np.repeat(np.array(_VOWELS[syllables[0][2]])[:, None], n, axis=1)
    noise_env = np.zeros(n, dtype=np.float64)
    for start, length, vowel, accented in syllables:
        stop = start + length
        envelope[start:stop] = _raised_cosine_envelope(length, int(0.03 * rate), int(0.06 * rate)) * (
            1.0 if accented else rng.uniform(0.55, 0.8)
        )
        if accented:
            f0[start:stop] *= 1.0 + 0.18 * np.sin(np.linspace(0.0, np.pi, length))
        # hold this vowel's formants until the next syllable, gliding in from the previous one over 40 ms
        target_f = np.array(_VOWELS[vowel])[:, None]
        prev = formants[:, max(start - 1, 0)][:, None]
        formants[:, start:] = target_f
        glide = min(int(0.04 * rate), length)
        formants[:, start : start + glide] = prev + (target_f - prev) * np.linspace(0.0, 1.0, glide)[None, :]
        burst = min(int(0.025 * rate), length)
        noise_env[start : start + burst] = np.linspace(0.5, 0.0, burst)

    # Voiced source: harmonics of f0 with a -6 dB/octave tilt, weighted by the formant resonances.
    phase = 2.0 * np.pi * np.cumsum(f0) / rate
    voiced = np.zeros(n, dtype=np.float64)
    nyquist_limit = min(4000.0, 0.45 * rate)
    for k in range(1, int(nyquist_limit / base_pitch * 1.5) + 1):
        freq = k * f0
        weight = np.zeros(n, dtype=np.float64)
        for j in range(3):
            weight += 1.0 / (1.0 + ((freq - formants[j]) / _BANDWIDTHS[j]) ** 2)
        weight *= (freq < nyquist_limit) / k
        voiced += weight * np.sin(k * phase)
    speech = voiced * envelope
    speech /= max(float(np.max(np.abs(speech))), 1e-9)
    speech += 0.15 * noise_env * rng.standard_normal(n)  # consonant-like onset noise
    speech *= peak / max(float(np.max(np.abs(speech))), 1e-9)

    out = np.zeros(int(lead_silence * rate) + n + int(tail_silence * rate), dtype=np.float64)
    out[int(lead_silence * rate) : int(lead_silence * rate) + n] = speech
    return _float_to_int16(out)
