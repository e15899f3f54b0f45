"""Two relays behind HAProxy, with the configuration shipped in docs/deploy/haproxy.cfg.

Relays on 127.0.0.2 and 127.0.0.3 (each with its embedded mock), HAProxy in front on
127.0.0.1.  Sessions spread over both; SIGTERM on one (it drains) ends none of the other's
sessions, and new sessions all go to the other one.  Skipped, with the reason, where HAProxy
is not installed (``apt-get install haproxy``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _realtime_helpers import PACKAGE_PARENT

from realtime_fast import RealtimeClient

pytestmark = pytest.mark.timeout(120)

CONFIG = Path(__file__).resolve().parents[1] / "docs" / "deploy" / "haproxy.cfg"
TOKEN = "tok-haproxy-test-0123"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _start_relay(host: str, env: dict) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "realtime_fast", "relay", "--host", host, "--port", "0", "--drain-timeout", "4", "--mock-profile", "fast"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    banner = proc.stdout.readline()  # type: ignore[union-attr]
    found = re.search(r"listening on ws://[^:]+:(\d+)/", banner)
    if not found:
        proc.kill()
        raise AssertionError(f"relay on {host} did not start: {banner!r} {proc.communicate(timeout=10)[1][-2000:]}")
    return proc, int(found.group(1))


async def _live_sessions(host: str, port: int) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    body = (await reader.read(-1)).decode()
    writer.close()
    return int(float(re.search(r"^realtime_relay_sessions (\S+)$", body, re.M).group(1)))


async def _wait(check, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def _turn(client: RealtimeClient) -> None:
    done = asyncio.get_running_loop().create_future()
    client.realtime.on_next("server.response.done", lambda e: done.done() or done.set_result(e))
    client.send_user_message_content([{"type": "input_text", "text": "still there?"}])
    await asyncio.wait_for(done, 10)


@pytest.fixture
def cluster():
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("HAProxy is needed for the load-balancer test (apt-get install haproxy)")
    try:  # 127.0.0.2 and .3 are loopback on Linux; elsewhere they may not be
        for host in ("127.0.0.2", "127.0.0.3"):
            with socket.socket() as probe:
                probe.bind((host, 0))
    except OSError:
        pytest.skip("127.0.0.2 and 127.0.0.3 are not local addresses on this system")
    env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "REALTIME_RELAY_TOKENS": f"lb:{TOKEN}"}
    env.pop("OPENAI_API_KEY", None)
    procs = []
    try:
        a, port_a = _start_relay("127.0.0.2", env)
        procs.append(a)
        b, port_b = _start_relay("127.0.0.3", env)
        procs.append(b)
        front = _free_port("127.0.0.1")
        lb_env = {**os.environ, "RELAY_BIND": f"127.0.0.1:{front}", "RELAY1_ADDR": f"127.0.0.2:{port_a}", "RELAY2_ADDR": f"127.0.0.3:{port_b}"}
        check = subprocess.run([haproxy, "-c", "-f", str(CONFIG)], env=lb_env, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        lb = subprocess.Popen([haproxy, "-db", "-f", str(CONFIG)], env=lb_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(lb)
        yield {"url": f"ws://127.0.0.1:{front}/v1/realtime", "a": (a, "127.0.0.2", port_a), "b": (b, "127.0.0.3", port_b), "lb": lb}
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def test_sessions_spread_and_draining_one_relay_spares_the_other(cluster):
    url = cluster["url"]
    proc_a, host_a, port_a = cluster["a"]
    _proc_b, host_b, port_b = cluster["b"]

    async def both_up() -> bool:  # HAProxy's health checks have passed for both relays
        try:
            client = RealtimeClient(url, api_key=TOKEN)
            await client.connect()
            await client.disconnect()
        except Exception:
            return False
        return True

    assert await _wait(both_up)
    await asyncio.sleep(2.5)  # rise 2 x inter 1 s: both servers are in the pool
    clients = [RealtimeClient(url, api_key=TOKEN) for _ in range(10)]
    for client in clients:
        await client.connect()
        await client.wait_for_session_created()
    on_a, on_b = await _live_sessions(host_a, port_a), await _live_sessions(host_b, port_b)
    assert on_a + on_b == 10 and on_a >= 3 and on_b >= 3, (on_a, on_b)

    closes = {}
    for i, client in enumerate(clients):
        client.realtime.on("close", lambda e, i=i: closes.setdefault(i, e))
    proc_a.send_signal(signal.SIGTERM)  # relay A drains: /readyz 503, no new sessions, 4 s for the live ones
    await asyncio.sleep(0.3)

    newcomers = [RealtimeClient(url, api_key=TOKEN) for _ in range(6)]
    for client in newcomers:
        await client.connect()  # HAProxy retries A's 503 on B, then stops sending to A
        await client.wait_for_session_created()
    assert await _live_sessions(host_b, port_b) == on_b + 6

    # A's sessions get a 1001 close when its drain time is up; B's sessions go on.
    assert await _wait(lambda: _true_after(lambda: len(closes) >= on_a), 15)
    await asyncio.sleep(0.5)
    assert all(e["code"] == 1001 for e in closes.values()) and len(closes) == on_a, closes
    survivors = [c for i, c in enumerate(clients) if i not in closes]
    assert len(survivors) == on_b
    for client in survivors + newcomers:
        assert client.is_connected()
        await _turn(client)
    assert proc_a.wait(timeout=20) == 0
    for client in survivors + newcomers:
        await client.disconnect()


async def _true_after(check) -> bool:
    return bool(check())


def test_the_kubernetes_example_drains_within_its_grace_period():
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read the Kubernetes example")
    documents = list(yaml.safe_load_all((CONFIG.parent / "kubernetes.yaml").read_text()))
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    service = next(d for d in documents if d["kind"] == "Service")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    args = container["args"]
    drain = float(args[args.index("--drain-timeout") + 1])
    assert pod["terminationGracePeriodSeconds"] > drain + 3
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    # The arguments are the command's own.
    from realtime_fast.cli import build_parser

    parsed = build_parser().parse_args(args[1:])
    assert parsed.command == "relay" and parsed.drain_timeout == drain
