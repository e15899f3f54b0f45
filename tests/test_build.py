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
    from realtime_fast import client

    assert client._client_fast.__name__ == "realtime_fast._client_fast", _impl.LOAD_ERRORS


@pytest.mark.skipif(os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") != "1", reason="extensions not required")
def test_compiled_picows_listener_loaded_when_required():
    pytest.importorskip("picows")
    from realtime_fast.transport import picows_transport

    assert picows_transport.COMPILED_LISTENER, f"compiled picows listener did not load: {_impl.LOAD_ERRORS}"


def test_picows_listener_built_for_another_picows_falls_back_to_pure():
    # The compiled listener has picows' C layout built in: with another picows release
    # it must refuse to load, and the transport must still work with the pure listener.
    pytest.importorskip("picows")
    code = (
        "import picows; picows.__version__ = '0.0.0'\n"
        "from realtime_fast import LOAD_ERRORS\n"
        "from realtime_fast.transport import picows_transport as p\n"
        "print(p.COMPILED_LISTENER, p.PicowsTransport.listener_class.__module__)\n"
        "print(LOAD_ERRORS.get('transport._picows_listener', ''))"
    )
    env = dict(os.environ)
    env.pop("REALTIME_FAST_NO_EXTENSIONS", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    first, reason = out.stdout.splitlines()
    assert first == "False realtime_fast.transport._picows_listener_py"
    from realtime_fast.transport import picows_transport

    if picows_transport.COMPILED_LISTENER:  # built here: the reason names both releases
        assert "picows 0.0.0 is installed" in reason and "built for picows" in reason


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
