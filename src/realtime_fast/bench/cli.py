"""Load-test the client: N real-time voice sessions on one core (``load``), or a long accelerated session (``soak``).

``realtime-fast bench load --sessions N --duration S [--transport picows|websockets]
[--loop asyncio|uvloop] [--format pcm16|g711_ulaw|g711_alaw] [--keep-item-audio|--no-keep-item-audio]
[--send-only] [--append-ms MS] [--tls] [--json FILE]``

``realtime-fast bench soak --minutes 60 --speed 20 [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``bench`` subcommands (``load``, ``soak``) on ``parser``."""
    sub = parser.add_subparsers(dest="bench_command", metavar="BENCH")
    sub.required = True
    load = sub.add_parser("load", help="N concurrent real-time voice sessions against the load server")
    load.add_argument("--sessions", type=int, default=100, help="concurrent sessions (default 100)")
    load.add_argument("--duration", type=float, default=20.0, help="seconds measured once all are connected (default 20)")
    load.add_argument("--transport", choices=("picows", "websockets", "auto"), default="picows", help="client transport (default picows)")
    load.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio", help="client event loop (default asyncio)")
    from .load import SESSION_TYPES

    load.add_argument(
        "--client",
        choices=tuple(SESSION_TYPES),
        default="realtime_fast",
        help="the client under test (default: this package's; the project's benchmarks register others to compare with)",
    )
    load.add_argument(
        "--format",
        choices=("pcm16", "g711_ulaw", "g711_alaw"),
        default="pcm16",
        help="audio both ways: pcm16 at 24 kHz (default) or G.711 at 8 kHz, as a phone line carries it (160 bytes per 20 ms)",
    )
    load.add_argument("--send-only", action="store_true", help="append silence only: no turns, nothing received (the send path alone)")
    load.add_argument("--append-ms", type=int, default=20, help="ms of audio per append (default 20; 10, 20, 40, 50, 100 or 200)")
    load.add_argument(
        "--tls",
        action="store_true",
        help="run over wss://: the load server serves a self-signed certificate made for the run, the clients trust it "
        "(needs the cryptography package: the bench extra)",
    )
    load.add_argument("--connect-rate", type=float, default=100.0, help="new sessions per second during the ramp (default 100)")
    load.add_argument("--client-cpu", type=int, default=0, help="CPU to pin this process to (default 0; -1: no pinning)")
    load.add_argument("--server-cpu", type=int, default=1, help="CPU to pin the load server to (default 1; -1: no pinning)")
    load.add_argument("--warmup", type=float, default=6.0, help="seconds after the ramp before measuring (default 6: one turn cycle)")
    load.add_argument("--history", type=int, default=20, help="max_history_items of each client (default 20; 0: unbounded)")
    load.add_argument(
        "--keep-item-audio",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="RealtimeClient(keep_item_audio=...): items keep their audio (default) or not (a server that forwards audio)",
    )
    load.add_argument("--json", metavar="FILE", default=None, help="write the result to FILE as JSON")
    load.add_argument("--quiet", action="store_true", help="no progress lines")

    soak = sub.add_parser("soak", help="one long server-VAD session, fed faster than real time: RSS must stay flat")
    soak.add_argument("--minutes", type=float, default=60.0, help="session minutes of audio (default 60)")
    soak.add_argument("--speed", type=float, default=20.0, help="times faster than real time (default 20)")
    soak.add_argument("--transport", choices=("picows", "websockets", "auto"), default="picows")
    soak.add_argument("--history", type=int, default=20, help="max_history_items (default 20)")
    soak.add_argument("--max-input-seconds", type=float, default=60.0, help="max_input_audio_seconds (default 60)")
    soak.add_argument("--json", metavar="FILE", default=None, help="write the result to FILE as JSON")
    soak.add_argument("--quiet", action="store_true", help="no progress lines")


def _write(result: Dict[str, Any], path: Any) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
            f.write("\n")


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmark; returns 0 when it met its bar, 1 when not, 2 on bad options."""
    if args.bench_command == "load":
        from .load import LoadConfig, run_load

        try:
            config = LoadConfig(
                sessions=args.sessions,
                duration=args.duration,
                transport=args.transport,
                loop=args.loop,
                client=args.client,
                connect_rate=args.connect_rate,
                client_cpu=None if args.client_cpu < 0 else args.client_cpu,
                server_cpu=None if args.server_cpu < 0 else args.server_cpu,
                history=args.history or None,
                keep_item_audio=args.keep_item_audio,
                audio_format=args.format,
                quiet=args.quiet,
                warmup=args.warmup,
                send_only=args.send_only,
                append_ms=args.append_ms,
                tls=args.tls,
            )
        except ValueError as exc:
            print(f"realtime-fast bench load: {exc}", file=sys.stderr)
            return 2
        result = run_load(config)
        _write(result, args.json)
        tls = result["tls"]
        wire = f", {tls['version']} {tls['cipher']}" if tls else ""
        print(
            f"{result['sessions']} sessions ({result['client']}, {result['transport']}, {result['loop']}, {result['audio_format']}{wire}): "
            f"p50 {result['p50_lag_ms']:.2f} ms, p99 {result['p99_lag_ms']:.2f} ms, lost {result['lost_events']}, "
            f"client CPU {result['client_cpu_percent']:.1f}% ({1e6 * result['client_cpu_per_session_second']:.0f} us per session-second), "
            f"server CPU {result['server_cpu_percent']:.1f}%, RSS {result['rss_mb']:.0f} MB -> {'OK' if result['ok'] else 'FAILED'}"
        )
        return 0 if result["ok"] else 1
    from .soak import SoakConfig, run_soak

    try:
        config = SoakConfig(
            minutes=args.minutes,
            speed=args.speed,
            transport=args.transport,
            history=args.history,
            max_input_seconds=args.max_input_seconds,
            quiet=args.quiet,
        )
    except ValueError as exc:
        print(f"realtime-fast bench soak: {exc}", file=sys.stderr)
        return 2
    result = run_soak(config)
    _write(result, args.json)
    print(
        f"soak {result['session_minutes']:g} session-minutes in {result['wall_seconds']:.0f} s: RSS {result['rss_after_warmup_mb']:.1f} -> "
        f"{result['rss_end_mb']:.1f} MB (growth {result['rss_growth_mb']:+.1f} MB), lost {result['lost_events']}, "
        f"turns {result['responses_done']} -> {'OK' if result['ok'] else 'FAILED'}"
    )
    return 0 if result["ok"] else 1
