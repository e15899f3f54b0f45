"""Run ``realtime-fast bench load`` over a range of session counts and configurations; JSON files go to bench/results/.

Usage::

    python bench/load_sweep.py --sessions 250 500 1000 --configs picows:asyncio picows:uvloop websockets:asyncio \
        [--clients realtime_fast] [--duration 20] [--repeat 1] [--stop-after-fail]

A configuration is ``transport:loop`` for this package's client; the other
clients (``websockets-plain``, ``openai``) ignore the transport.  Each run is a
separate process (a fresh interpreter per point).  With ``--stop-after-fail``
a configuration stops at its first N that misses the bar (p99 >= 50 ms or
anything lost).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", required=True)
    parser.add_argument("--configs", nargs="+", default=["picows:asyncio"])
    parser.add_argument("--clients", nargs="+", default=["realtime_fast"])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--stop-after-fail", action="store_true")
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    args = parser.parse_args()
    os.makedirs(RESULTS, exist_ok=True)
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(HERE), "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for client in args.clients:
        for config in args.configs:
            transport, loop = config.split(":")
            for n in args.sessions:
                failed = 0
                for rep in range(args.repeat):
                    name = f"load_{client}_{transport if client == 'realtime_fast' else 'ws'}_{loop}_{n:05d}_r{rep}{args.tag}.json"
                    path = os.path.join(RESULTS, name)
                    cmd = [
                        sys.executable, "-m", "realtime_fast", "bench", "load", "--sessions", str(n),
                        "--duration", str(args.duration), "--transport", transport, "--loop", loop,
                        "--client", client, "--json", path, "--quiet",
                    ]
                    print("$", " ".join(cmd[1:]), flush=True)
                    subprocess.run(cmd, env=env, check=False)
                    try:
                        with open(path) as f:
                            result = json.load(f)
                    except (OSError, ValueError):
                        print("  (no result)", flush=True)
                        failed += 1
                        continue
                    failed += not result["ok"]
                if args.stop_after_fail and failed > args.repeat // 2:
                    break
    return 0


if __name__ == "__main__":
    sys.exit(main())
