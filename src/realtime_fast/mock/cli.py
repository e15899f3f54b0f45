"""Run the mock Realtime server on loopback until Ctrl-C (``realtime-fast mock-server``).

Prints the URL it listens on (first line of stdout), serves until SIGINT or
SIGTERM, then closes every connection and exits with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import ssl
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``mock-server`` options on ``parser``."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1, loopback only)"
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default: 8765; 0 picks a free one)")
    parser.add_argument("--no-beta", action="store_true", help="refuse the beta dialect as the real service does today")
    parser.add_argument(
        "--profile", choices=("fast", "realistic"), default="realistic", help="pacing (default: realistic)"
    )
    parser.add_argument(
        "--pacing",
        action="append",
        default=[],
        metavar="NAME=SECONDS",
        help="change one delay of the profile, e.g. ack_delay_min=0.1 (repeatable; names in realtime_fast.mock.Pacing)",
    )
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any real-looking key)")
    parser.add_argument(
        "--audio-chunk-ms", type=int, default=100, help="assistant audio delta length, 20-200 ms (default: 100)"
    )
    parser.add_argument(
        "--max-session-seconds", type=float, default=None, help="session max age in s (default: 3600 GA, 1800 beta)"
    )
    parser.add_argument(
        "--timestamp-field", default=None, help="add this field with the send time (time.time()) to every server event"
    )
    parser.add_argument(
        "--reply",
        default=None,
        metavar="TEXT",
        help='what the assistant answers, {text} standing for the user\'s words (default: \'You said: "{text}"\')',
    )
    parser.add_argument(
        "--certfile", default=None, help="PEM certificate (chain) to serve wss:// instead of ws:// (with --keyfile)"
    )
    parser.add_argument("--keyfile", default=None, help="PEM private key of --certfile (default: in --certfile)")
    try:
        parser.add_argument("--debug", action="store_true", help="log every connection and frame")
    except argparse.ArgumentError:  # the parser it joins has its own --debug already
        pass


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; returns the exit status (0 after a clean shutdown, 2 on bad options)."""
    from .server import MockRealtimeServer

    if getattr(args, "debug", False) and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    context = None
    if args.certfile is not None or args.keyfile is not None:
        if args.certfile is None:
            print("realtime-fast mock-server: --keyfile needs --certfile.", file=sys.stderr)
            return 2
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(args.certfile, args.keyfile)
        except (OSError, ssl.SSLError) as exc:
            print(f"realtime-fast mock-server: cannot load the certificate {args.certfile!r}: {exc}", file=sys.stderr)
            return 2
    try:
        server = MockRealtimeServer(
            api_key=args.api_key,
            allow_beta=not args.no_beta,
            profile=args.profile,
            host=args.host,
            port=args.port,
            audio_chunk_ms=args.audio_chunk_ms,
            max_session_seconds=args.max_session_seconds,
            timestamp_field=args.timestamp_field,
            record=False,  # nobody can read the frames of a command-line server
            ssl=context,
        )
    except ValueError as exc:
        print(f"realtime-fast mock-server: {exc}", file=sys.stderr)
        return 2
    for setting in args.pacing:
        name, _, value = setting.partition("=")
        known = {f.name for f in dataclasses.fields(server.pacing)}
        try:
            if name not in known:
                raise ValueError(f"no delay called {name!r}; known: {', '.join(sorted(known))}")
            seconds = float(value)
            if not seconds >= 0:
                raise ValueError(f"{name} must be a non-negative number of seconds, got {value!r}")
        except ValueError as exc:
            print(f"realtime-fast mock-server: --pacing {setting}: {exc}", file=sys.stderr)
            return 2
        setattr(server.pacing, name, seconds)
    if args.reply is not None:
        try:
            args.reply.format(text="")
        except (KeyError, IndexError, ValueError) as exc:
            print(f"realtime-fast mock-server: --reply may only use {{text}} (and {{{{ }}}} for braces): {exc!r}", file=sys.stderr)
            return 2
        server.script.default_reply = args.reply
    try:
        asyncio.run(_serve(server))
    except KeyboardInterrupt:  # platforms without loop signal handlers
        pass
    except OSError as exc:
        print(f"realtime-fast mock-server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(server) -> None:  # type: ignore[no-untyped-def]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            pass
    async with server:
        beta = "GA and beta" if server.allow_beta else "GA only"
        print(
            f"realtime-fast mock server listening on {server.url} ({beta}, {'fast' if server.pacing.is_fast else 'realistic'} pacing)",
            flush=True,
        )
        await stop.wait()
    print("realtime-fast mock server stopped", flush=True)
    if os.name == "nt":  # pragma: no cover
        signal.signal(signal.SIGINT, signal.SIG_DFL)
