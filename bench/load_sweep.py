"""Run ``realtime-fast bench load`` over a range of session counts and configurations; JSON files go to bench/results/.

Usage::

    python bench/load_sweep.py --sessions 250 500 1000 --configs picows:asyncio picows:uvloop websockets:asyncio \
        [--clients realtime_fast picows-bare] [--duration 20] [--repeat 1] [--stop-after-fail]
        [--send-only] [--append-ms 20] [--idle-below 0.5] [--idle-wait 120] [--max-others 0.05 --retries 3]
        [--tls off|on|alternate] [--no-aiofastnet]
        [--format pcm16|g711_ulaw|g711_alaw] [--history N] [--no-keep-item-audio]

A configuration is ``transport:loop`` for this package's client; the other
clients ignore the transport (``picows-bare`` is picows, ``websockets-plain``
and ``openai`` are websockets).  Each run is a separate process (a fresh
interpreter per point).  Before each run the sweep waits until the machine is
idle: the CPU busy time over 3 s (from /proc/stat, in cores) below
``--idle-below`` (default 0.5, the "load average < 0.5" rule measured now
rather than as a 1-minute average, which a previous run keeps high for a
minute); the value is stored in the result as ``pre_run_busy_cores``.  It
waits at most ``--idle-wait`` seconds.  Other programs may still start during
a run: with ``--max-others F`` a run is made again (up to ``--retries``
times) when they took more than the fraction F of the client's core during
the measured window (``client_core_busy_by_others`` in the result); the
attempts are counted in ``attempts``.
Each result is named by the scheme of ``bench/results/README.md``, from its
content (``bench/results_index.py``): ``load_`` or ``sendonly_`` (``--send-only``),
client, transport, loop, sessions, ``_100ms`` for other append sizes,
``_tls``, ``_noafn``, the run's date and the first free ``r<N>`` of that day,
so repeats and later sweeps never overwrite a file.  With ``--stop-after-fail``
a configuration stops at its first N that misses the bar (p99 >= 50 ms or
anything lost).  ``--tls on`` runs every point over ``wss://`` (``bench load
--tls``); ``--tls alternate`` runs each repeat twice, plain then TLS, so that
the two series interleave in time on a shared machine.  ``--no-aiofastnet``
runs the client through ``bench/load_without_aiofastnet.py`` (picows on
asyncio's transports; ``client_use_aiofastnet: false`` in the result).
``--format``, ``--history`` and ``--no-keep-item-audio`` are passed to every
run as they are (``bench load``'s options; their defaults when not given).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from results_index import name_for

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def busy_cores(seconds: float = 3.0) -> float:
    """CPU busy time of the whole machine over ``seconds``, in cores (Linux /proc/stat; NaN elsewhere)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except OSError:
        return float("nan")
    cores = os.cpu_count() or 1
    return cores * (busy1 - busy0) / max(1, total1 - total0)


