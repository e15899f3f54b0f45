"""The client works on the pure-Python build too (what users get where no compiler exists).

The core modules' own tests already run against both twins through the
``audio_impl`` / ``events_impl`` fixtures; this runs the suites that exercise
the whole client against the mock with the compiled modules switched off.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
SUITES = ["test_client.py", "test_client_audio.py", "test_client_tools.py", "test_client_connection.py", "test_api.py", "test_conversation.py"]


@pytest.mark.skipif(os.environ.get("REALTIME_FAST_NO_EXTENSIONS") == "1", reason="the whole run is pure already")
@pytest.mark.timeout(600)
def test_client_suites_pass_on_the_pure_build():
    env = dict(os.environ, REALTIME_FAST_NO_EXTENSIONS="1")
    env.pop("REALTIME_FAST_REQUIRE_EXTENSIONS", None)
    args = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *(str(TESTS / s) for s in SUITES)]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, cwd=TESTS.parent)
    tail = "\n".join(proc.stdout.splitlines()[-15:])
    assert proc.returncode == 0, f"pure-build client tests failed:\n{tail}\n{proc.stderr[-2000:]}"
    assert " passed" in tail
    check = subprocess.run(
        [sys.executable, "-c", "import realtime_fast; print(realtime_fast.IS_ACCELERATED)"],
        env=env, capture_output=True, text=True, check=True,
    )
    assert check.stdout.strip() == "False"
