"""The client's receive path, pure Python: the specification of ``_client_fast``.

:class:`ClientFastPath` gives the callbacks a RealtimeClient installs on its
API's :class:`~realtime_fast.events.FrameReceiver`.  Here they are the API's
own methods, so every event takes the layered path (``RealtimeAPI.receive`` ->
``RealtimeClient._api_server_event`` -> the conversation -> ``dispatch``).
The compiled twin does the same work in one call for the common streamed
deltas (and for appending input audio given as ``bytes``) when nothing else
listens, and takes this path for everything else.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ClientFastPath"]


class ClientFastPath:
    """The receive callbacks of one RealtimeClient (``on_event``, ``on_audio`` of its API's FrameReceiver)."""

    __slots__ = ("on_event", "on_audio", "append_input_audio")

    def __init__(self, client: Any) -> None:
        api = client.realtime
        self.on_event = api._on_event
        self.on_audio = api._on_audio
        #: ``RealtimeClient.append_input_audio`` for ``bytes``: here, the general method.
        self.append_input_audio = client._append_input_audio

    def install(self, receiver: Any) -> None:
        """Become ``receiver``'s ``on_event`` / ``on_audio`` (the compiled twin also becomes its delta sink)."""
        receiver.on_event = self.on_event
        receiver.on_audio = self.on_audio
