"""Run a Realtime API relay (``realtime-fast relay``): clients connect as to the service; the key stays here.

With ``OPENAI_API_KEY`` set the relay talks to OpenAI (or to ``--upstream``
with that key); without it, to an embedded mock server, so the command works
offline.  Prints its URL on the first line of stdout, logs one JSON object
per line on stderr, and drains on SIGTERM (see docs/relay.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Any, List, Optional

__all__ = ["add_arguments", "run"]


def _size(text: str) -> int:
    """Bytes, with an optional K/M/G suffix (powers of 1024)."""
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    text = text.strip().lower().rstrip("ib").rstrip("b") if text.strip().lower()[-1:] in "bi" else text.strip().lower()
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``relay`` options on ``parser``."""
    from .defaults import DEFAULTS

    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default: 8080; 0 picks a free one)")
    parser.add_argument("--upstream", metavar="URL", default=None, help="Realtime URL to relay to, with OPENAI_API_KEY as its key (default: OpenAI when OPENAI_API_KEY is set, else an embedded mock server)")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="processes serving the port together (SO_REUSEPORT), each with its own event loop (default: 1)")
    parser.add_argument("--tokens-file", metavar="FILE", default=None, help="client tokens, one 'identity:token' per line (default: REALTIME_RELAY_TOKENS, comma-separated)")
    parser.add_argument("--auth", metavar="MODULE:FUNCTION", default=None, help="your own auth hook instead of tokens (see docs/relay.md)")
    parser.add_argument("--no-auth", action="store_true", help="let anyone in (the default only against the embedded mock)")
    parser.add_argument("--allow-origin", action="append", metavar="ORIGIN", default=None, help="a browser origin allowed to connect, e.g. https://app.example.com (repeatable; default: any)")
    parser.add_argument("--session", metavar="FILE", default=None, help="server-owned session (JSON: session, models, client_may_change)")
    parser.add_argument("--lock-session", action="store_true", help="clients may change only the session fields the session file allows")
    parser.add_argument("--max-sessions", type=int, default=DEFAULTS["max_sessions"], help=f"live sessions per worker (default: {DEFAULTS['max_sessions']})")
    parser.add_argument("--max-sessions-per-identity", type=int, default=DEFAULTS["max_sessions_per_identity"], help=f"live sessions of one identity per worker (default: {DEFAULTS['max_sessions_per_identity']})")
    parser.add_argument("--max-message-size", type=_size, default=DEFAULTS["max_message_size"], metavar="BYTES", help="largest message either way, e.g. 4M (default: 4 MiB)")
    parser.add_argument("--idle-timeout", type=float, default=DEFAULTS["idle_timeout"], metavar="S", help=f"close a session after this many seconds without a frame (default: {DEFAULTS['idle_timeout']:g}; 0 never)")
    parser.add_argument("--max-session-seconds", type=float, default=DEFAULTS["max_session_seconds"], metavar="S", help=f"close a session this long after it opened (default: {DEFAULTS['max_session_seconds']:g}; 0 never)")
    parser.add_argument("--send-high-water", type=_size, default=DEFAULTS["send_high_water"], metavar="BYTES", help="bytes queued to a client before it is closed with 1013 (default: 512K)")
    parser.add_argument("--connect-timeout", type=float, default=DEFAULTS["connect_timeout"], metavar="S", help=f"seconds to open the upstream connection (default: {DEFAULTS['connect_timeout']:g})")
    parser.add_argument("--drain-timeout", type=float, default=DEFAULTS["drain_timeout"], metavar="S", help=f"seconds live sessions get after SIGTERM before a 1001 close (default: {DEFAULTS['drain_timeout']:g})")
    parser.add_argument("--browser-refusals", choices=("event", "http"), default="event", help="a refused token sent as a subprotocol (browsers) gets the service's error event and close 3000 (event, default) or HTTP 401 (http)")
    parser.add_argument("--mock-profile", choices=("fast", "realistic"), default="realistic", help="pacing of the embedded mock (default: realistic)")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto", help="event loop (default: uvloop when installed)")
    parser.add_argument("--quiet", action="store_true", help="log warnings only (not every session)")
    parser.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    try:
        parser.add_argument("--debug", action="store_true", help="log debug details")
    except argparse.ArgumentError:  # the parser it joins has its own --debug already
        pass


