"""Every limit and timing of the relay, with its default (documented in docs/relay.md)."""

from __future__ import annotations

from typing import Any, Dict

__all__ = ["DEFAULTS"]

DEFAULTS: Dict[str, Any] = {
    "max_sessions": 2000,  # live sessions in this process
    "max_sessions_per_identity": 100,  # live sessions of one identity in this process
    "max_message_size": 4 * 1024 * 1024,  # bytes in one WebSocket message, either way
    "idle_timeout": 300.0,  # seconds without a frame either way
    "max_session_seconds": 3600.0,  # seconds from open to close (the service's own cap is 60 min)
    "send_high_water": 512 * 1024,  # bytes queued to a client before it is closed with 1013
    "connect_timeout": 10.0,  # seconds to open the upstream connection
    "drain_timeout": 30.0,  # seconds live sessions get after SIGTERM before a 1001 close
    "ping_interval": 20.0,  # seconds of silence before a keepalive ping, either side
}
