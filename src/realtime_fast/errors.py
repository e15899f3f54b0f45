"""Exception types shared by every layer (and by both core implementations)."""

from __future__ import annotations

import asyncio


class RealtimeError(Exception):
    """Base class of every error raised by realtime_fast."""


class EventParseError(RealtimeError, ValueError):
    """A frame received from the server is not a valid event (not JSON, not an object, no ``type``)."""


class TransportError(RealtimeError, ConnectionError):
    """The connection failed or was lost; ``code``/``reason`` carry the close frame when there was one."""

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class HandshakeRejected(TransportError):
    """The server answered the WebSocket upgrade with an HTTP status other than 101.

    ``status`` is the HTTP status; ``body`` the response body (bytes), with
    every credential shortened as in logs (``sk-...wxyz``): a proxy or relay
    may echo the request, ``Authorization`` header included, in its error page.
    The unredacted body is not kept.
    """

    def __init__(self, message: str, *, status: int, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


#: The timeout exceptions ``except`` clauses use: one class since Python 3.11, two before it.
_TIMEOUT_BASES = (TimeoutError,) if asyncio.TimeoutError is TimeoutError else (TimeoutError, asyncio.TimeoutError)


class ConnectTimeout(TransportError, *_TIMEOUT_BASES):  # type: ignore[misc]
    """The WebSocket handshake did not complete within the connect timeout.

    It is a :class:`TimeoutError` (and, before Python 3.11, an
    :class:`asyncio.TimeoutError` too), so either ``except`` clause catches it.
    """


class MessageTooLarge(RealtimeError):
    """Something the server sent is over one of the client's size limits; it was dropped and the session goes on.

    ``size`` and ``limit`` are in bytes.  Dispatched in an ``error`` event
    (``source: "protocol"``), never raised to your code.
    """

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class RedactedError(Exception):
    """Stands in, in the chain of an exception the package raised, for a library's exception that quoted a credential.

    ``type_name`` is the original exception's class (``module.Class``); the
    message is ``"<type_name>: <its text>"`` with every credential shortened
    (``sk-...wxyz``).  Its own ``__cause__`` and ``__context__`` are the
    original's (cleaned the same way).
    """

    def __init__(self, message: str, *, type_name: str) -> None:
        super().__init__(message)
        self.type_name = type_name
