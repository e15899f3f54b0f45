"""The ratios the regression check guards, each measured in alternating rounds (same run, same machine).

``pytest --benchmark-only --ratio-check`` (or only this file, the quick form
``.ci/run`` uses) measures each ratio below and compares it with
``bench/baseline.json``; the run fails when one is worse than its baseline by
more than its tolerance.  A ratio is realtime_fast's time over a baseline's
time for the same work, round by round (see :mod:`realtime_fast.benchmarking`),
so load on the machine, or another machine, moves it little: what moves it is
a change that makes realtime_fast itself slower (or faster).

The baselines do not depend on realtime_fast: the standard library doing what
a plain client does (``json`` + ``base64`` + dict updates), and a bare picows
loop that only counts frames.

* ``client audio delta``, ``client text delta``: one server event through
  ``RealtimeClient`` (parse, conversation, ``conversation.updated`` to one
  handler), 20 events per round, against the stdlib client, with the item's
  memory already touched (see ``_HotReceiver``); the audio deltas carry
  200 ms (9.6 KB of PCM), so a change to the per-byte path shows;
* ``client append_input_audio``: one 20 ms chunk sent and kept, against
  ``json.dumps`` + ``base64`` + a local copy, both at their 60 s cap;
* ``codec decode 4.8 KB`` / ``codec encode 4.8 KB``: one 100 ms delta's base64,
  against ``binascii``;
* ``e2e burst``: client CPU for one streamed response (1,500 audio +
  transcript delta pairs written at once by a separate process) of
  ``RealtimeClient`` on picows against the bare picows loop;
* ``load``: client CPU per session-second of ``realtime-fast bench load``
  (real-time voice sessions against the load server) with ``RealtimeClient``
  against the bare picows client, alternating short runs.

Refresh the baseline on purpose (a change that is meant to cost time):
``pytest bench/test_bench_ratios.py --benchmark-only --ratio-save``, then
commit ``bench/baseline.json`` saying why.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import importlib
import os
import sys
import time
from typing import Any, Callable, Dict, List

import pytest

import load_rivals  # noqa: F401  (registers the bare picows load client)
import test_bench_client as client_bench
import transport_e2e as e2e
from realtime_fast.benchmarking import Ratio, benchmark_ratio, measure_ratio, ratio_of

#: Events (or chunks, or codec calls) per timed round of the in-process ratios.
BATCH = 20
#: Rounds of the in-process ratios (each is short: tens of microseconds).
ROUNDS = 201


def _compiled_required() -> None:
    if not importlib.import_module("realtime_fast").IS_ACCELERATED:
        if os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") == "1":
            raise RuntimeError("the compiled core is required but not loaded")
        pytest.skip("the ratios are of the compiled core, which is not loaded here")


class _HotReceiver:
    """A client that has seen a response's preamble, its item's audio emptied before every round.

    Emptying keeps the audio buffer's memory (``AudioBuffer.discard``; the
    stdlib client's ``bytearray`` likewise), so every round appends into memory
    the process has already touched: the rounds measure the client's own work,
    not the first-touch page faults of a growing buffer, which vary from round
    to round far more than the client's code does.
    """

    def __init__(self, impl: str) -> None:
        self.impl = impl
        self.receive, self.client = client_bench.new_receiver(impl)

    def setup(self) -> None:
        audio = client_bench._item(self.client)["formatted"]["audio"]
        if self.impl == "stdlib":
            del audio[:]
        else:
            audio.discard(len(audio))

    def run(self, frame: bytes) -> Callable[[], None]:
        def batch() -> None:
            receive = self.receive
            for _ in range(BATCH):
                receive(frame)

        return batch


#: The guarded events: a 200 ms audio delta (9.6 KB of PCM, 12.8 KB of base64: the per-byte path,
#: decode and copies, weighs more than in a 100 ms one) and a text delta (the per-event path).
EVENTS = {"audio delta": client_bench.audio_frame(samples=4800), "text delta": client_bench.FRAMES["text delta"]}


@pytest.mark.parametrize("name", list(EVENTS))
def test_client_event_ratio(benchmark: Any, ratio_report: Any, name: str) -> None:
    _compiled_required()
    benchmark.group = f"ratio: client {name}, RealtimeClient x {BATCH} (baseline: stdlib client)"
    frame = EVENTS[name]
    ours, stdlib = _HotReceiver("compiled"), _HotReceiver("stdlib")
    for _ in range(10):  # grow both items' buffers to their size, outside the measurement
        ours.run(frame)()
        stdlib.run(frame)()
    sides = dict(rounds=ROUNDS, warmup=5, setup_subject=ours.setup, setup_baseline=stdlib.setup)
    ratio = benchmark_ratio(benchmark, ours.run(frame), stdlib.run(frame), **sides)
    again = functools.partial(measure_ratio, ours.run(frame), stdlib.run(frame), **sides, order="baseline_first")
    ratio_report(f"client {name}", ratio, again)


def test_client_append_ratio(benchmark: Any, ratio_report: Any) -> None:
    _compiled_required()
    benchmark.group = f"ratio: client append_input_audio 20 ms x {BATCH} (baseline: stdlib sender)"
    package = importlib.import_module("realtime_fast")
    transport = client_bench._counting_transport(package)
    client = package.RealtimeClient(api_key="sk-bench-0123456789abcdef", transport=transport)
    stdlib = client_bench.StdlibSender()
    chunk = client_bench.CHUNK
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(client.connect())
        # Both sides keep the last 60 s of input audio: start from the steady state, at that cap.
        for _ in range(60 * 1000 // client_bench.CHUNK_MS + 100):
            client.append_input_audio(chunk)
            stdlib.append_input_audio(chunk)

        def ours() -> None:
            append = client.append_input_audio
            for _ in range(BATCH):
                append(chunk)

        def theirs() -> None:
            append = stdlib.append_input_audio
            for _ in range(BATCH):
                append(chunk)

        ratio = benchmark_ratio(benchmark, ours, theirs, rounds=ROUNDS, warmup=5)
        again = functools.partial(measure_ratio, ours, theirs, rounds=ROUNDS, warmup=5, order="baseline_first")
        ratio_report("client append_input_audio", ratio, again)
        assert client.input_audio_buffer.to_bytes(-len(chunk) // 2) == chunk
        loop.run_until_complete(client.disconnect())
    finally:
        loop.close()


@pytest.mark.parametrize("way", ["decode", "encode"])
def test_codec_ratio(benchmark: Any, ratio_report: Any, way: str) -> None:
    _compiled_required()
    audio = importlib.import_module("realtime_fast._audio")
    benchmark.group = f"ratio: codec {way} 4.8 KB x {BATCH} (baseline: binascii)"
    pcm = os.urandom(4800)
    text = base64.b64encode(pcm).decode("ascii")
    if way == "decode":
        ours_one, theirs_one, argument = audio.b64decode_pcm16, binascii.a2b_base64, text
    else:
        ours_one, argument = audio.b64encode_pcm16, pcm
        theirs_one = lambda data: binascii.b2a_base64(data, newline=False)  # noqa: E731

    def ours() -> None:
        for _ in range(BATCH):
            ours_one(argument)

    def theirs() -> None:
        for _ in range(BATCH):
            theirs_one(argument)

    ratio = benchmark_ratio(benchmark, ours, theirs, rounds=ROUNDS, warmup=5)
    again = functools.partial(measure_ratio, ours, theirs, rounds=ROUNDS, warmup=5, order="baseline_first")
    ratio_report(f"codec {way} 4.8 KB", ratio, again)


@pytest.mark.benchmark(timer=time.process_time, disable_gc=False, warmup=True)
def test_e2e_burst_ratio(benchmark: Any, ratio_report: Any) -> None:
    _compiled_required()
    if "picows" not in importlib.import_module("realtime_fast.transport").available_transports():
        pytest.skip("picows is not installed")
    benchmark.group = "ratio: e2e burst stream, RealtimeClient picows (baseline: bare picows loop), client CPU"
    pairs = 1500
    trigger = e2e.RAW_TRIGGER
    loop = asyncio.new_event_loop()
    sessions: Dict[str, Any] = {"ours": e2e.RealtimeClientSession("picows"), "bare": e2e.PicowsBare()}
    expected = {"ours": 2 * pairs, "bare": e2e.PREAMBLE_MESSAGES + 2 * pairs}
    try:
        with e2e.StreamServer(pairs) as url:
            for session in sessions.values():
                loop.run_until_complete(session.open(url))

            def prepare(name: str) -> Callable[[], None]:
                return lambda: loop.run_until_complete(sessions[name].prepare())

            def stream(name: str) -> Callable[[], None]:
                return lambda: loop.run_until_complete(sessions[name].stream(trigger, expected[name]))

            sides = dict(rounds=31, warmup=2, setup_subject=prepare("ours"), setup_baseline=prepare("bare"), timer=time.process_time)
            ratio = benchmark_ratio(benchmark, stream("ours"), stream("bare"), **sides)
            again = functools.partial(measure_ratio, stream("ours"), stream("bare"), **sides, order="baseline_first")
            ratio_report("e2e burst", ratio, again)
            for session in sessions.values():
                session.check(pairs, "raw")
                loop.run_until_complete(session.close())
    finally:
        loop.close()


#: The load point: sessions, seconds measured per run, runs per side (alternating).
LOAD_SESSIONS, LOAD_SECONDS, LOAD_RUNS = 300, 4.0, 2


def test_load_ratio(benchmark: Any, ratio_report: Any) -> None:
    _compiled_required()
    if "picows" not in importlib.import_module("realtime_fast.transport").available_transports():
        pytest.skip("picows is not installed")
    if not sys.platform.startswith("linux"):
        pytest.skip("the load ratio is measured on Linux only (its baseline, CPU pinning and page-fault counts are Linux's)")
    from realtime_fast.bench.load import LoadConfig, run_load

    benchmark.group = f"ratio: load, {LOAD_SESSIONS} sessions, RealtimeClient (baseline: bare picows client), CPU per session-second"
    quick = benchmark.disabled  # --benchmark-disable: one short run of each, as a smoke test
    sessions, seconds, runs = (20, 1.0, 1) if quick else (LOAD_SESSIONS, LOAD_SECONDS, LOAD_RUNS)

    def cost(client: str) -> float:
        config = LoadConfig(sessions=sessions, duration=seconds, client=client, connect_rate=300.0, quiet=True)
        result = run_load(config)
        assert result["connected"] == sessions and result["lost_events"] == 0, result
        return float(result["client_cpu_per_session_second"])

    def measure() -> Ratio:
        costs: Dict[str, List[float]] = {"realtime_fast": [], "picows-bare": []}
        for index in range(runs):
            order = ("realtime_fast", "picows-bare") if index % 2 == 0 else ("picows-bare", "realtime_fast")
            for client in order:
                costs[client].append(cost(client))
        return ratio_of(costs["realtime_fast"], costs["picows-bare"])

    first: Dict[str, Ratio] = {}
    benchmark.pedantic(lambda: first.update(ratio=measure()), rounds=1, iterations=1)
    if not quick:
        ratio_report("load", first["ratio"], measure)
