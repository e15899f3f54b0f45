"""Load test of a relay: N real-time voice sessions through it, with a paced source behind and thin clients in front.

Per relay under test (``--relays``, run one after the other in one invocation):

1. A paced source behind it: :class:`realtime_fast.mock.load.LoadServer` in a child process
   on CPU 1 (server VAD on the appended audio, 3 s answers in 100 ms audio deltas plus
   transcript deltas at real-time pace, every event stamped with its send time).
2. The relay in a child process on ``--relay-cpus`` (default CPU 0):
   ``ours`` is ``realtime-fast relay`` (``--workers`` processes), ``plain`` is
   ``bench/relay/plain_relay.py`` (websockets + json on both sides), ``direct`` is no relay
   (the clients talk to the source: the latency floor of this machine and harness).
3. N clients in this process (``--client-cpus``, default CPU 1): simple picows clients
   (``LeanSession`` below: one picows listener each, the event's send time read from the
   end of the frame, appends built by the compiled ``dumps_append_audio``), each appending
   20 ms of audio every 20 ms in real time (1.5 s of speech per 6 s cycle) and timing every
   event from its send time at the source to its listener.

Reported per relay: lag p50/p99 (source send -> client listener; the relay's added latency is
its p99 minus the ``direct`` run's, or, with ``--probes K``, minus that of K sessions that go
straight to the source in the same run, at the same moments, which takes the harness's own
delays on a busy machine out of the difference), events lost downstream (per session: sent by the source
minus handled by the client), appends lost upstream, the relay's CPU (all its processes,
from /proc) per session-second over the measured window, and its RSS per relayed session
(RSS with the sessions open minus RSS before the first connection).

    python bench/relay/relay_load.py --sessions 1000 --duration 20 --relays direct,ours,plain
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> List[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _cpu_s(pids: List[int], which: str = "both") -> float:
    """CPU seconds of ``pids``: user + system (``both``), or ``user`` / ``system`` alone."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user, system = int(fields[11]), int(fields[12])
            total += {"both": user + system, "user": user, "system": system}[which]
        except OSError:
            pass
    return total / CLK_TCK


def _runqueue_wait_s(pids: List[int]) -> float:
    """Seconds ``pids`` spent runnable but waiting for a CPU (/proc/PID/schedstat, second field)."""
    total = 0
    for pid in pids:
        for task in _tasks(pid):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return total / 1e9


def _tasks(pid: int) -> List[str]:
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []


