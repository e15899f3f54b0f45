"""realtime_fast.benchmarking: ratio arithmetic (on a fake clock), baselines, recorded turns, and the root's pytest set-up.

No test here asserts how fast anything is: the clock is fake where numbers are
checked, and real timings are only checked for their shape.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, List

import pytest

from realtime_fast import RealtimeClient
from realtime_fast.benchmarking import (
    Ratio,
    check_ratios,
    compare_clients,
    format_checks,
    load_baseline,
    measure_ratio,
    ratio_of,
    record_turn,
    replay,
    save_baseline,
)

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    """A timer that only moves when a timed call says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def costs(self, *seconds: float) -> Any:
        """A callable that advances the clock by the next of ``seconds`` (cycling) each call."""
        calls = [0]

        def call() -> None:
            self.now += seconds[calls[0] % len(seconds)]
            calls[0] += 1

        return call


def test_measure_ratio_pairs_rounds_and_skips_warmup() -> None:
    clock = FakeClock()
    order: List[str] = []
    subject = clock.costs(100.0, 100.0, 3.0)  # the two warm-up calls are slow
    baseline = clock.costs(1.0)
    ratio = measure_ratio(
        subject, baseline, rounds=5, warmup=2, timer=clock,
        setup_subject=lambda: order.append("s"), setup_baseline=lambda: order.append("b"),
    )
    assert order[:4] == ["b", "s", "s", "b"]  # alternating: baseline first on even rounds
    assert ratio.rounds == 5
    # rounds 3..7 of the subject cost 3, 100, 100, 3, 100: the median of the ratios is 100
    assert ratio.ratio == 100.0 and ratio.subject_s == 100.0 and ratio.baseline_s == 1.0


def test_measure_ratio_can_run_the_baseline_first_in_every_round_as_benchmark_ratio_does() -> None:
    clock = FakeClock()
    order: List[str] = []
    measure_ratio(
        clock.costs(2.0), clock.costs(1.0), rounds=3, warmup=0, timer=clock, order="baseline_first",
        setup_subject=lambda: order.append("s"), setup_baseline=lambda: order.append("b"),
    )
    assert order == ["b", "s"] * 3
    with pytest.raises(ValueError, match="order must be 'alternate' or 'baseline_first'"):
        measure_ratio(lambda: None, lambda: None, order="subject_first")


def test_measure_ratio_median_ignores_a_disturbed_round() -> None:
    clock = FakeClock()
    ratio = measure_ratio(clock.costs(2.0, 2.0, 2.0, 2.0, 50.0), clock.costs(1.0), rounds=5, warmup=0, timer=clock)
    assert ratio.ratio == 2.0 and ratio.low == 2.0
    assert "2.000x" in str(ratio) and "5 rounds" in str(ratio)


def test_ratio_of_needs_paired_rounds() -> None:
    assert ratio_of([2.0, 4.0, 6.0], [1.0, 2.0, 3.0]).ratio == 2.0
    with pytest.raises(ValueError, match="same number"):
        ratio_of([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        measure_ratio(lambda: None, lambda: None, rounds=0)


def _ratio(value: float) -> Ratio:
    return Ratio(ratio=value, low=value, high=value, subject_s=value * 1e-6, baseline_s=1e-6, rounds=3)


def test_baselines_check_and_refresh(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({
        "tolerance": 0.15,
        "ratios": {"audio": {"ratio": 0.05, "tolerance": 0.07, "note": "kept"}, "text": {"ratio": 0.2}, "gone": {"ratio": 1.0}},
    }))
    baseline = load_baseline(str(path))
    checks = {c.name: c for c in check_ratios({"audio": _ratio(0.054), "text": _ratio(0.229), "new": _ratio(3.0)}, baseline)}
    assert checks["audio"].failed and checks["audio"].tolerance == 0.07  # +8 % > its own 7 %
    assert not checks["text"].failed  # +14.5 % < the file's 15 %
    assert checks["new"].baseline is None and not checks["new"].failed
    table = "\n".join(format_checks(list(checks.values())))
    assert "WORSE" in table and "new" in table and "+8.0%" in table
    save_baseline(str(path), {"audio": _ratio(0.054)}, baseline)
    saved = json.loads(path.read_text())
    assert saved["ratios"]["audio"] == {"tolerance": 0.07, "note": "kept", "ratio": 0.054}
    assert saved["ratios"]["gone"] == {"ratio": 1.0}  # not measured: kept as it was
    assert saved["tolerance"] == 0.15
    path.write_text("[]")
    with pytest.raises(ValueError, match="not a ratio baseline"):
        load_baseline(str(path))


async def test_a_recorded_turn_replays_into_a_client() -> None:
    frames = await record_turn("Hello there", reply="General Kenobi!")
    assert all(isinstance(frame, bytes) for frame in frames)
    assert json.loads(frames[0])["type"] == "session.created"
    assert json.loads(frames[-1])["type"] in ("response.done", "rate_limits.updated")
    client = RealtimeClient(api_key="sk-replay-test-0123456789", transport="websockets")
    updates: List[Any] = []
    client.on("conversation.updated", updates.append)
    replay(client, frames)
    items = client.conversation.get_items()
    assert [item["role"] for item in items] == ["user", "assistant"]
    assert items[1]["formatted"]["transcript"] == "General Kenobi!"
    assert len(items[1]["formatted"]["audio"]) > 0 and updates


async def test_compare_clients_builds_fresh_clients_each_round() -> None:
    frames = await record_turn("Hi", reply="Hello.", modalities=("text",))
    installed: List[RealtimeClient] = []
    ratio = compare_clients(installed.append, frames, rounds=3, warmup=1)
    assert ratio.rounds == 3 and ratio.ratio > 0
    assert len(installed) == 4 and len({id(c) for c in installed}) == 4  # warm-up included, one client per round
    assert all(len(client.conversation.get_items()) == 2 for client in installed)


@pytest.mark.skipif(not (ROOT / "conftest.py").exists() or not (ROOT / "bench").is_dir(), reason="needs the project's tree")
@pytest.mark.timeout(120)
def test_plain_pytest_runs_tests_and_benchmark_only_runs_benchmarks() -> None:
    def collected(*args: str) -> List[str]:
        out = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", *args], cwd=ROOT, capture_output=True, text=True, timeout=110)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return [line for line in out.stdout.splitlines() if "::" in line]

    benchmarks = collected("--benchmark-only")
    files = {line.split("::")[0] for line in benchmarks}
    assert {"bench/test_bench_client.py", "bench/test_bench_audio.py", "bench/test_bench_transport.py", "bench/test_bench_ratios.py"} <= files
    assert not any(line.startswith("tests/") for line in benchmarks)
    tests = collected()
    assert tests and not any(line.startswith("bench/") for line in tests)
    assert "tests/test_benchmarking.py::test_plain_pytest_runs_tests_and_benchmark_only_runs_benchmarks" in tests
