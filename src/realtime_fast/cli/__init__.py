"""The ``realtime-fast`` command (also ``python -m realtime_fast``).

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this module only dispatches.  Exit codes: 0 success,
1 connection or protocol failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from .._version import __version__

#: (name, module, one-line help)
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("demo", "realtime_fast.cli.demo", "run a scripted voice conversation that shows every capability"),
    ("chat", "realtime_fast.cli.chat", "chat with the model (or the mock) by text"),
    ("mock-server", "realtime_fast.mock.cli", "run the mock Realtime server on loopback"),
    ("relay", "realtime_fast.relay.cli", "run a Realtime relay: clients connect as to the service, the key stays on the server"),
    ("bench", "realtime_fast.bench.cli", "load-test the client (concurrent voice sessions, long-session soak)"),
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="realtime-fast",
        description="Fast Python client for OpenAI's Realtime API, with a mock server for testing.",
    )
    parser.add_argument("--version", action="version", version=f"realtime-fast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, modname, help_text in SUBCOMMANDS:
        module = importlib.import_module(modname)
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip().splitlines()[0])
        module.add_arguments(p)
        p.set_defaults(run_command=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if getattr(args, "debug", False):
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return int(args.run_command(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
