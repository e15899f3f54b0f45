"""``realtime-fast relay`` as a command: the banner, refusing unsafe options, SIGTERM, and ``--workers``."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys

import pytest
from _realtime_helpers import PACKAGE_PARENT

from realtime_fast import RealtimeClient

pytestmark = pytest.mark.timeout(90)

TOKEN = "tok-cli-test-012345"


def _env(**extra: str) -> dict:
    env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("OPENAI_API_KEY", None)
    env.pop("REALTIME_RELAY_TOKENS", None)
    env.update(extra)
    return env


def _relay(*args: str, **env: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "realtime_fast", "relay", "--port", "0", *args], env=_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    banner = proc.stdout.readline()  # type: ignore[union-attr]
    found = re.search(r"listening on (ws://\S+)", banner)
    if not found:
        proc.kill()
        raise AssertionError(f"no URL in the banner: {banner!r} {proc.communicate(timeout=10)[1][-2000:]}")
    return proc, found.group(1)


async def _metrics(url: str) -> str:
    host, port = url.split("//")[1].split("/")[0].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    body = (await reader.read(-1)).decode()
    writer.close()
    return body


@pytest.mark.parametrize(
    "args, env, message",
    [
        ((), {"OPENAI_API_KEY": "sk-real-key-0123456789"}, "No client tokens"),
        (("--lock-session",), {}, "--lock-session needs --session"),
        (("--auth", "nowhere"), {}, "module:function"),
        (("--workers", "0"), {}, "--workers must be at least 1"),
    ],
)
def test_unsafe_or_wrong_options_exit_2_with_a_reason(args, env, message):
    proc = subprocess.run([sys.executable, "-m", "realtime_fast", "relay", "--port", "0", *args], env=_env(**env),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


async def test_the_command_relays_to_its_embedded_mock_and_drains_on_sigterm():
    proc, url = _relay("--drain-timeout", "1", REALTIME_RELAY_TOKENS=f"cli:{TOKEN}")
    try:
        client = RealtimeClient(url, api_key=TOKEN)
        closed = asyncio.get_running_loop().create_future()
        client.realtime.on("close", lambda e: closed.done() or closed.set_result(e))
        await client.connect()
        await client.wait_for_session_created()
        proc.send_signal(signal.SIGTERM)
        event = await asyncio.wait_for(closed, 10)
        assert event["code"] == 1001
        assert await asyncio.get_running_loop().run_in_executor(None, proc.wait, 20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        _, log = proc.communicate(timeout=10)
    events = [line for line in log.splitlines() if line.startswith("{")]
    assert any('"relay.draining"' in e for e in events) and any('"reason": "drain"' in e for e in events)
    assert TOKEN not in log


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM to a child process is a POSIX test")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_sent_as_soon_as_the_banner_is_read_still_stops_it_in_order(signum):
    # A supervisor may signal the moment it reads "listening": the relay must already be catching it.
    proc, _ = _relay("--drain-timeout", "1", REALTIME_RELAY_TOKENS=f"cli:{TOKEN}")
    try:
        proc.send_signal(signum)
        code = proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, log = proc.communicate(timeout=10)
    assert code == 0, log[-2000:]
    assert '"relay.stopped"' in log


async def test_workers_share_one_port_and_each_serves_sessions():
    proc, url = _relay("--workers", "2", "--mock-profile", "fast", REALTIME_RELAY_TOKENS=f"cli:{TOKEN}")
    try:
        clients = [RealtimeClient(url, api_key=TOKEN) for _ in range(16)]
        for client in clients:
            await client.connect()
            await client.wait_for_session_created()
        live: dict[str, int] = {}
        for _ in range(40):
            body = await _metrics(url)
            pid = re.search(r'realtime_relay_process\{pid="(\d+)"\}', body).group(1)
            live[pid] = int(float(re.search(r"^realtime_relay_sessions (\S+)$", body, re.M).group(1)))
            if len(live) == 2:
                break
        assert len(live) == 2 and sum(live.values()) == 16 and min(live.values()) > 0, live
        for client in clients:
            await client.disconnect()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.get_running_loop().run_in_executor(None, proc.wait, 40)
        proc.communicate(timeout=10)
    assert code == 0
