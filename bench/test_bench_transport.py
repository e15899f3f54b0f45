"""End-to-end receive benchmarks over loopback (the pytest-benchmark form of ``transport_e2e.py``).

Run ``pytest bench/test_bench_transport.py --benchmark-only``.  The timer is
``time.process_time``: each round is the client process's CPU time for one
stream (the preamble of an audio response, then audio deltas each followed by
a transcript delta) served by a separate process, so the server's CPU is not
counted.  ``extra_info["us_per_message_median"]`` is the median divided by the
number of messages.  Groups: ``e2e <stream> <loop>``, one per stream shape
(``burst``: 1,500 pairs written at once; ``paced``: 300 pairs, one per ms)
and event loop (asyncio, and uvloop when installed), comparing the bare picows
and websockets loops, the naive websockets client, each realtime_fast
transport with and without the event core, and ``RealtimeClient`` on each
transport.  ``bench/transport_e2e.py`` prints the same comparison as a table
with ratios (and can use the mock server as the source).

Quick mode (``--benchmark-disable``, as in CI): 20 pairs per stream, one round.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

import transport_e2e as e2e
from realtime_fast.transport import loops

#: stream shape -> (pairs per stream, ms between pairs; 0 = all at once)
STREAMS = {"burst": (1500, 0.0), "paced": (300, 1.0)}
QUICK_PAIRS = 20


def _quick(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_disable", False))


@pytest.fixture(params=list(STREAMS), scope="module")
def stream(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, int, float]]:
    """(shape, url, pairs, pace_ms), the raw sender running in its own process."""
    pairs, pace_ms = STREAMS[request.param]
    if _quick(request.config):
        pairs = QUICK_PAIRS
    with e2e.StreamServer(pairs) as url:
        yield request.param, url, pairs, pace_ms


@pytest.fixture(params=loops.available_loops(), scope="module")
def loop(request: pytest.FixtureRequest) -> Iterator[Any]:
    event_loop = loops.new_event_loop(request.param)
    event_loop.kind = request.param  # type: ignore[attr-defined]
    try:
        yield event_loop
    finally:
        event_loop.close()


@pytest.mark.benchmark(timer=time.process_time, disable_gc=False, warmup=True)
@pytest.mark.parametrize("client", list(e2e.clients()))
def test_e2e_receive(benchmark: Any, pytestconfig: pytest.Config, stream: tuple[str, str, int, float], loop: Any, client: str) -> None:
    shape, url, pairs, pace_ms = stream
    benchmark.group = f"e2e {shape} {loop.kind}"
    session = e2e.clients()[client]()
    trigger = f"go:{pace_ms}".encode() if pace_ms > 0 else e2e.RAW_TRIGGER
    messages = e2e.PREAMBLE_MESSAGES + 2 * pairs
    expected = 2 * pairs if isinstance(session, e2e.RealtimeClientSession) else messages
    loop.run_until_complete(session.open(url))
    try:

        def setup() -> Any:
            loop.run_until_complete(session.prepare())
            return (), {}

        def one_stream() -> None:
            loop.run_until_complete(session.stream(trigger, expected))

        benchmark.pedantic(one_stream, setup=setup, rounds=1 if _quick(pytestconfig) else 5, iterations=1, warmup_rounds=1)
        session.check(pairs, "raw")  # the last stream arrived whole (RealtimeClient: the item's audio and transcript)
    finally:
        loop.run_until_complete(session.close())
    if not benchmark.disabled:
        benchmark.extra_info["us_per_message_median"] = round(benchmark.stats.stats.median / messages * 1e6, 2)
