"""Plot client CPU and p99 event lag against the number of sessions, from ``realtime-fast bench load`` JSON files.

Usage::

    python bench/plot_load.py [bench/results/load_*.json ...] [--out docs/load_sessions.png] [--table]

Runs of the same client/transport/loop and session count are combined by
their median (the table also shows min..max).  Runs of another workload
(``--send-only``, or ``--append-ms`` other than 20) are left out.  Needs matplotlib (the
``bench`` extra: ``pip install realtime-fast[bench]``); ``--table`` alone
prints the Markdown table without it.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
from collections import defaultdict
from typing import Any, Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
BAR_MS = 50.0

LABELS = {
    ("realtime_fast", "picows", "asyncio"): "realtime_fast, picows, asyncio loop",
    ("realtime_fast", "picows", "uvloop"): "realtime_fast, picows, uvloop",
    ("picows-bare", "picows", "asyncio"): "bare picows + orjson client (transport ceiling), asyncio",
    ("picows-bare", "picows", "uvloop"): "bare picows + orjson client (transport ceiling), uvloop",
    ("realtime_fast", "websockets", "asyncio"): "realtime_fast, websockets, asyncio loop",
    ("realtime_fast", "websockets", "uvloop"): "realtime_fast, websockets, uvloop",
    ("websockets-plain", "websockets", "asyncio"): "plain websockets + json + base64",
    ("openai", "websockets", "asyncio"): "openai package realtime client",
}


def load(paths: List[str]) -> Dict[Tuple[str, str, str], Dict[int, List[Dict[str, Any]]]]:
    """Results grouped by (client, transport, loop), then by session count."""
    groups: Dict[Tuple[str, str, str], Dict[int, List[Dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for path in paths:
        with open(path) as f:
            result = json.load(f)
        if result.get("send_only") or result.get("append_ms", 20) != 20:
            continue  # not the standard workload (send-only, or other append sizes): reported separately
        key = (result.get("client", "realtime_fast"), result["transport"], result["loop"])
        groups[key][result["sessions"]].append(result)
    return groups


def _median(runs: List[Dict[str, Any]], field: str) -> float:
    return statistics.median(r[field] for r in runs)


def _span(runs: List[Dict[str, Any]], field: str, fmt: str) -> str:
    values = [r[field] for r in runs]
    text = format(statistics.median(values), fmt)
    if len(values) > 1:
        text += f" ({format(min(values), fmt)}..{format(max(values), fmt)})"
    return text


def table(groups: Dict[Tuple[str, str, str], Dict[int, List[Dict[str, Any]]]]) -> str:
    """A Markdown table: one row per configuration and session count (medians, min..max over runs)."""
    lines = [
        "| client | transport | loop | sessions | runs | p50 lag ms | p99 lag ms | lost | client CPU % | CPU us / session-s | server CPU % | server send lag p99 ms | RSS MB | p99 < 50 ms, 0 lost |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key in sorted(groups, key=lambda k: list(LABELS).index(k) if k in LABELS else 99):
        client, transport, loop = key
        for n in sorted(groups[key]):
            runs = groups[key][n]
            ok = sum(bool(r["ok"]) for r in runs)
            lines.append(
                f"| {client} | {transport} | {loop} | {n} | {len(runs)} | {_span(runs, 'p50_lag_ms', '.2f')} | "
                f"{_span(runs, 'p99_lag_ms', '.1f')} | {max(r['lost_events'] for r in runs)} | "
                f"{_span(runs, 'client_cpu_percent', '.0f')} | {1e6 * _median(runs, 'client_cpu_per_session_second'):.0f} | "
                f"{_span(runs, 'server_cpu_percent', '.0f')} | {_median(runs, 'server_send_lag_p99_ms'):.1f} | {_median(runs, 'rss_mb'):.0f} | "
                f"{'holds' if ok * 2 > len(runs) else 'FAILS'} ({ok}/{len(runs)}) |"
            )
    return "\n".join(lines)


def plot(groups: Dict[Tuple[str, str, str], Dict[int, List[Dict[str, Any]]]], out: str) -> None:
    """Two panels sharing the x axis: client CPU (% of one core) and p99 lag (ms, log scale) against sessions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_cpu, ax_lag) = plt.subplots(1, 2, figsize=(12, 5.6))
    for key in sorted(groups, key=lambda k: list(LABELS).index(k) if k in LABELS else 99):
        points = sorted(groups[key].items())
        xs = [n for n, _ in points]
        label = LABELS.get(key, " / ".join(key))
        cpu = [_median(runs, "client_cpu_percent") for _, runs in points]
        lag = [max(0.1, _median(runs, "p99_lag_ms")) for _, runs in points]
        marker = "s" if key[0] == "picows-bare" else "o"
        (line,) = ax_cpu.plot(xs, cpu, marker=marker, label=label)
        server = [_median(runs, "server_cpu_percent") for _, runs in points]
        ax_cpu.plot(xs, server, linestyle="--", marker=".", color=line.get_color(), alpha=0.5)
        ax_lag.plot(xs, lag, marker=marker, label=label, color=line.get_color())
    ax_cpu.axhline(100, color="grey", linestyle=":", linewidth=1)
    ax_cpu.set_xlabel("concurrent real-time voice sessions")
    ax_cpu.set_ylabel("CPU, % of one core")
    ax_cpu.set_title("CPU: client (solid) and load server (dashed), one core each")
    ax_cpu.set_ylim(0, 110)
    ax_lag.axhline(BAR_MS, color="red", linestyle="--", linewidth=1, label="50 ms bar")
    ax_lag.set_yscale("log")
    ax_lag.set_xlabel("concurrent real-time voice sessions")
    ax_lag.set_ylabel("p99 event lag, ms (log scale)")
    ax_lag.set_title("p99 lag: server send -> client handler")
    for ax in (ax_cpu, ax_lag):
        ax.grid(True, alpha=0.3)
    handles, labels = ax_lag.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3, frameon=False)
    fig.suptitle("realtime_fast load test: 20 ms appends + 100 ms audio deltas per session, real time, 2-core machine", fontsize=10)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    fig.savefig(out, dpi=110)


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="result JSON files (default: bench/results/load_*.json)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "docs", "load_sessions.png"))
    parser.add_argument("--table", action="store_true", help="print the Markdown table")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    paths = args.files or sorted(glob.glob(os.path.join(HERE, "results", "load_*.json")))
    if not paths:
        print("No result files: run `realtime-fast bench load ... --json bench/results/load_<name>.json` first.", file=sys.stderr)
        return 2
    groups = load(paths)
    if args.table:
        print(table(groups))
    if not args.no_plot:
        plot(groups, args.out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
