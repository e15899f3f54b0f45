"""Wire-event codec: parse server frames, serialise client events.

Compiled when available (see :data:`realtime_fast.IS_ACCELERATED`); the pure
twin has the same API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._impl import load
from .errors import EventParseError

_mod, COMPILED = load("_events")

if TYPE_CHECKING:  # type checkers read the pure twin, the specification: same names and signatures
    from ._events_py import FrameReceiver, dumps_append_audio, dumps_event, parse_audio_delta, parse_event, parse_frame
else:
    parse_event = _mod.parse_event
    parse_audio_delta = _mod.parse_audio_delta
    parse_frame = _mod.parse_frame
    FrameReceiver = _mod.FrameReceiver
    dumps_event = _mod.dumps_event
    dumps_append_audio = _mod.dumps_append_audio

__all__ = ["COMPILED", "EventParseError", "FrameReceiver", "dumps_append_audio", "dumps_event", "parse_audio_delta", "parse_event", "parse_frame"]
