"""Energy-based server VAD on 20 ms frames.

A frame is speech when its RMS level exceeds a level derived from the
session's ``threshold`` (0..1 maps linearly to -60..-5 dBFS, so digital silence
never triggers and a constant amplitude of 20 000 always does).  Speech starts
at the first speech frame; it stops once ``silence_duration_ms`` of non-speech
frames followed it.  Positions are absolute sample indices of the session's
input clock (every sample ever appended), which the session turns into
``audio_start_ms`` / ``audio_end_ms`` (prefix padding applied there).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FRAME_MS", "EnergyVAD", "level_for_threshold"]

FRAME_MS = 20


def level_for_threshold(threshold: float) -> float:
    """RMS level (int16 units) above which a frame counts as speech, for VAD ``threshold`` in [0, 1]."""
    dbfs = -60.0 + 55.0 * min(max(threshold, 0.0), 1.0)
    return 32768.0 * math.pow(10.0, dbfs / 20.0)


class EnergyVAD:
    """Frame-energy voice activity detector fed with int16 samples as they arrive."""

    def __init__(self, rate: int, *, threshold: float = 0.5, silence_duration_ms: int = 200, position: int = 0) -> None:
        self.rate = rate
        self.frame = rate * FRAME_MS // 1000
        self.level = level_for_threshold(threshold)
        self.silence_duration_ms = silence_duration_ms
        self.speaking = False
        self._silence_ms = 0
        self._pending = np.empty(0, dtype=np.int16)
        self._position = position  # absolute index of _pending[0]

    def reset(self, position: int) -> None:
        """Forget any speech in progress and partial frame; the next sample has index ``position``."""
        self.speaking = False
        self._silence_ms = 0
        self._pending = np.empty(0, dtype=np.int16)
        self._position = position

    def feed(self, samples: np.ndarray) -> list[tuple[str, int]]:
        """Process new samples; returns ``[("start" | "stop", absolute sample index), ...]``.

        ``start`` carries the index of the first speech frame; ``stop`` the index just past
        the frame that completed the silence window.
        """
        if self._pending.size:
            samples = np.concatenate((self._pending, samples))
        n_frames = samples.size // self.frame
        events: list[tuple[str, int]] = []
        if n_frames:
            frames = samples[: n_frames * self.frame].reshape(n_frames, self.frame).astype(np.float32)
            rms = np.sqrt(np.mean(frames * frames, axis=1))
            voiced = rms > self.level
            for i in range(n_frames):
                start = self._position + i * self.frame
                if voiced[i]:
                    self._silence_ms = 0
                    if not self.speaking:
                        self.speaking = True
                        events.append(("start", start))
                elif self.speaking:
                    self._silence_ms += FRAME_MS
                    if self._silence_ms >= self.silence_duration_ms:
                        self.speaking = False
                        self._silence_ms = 0
                        events.append(("stop", start + self.frame))
        used = n_frames * self.frame
        self._pending = samples[used:].copy()
        self._position += used
        return events
