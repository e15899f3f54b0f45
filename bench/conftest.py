"""Benchmark helpers: a report header and tables printed after the benchmark report."""

from __future__ import annotations

import importlib

import pytest

_TABLES: dict[str, list[str]] = {}


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


def pytest_terminal_summary(terminalreporter):
    for title, lines in _TABLES.items():
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)
