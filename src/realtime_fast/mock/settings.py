"""What a mock session takes from its server: one :class:`SessionSettings` per connection.

The server builds it when a connection is accepted, so a session never sees
the server itself.  Plain values are read at that moment (changing
``server.rate_limits`` applies to the connections that come next, as
``server.max_session_seconds`` always did); :class:`Pacing` and :class:`Script`
are shared by reference, so changing their attributes (or adding script
rules) reaches sessions that are already running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ._ids import IdFactory
from .pacing import Pacing
from .recording import Frame
from .script import Script

__all__ = ["SessionSettings"]


@dataclass(frozen=True)
class SessionSettings:
    """The server's options a session works with (see the module docstring)."""

    #: The server's delays, shared: attribute changes apply at once.
    pacing: Pacing
    #: What the "model" says, shared: rule changes apply at once.
    script: Script
    #: Keeps one frame in the server's recording (``Recorder.add``).
    record: Callable[[Frame], None]
    #: The server's id source (``ids.new("item_")``), shared by all its sessions.
    ids: IdFactory
    #: ``"after_done"``, ``"after_created"`` or ``None``: when ``rate_limits.updated`` is sent.
    rate_limits: str | None
    #: Extra field holding :func:`time.time` in every server event, or ``None``.
    timestamp_field: str | None
    #: Assistant speech length per transcript character, in ms.
    ms_per_char: float
    #: Duration of each assistant audio delta, in ms.
    audio_chunk_ms: int
    #: Largest client message handled normally, in characters.
    max_message_size: int
    #: Also send ``conversation.created`` after ``session.created``.
    emit_conversation_created: bool
