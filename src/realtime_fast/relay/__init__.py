"""A Realtime API relay: browsers and other clients talk to it as to the service, and never hold the key.

``realtime-fast relay`` runs one; :class:`RealtimeRelay` is the same server in
your own asyncio program (with server-run tools).  See ``docs/relay.md``.
The server needs picows (a dependency on CPython); it is imported on first
use of :class:`RealtimeRelay`, so the command line starts without it.
"""

from __future__ import annotations

from typing import Any

from .auth import AuthRequest, Refused, TokenAuth
from .defaults import DEFAULTS
from .policy import SessionPolicy

__all__ = ["COMPILED_PIPE", "DEFAULTS", "AuthRequest", "RealtimeRelay", "Refused", "SessionPolicy", "TokenAuth"]


def __getattr__(name: str) -> Any:
    if name in ("RealtimeRelay", "COMPILED_PIPE"):
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
