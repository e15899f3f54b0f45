"""Refresh bench/baseline.json on purpose: the median of several runs of the ratio benchmarks.

Usage: ``python bench/refresh_baseline.py [--runs 3] [pytest options...]``.  Runs
``pytest bench/test_bench_ratios.py --benchmark-only`` ``--runs`` times, takes each
ratio's median over the runs, and writes it into ``bench/baseline.json``, keeping
the file's tolerances and notes.  Commit the file with a message that says why
the ratios changed.  (``pytest ... --ratio-save`` does the same from one run.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from realtime_fast.benchmarking import Ratio, load_baseline, save_baseline

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINE = os.path.join(HERE, "baseline.json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of the ratio benchmarks (default 3)")
    args, pytest_args = parser.parse_known_args()
    runs: dict[str, list[Ratio]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.runs):
            out = os.path.join(folder, f"run{index}.json")
            command = [sys.executable, "-m", "pytest", os.path.join(HERE, "test_bench_ratios.py"), "--benchmark-only", "-q",
                       f"--ratio-json={out}", *pytest_args]
            print(f"run {index + 1} of {args.runs}: {' '.join(command[2:])}", flush=True)
            subprocess.run(command, check=True)
            with open(out, encoding="utf-8") as file:
                for name, fields in json.load(file).items():
                    runs.setdefault(name, []).append(Ratio(**fields))
    medians = {name: sorted(values, key=lambda r: r.ratio)[len(values) // 2] for name, values in runs.items()}
    for name, values in sorted(runs.items()):
        print(f"{name}: {', '.join(f'{r.ratio:.4f}' for r in values)} -> {medians[name].ratio:.4f} "
              f"(spread {max(r.ratio for r in values) / min(r.ratio for r in values) - 1:.1%})")
    previous = load_baseline(BASELINE) if os.path.exists(BASELINE) else None
    save_baseline(BASELINE, medians, previous)
    print(f"wrote {BASELINE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
