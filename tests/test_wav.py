"""realtime_fast.wav: WAV files in and out of PCM16 24 kHz mono, and the speech-like test signal."""

from __future__ import annotations

import struct
import wave
from array import array
from pathlib import Path

import numpy as np
import pytest

from realtime_fast.mock.vad import EnergyVAD
from realtime_fast.wav import SAMPLE_RATE, read_wav, resample_linear, speech_like_signal, write_wav


def _write_raw(path: Path, frames: bytes, *, channels: int, width: int, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)


def test_round_trip_is_exact(tmp_path: Path) -> None:
    samples = np.array([0, 1, -1, 32767, -32768, 1234, -4321], dtype=np.int16)
    assert write_wav(tmp_path / "a.wav", samples) == len(samples)
    with wave.open(str(tmp_path / "a.wav"), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 24000, len(samples))
    assert np.array_equal(read_wav(tmp_path / "a.wav"), samples)


def test_write_accepts_bytes_arrays_and_audio_buffers(tmp_path: Path, audio_impl) -> None:
    samples = np.arange(-50, 50, dtype=np.int16) * 300
    buf = audio_impl.AudioBuffer()
    buf.append(samples.tobytes())
    for source in (samples.tobytes(), bytearray(samples.tobytes()), array("h", samples.tolist()), buf, memoryview(samples)):
        path = tmp_path / "w.wav"
        assert write_wav(path, source) == len(samples)
        assert np.array_equal(read_wav(path), samples)
    buf.append(b"\x01\x00")  # write_wav released its view: the buffer can still grow
    assert len(buf) == len(samples) + 1


def test_write_converts_float_and_rejects_what_is_not_pcm16(tmp_path: Path) -> None:
    write_wav(tmp_path / "f.wav", np.array([0.0, 1.0, -1.0, 2.0, np.nan]))
    assert read_wav(tmp_path / "f.wav").tolist() == [0, 32767, -32768, 32767, 0]
    with pytest.raises(ValueError, match="even number of bytes"):
        write_wav(tmp_path / "x.wav", b"\x00\x01\x02")
    with pytest.raises(TypeError, match="int16"):
        write_wav(tmp_path / "x.wav", np.zeros(4, dtype=np.int32))
    with pytest.raises(TypeError, match="not str"):
        write_wav(tmp_path / "x.wav", "hello")


def test_read_mixes_channels_and_resamples(tmp_path: Path) -> None:
    n = 16000  # one second at 16 kHz, a 200 Hz tone on the left, its negative half on the right
    t = np.arange(n) / 16000
    left = (np.sin(2 * np.pi * 200 * t) * 20000).astype("<i2")
    right = (-left // 2).astype("<i2")
    _write_raw(tmp_path / "s.wav", np.stack([left, right], axis=1).tobytes(), channels=2, width=2, rate=16000)
    out = read_wav(tmp_path / "s.wav")
    assert out.dtype == np.int16 and len(out) == SAMPLE_RATE
    expected = np.sin(2 * np.pi * 200 * np.arange(SAMPLE_RATE) / SAMPLE_RATE) * 5000  # (20000 - 10000) / 2
    assert np.max(np.abs(out - expected)[:-2]) < 100  # the last output sample holds the last input one


@pytest.mark.parametrize("width", [1, 3, 4])
def test_read_other_sample_widths(tmp_path: Path, width: int) -> None:
    values = [0.0, 0.5, -0.5, 0.25]
    if width == 1:
        raw = bytes(int(128 + v * 128) for v in values)
    elif width == 3:
        raw = b"".join(struct.pack("<i", int(v * (1 << 23)))[:3] for v in values)
    else:
        raw = b"".join(struct.pack("<i", int(v * (1 << 31))) for v in values)
    _write_raw(tmp_path / "w.wav", raw, channels=1, width=width, rate=SAMPLE_RATE)
    assert read_wav(tmp_path / "w.wav").tolist() == [0, 16383, -16384, 8191]


def test_read_rejects_files_that_are_not_pcm_wav(tmp_path: Path) -> None:
    (tmp_path / "text.wav").write_bytes(b"hello, not a RIFF file")
    with pytest.raises(ValueError, match="is not a WAV file"):
        read_wav(tmp_path / "text.wav")
    # A 32-bit float WAV (format tag 3): valid WAV, but not PCM.
    data = struct.pack("<4f", 0.0, 0.1, 0.2, 0.3)
    fmt = struct.pack("<HHIIHH", 3, 1, 24000, 96000, 4, 32)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    (tmp_path / "float.wav").write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    with pytest.raises(ValueError, match="is not a PCM WAV file"):
        read_wav(tmp_path / "float.wav")
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "missing.wav")


def test_resample_linear_lengths_and_values() -> None:
    ramp = np.arange(8, dtype=np.float64)
    up = resample_linear(ramp, 8000, 16000)
    assert len(up) == 16 and up[:15].tolist() == [i / 2 for i in range(15)]
    assert len(resample_linear(np.zeros(441), 44100, 24000)) == 240
    with pytest.raises(ValueError, match="positive"):
        resample_linear(ramp, 0, 24000)


def test_speech_like_signal_is_deterministic_framed_by_silence_and_heard_as_one_turn() -> None:
    signal = speech_like_signal(2.0, lead_silence=0.4, tail_silence=0.8)
    assert signal.dtype == np.int16
    assert np.array_equal(signal, speech_like_signal(2.0, lead_silence=0.4, tail_silence=0.8))
    assert not np.array_equal(signal, speech_like_signal(2.0, lead_silence=0.4, tail_silence=0.8, seed=8))
    lead, tail = int(0.4 * SAMPLE_RATE), int(0.8 * SAMPLE_RATE)
    assert not signal[:lead].any() and not signal[-tail:].any()
    assert abs(int(np.max(np.abs(signal))) - int(0.6 * 32767)) <= 1
    # an energy VAD with the reference client's settings hears exactly one utterance inside it
    vad = EnergyVAD(SAMPLE_RATE, threshold=0.5, silence_duration_ms=200)
    marks = []
    for offset in range(0, len(signal), 480):
        marks += vad.feed(signal[offset : offset + 480])
    assert [kind for kind, _ in marks] == ["start", "stop"]
    start, stop = marks[0][1], marks[1][1]
    assert lead <= start < lead + SAMPLE_RATE // 10
    assert len(signal) - tail - SAMPLE_RATE // 5 < stop <= len(signal) - tail + SAMPLE_RATE // 2
