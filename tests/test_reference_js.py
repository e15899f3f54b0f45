"""OpenAI's JavaScript reference client, with its own tests, against ``realtime-fast mock-server``.

``tests/js/reference`` holds an unmodified copy of the reference client and of two of its test
files (``api.js``, ``client.js``; MIT, see its LICENSE); ``tests/js/reference_suite.mjs`` runs
them with mocha in Node, sending the connections they open to the service to the mock instead.
They check what a real client sees: ``session.update`` goes out before ``session.created``
arrives, a wrong key gets the service's error after the upgrade, and a text turn produces the
user's item, then the assistant's, then its completion.  Skipped, with the reason, where Node.js
or npm is missing; the npm packages (mocha, chai) are installed on first use.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _realtime_helpers import PACKAGE_PARENT

JS = Path(__file__).parent / "js"
pytestmark = pytest.mark.timeout(300)


def _node_command() -> list[str]:
    """``node`` with what it needs for a global WebSocket (a flag on Node 20), or a skip."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are needed to run the JavaScript reference client's tests")
    for flags in ([], ["--experimental-websocket"]):
        probe = subprocess.run([node, *flags, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"],
                               capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [node, *flags]
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    pytest.skip(f"Node.js {version} has no WebSocket (Node 20.10 or newer is needed)")


def _install_js_packages() -> None:
    """``npm ci`` in tests/js unless its node_modules already match package-lock.json."""
    installed = JS / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= (JS / "package-lock.json").stat().st_mtime:
        return
    proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"npm ci failed in {JS}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"


def test_reference_client_tests_pass_against_the_mock_server() -> None:
    node = _node_command()
    _install_js_packages()
    env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # The default profile (realistic), as a user starts it; the scripted reply satisfies client.js,
    # whose session instructions ask the model to name San Francisco in every answer.  client.js
    # counts the events seen when its 1 ms poll notices session.created and expects
    # session.updated not among them: acknowledgements come 150-200 ms late here (as over a
    # long network path) so a busy machine's late timers cannot fold the two together.
    server = subprocess.Popen(
        [sys.executable, "-m", "realtime_fast", "mock-server", "--port", "0",
         "--pacing", "ack_delay_min=0.15", "--pacing", "ack_delay_max=0.2",
         "--reply", 'San Francisco is where I heard: "{text}"'],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        found = re.search(r"listening on (ws://\S+)", banner)
        assert found, f"no URL in the mock server's banner: {banner!r} {server.stderr.read() if server.poll() is not None else ''}"
        run = subprocess.run(
            [*node, str(JS / "node_modules" / "mocha" / "bin" / "mocha.js"), "--timeout", "10000", "reference_suite.mjs"],
            cwd=JS, capture_output=True, text=True, timeout=180,
            env={**os.environ, "REALTIME_URL": found.group(1), "OPENAI_API_KEY": "sk-js-reference-test-0123456789"},
        )
    finally:
        server.terminate()
        server.communicate(timeout=10)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-4000:]
    assert re.search(r"\b13 passing\b", report) and "failing" not in report, report[-4000:]
    assert 'Should receive "session.created" and send "session.update"' in report
