"""Wire dialects: what differs between the GA Realtime protocol and the 2024 beta one.

The client keeps the reference client's *API*: a flat session config
(``modalities``, ``voice``, ``input_audio_format``, ``turn_detection``, ...),
items shaped as in the reference and the beta event names inside the
conversation.  A :class:`Dialect` knows what goes on the wire:

* the handshake headers (beta adds ``OpenAI-Beta: realtime=v1``), or the
  ``Sec-WebSocket-Protocol`` offers that carry the same credentials the way
  browsers send them (:meth:`Dialect.subprotocols`),
* the ``session`` object of ``session.update`` and the ``response`` object of
  ``response.create`` (GA nests audio settings under ``audio.input`` /
  ``audio.output`` and renames or drops a few keys),
* the server event names: :data:`SERVER_EVENT_ALIASES` maps every GA name to
  the canonical (beta) name the conversation processes, so one processing table
  serves both dialects.

Nothing in this package talks to a socket.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from .._redact import package_logger
from ..names import AUDIO_DELTA_TYPES, AUDIO_PART_TYPES, SERVER_EVENT_ALIASES, TEXT_PART_TYPES
from ._common import BETA_SUBPROTOCOL, KEY_SUBPROTOCOL_PREFIX, REALTIME_SUBPROTOCOL, Dialect
from .beta import BetaDialect
from .ga import GADialect

__all__ = [
    "AUDIO_DELTA_TYPES",
    "AUDIO_PART_TYPES",
    "BETA_SUBPROTOCOL",
    "BetaDialect",
    "Dialect",
    "GADialect",
    "KEY_SUBPROTOCOL_PREFIX",
    "REALTIME_SUBPROTOCOL",
    "SERVER_EVENT_ALIASES",
    "TEXT_PART_TYPES",
    "canonical_event_type",
    "get_dialect",
    "turn_detection_of",
]

logger = package_logger()

_DIALECTS: Dict[str, Dialect] = {"ga": GADialect(), "beta": BetaDialect()}


def get_dialect(name: str) -> Dialect:
    """The dialect called ``name`` (``"ga"`` or ``"beta"``)."""
    try:
        return _DIALECTS[name]
    except KeyError:
        raise ValueError(f"Unknown protocol {name!r}: use 'ga' (the current API) or 'beta'.") from None


def canonical_event_type(event_type: str) -> str:
    """The name the conversation uses for server event type ``event_type`` (GA names map to beta ones)."""
    return SERVER_EVENT_ALIASES.get(event_type, event_type)


def turn_detection_of(config: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The turn detection settings a session config asks for, whichever shape it uses.

    Reads ``audio.input.turn_detection`` (GA shape) when present, else the flat
    ``turn_detection``.  ``{"type": "none"}`` (shown in the reference's README)
    counts as no turn detection.
    """
    value: Any = config.get("turn_detection")
    audio = config.get("audio")
    if isinstance(audio, Mapping):
        audio_in = audio.get("input")
        if isinstance(audio_in, Mapping) and "turn_detection" in audio_in:
            value = audio_in["turn_detection"]
    if not isinstance(value, Mapping) or value.get("type") in (None, "none"):
        return None
    return dict(value)
