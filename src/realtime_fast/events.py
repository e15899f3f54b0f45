"""Wire-event codec: parse server frames, serialise client events.

Compiled when available (see :data:`realtime_fast.IS_ACCELERATED`); the pure
twin has the same API.
"""

from __future__ import annotations

from ._impl import load

_mod, COMPILED = load("_events")

from .errors import EventParseError
parse_event = _mod.parse_event
parse_audio_delta = _mod.parse_audio_delta
parse_frame = _mod.parse_frame
FrameReceiver = _mod.FrameReceiver
dumps_event = _mod.dumps_event
dumps_append_audio = _mod.dumps_append_audio

__all__ = ["COMPILED", "EventParseError", "FrameReceiver", "dumps_append_audio", "dumps_event", "parse_audio_delta", "parse_event", "parse_frame"]
