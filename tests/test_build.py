"""The build is what it says it is."""

import importlib.machinery
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

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


ROOT = Path(__file__).resolve().parents[1]


def _picows_requirements(requires: list[str]) -> list[Requirement]:
    """The picows entries of a distribution's runtime requirements (extras' requirements left out)."""
    parsed = [Requirement(line) for line in requires]
    return [r for r in parsed if r.name == "picows" and "extra" not in str(r.marker or "")]


def _compiled_listener_path() -> str | None:
    """Path of the compiled picows listener shipped in the installed package, or None."""
    spec = importlib.util.find_spec("realtime_fast.transport._picows_listener")
    if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
        return None
    return spec.origin


def test_installed_metadata_pins_the_picows_the_listener_was_built_against():
    # The compiled listener only loads with the picows release it was built against; the
    # distribution must require exactly that release, or pip may leave another one in place
    # and the transport silently runs its slower pure listener.
    picows = pytest.importorskip("picows")
    if _compiled_listener_path() is None:
        pytest.skip("the compiled picows listener is not built in this install")
    requires = importlib.metadata.requires("realtime-fast") or []
    pins = _picows_requirements(requires)
    assert len(pins) == 1, requires
    pin = pins[0]
    installed = importlib.metadata.version("picows")
    assert str(pin.specifier) == f"=={installed}", (
        f"realtime-fast requires {pin} but picows {installed} is installed: "
        'reinstall realtime-fast (pip install -e ".[test]") so it is built against this picows'
    )
    assert picows.__version__ == installed  # what the listener compares at import
    assert pin.marker is not None
    assert pin.marker.evaluate({"platform_python_implementation": "CPython"})
    assert not pin.marker.evaluate({"platform_python_implementation": "PyPy"})
    if os.environ.get("REALTIME_FAST_NO_EXTENSIONS") == "1":
        return  # compiled modules switched off at import: the pin is all there is to check
    from realtime_fast.transport import picows_transport

    assert picows_transport.COMPILED_LISTENER, f"compiled picows listener did not load: {_impl.LOAD_ERRORS}"
    from realtime_fast.transport import _picows_listener

    assert _picows_listener.BUILT_WITH_PICOWS == installed


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="setuptools is not installed")
@pytest.mark.skipif(not (ROOT / "setup.py").exists(), reason="not run from a source checkout")
def test_build_without_the_compiled_listener_requires_the_picows_floor(tmp_path: Path):
    # No compiled listener (pure build): any picows from the tested floor on, and the other
    # runtime requirements unchanged.  Only the metadata is built, in a scratch copy.
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = dict(os.environ, REALTIME_FAST_NO_EXTENSIONS="1")
    subprocess.run(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=60,
    )
    dist = importlib.metadata.PathDistribution(tmp_path / "realtime_fast.egg-info")
    requires = dist.requires or []
    pins = _picows_requirements(requires)
    assert [str(p.specifier) for p in pins] == [">=2.3"], requires
    assert pins[0].marker is not None and not pins[0].marker.evaluate({"platform_python_implementation": "PyPy"})
    others = sorted(str(Requirement(line)) for line in requires if "extra ==" not in line and not line.startswith("picows"))
    assert others == ["numpy>=1.24", "orjson>=3.9", "prometheus_client>=0.17", "websockets>=14.2"]


def test_test_extra_brings_uvloop_where_it_exists():
    # The README's test command installs ".[test]": uvloop must come with it, so the
    # uvloop tests run in CI instead of skipping.
    requires = importlib.metadata.requires("realtime-fast") or []
    uvloop = [Requirement(line) for line in requires if Requirement(line).name == "uvloop"]

    def wanted(platform: str, implementation: str) -> list[Requirement]:
        env = {"extra": "test", "sys_platform": platform, "platform_python_implementation": implementation}
        return [r for r in uvloop if r.marker is not None and r.marker.evaluate(env)]

    assert wanted("linux", "CPython") and wanted("darwin", "CPython"), requires
    assert wanted("win32", "CPython") == [] and wanted("linux", "PyPy") == []  # uvloop does not exist there


def test_a_listener_built_for_another_picows_is_refused_with_a_warning():
    # Installed without its pin (pip --no-deps, or another package forcing a newer picows),
    # the compiled listener must not run on picows' other C layout: the transport falls back
    # to the pure listener and says so with a RuntimeWarning, once, at import.
    pytest.importorskip("picows")
    if _compiled_listener_path() is None or os.environ.get("REALTIME_FAST_NO_EXTENSIONS") == "1":
        pytest.skip("the compiled picows listener is not built in this install")
    code = (
        "import warnings, picows; picows.__version__ = '99.0.0'\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    from realtime_fast.transport import picows_transport\n"
        "print(picows_transport.COMPILED_LISTENER)\n"
        "print([f'{w.category.__name__}: {w.message}' for w in caught])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "False"
    assert "RuntimeWarning: realtime_fast's compiled picows listener was built for picows" in out[1]
    assert "but picows 99.0.0 is installed; the pure listener is used instead" in out[1]
