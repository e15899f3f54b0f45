"""A protocol-faithful mock of OpenAI's Realtime API, for tests, demos and benchmarks.

It is a real WebSocket server (loopback by default) speaking the GA protocol,
and the beta one to clients that ask for it, closely enough that an application
cannot tell it from the service for everything that does not need a real model:
handshake, auth and model errors, session configuration and validation, the
conversation, input audio with energy-based server VAD and transcription,
scripted responses (text, synthetic speech, function calls) with the service's
event order, cancellation, truncation, limits, and a recording of the newest frames.

    from realtime_fast.mock import MockRealtimeServer

    async with MockRealtimeServer(profile="fast") as server:
        server.script.add_tool_call("weather in Paris", "get_weather", {"city": "Paris"})
        ...  # connect any Realtime client to server.url
        assert server.frames_of_type("response.done")

Also available as a pytest fixture (``realtime_mock``, from the ``realtime_fast_mock``
plugin) and as the ``realtime-fast mock-server`` command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .dialects import BETA, GA, Dialect
    from .pacing import Pacing
    from .recording import Frame, Recorder
    from .script import Plan, Rule, Script
    from .server import (
        DEFAULT_MODELS,
        ConnectionRecord,
        MockRealtimeServer,
        MockServerProcess,
        MockServerThread,
        spawn_mock_server,
    )
    from .session import Session

# Imported on first use, so that the pytest plugin (a submodule) stays cheap to load.
_EXPORTS = {
    "BETA": "dialects",
    "GA": "dialects",
    "Dialect": "dialects",
    "Pacing": "pacing",
    "Frame": "recording",
    "Recorder": "recording",
    "Plan": "script",
    "Rule": "script",
    "Script": "script",
    "DEFAULT_MODELS": "server",
    "ConnectionRecord": "server",
    "MockRealtimeServer": "server",
    "MockServerProcess": "server",
    "MockServerThread": "server",
    "spawn_mock_server": "server",
    "Session": "session",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'realtime_fast.mock' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
