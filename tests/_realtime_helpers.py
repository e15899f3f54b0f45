"""Shared helpers of the client tests: transport/protocol fixtures, a mock server, an event log, signals.

Imported by the ``test_client*.py`` and ``test_api.py`` modules (fixtures are
re-exported by importing them into the test module's namespace).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import pytest

import realtime_fast
from realtime_fast import RealtimeClient
from realtime_fast.transport import available_transports

#: The directory holding the realtime_fast these tests imported (src/ in a checkout, site-packages
#: for an installed wheel): put first on a subprocess's PYTHONPATH so it runs the same package.
PACKAGE_PARENT = str(Path(realtime_fast.__file__).resolve().parents[1])

#: Transports the client tests run on: websockets always, picows when importable.
TRANSPORTS = [name for name in ("websockets", "picows") if name in available_transports()]
PROTOCOLS = ["ga", "beta"]
RATE = 24000
KEY = "sk-test-realtime-fast-0123456789"


@pytest.fixture(params=TRANSPORTS)
def transport_name(request: pytest.FixtureRequest) -> str:
    """Every available transport backend."""
    return request.param


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    """Both wire dialects."""
    return request.param


@pytest.fixture
async def server():
    """A mock Realtime server on loopback, fast profile, on the test's event loop."""
    from realtime_fast.mock import MockRealtimeServer

    async with MockRealtimeServer(profile="fast") as mock:
        yield mock


@pytest.fixture
def make_client(server, transport_name, protocol):
    """Build clients for the mock server in the test's transport and dialect (closed after the test)."""
    clients: List[RealtimeClient] = []

    def make(**options: Any) -> RealtimeClient:
        options.setdefault("transport", transport_name)
        options.setdefault("protocol", protocol)
        client = RealtimeClient(options.pop("url", server.url), options.pop("api_key", KEY), **options)
        clients.append(client)
        return client

    yield make


@pytest.fixture
async def client(make_client):
    """A connected client (session created) for the mock server."""
    c = make_client()
    await c.connect()
    await c.wait_for_session_created()
    yield c
    await c.disconnect()
    await c.cancel_handler_tasks()


class EventLog:
    """Records events dispatched by an event handler, and waits for them on futures (no polling)."""

    def __init__(self, handler: Any, names: Iterable[str]) -> None:
        self.records: List[Tuple[str, Any]] = []
        self._waiters: List[Tuple[str, Callable[[Any], bool], int, asyncio.Future]] = []
        for name in names:
            handler.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[[Any], None]:
        def record(payload: Any) -> None:
            self.records.append((name, payload))
            index = len(self.records) - 1
            still = []
            for wanted, predicate, after, future in self._waiters:
                if future.done():
                    continue
                if wanted == name and index >= after and predicate(payload):
                    future.set_result(payload)
                else:
                    still.append((wanted, predicate, after, future))
            self._waiters = still

        return record

    def mark(self) -> int:
        """Position to pass as ``after`` to wait only for later events."""
        return len(self.records)

    def of(self, name: str) -> List[Any]:
        """Payloads recorded under ``name``, in order."""
        return [payload for n, payload in self.records if n == name]

    def names(self) -> List[str]:
        return [n for n, _ in self.records]

    async def wait_for(
        self, name: str, predicate: Callable[[Any], bool] = lambda p: True, *, after: int = 0, timeout: float = 10.0
    ) -> Any:
        """The first payload of ``name`` (recorded at position >= ``after``) matching ``predicate``."""
        for index, (n, payload) in enumerate(self.records):
            if index >= after and n == name and predicate(payload):
                return payload
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((name, predicate, after, future))
        return await asyncio.wait_for(future, timeout)


HIGH_LEVEL_EVENTS = (
    "realtime.event",
    "conversation.updated",
    "conversation.item.appended",
    "conversation.item.completed",
    "conversation.interrupted",
    "error",
    "close",
    "reconnecting",
    "reconnected",
)


def tone(ms: int, amplitude: float = 16000.0, freq: float = 220.0) -> np.ndarray:
    """A PCM16 sine of ``ms`` milliseconds at 24 kHz (loud enough for the mock's VAD)."""
    n = RATE * ms // 1000
    t = np.arange(n) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def silence(ms: int) -> np.ndarray:
    """``ms`` milliseconds of digital silence."""
    return np.zeros(RATE * ms // 1000, dtype=np.int16)


def chunks(samples: np.ndarray, ms: int = 20) -> Iterator[np.ndarray]:
    """``samples`` cut into ``ms``-millisecond pieces."""
    step = RATE * ms // 1000
    for start in range(0, len(samples), step):
        yield samples[start : start + step]


def samples_of(buffer: Any) -> np.ndarray:
    """The int16 samples of an AudioBuffer or PCM16 bytes (a copy)."""
    return np.frombuffer(bytes(buffer), dtype="<i2").copy()


def client_events(server: Any, type: Optional[str] = None) -> List[dict]:
    """The client events the mock received (all, or of one type), parsed."""
    return server.events(type, direction="client")


async def received(
    server: Any, type: str, count: int = 1, *, direction: str = "client", connection: Optional[int] = None, timeout: float = 10.0
) -> List[dict]:
    """Wait until the mock has recorded ``count`` events of ``type`` (sent by the client unless
    ``direction="server"``, on every connection or one); returns them all, parsed."""
    while len(server.frames_of_type(type, direction=direction, connection=connection)) < count:
        await server.recorder.wait_for(type, direction=direction, connection=connection, timeout=timeout, already=False)
    return server.events(type, direction=direction, connection=connection)
