"""The build is what it says it is."""

import os
import subprocess
import sys

import pytest

import realtime_fast
from realtime_fast import _impl


@pytest.mark.skipif(os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") != "1", reason="extensions not required")
def test_compiled_core_loaded_when_required():
    assert realtime_fast.IS_ACCELERATED, f"compiled core did not load: {_impl.LOAD_ERRORS}"


def test_no_extensions_env_gives_pure_import():
    code = "import realtime_fast, realtime_fast.audio as a, realtime_fast.events as e; print(realtime_fast.IS_ACCELERATED, a.COMPILED, e.COMPILED)"
    env = dict(os.environ, REALTIME_FAST_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_library_logger_does_not_print_by_itself():
    code = "import logging, realtime_fast; logging.getLogger('realtime_fast').warning('should not be printed')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "should not be printed" not in out.stderr


def test_import_does_not_load_numpy():
    # numpy costs ~40 ms of import time; it loads where float or array conversion needs it.
    code = "import sys, realtime_fast, realtime_fast.mock; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
