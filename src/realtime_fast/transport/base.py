"""The transport interface: what the client needs from a WebSocket, and nothing more.

A transport delivers each complete text message to ``on_message`` as ``bytes``
or a ``memoryview`` of UTF-8 JSON.  **A memoryview is borrowed**: it is valid only
until ``on_message`` returns (it may point into the transport's receive buffer),
so a handler that keeps data must copy it.  Binary messages are delivered to
``on_binary`` (same validity rule) so the layer above can report them.

When the connection ends, for whatever reason, ``on_close(code, reason, exc)``
is called exactly once: ``code``/``reason`` from the close frame (``None``/""
when there was none), ``exc`` the error for abnormal ends (``None`` for a clean
close by either side).

Sends never block: :meth:`Transport.send_text` queues the frame, frames leave in
the order they were queued, and :attr:`Transport.buffered_amount` says how many
bytes are still waiting.  :meth:`Transport.drain` waits until that drops to the
high-water mark (``DEFAULT_HIGH_WATER`` unless set), which is how a caller
applies back-pressure on a slow network.
"""

from __future__ import annotations

import abc
from typing import Callable, Mapping, Sequence, Union

#: Largest message accepted in either direction (bytes).  The service takes
#: audio appends up to 15 MiB of audio, i.e. about 20 MiB of base64 text.
MAX_MESSAGE_SIZE: int = 32 * 1024 * 1024

#: Bytes queued for sending above which :meth:`Transport.drain` waits.
DEFAULT_HIGH_WATER: int = 1024 * 1024

MessageHandler = Callable[[Union[bytes, memoryview]], None]
CloseHandler = Callable[[Union[int, None], str, Union[BaseException, None]], None]


class Transport(abc.ABC):
    """One WebSocket client connection.  Subclasses implement one backend each."""

    #: Short backend name (``"websockets"``, ``"picows"``).
    name: str = ""

    @abc.abstractmethod
    async def connect(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        subprotocols: Sequence[str],
        on_message: MessageHandler,
        on_binary: MessageHandler,
        on_close: CloseHandler,
        open_timeout: float = 10.0,
        max_message_size: int = MAX_MESSAGE_SIZE,
        ping_interval: float | None = 20.0,
    ) -> None:
        """Open the connection (``ws://`` or ``wss://`` with certificate checks on).

        Raises :class:`~realtime_fast.errors.HandshakeRejected` when the server
        answers the upgrade with an HTTP error, :class:`~realtime_fast.errors.ConnectTimeout`
        after ``open_timeout`` seconds, and :class:`~realtime_fast.errors.TransportError`
        (with the address and the OS error in its message) for anything else.
        """

    @abc.abstractmethod
    def send_text(self, data: bytes | str) -> None:
        """Queue one text message (UTF-8 JSON).  Returns at once; raises TransportError when not open."""

    @abc.abstractmethod
    async def drain(self) -> None:
        """Wait until the bytes still queued for sending drop to the high-water mark."""

    @abc.abstractmethod
    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection cleanly (sends a close frame, waits briefly for the answer)."""

    @property
    @abc.abstractmethod
    def is_open(self) -> bool:
        """True while messages can be sent."""

    @property
    @abc.abstractmethod
    def buffered_amount(self) -> int:
        """Bytes queued for sending that have not been written to the socket yet."""

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected, if any."""
        return None