class _MessageOnly(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return message if message.startswith("{") else f'{{"event": "log", "level": "{record.levelname.lower()}", "message": {_json(message)}}}'


def _json(text: str) -> str:
    import json

    return json.dumps(text)


def _setup_logging(args: argparse.Namespace) -> None:
    logger = logging.getLogger("realtime_fast.relay")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_MessageOnly())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO)
    logger.propagate = False


def build_relay(args: argparse.Namespace) -> Any:
    """The :class:`RealtimeRelay` the options describe (raises ValueError on bad options)."""
    from .auth import TokenAuth, load_hook
    from .policy import SessionPolicy
    from .server import OPENAI_URL, RealtimeRelay

    key = os.environ.get("OPENAI_API_KEY") or None
    upstream: Optional[str] = args.upstream or (OPENAI_URL if key else None)
    tokens = None
    hook = None
    if args.auth:
        hook = load_hook(args.auth)
    elif args.tokens_file:
        tokens = TokenAuth.from_file(args.tokens_file)
    else:
        tokens = TokenAuth.from_env()
    anonymous = args.no_auth or (upstream is None and tokens is None and hook is None)
    if tokens is None and hook is None and not anonymous:
        raise ValueError(
            "No client tokens: set REALTIME_RELAY_TOKENS (e.g. 'alice:tok_...,bob:tok_...'), pass --tokens-file or --auth, "
            "or --no-auth to let anyone use your key."
        )
    policy = SessionPolicy.from_file(args.session, lock=args.lock_session) if args.session else None
    if args.lock_session and policy is None:
        raise ValueError("--lock-session needs --session FILE (the session the relay owns).")
    return RealtimeRelay(
        upstream,
        api_key=key if upstream is not None else None,
        host=args.host,
        port=args.port,
        tokens=tokens,
        auth=hook,
        allow_anonymous=anonymous,
        allow_origins=args.allow_origin,
        session=policy,
        lock_session=args.lock_session,
        max_sessions=args.max_sessions,
        max_sessions_per_identity=args.max_sessions_per_identity,
        max_message_size=args.max_message_size,
        idle_timeout=args.idle_timeout or None,
        max_session_seconds=args.max_session_seconds or None,
        send_high_water=args.send_high_water,
        connect_timeout=args.connect_timeout,
        drain_timeout=args.drain_timeout,
        browser_refusals=args.browser_refusals,
        reuse_port=args.workers > 1 or args.worker_index is not None,
        mock_options={"profile": args.mock_profile},
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit status (0 after draining, 1 when it cannot listen, 2 on bad options)."""
    if args.workers < 1:
        print("realtime-fast relay: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1 and args.worker_index is None:
        from .workers import run_workers

        return run_workers(args, sys.argv)
    _setup_logging(args)
    try:
        relay = build_relay(args)
    except (ValueError, OSError, ImportError, AttributeError) as exc:
        print(f"realtime-fast relay: {exc}", file=sys.stderr)
        return 2
    from ..transport.loops import run as run_loop

    try:
        run_loop(_serve(relay, args), loop=args.loop)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"realtime-fast relay: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(relay: Any, args: argparse.Namespace) -> None:
    def banner(relay: Any) -> None:
        if args.worker_index is None:
            auth = "tokens" if relay.auth is not None and args.auth is None else ("hook " + args.auth if args.auth else "anyone (no auth)")
            print(f"realtime-fast relay listening on {relay.url} (upstream: {relay.upstream_description}; clients: {auth})", flush=True)
        else:
            print(f"worker {args.worker_index} ready on {relay.url}", flush=True)

    # SIGTERM and SIGINT are caught before the banner is printed: a supervisor may send SIGTERM as soon as it
    # reads that line, and it must get a drain, not a relay killed halfway.
    await relay.serve_forever(drain_on=(signal.SIGTERM, signal.SIGINT), ready=banner)
