"""Measure your code against a baseline in the same run, as a ratio that noisy machines do not move.

Absolute timings move 10-30 % from run to run on shared machines and CI
runners, so a check on them either fails at random or catches nothing.  A
ratio of two things measured *in alternation*, round by round, does not: a
burst of load slows both sides of a round alike.  This module measures such
ratios, for your own handlers as for this package's benchmarks:

* :func:`measure_ratio` times two callables in alternating rounds and returns
  a :class:`Ratio` (the median of the per-round ratios, and its spread);
* :func:`benchmark_ratio` does the same inside a pytest-benchmark test (the
  subject's rounds show up in pytest-benchmark's table as usual);
* :func:`record_turn` records the frames a mock server sends for one turn,
  and :func:`compare_clients` replays them into a client that has *your*
  handlers and into a baseline client, in alternation: what your handler path
  costs on top of the client, as a ratio you can keep in a baseline file.

Example, in a test of your application::

    from realtime_fast.benchmarking import compare_clients, record_turn

    async def test_my_handlers_stay_cheap():
        frames = await record_turn("Tell me about the weather")
        ratio = compare_clients(install_my_handlers, frames)
        print(ratio)        # e.g. "1.18x (1.15-1.21), 2.9 ms vs 2.5 ms per turn, 31 rounds"
        assert ratio.ratio < 1.5   # your budget, as a ratio: stable across machines

Nothing here sleeps or uses a socket while timing.  Replayed frames go
through :meth:`~realtime_fast.api.RealtimeAPI.receive_frame`, the entry
point a transport calls for every text message.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, List, Mapping, Optional, Sequence

if TYPE_CHECKING:
    from .client import RealtimeClient

__all__ = [
    "Ratio",
    "RatioCheck",
    "benchmark_ratio",
    "check_ratios",
    "compare_clients",
    "format_checks",
    "load_baseline",
    "measure_ratio",
    "ratio_of",
    "record_turn",
    "replay",
    "run_record_turn",
    "save_baseline",
]

#: Rounds measured by default (odd, so the median is one of them).
DEFAULT_ROUNDS = 31


@dataclass(frozen=True)
class Ratio:
    """The cost of a subject relative to a baseline, measured in alternating rounds.

    ``ratio`` is the median of the per-round ratios (subject time / baseline
    time of the same round); ``low`` and ``high`` are their 25th and 75th
    percentiles.  ``subject_s`` and ``baseline_s`` are the median times of one
    timed call, in seconds (absolute numbers, for reading, not for checking).
    """

    ratio: float
    low: float
    high: float
    subject_s: float
    baseline_s: float
    rounds: int

    def __str__(self) -> str:
        return (
            f"{self.ratio:.3f}x ({self.low:.3f}-{self.high:.3f}), {_human(self.subject_s)} vs "
            f"{_human(self.baseline_s)} per call, {self.rounds} rounds"
        )


def _human(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def ratio_of(subject: Sequence[float], baseline: Sequence[float]) -> Ratio:
    """The :class:`Ratio` of paired per-round costs (``subject[i]`` was measured next to ``baseline[i]``).

    For costs you measure yourself (say, CPU per session-second of two load
    runs); the costs' unit is taken as seconds for the printed form.
    """
    if len(subject) != len(baseline) or not subject:
        raise ValueError(f"need the same number of subject and baseline rounds, got {len(subject)} and {len(baseline)}")
    per_round = sorted(s / b for s, b in zip(subject, baseline) if b > 0)
    if not per_round:
        raise ValueError("every baseline round took no measurable time: time more work per round")
    quartiles = statistics.quantiles(per_round, n=4) if len(per_round) > 1 else [per_round[0]] * 3
    return Ratio(
        ratio=statistics.median(per_round),
        low=quartiles[0],
        high=quartiles[2],
        subject_s=statistics.median(subject),
        baseline_s=statistics.median(baseline),
        rounds=len(per_round),
    )


def _check_rounds(rounds: int, warmup: int) -> None:
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}.")
    if warmup < 0:
        raise ValueError(f"warmup must be 0 or more rounds, got {warmup}.")


def measure_ratio(
    subject: Callable[[], Any],
    baseline: Callable[[], Any],
    *,
    rounds: int = DEFAULT_ROUNDS,
    warmup: int = 3,
    setup_subject: Optional[Callable[[], Any]] = None,
    setup_baseline: Optional[Callable[[], Any]] = None,
    timer: Callable[[], float] = time.perf_counter,
    order: str = "alternate",
) -> Ratio:
    """Time ``subject()`` and ``baseline()`` in alternating rounds; returns their :class:`Ratio`.

    Each round times one call of each, the baseline first on even rounds and
    the subject first on odd ones (``order="baseline_first"``: the baseline
    first in every round, as :func:`benchmark_ratio` does; measure a ratio
    again the way it was first measured, since which side runs first moves
    the ratio by a few percent through the caches).  ``setup_subject`` /
    ``setup_baseline`` (optional) run untimed right before their side's call
    (build fresh state there).  ``warmup`` rounds run first and are not
    counted.  Make one call last at least tens of microseconds (loop inside
    it) so the timer's resolution does not matter.  ``timer`` may be
    :func:`time.process_time` to count CPU time only.
    """
    _check_rounds(rounds, warmup)
    if order not in ("alternate", "baseline_first"):
        raise ValueError(f"order must be 'alternate' or 'baseline_first', got {order!r}.")
    alternate = order == "alternate"

    def timed(call: Callable[[], Any], setup: Optional[Callable[[], Any]]) -> float:
        if setup is not None:
            setup()
        start = timer()
        call()
        return timer() - start

    subject_times: List[float] = []
    baseline_times: List[float] = []
    for index in range(warmup + rounds):
        if index % 2 == 0 or not alternate:
            b = timed(baseline, setup_baseline)
            s = timed(subject, setup_subject)
        else:
            s = timed(subject, setup_subject)
            b = timed(baseline, setup_baseline)
        if index >= warmup:
            subject_times.append(s)
            baseline_times.append(b)
    return ratio_of(subject_times, baseline_times)


def benchmark_ratio(
    benchmark: Any,
    subject: Callable[[], Any],
    baseline: Callable[[], Any],
    *,
    rounds: int = DEFAULT_ROUNDS,
    warmup: int = 3,
    setup_subject: Optional[Callable[[], Any]] = None,
    setup_baseline: Optional[Callable[[], Any]] = None,
    timer: Callable[[], float] = time.perf_counter,
) -> Optional[Ratio]:
    """:func:`measure_ratio` inside a pytest-benchmark test, with ``benchmark`` (its fixture) timing the subject.

    pytest-benchmark times the subject's rounds (they appear in its table);
    the baseline runs, timed here with ``timer``, in each round's setup, just
    before the subject: pass the clock pytest-benchmark uses for the test
    (:func:`time.perf_counter` unless a ``benchmark(timer=...)`` marker sets
    another).  Returns None when benchmarks are disabled
    (``--benchmark-disable``: every function then runs once, untimed).
    """
    _check_rounds(rounds, warmup)
    baseline_times: List[float] = []

    def setup() -> None:
        if setup_baseline is not None:
            setup_baseline()
        start = timer()
        baseline()
        baseline_times.append(timer() - start)
        if setup_subject is not None:
            setup_subject()

    benchmark.pedantic(subject, setup=setup, rounds=rounds, iterations=1, warmup_rounds=warmup)
    if benchmark.disabled:
        return None
    subject_times = list(benchmark.stats.stats.data)
    return ratio_of(subject_times, baseline_times[-len(subject_times):])


# -------------------------------------------------------------------------- clients


async def record_turn(
    text: str = "Hello! How are you today?",
    *,
    reply: Optional[str] = None,
    modalities: Sequence[str] = ("text", "audio"),
    protocol: str = "ga",
) -> List[bytes]:
    """The frames a mock server sends for one text turn: session events, the user's item, the whole response.

    A :class:`~realtime_fast.mock.MockRealtimeServer` (fast pacing) answers
    ``text`` with ``reply`` (default: its scripted answer; the audio lasts
    about 60 ms per character of the reply) in ``modalities``.  The frames
    come back as the bytes that crossed the socket, ready for :func:`replay`.
    """
    from .client import RealtimeClient
    from .mock import MockRealtimeServer

    async with MockRealtimeServer(profile="fast", record=True) as server:
        if reply is not None:
            server.script.reply(reply)
        client = RealtimeClient(url=server.url, api_key="sk-record-turn-0123456789", protocol=protocol)
        async with client:
            client.update_session(modalities=list(modalities))
            done = client.realtime.wait_for_next("server.response.done", 30)
            client.send_user_message_content([{"type": "input_text", "text": text}])
            if await done is None:
                raise TimeoutError("The mock server did not finish the response within 30 s.")
        return [
            frame.raw if isinstance(frame.raw, bytes) else frame.raw.encode()
            for frame in server.frames
            if frame.direction == "server"
        ]


def replay(client: RealtimeClient, frames: Sequence[bytes]) -> None:
    """Feed ``frames`` to ``client`` as if they had arrived on its socket, in order (no connection needed)."""
    receive = client.realtime.receive_frame
    for frame in frames:
        receive(frame)


def _default_baseline(client: RealtimeClient) -> None:
    """The baseline client: one ``conversation.updated`` handler that does nothing."""
    client.on("conversation.updated", lambda event: None)


def compare_clients(
    install: Callable[[RealtimeClient], Any],
    frames: Sequence[bytes],
    *,
    baseline_install: Callable[[RealtimeClient], Any] = _default_baseline,
    rounds: int = 21,
    warmup: int = 2,
    benchmark: Any = None,
    **client_options: Any,
) -> Ratio:
    """What ``frames`` cost a client set up by ``install(client)`` relative to one set up by ``baseline_install``.

    Every round replays the whole of ``frames`` (see :func:`record_turn`) into
    a fresh, unconnected :class:`~realtime_fast.RealtimeClient` of each kind
    (made with ``client_options``, untimed), alternating the two.  The default
    baseline has one ``conversation.updated`` handler that does nothing, so the
    ratio is what your handlers add to the client's own path.  With
    ``benchmark`` (pytest-benchmark's fixture) the subject's rounds appear in
    its table too (see :func:`benchmark_ratio`); the result is then None when
    benchmarks are disabled.
    """
    from .client import RealtimeClient

    options = {"api_key": "sk-compare-clients-0123456789", "transport": "websockets", **client_options}
    clients: dict[str, RealtimeClient] = {}

    def fresh(side: str, setup: Callable[[RealtimeClient], Any]) -> Callable[[], None]:
        def make() -> None:
            client = RealtimeClient(**options)
            setup(client)
            clients[side] = client

        return make

    def run(side: str) -> Callable[[], None]:
        return lambda: replay(clients[side], frames)

    arguments = dict(
        rounds=rounds,
        warmup=warmup,
        setup_subject=fresh("subject", install),
        setup_baseline=fresh("baseline", baseline_install),
    )
    if benchmark is not None:
        return benchmark_ratio(benchmark, run("subject"), run("baseline"), **arguments)  # type: ignore[arg-type,return-value]
    return measure_ratio(run("subject"), run("baseline"), **arguments)  # type: ignore[arg-type]


def run_record_turn(**options: Any) -> List[bytes]:
    """:func:`record_turn` from synchronous code (a new event loop; not from inside a running one)."""
    return asyncio.run(record_turn(**options))


# -------------------------------------------------------------------------- baselines


@dataclass(frozen=True)
class RatioCheck:
    """One measured ratio against its recorded baseline (``baseline`` None: not recorded yet)."""

    name: str
    measured: Ratio
    baseline: Optional[float]
    tolerance: float

    @property
    def change(self) -> Optional[float]:
        """How much worse (positive) or better (negative) than the baseline, as a fraction."""
        return None if self.baseline is None else self.measured.ratio / self.baseline - 1.0

    @property
    def failed(self) -> bool:
        """True when the ratio is worse than its baseline by more than the tolerance."""
        change = self.change
        return change is not None and change > self.tolerance


def load_baseline(path: str) -> dict:
    """Read a baseline file (JSON: ``{"tolerance": 0.15, "ratios": {name: {"ratio": x, ...}}}``)."""
    import json

    with open(path, encoding="utf-8") as file:
        data = json.load(file)
    if not isinstance(data, dict) or not isinstance(data.get("ratios"), dict):
        raise ValueError(f"{path} is not a ratio baseline: it needs a \"ratios\" object.")
    return data


def check_ratios(measured: Mapping[str, Ratio], baseline: Mapping[str, Any]) -> List[RatioCheck]:
    """Each measured ratio against ``baseline`` (as :func:`load_baseline` reads it), in name order.

    A ratio's own ``"tolerance"`` wins over the file's; 0.15 (15 %) when neither is set.
    """
    default = float(baseline.get("tolerance", 0.15))
    recorded = baseline.get("ratios", {})
    checks = []
    for name in sorted(measured):
        entry = recorded.get(name) or {}
        value = entry.get("ratio")
        checks.append(
            RatioCheck(name, measured[name], None if value is None else float(value), float(entry.get("tolerance", default)))
        )
    return checks


def save_baseline(path: str, measured: Mapping[str, Ratio], previous: Optional[Mapping[str, Any]] = None) -> None:
    """Write ``measured`` as the new baseline at ``path``, keeping the tolerances (and notes) of ``previous``."""
    import json

    previous = previous or {}
    old = previous.get("ratios", {})
    ratios: dict = {}
    for name in sorted(set(old) | set(measured)):
        entry = {key: value for key, value in (old.get(name) or {}).items() if key != "ratio"}
        if name in measured:
            entry["ratio"] = round(measured[name].ratio, 4)
        elif "ratio" in (old.get(name) or {}):
            entry["ratio"] = old[name]["ratio"]  # not measured in this run: kept as it was
        ratios[name] = entry
    data = {key: value for key, value in previous.items() if key != "ratios"}
    data.setdefault("tolerance", 0.15)
    data["ratios"] = ratios
    with open(path, "w", encoding="utf-8") as file:
        json.dump(data, file, indent=2, sort_keys=False)
        file.write("\n")


def format_checks(checks: Sequence[RatioCheck]) -> List[str]:
    """A table of ``checks``, one line each: measured ratio, baseline, change, tolerance, verdict, absolute times."""
    width = max([len(check.name) for check in checks] + [5])
    lines = [f"{'ratio':<{width}}  {'measured':>9}  {'baseline':>9}  {'change':>8}  {'allowed':>8}  verdict  (subject vs baseline per call)"]
    for check in checks:
        m = check.measured
        if check.baseline is None:
            base, change, verdict = "-", "-", "new"
        else:
            base, change = f"{check.baseline:.4f}", f"{check.change:+.1%}"
            verdict = "WORSE" if check.failed else "ok"
        lines.append(
            f"{check.name:<{width}}  {m.ratio:>9.4f}  {base:>9}  {change:>8}  {'+' + format(check.tolerance, '.0%'):>8}  "
            f"{verdict:<7}  ({_human(m.subject_s)} vs {_human(m.baseline_s)}, quartiles {m.low:.4f}-{m.high:.4f})"
        )
    return lines
