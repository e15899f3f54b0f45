"""``realtime-fast relay --workers N``: N relay processes on one port, each with its own event loop.

The parent starts N copies of the command as children, each listening with
``SO_REUSEPORT`` (the kernel spreads new connections over them), waits until
each says it is ready, prints the URL, and forwards SIGTERM/SIGINT to all of
them: each drains on its own.  A child that dies is not restarted (let your
process supervisor restart the whole relay).  Linux and other systems with
``SO_REUSEPORT`` only.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
from typing import List

__all__ = ["run_workers"]


def _child_argv(argv: List[str], port: int, index: int) -> List[str]:
    """The parent's command line with ``--workers`` dropped and the port and worker index fixed."""
    out: List[str] = []
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg in ("--workers", "--port"):
            skip = True
            continue
        if arg.startswith(("--workers=", "--port=")):
            continue
        out.append(arg)
    return out + ["--port", str(port), "--worker-index", str(index)]


def run_workers(args: argparse.Namespace, argv: List[str]) -> int:
    """Run ``args.workers`` children (see the module docstring); returns the exit status."""
    if not hasattr(socket, "SO_REUSEPORT"):
        print("realtime-fast relay: --workers needs SO_REUSEPORT, which this system lacks", file=sys.stderr)
        return 2
    # Reserve the port (port 0 picks one) with SO_REUSEPORT so that every child can bind it too.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        holder.bind((args.host, args.port))
    except OSError as exc:
        print(f"realtime-fast relay: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = holder.getsockname()[1]
    # The command as run: "python -m realtime_fast relay ..." works whatever the entry point was.
    rest = argv[argv.index("relay") + 1 :] if "relay" in argv else []
    command = [sys.executable, "-m", "realtime_fast", "relay"]
    children = []
    for index in range(args.workers):
        children.append(
            subprocess.Popen(command + _child_argv(rest, port, index), stdout=subprocess.PIPE, text=True, bufsize=1)
        )
    ready = 0
    for child in children:
        line = child.stdout.readline() if child.stdout is not None else ""
        if "ready" not in line:
            holder.close()
            for other in children:
                other.terminate()
            print(f"realtime-fast relay: a worker failed to start: {line.strip() or 'no output'}", file=sys.stderr)
            return 1
        ready += 1
    holder.close()
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"realtime-fast relay listening on ws://{host}:{port}/v1/realtime ({ready} workers, pids {' '.join(str(c.pid) for c in children)})", flush=True)

    def pass_on(stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            sys.stdout.write(line)
            sys.stdout.flush()

    for child in children:
        threading.Thread(target=pass_on, args=(child.stdout,), daemon=True).start()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return 0 if all(code in (0, -signal.SIGTERM, -signal.SIGINT) for code in codes) else 1
