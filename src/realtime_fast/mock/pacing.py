"""Pacing profiles: how long the mock takes to answer (all values in seconds).

``realistic`` approximates the service (acknowledgements after 20-50 ms,
``response.created`` about 100 ms after ``response.create``, the first delta a
few hundred ms later, audio streamed at real-time speed); ``fast`` answers as
fast as the event loop allows (for benchmarks and quick tests).  Every number
is a plain attribute, so tests can shrink a profile (:meth:`Pacing.scaled`) or
change one value on a running server (``server.pacing.first_delta_delay = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

__all__ = ["Pacing"]


@dataclass
class Pacing:
    """Delays of the mock server, in seconds (``audio_realtime_factor`` is a ratio)."""

    #: From the handshake's 101 response to ``session.created``: the service sends it
    #: a few ms later (2.6-5.7 ms measured), never in the same TCP segment as the 101.
    session_created_delay: float = 0.0
    #: Smallest and largest delay before acknowledging a client event
    #: (``session.updated``, ``conversation.item.created``, ``...committed`` ...).
    ack_delay_min: float = 0.0
    ack_delay_max: float = 0.0
    #: From ``response.create`` (or the VAD commit) to ``response.created``.
    response_created_delay: float = 0.0
    #: From ``response.created`` to the first output item and delta ("thinking" time).
    first_delta_delay: float = 0.0
    #: Between two text deltas (text-only responses and function-call arguments).
    text_delta_interval: float = 0.0
    #: Audio deltas are spaced by ``chunk duration * audio_realtime_factor``
    #: (1.0 = real time, 0.5 = twice as fast as playback, 0 = no pause).
    audio_realtime_factor: float = 0.0
    #: From the user item's creation to its input transcription events.
    transcription_delay: float = 0.0
    #: From ``response.done`` to ``rate_limits.updated``.
    rate_limits_delay: float = 0.0

    @classmethod
    def fast(cls) -> Pacing:
        """No pauses at all: responses stream as fast as the socket takes them."""
        return cls()

    @classmethod
    def realistic(cls) -> Pacing:
        """Pauses close to what the real service shows (see REALTIME_PROTOCOL.md 6A.9)."""
        return cls(
            session_created_delay=0.005,
            ack_delay_min=0.020,
            ack_delay_max=0.050,
            response_created_delay=0.100,
            first_delta_delay=0.250,
            text_delta_interval=0.030,
            audio_realtime_factor=1.0,
            transcription_delay=0.150,
            rate_limits_delay=0.040,
        )

    @classmethod
    def named(cls, name: str) -> Pacing:
        """The profile called ``name`` (``"fast"`` or ``"realistic"``)."""
        if name == "fast":
            return cls.fast()
        if name == "realistic":
            return cls.realistic()
        raise ValueError(f"Unknown pacing profile {name!r}; use 'fast' or 'realistic'.")

    def scaled(self, factor: float) -> Pacing:
        """A copy with every delay (and the audio pace) multiplied by ``factor`` (e.g. 0.1 in tests)."""
        if factor < 0:
            raise ValueError(f"Pacing scale factor must be >= 0, got {factor}.")
        return replace(self, **{f.name: getattr(self, f.name) * factor for f in fields(self)})

    @property
    def is_fast(self) -> bool:
        """True when every delay is zero (the mock then never sleeps)."""
        return all(getattr(self, f.name) == 0 for f in fields(self))