def _rss_mb(pids: List[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


#: Lags (us) of the direct probe sessions during the measured window (see ``--probes``).
PROBE_LAGS: List[int] = []
#: URLs of the source: sessions opened there are probes.
PROBE_URLS: List[str] = []


class LeanSession:
    """A simple picows client: counts events and reads their send time from the frame's tail (no JSON parse)."""

    sync_append = True

    def __init__(self, url: str, transport: str, recorder: Any, history: Optional[int], tls: Any = None) -> None:
        import itertools

        from picows import WSListener, WSMsgType

        from realtime_fast.events import dumps_append_audio

        self.url = url + "?model=gpt-realtime"
        self.received = 0
        self.audio_bytes = 0  # not decoded: a relay's clients only need to see the events arrive
        self.sid: Optional[str] = None
        self.ws: Any = None
        self._dumps_append = dumps_append_audio
        ids = itertools.count(1)
        prefix = f"evt_{id(self):x}_"
        self._next_id = lambda: prefix + str(next(ids))
        session = self
        text, close = WSMsgType.TEXT, WSMsgType.CLOSE
        time_ns = time.time_ns
        key = b'_us":'
        probe = url in PROBE_URLS
        probe_lags = PROBE_LAGS

        class Listener(WSListener):
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type == text:
                    session.received += 1
                    if session.sid is None:
                        data = frame.get_payload_as_bytes()
                        if b'"session.created"' in data:
                            session.sid = json.loads(data)["session"]["id"]
                    size = frame.payload_size
                    tail = bytes(frame.get_payload_as_memoryview()[max(0, size - 40):])
                    at = tail.rfind(key)
                    if at >= 0:
                        lag = time_ns() // 1000 - int(tail[at + 5 : -1])
                        if not probe:
                            recorder.window.append(lag)
                        elif recorder.measuring:
                            probe_lags.append(lag)
                elif frame.msg_type == close:
                    transport.send_close(frame.get_close_code(), frame.get_close_message())
                    transport.disconnect()

        self._listener = Listener

    async def connect(self) -> None:
        from picows import WSMsgType, ws_connect

        from realtime_fast.bench.load import API_KEY

        self.ws, _ = await ws_connect(self._listener, self.url, extra_headers=[("Authorization", f"Bearer {API_KEY}")],
                                      websocket_handshake_timeout=60, enable_auto_pong=True)
        self._send = self.ws.send
        self._text = WSMsgType.TEXT
        update = {"event_id": self._next_id(), "type": "session.update",
                  "session": {"type": "realtime", "output_modalities": ["audio"], "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}}
        self._send(self._text, json.dumps(update).encode())

    def append(self, pcm: bytes) -> None:
        self._send(self._text, self._dumps_append(pcm, self._next_id()))

    @property
    def is_open(self) -> bool:
        return self.ws is not None and not self.ws.is_disconnected

    async def close(self) -> None:
        import asyncio

        ws = self.ws
        if ws is None or ws.is_disconnected:
            return
        ws.send_close()
        try:
            await asyncio.wait_for(ws.wait_disconnected(), 5.0)
        except asyncio.TimeoutError:
            ws.disconnect()


class RelayUnderTest:
    """The load source plus (unless ``kind == "direct"``) a relay process in front of it; the ``server`` of ``bench.load._run``."""

    def __init__(self, kind: str, sessions: int, workers: int, relay_cpus: List[int], source_cpu: Optional[int], probes: int = 0) -> None:
        from realtime_fast.bench.load import API_KEY
        from realtime_fast.mock.load import spawn_load_server

        self.kind = kind
        self.source = spawn_load_server(cpu=source_cpu, loop="uvloop")
        self.proc: Optional[subprocess.Popen] = None
        self.url = self.source.url
        if kind != "direct":
            env = {**os.environ, "OPENAI_API_KEY": API_KEY, "REALTIME_RELAY_TOKENS": f"bench:{API_KEY}"}
            if kind == "ours":
                limit = str(sessions + 100)
                command = [sys.executable, "-m", "realtime_fast", "relay", "--port", "0", "--upstream", self.source.url,
                           "--loop", "uvloop", "--quiet", "--workers", str(workers), "--max-sessions", limit,
                           "--max-sessions-per-identity", limit, "--connect-timeout", "60", "--idle-timeout", "0"]
            else:
                command = [sys.executable, str(HERE / "plain_relay.py"), "--upstream", self.source.url, "--loop", "uvloop"]
            self.proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True,
                                         preexec_fn=lambda: os.sched_setaffinity(0, set(relay_cpus)))
            banner = self.proc.stdout.readline()  # type: ignore[union-attr]
            found = re.search(r"listening on (ws://\S+)", banner)
            if not found:
                raise RuntimeError(f"the {kind} relay did not start: {banner!r}")
            self.url = found.group(1)
            time.sleep(0.5)
        self.rss_idle = _rss_mb(self.pids())
        self.relay_url = self.url
        self.probes = probes if kind != "direct" else 0
        self.every = (sessions + self.probes) // self.probes if self.probes else 0
        self.handed = 0
        if self.probes:
            PROBE_URLS.append(self.source.url)
        self.cpu_marks: List[float] = []
        self.rss_loaded = float("nan")
        self.system_start = self.system_cpu = 0.0
        self.wait_start = self.runqueue_wait = 0.0
        self.loadavg = os.getloadavg()
        self.last_stats: Dict[str, Any] = {}

    def __getattribute__(self, name: str) -> Any:
        # bench.load._run reads ``server.url`` once per session it builds: every ``every``-th one is a direct probe.
        if name == "url" and object.__getattribute__(self, "__dict__").get("every"):
            self.handed += 1
            if self.handed % self.every == 0:
                return self.source.url
            return self.relay_url
        return object.__getattribute__(self, name)

    @property
    def banner(self) -> str:
        return f"{self.kind}: {self.url} (source {self.source.url})"

    def pids(self) -> List[int]:
        if self.proc is None:
            return []
        return [self.proc.pid] + _children(self.proc.pid)

    def stats(self, per_session: bool = False) -> Dict[str, Any]:
        self.last_stats = self.source.stats(per_session=per_session)
        return self.last_stats

    def measure_started(self) -> None:
        self.cpu_marks = [time.monotonic(), _cpu_s(self.pids())]
        self.system_start = _cpu_s(self.pids(), "system")
        self.wait_start = _runqueue_wait_s(self.pids())

    def measure_ended(self) -> None:
        self.cpu_marks += [time.monotonic(), _cpu_s(self.pids())]
        self.system_cpu = _cpu_s(self.pids(), "system") - self.system_start
        self.runqueue_wait = _runqueue_wait_s(self.pids()) - self.wait_start
        self.loadavg = os.getloadavg()
        self.rss_loaded = _rss_mb(self.pids())

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.source.stop()


def run_one(kind: str, args: argparse.Namespace) -> Dict[str, Any]:
    from realtime_fast.bench import load
    from realtime_fast.transport.loops import run as run_loop

    load.register_client("picows-lean", LeanSession, "picows")
    config = load.LoadConfig(sessions=args.sessions, duration=args.duration, transport="picows", loop="uvloop",
                             client="picows-lean", connect_rate=args.connect_rate, client_cpu=None, server_cpu=None)
    probes = args.probes if kind != "direct" else 0
    config.sessions = args.sessions + probes
    target = RelayUnderTest(kind, args.sessions, args.workers, args.relay_cpus, args.source_cpu, probes)
    PROBE_LAGS.clear()
    print(f"== {target.banner}", flush=True)
    try:
        result = run_loop(load._run(config, target, lambda line: print(line, flush=True)), loop="uvloop")
    finally:
        target.stop()
    probe_lags = sorted(PROBE_LAGS)
    from realtime_fast.bench.load import percentile

    if probes:
        result["probe_sessions"] = probes
        result["probe_p50_lag_ms"] = round(percentile(probe_lags, 0.5) / 1000, 3)
        result["probe_p99_lag_ms"] = round(percentile(probe_lags, 0.99) / 1000, 3)
        result["paired_added_p99_ms"] = round(result["p99_lag_ms"] - result["probe_p99_lag_ms"], 3)
        result["paired_added_p50_ms"] = round(result["p50_lag_ms"] - result["probe_p50_lag_ms"], 3)
    t0, c0, t1, c1 = target.cpu_marks if len(target.cpu_marks) == 4 else (0, 0, 1, float("nan"))
    connected = max(1, result["connected"] - probes)
    up_sent = result["appends"] + result["connected"]  # every append, and each session's session.update
    relay = {
        "kind": kind,
        "workers": args.workers if kind == "ours" else 1,
        "relay_cpus": args.relay_cpus,
        "cpu_percent": round(100 * (c1 - c0) / (t1 - t0), 1) if kind != "direct" else None,
        "system_cpu_percent": round(100 * target.system_cpu / (t1 - t0), 1) if kind != "direct" else None,
        # Time the relay was ready to run but another process had its CPU (a busy machine shows here).
        "runqueue_wait_percent": round(100 * target.runqueue_wait / (t1 - t0), 1) if kind != "direct" else None,
        "loadavg_1min": round(target.loadavg[0], 2),
        "cpu_per_session_second_us": round(1e6 * (c1 - c0) / ((t1 - t0) * connected), 2) if kind != "direct" else None,
        "rss_idle_mb": round(target.rss_idle, 1),
        "rss_loaded_mb": round(target.rss_loaded, 1),
        "rss_per_session_kb": round(1024 * (target.rss_loaded - target.rss_idle) / connected, 1) if kind != "direct" else None,
        "upstream_appends_lost": max(0, up_sent - target.last_stats.get("received", 0)),
    }
    result["relay"] = relay
    keys = ("sessions", "connected", "p50_lag_ms", "p99_lag_ms", "max_lag_ms", "lost_events", "events_per_second",
            "probe_p50_lag_ms", "probe_p99_lag_ms", "paired_added_p50_ms", "paired_added_p99_ms")
    print(json.dumps({k: result[k] for k in keys if k in result} | relay), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per relay (default: 20)")
    parser.add_argument("--relays", default="direct,ours,plain", help="comma-separated: direct, ours, plain")
    parser.add_argument("--workers", type=int, default=1, help="processes of realtime-fast relay (default: 1)")
    parser.add_argument("--relay-cpus", default="0", help="CPUs the relay may run on (default: 0)")
    parser.add_argument("--client-cpus", default="1", help="CPUs of the clients, this process (default: 1; 'any' for no pinning)")
    parser.add_argument("--source-cpu", default="1", help="CPU of the paced source (default: 1; 'any' for no pinning)")
    parser.add_argument("--probes", type=int, default=0, help="extra sessions straight to the source, in the same run: the harness's own lag at the same moments (default: 0)")
    parser.add_argument("--connect-rate", type=float, default=100.0)
    parser.add_argument("--json", default=None, help="write every result to this file")
    args = parser.parse_args()
    args.relay_cpus = [int(c) for c in args.relay_cpus.split(",")]
    args.source_cpu = None if args.source_cpu == "any" else int(args.source_cpu)
    if args.client_cpus != "any":
        os.sched_setaffinity(0, {int(c) for c in args.client_cpus.split(",")})
    results = [run_one(kind.strip(), args) for kind in args.relays.split(",")]
    summary = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": " ".join(sys.argv),
        "runs": [{k: v for k, v in r.items() if k != "progress"} for r in results],
    }
    by_kind = {r["relay"]["kind"]: r for r in results}
    if "ours" in by_kind and "plain" in by_kind:
        summary["plain_over_ours_cpu_per_session_second"] = round(
            by_kind["plain"]["relay"]["cpu_per_session_second_us"] / by_kind["ours"]["relay"]["cpu_per_session_second_us"], 2
        )
    if "direct" in by_kind:
        floor = by_kind["direct"]["p99_lag_ms"]
        for kind in ("ours", "plain"):
            if kind in by_kind:
                summary[f"{kind}_added_p99_ms"] = round(by_kind[kind]["p99_lag_ms"] - floor, 3)
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