def wait_idle(limit: float, give_up: float) -> float:
    """Wait until :func:`busy_cores` is below ``limit`` (at most ``give_up`` seconds); returns the last reading."""
    deadline = time.monotonic() + give_up
    while True:
        busy = busy_cores()
        if not busy >= limit or time.monotonic() > deadline:
            return busy
        print(f"  waiting: machine busy ({busy:.2f} cores)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", required=True)
    parser.add_argument("--configs", nargs="+", default=["picows:asyncio"])
    parser.add_argument("--clients", nargs="+", default=["realtime_fast"])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--stop-after-fail", action="store_true")
    parser.add_argument("--send-only", action="store_true", help="append silence only (the send path alone)")
    parser.add_argument("--append-ms", type=int, default=20, help="ms of audio per append (default 20)")
    parser.add_argument("--idle-below", type=float, default=0.5, help="wait before each run until the machine's busy cores are below this")
    parser.add_argument("--idle-wait", type=float, default=120.0, help="longest wait for an idle machine, s (default 120)")
    parser.add_argument("--max-others", type=float, default=None, help="run again when others took more of the client core than this")
    parser.add_argument("--retries", type=int, default=3, help="runs made again at most, with --max-others (default 3)")
    parser.add_argument("--tls", choices=("off", "on", "alternate"), default="off", help="over wss:// (alternate: plain, then TLS, per repeat)")
    parser.add_argument("--no-aiofastnet", action="store_true", help="the client's picows connections on asyncio's transports")
    parser.add_argument("--format", default="pcm16", choices=("pcm16", "g711_ulaw", "g711_alaw"), help="audio both ways (default pcm16)")
    parser.add_argument("--history", type=int, default=20, help="max_history_items of each client (default 20; 0: unbounded)")
    parser.add_argument("--no-keep-item-audio", action="store_true", help="RealtimeClient(keep_item_audio=False)")
    args = parser.parse_args()
    tls_modes = {"off": [False], "on": [True], "alternate": [False, True]}[args.tls]
    launcher = [os.path.join(HERE, "load_without_aiofastnet.py" if args.no_aiofastnet else "load_rivals.py")]
    os.makedirs(RESULTS, exist_ok=True)
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(HERE), "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for client in args.clients:
        for config in args.configs:
            transport, loop = config.split(":")
            for n in args.sessions:
                failed = 0
                for rep, tls in ((rep, tls) for rep in range(args.repeat) for tls in tls_modes):
                    handle, path = tempfile.mkstemp(prefix="load_sweep_", suffix=".json")
                    os.close(handle)
                    os.unlink(path)  # the run writes it; none there means no result
                    cmd = [
                        sys.executable, *launcher, "--sessions", str(n),
                        "--duration", str(args.duration), "--transport", transport, "--loop", loop,
                        "--client", client, "--json", path, "--quiet", "--append-ms", str(args.append_ms),
                    ] + (["--send-only"] if args.send_only else []) + (["--tls"] if tls else [])
                    if args.format != "pcm16":
                        cmd += ["--format", args.format]
                    if args.history != 20:
                        cmd += ["--history", str(args.history)]
                    if args.no_keep_item_audio:
                        cmd += ["--no-keep-item-audio"]
                    for attempt in range(1, args.retries + 2):
                        busy = wait_idle(args.idle_below, args.idle_wait)
                        print("$", " ".join(cmd[1:]), flush=True)
                        subprocess.run(cmd, env=env, check=False)
                        try:
                            with open(path) as f:
                                result = json.load(f)
                        except (OSError, ValueError):
                            result = None
                            break
                        others = result.get("client_core_busy_by_others")
                        if args.max_others is None or others is None or others <= args.max_others or attempt > args.retries:
                            break
                        print(f"  disturbed: other programs took {others:.0%} of the client's core; again", flush=True)
                    if result is None:
                        print("  (no result)", flush=True)
                        failed += 1
                        continue
                    result["pre_run_busy_cores"] = round(busy, 3)
                    result["attempts"] = attempt
                    if args.no_aiofastnet:
                        result["client_use_aiofastnet"] = False
                    os.unlink(path)
                    path = os.path.join(RESULTS, name_for(result, RESULTS))
                    with open(path, "w") as f:
                        json.dump(result, f, indent=1)
                        f.write("\n")
                    print(
                        f"  {os.path.relpath(path)}: {'TLS ' if tls else ''}p50 {result['p50_lag_ms']} ms, p99 {result['p99_lag_ms']} ms, lost {result['lost_events']}, "
                        f"RSS {result['rss_mb']} MB, "
                        f"client CPU {result['client_cpu_percent']}% ({1e6 * result['client_cpu_per_session_second']:.0f} us/session-s), "
                        f"server CPU {result['server_cpu_percent']}% -> {'OK' if result['ok'] else 'FAILED'} (idle check {busy:.2f} cores, "
                        f"others on the client core {result.get('client_core_busy_by_others')})",
                        flush=True,
                    )
                    failed += not result["ok"]
                if args.stop_after_fail and failed > args.repeat // 2:
                    break
    return 0


if __name__ == "__main__":
    sys.exit(main())
