"""A Realtime API relay: browsers and other clients talk to it as to the service, and never hold the key.

``realtime-fast relay`` runs one; :class:`RealtimeRelay` is the same server in
your own asyncio program (with server-run tools).  See ``docs/relay.md``.
"""

from __future__ import annotations

from .auth import AuthRequest, Refused, TokenAuth
from .policy import SessionPolicy
from .server import COMPILED_PIPE, DEFAULTS, RealtimeRelay

__all__ = ["COMPILED_PIPE", "DEFAULTS", "AuthRequest", "RealtimeRelay", "Refused", "SessionPolicy", "TokenAuth"]
