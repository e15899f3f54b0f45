"""End-to-end receive benchmarks of the transports over loopback (pytest-benchmark form).

Run ``pytest bench/test_bench_transport.py --benchmark-only``.  The timer is
``time.process_time``: each round is the client process's CPU time for one
stream of 1,500 audio deltas each followed by a transcript delta (3,000
messages), served by a separate process so the server's CPU is not counted;
divide by 3,000 for the cost per message (``extra_info`` holds it, in µs).
Groups: ``e2e <loop>``, one per event loop (asyncio, and uvloop when
installed), comparing the bare picows and websockets loops, the naive
websockets client and each realtime_fast transport with and without the event
core.  ``bench/transport_e2e.py`` prints the same comparison as a table.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

import transport_e2e as e2e
from realtime_fast.transport import loops

PAIRS = 1500
MESSAGES = 2 * PAIRS


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with e2e.StreamServer(PAIRS) as url:
        yield url


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
def test_e2e_receive(benchmark: Any, server_url: str, loop: Any, client: str) -> None:
    benchmark.group = f"e2e {loop.kind}"
    session = e2e.clients()[client]()
    loop.run_until_complete(session.open(server_url))
    try:
        benchmark.pedantic(lambda: loop.run_until_complete(session.stream(MESSAGES)), rounds=5, iterations=1, warmup_rounds=1)
    finally:
        loop.run_until_complete(session.close())
    benchmark.extra_info["us_per_message_median"] = round(benchmark.stats.stats.median / MESSAGES * 1e6, 2)
