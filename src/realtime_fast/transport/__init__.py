"""Transports: one narrow interface (:class:`Transport`), one module per WebSocket backend.

Nothing above this package imports a backend's types.  :func:`create_transport`
picks a backend by name: ``"websockets"`` (pure Python, always available),
``"picows"`` (compiled) or ``"auto"`` (the fastest importable one).
"""

from __future__ import annotations

from .base import DEFAULT_HIGH_WATER, MAX_MESSAGE_SIZE, CloseHandler, MessageHandler, Transport

__all__ = [
    "DEFAULT_HIGH_WATER",
    "MAX_MESSAGE_SIZE",
    "CloseHandler",
    "MessageHandler",
    "Transport",
    "available_transports",
    "create_transport",
]


def available_transports() -> list[str]:
    """Names of the backends importable here, fastest first."""
    names = []
    try:
        import picows  # noqa: F401

        from . import picows_transport  # noqa: F401

        names.append("picows")
    except ImportError:
        pass
    names.append("websockets")
    return names


def create_transport(name: str = "auto", **options: object) -> Transport:
    """Return a new, unconnected transport of backend ``name`` (``auto``, ``picows`` or ``websockets``).

    ``options`` go to the backend's constructor; both take ``high_water`` (bytes)
    and ``close_timeout`` (seconds).
    """
    if name == "auto":
        name = available_transports()[0]
    if name == "websockets":
        from .websockets_transport import WebsocketsTransport

        return WebsocketsTransport(**options)  # type: ignore[arg-type]
    if name == "picows":
        from .picows_transport import PicowsTransport

        return PicowsTransport(**options)  # type: ignore[arg-type]
    raise ValueError(f"Unknown transport {name!r}: use 'auto', 'picows' or 'websockets'.")
