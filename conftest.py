"""What a bare ``pytest`` at the root runs: the tests, or, with ``--benchmark-only``, the benchmarks.

``testpaths`` names both ``tests`` and ``bench``.  Without paths on the
command line, plain ``pytest`` collects only ``tests/`` (benchmarks are not
tests), and ``pytest --benchmark-only`` only ``bench/``.  Paths given on the
command line are collected as given (``pytest bench/ --benchmark-disable``
runs the benchmarks once each, untimed, as a quick check).

The ratio check (``--ratio-check``, see ``bench/conftest.py`` and
``docs/BENCHMARKS.md``) compares same-run ratios with ``bench/baseline.json``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).parent
BASELINE = ROOT / "bench" / "baseline.json"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("realtime_fast ratios", "same-run ratio check of the benchmarks (bench/)")
    group.addoption(
        "--ratio-check",
        action="store_true",
        help="fail the run when a measured ratio is worse than its baseline by more than its tolerance",
    )
    group.addoption(
        "--ratio-save",
        action="store_true",
        help="write the ratios measured in this run into the baseline file (refresh it on purpose)",
    )
    group.addoption(
        "--ratio-json",
        default=None,
        metavar="PATH",
        help="also write the ratios measured in this run to PATH (JSON), for bench/refresh_baseline.py or CI artifacts",
    )
    group.addoption(
        "--ratio-baseline",
        default=str(BASELINE),
        metavar="PATH",
        help=f"the baseline file of --ratio-check and --ratio-save (default: {BASELINE.relative_to(ROOT)})",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.args_source is not pytest.Config.ArgsSource.TESTPATHS:  # paths given: collect them as given
        return None
    skipped = ROOT / ("tests" if config.getoption("benchmark_only", False) else "bench")
    if collection_path == skipped or skipped in collection_path.parents:
        return True
    return None
