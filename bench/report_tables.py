"""Markdown tables from pytest-benchmark JSON (``--benchmark-json=FILE``), one table per group.

Each row: the test's parameters, median, min and max (one unit per table), the
number of rounds, and the ratio of its median to the median of the group's
reference row (the first row whose parameters contain ``--baseline``,
default ``compiled``; the fastest row when there is none), all from the same
run.  ``docs/BENCHMARKS.md`` is made of these.

Run: ``python bench/report_tables.py FILE.json [--group SUBSTRING] [--baseline compiled]``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from typing import Any

_UNITS = [(1e-6, "ns", 1e9), (1e-3, "us", 1e6), (1.0, "ms", 1e3)]


def _unit(seconds: float) -> tuple[str, float]:
    for limit, name, scale in _UNITS:
        if seconds < limit:
            return name, scale
    return "s", 1.0


def tables(data: dict[str, Any], group_filter: str = "", baseline: str = "compiled") -> list[str]:
    """The markdown lines of every group whose name contains ``group_filter``."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for bench in data["benchmarks"]:
        group = bench.get("group") or bench["name"]
        if group_filter in group:
            groups[group].append(bench)
    lines: list[str] = []
    for group, rows in groups.items():
        rows.sort(key=lambda b: b["stats"]["median"])
        reference = next((b for b in rows if baseline in b.get("param", b["name"])), rows[0])
        name, scale = _unit(max(b["stats"]["median"] for b in rows))
        lines += [f"**{group}**", "", f"| case | median ({name}) | min | max | rounds | x {reference.get('param') or 'ref'} |", "|---|---:|---:|---:|---:|---:|"]
        for b in rows:
            s = b["stats"]
            ratio = s["median"] / reference["stats"]["median"]
            lines.append(
                f"| {b.get('param') or b['name']} | {s['median'] * scale:,.2f} | {s['min'] * scale:,.2f} | "
                f"{s['max'] * scale:,.2f} | {s['rounds']} | {ratio:.2f} |"
            )
        lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json_file")
    parser.add_argument("--group", default="", help="only groups whose name contains this")
    parser.add_argument("--baseline", default="compiled", help="reference row: first whose parameters contain this")
    args = parser.parse_args()
    with open(args.json_file) as f:
        data = json.load(f)
    print("\n".join(tables(data, args.group, args.baseline)))


if __name__ == "__main__":
    main()
