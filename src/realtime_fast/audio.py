"""Audio helpers: base64 codecs, float conversion, a growable sample buffer, G.711, resampling and a playback clock.

All audio is PCM16: signed 16-bit little-endian mono samples, 24 kHz unless a
``rate`` says otherwise, or G.711 (one byte per sample, 8 kHz) where a name
says ``ulaw`` or ``alaw``.  Lengths are in samples unless a name says
``bytes`` or ``ms``.  The implementation is compiled when available (see
:data:`realtime_fast.IS_ACCELERATED`); the pure-Python twin has the same API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._impl import load
from ._playback import PLAYBACK_FORMATS, PlaybackTracker

_mod, COMPILED = load("_audio")

if TYPE_CHECKING:  # type checkers read the pure twin, the specification: same names and signatures
    from ._audio_py import (
        RESAMPLE_RATES,
        AudioBuffer,
        Resampler,
        alaw_to_pcm16,
        b64decode_pcm16,
        b64encode_pcm16,
        float_to_pcm16,
        pcm16_to_alaw,
        pcm16_to_ulaw,
        resample_pcm16,
        ulaw_to_pcm16,
    )
else:
    b64encode_pcm16 = _mod.b64encode_pcm16
    b64decode_pcm16 = _mod.b64decode_pcm16
    float_to_pcm16 = _mod.float_to_pcm16
    AudioBuffer = _mod.AudioBuffer
    ulaw_to_pcm16 = _mod.ulaw_to_pcm16
    alaw_to_pcm16 = _mod.alaw_to_pcm16
    pcm16_to_ulaw = _mod.pcm16_to_ulaw
    pcm16_to_alaw = _mod.pcm16_to_alaw
    resample_pcm16 = _mod.resample_pcm16
    Resampler = _mod.Resampler
    RESAMPLE_RATES: tuple = _mod.RESAMPLE_RATES
SAMPLE_RATE: int = 24000
#: G.711's sample rate (Hz).
G711_SAMPLE_RATE: int = 8000

__all__ = [
    "COMPILED",
    "G711_SAMPLE_RATE",
    "PLAYBACK_FORMATS",
    "RESAMPLE_RATES",
    "SAMPLE_RATE",
    "AudioBuffer",
    "PlaybackTracker",
    "Resampler",
    "alaw_to_pcm16",
    "b64decode_pcm16",
    "b64encode_pcm16",
    "float_to_pcm16",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "resample_pcm16",
    "ulaw_to_pcm16",
]
