"""OpenAI's JavaScript reference client, with its own tests, through ``realtime-fast relay``.

The same harness as ``test_reference_js.py`` (the reference's unmodified ``api.js`` and
``client.js`` run by mocha in Node), with the reference client pointed at a relay in front of
the mock server, and the relay's token as its ``apiKey``: the key the mock wants stays with the
relay.  The reference's "no apiKey" test gets the service's own refusal (an ``error`` event
saying "Incorrect API key provided", then a close), which is what the relay answers a browser
whose token it does not know.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from _realtime_helpers import PACKAGE_PARENT
from test_reference_js import JS, _install_js_packages, _node_command

pytestmark = pytest.mark.timeout(300)

RELAY_TOKEN = "tok-js-reference-relay-0123"
UPSTREAM_KEY = "sk-upstream-key-for-the-relay-0123456789"


def _start(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    found = re.search(r"listening on (ws://\S+)", banner)
    if not found:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"no URL in {command[3]}'s banner: {banner!r} {err[-2000:]}")
    return proc, found.group(1)


def test_reference_client_tests_pass_through_the_relay() -> None:
    node = _node_command()
    _install_js_packages()
    env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("OPENAI_API_KEY", None)
    mock, mock_url = _start(
        [sys.executable, "-m", "realtime_fast", "mock-server", "--port", "0", "--api-key", UPSTREAM_KEY,
         "--reply", 'San Francisco is where I heard: "{text}"'],
        env,
    )
    relay_env = {**env, "OPENAI_API_KEY": UPSTREAM_KEY, "REALTIME_RELAY_TOKENS": f"js-tests:{RELAY_TOKEN}"}
    try:
        relay, relay_url = _start(
            [sys.executable, "-m", "realtime_fast", "relay", "--port", "0", "--upstream", mock_url], relay_env
        )
        try:
            run = subprocess.run(
                [*node, str(JS / "node_modules" / "mocha" / "bin" / "mocha.js"), "--timeout", "10000", "reference_suite.mjs"],
                cwd=JS, capture_output=True, text=True, timeout=180,
                env={**os.environ, "REALTIME_URL": relay_url, "OPENAI_API_KEY": RELAY_TOKEN},
            )
        finally:
            relay.terminate()
            _, relay_log = relay.communicate(timeout=30)
    finally:
        mock.terminate()
        mock.communicate(timeout=10)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-4000:] + relay_log[-3000:]
    assert re.search(r"\b13 passing\b", report) and "failing" not in report, report[-4000:]
    # The relay served them (one refused browser, then relayed sessions), and never logged either secret.
    assert '"event": "session.opened"' in relay_log and '"status": 401' in relay_log
    assert UPSTREAM_KEY not in relay_log and RELAY_TOKEN not in relay_log
