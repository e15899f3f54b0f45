"""PCM16 audio helpers: base64 codecs, float conversion and a growable sample buffer.

All audio is PCM16: signed 16-bit little-endian mono samples, 24 kHz unless a
``rate`` says otherwise.  Lengths are in samples unless a name says ``bytes`` or
``ms``.  The implementation is compiled when available (see
:data:`realtime_fast.IS_ACCELERATED`); the pure-Python twin has the same API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._impl import load

_mod, COMPILED = load("_audio")

if TYPE_CHECKING:  # type checkers read the pure twin, the specification: same names and signatures
    from ._audio_py import AudioBuffer, b64decode_pcm16, b64encode_pcm16, float_to_pcm16
else:
    b64encode_pcm16 = _mod.b64encode_pcm16
    b64decode_pcm16 = _mod.b64decode_pcm16
    float_to_pcm16 = _mod.float_to_pcm16
    AudioBuffer = _mod.AudioBuffer
SAMPLE_RATE: int = 24000

__all__ = ["AudioBuffer", "COMPILED", "SAMPLE_RATE", "b64decode_pcm16", "b64encode_pcm16", "float_to_pcm16"]
