"""Benchmark helpers: a report header, the ratios of each group, and the same-run ratio check.

After a benchmark run, two tables are printed:

* every group's rows as a ratio of the group's baseline row (``stdlib``,
  ``picows bare``, ``python loop`` or ``soxr``): read these, they do not move
  much from run to run;
* the named ratios of ``test_bench_ratios.py`` (each measured in alternating
  rounds), with ``--ratio-check`` compared with ``bench/baseline.json``: the
  run fails when one is worse than its baseline by more than its tolerance.
  ``--ratio-save`` writes the measured ratios into the baseline file instead.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

from realtime_fast.benchmarking import Ratio, check_ratios, format_checks, load_baseline, save_baseline

_TABLES: dict[str, list[str]] = {}
#: group -> [(row, median seconds)], in run order
_GROUPS: Dict[str, List[Tuple[str, float]]] = {}
#: ratio name -> what was measured
_RATIOS: Dict[str, Ratio] = {}
_RESULTS: Dict[str, Any] = {}
#: ratio name -> measurements taken (only where more than one was needed)
_ATTEMPTS: Dict[str, int] = {}
#: The row other rows of a group are compared with, first one present.
BASELINE_ROWS = ("stdlib", "picows bare", "python loop", "soxr")


def pytest_report_header(config):
    try:
        audio = importlib.import_module("realtime_fast._audio")
    except ImportError:
        return "realtime_fast._audio: not built (compiled cases are skipped)"
    return f"realtime_fast._audio base64 kernel: {audio._b64_kernel()}"


@pytest.fixture(scope="session")
def bench_table():
    """``bench_table(title, line)`` adds a line to a table printed at the end of the run."""

    def add(title: str, line: str) -> None:
        _TABLES.setdefault(title, []).append(line)

    return add


class RatioReport:
    """Records named same-run ratios for the table and ``--ratio-check`` (the ``ratio_report`` fixture)."""

    #: Measurements of a ratio whose first one looks worse than the baseline allows.
    ATTEMPTS = 3

    def __init__(self, config: pytest.Config) -> None:
        path = config.getoption("ratio_baseline")
        self.baseline = load_baseline(path) if os.path.exists(path) else {"ratios": {}}

    def __call__(self, name: str, ratio: Ratio | None, remeasure: Callable[[], Ratio] | None = None) -> None:
        """Record ``ratio`` as ``name`` (None: benchmarks disabled, nothing was timed).

        A ratio worse than its baseline allows is measured twice more with
        ``remeasure`` and the median of the three is kept: a real slowdown
        shows in every measurement, a burst of load on the machine rarely in
        two of three.
        """
        if ratio is None:
            return
        if remeasure is not None and check_ratios({name: ratio}, self.baseline)[0].failed:
            three = sorted([ratio] + [remeasure() for _ in range(self.ATTEMPTS - 1)], key=lambda r: r.ratio)
            ratio = three[len(three) // 2]
            _ATTEMPTS[name] = len(three)
        _RATIOS[name] = ratio


@pytest.fixture(scope="session")
def ratio_report(pytestconfig: pytest.Config) -> RatioReport:
    """``ratio_report(name, ratio, remeasure=None)``: see :class:`RatioReport`."""
    return RatioReport(pytestconfig)


@pytest.fixture(autouse=True)
def _group_rows(request: pytest.FixtureRequest) -> Iterator[None]:
    """Keep each benchmark's median under its group and row (its ``impl`` or ``client`` parameter)."""
    if "benchmark" not in request.fixturenames:
        yield
        return
    benchmark = request.getfixturevalue("benchmark")  # set up first, so it is still there after the test
    yield
    if benchmark.disabled or not benchmark.stats or not benchmark.group:
        return
    params = getattr(request.node, "callspec", None)
    params = params.params if params is not None else {}
    row = next((str(params[key]) for key in ("impl", "client") if key in params), request.node.name)
    _GROUPS.setdefault(benchmark.group, []).append((row, benchmark.stats.stats.median))


def _group_lines() -> List[str]:
    lines = []
    for group, rows in _GROUPS.items():
        medians = dict(rows)
        base = next((name for name in BASELINE_ROWS if name in medians), None)
        if base is None or len(rows) < 2:
            continue
        cells = ", ".join(f"{name} {medians[name] / medians[base]:.3f}" for name, _ in rows if name != base)
        lines.append(f"{group}: {cells} (x {base}, medians)")
    return lines


def _evaluate(config: pytest.Config) -> None:
    """Compare the measured ratios with the baseline file (or write it with ``--ratio-save``)."""
    path = config.getoption("ratio_baseline")
    baseline = load_baseline(path) if os.path.exists(path) else {"ratios": {}}
    checks = check_ratios(_RATIOS, baseline)
    _RESULTS.update(path=path, checks=checks, failed=False, notes=[])
    json_path = config.getoption("ratio_json")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as file:
            json.dump({name: dataclasses.asdict(ratio) for name, ratio in sorted(_RATIOS.items())}, file, indent=2)
    if config.getoption("ratio_save"):
        save_baseline(path, _RATIOS, baseline)
        _RESULTS["notes"].append(f"wrote the {len(_RATIOS)} ratios above into {path}")
    elif config.getoption("ratio_check"):
        worse = [check.name for check in checks if check.failed]
        missing = sorted(set(baseline.get("ratios", {})) - set(_RATIOS))
        if worse:
            _RESULTS["failed"] = True
            _RESULTS["notes"].append(
                f"RATIO CHECK FAILED: {', '.join(worse)} got worse than the baseline allows.  If the change is "
                "intended (a feature that costs time), refresh the baseline on purpose with "
                "`pytest bench/test_bench_ratios.py --benchmark-only --ratio-save` and commit "
                f"{os.path.relpath(path)} with a message that says why."
            )
        if missing:
            _RESULTS["notes"].append(f"not measured in this run (deselected or skipped): {', '.join(missing)}")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _RATIOS:
        _evaluate(session.config)
        if _RESULTS["failed"] and exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    for title, lines in _TABLES.items():
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)
    group_lines = _group_lines()
    if group_lines:
        terminalreporter.write_sep("-", "each group's rows as a ratio of its baseline row")
        for line in group_lines:
            terminalreporter.write_line(line)
    if "checks" not in _RESULTS:
        return
    checked = config.getoption("ratio_check") or config.getoption("ratio_save")
    title = f"same-run ratios against {os.path.relpath(_RESULTS['path'])}" + ("" if checked else " (not checked: add --ratio-check)")
    terminalreporter.write_sep("-", title)
    for line in format_checks(_RESULTS["checks"]):
        terminalreporter.write_line(line)
    for name, attempts in sorted(_ATTEMPTS.items()):
        terminalreporter.write_line(f"{name}: measured {attempts} times (the first looked worse than allowed); the median is shown")
    for note in _RESULTS["notes"]:
        failed = note.startswith("RATIO CHECK FAILED")
        terminalreporter.write_line(note, red=failed, bold=failed)
