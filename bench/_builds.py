"""The builds the client benchmarks compare, loaded side by side in one process.

``compiled()`` is the installed ``realtime_fast`` (compiled core when built).
``pure()`` is a second copy of the same source tree imported under the name
``_realtime_fast_pure`` with ``REALTIME_FAST_NO_EXTENSIONS=1`` in force while
its selector runs: every module of that copy (client, API, conversation, event
codec, audio buffer) is the pure-Python one, and its classes (errors included)
are its own, so nothing of the compiled build leaks into it.  No second
install is needed; the copy lives only in ``sys.modules``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

PURE_NAME = "_realtime_fast_pure"


def compiled() -> ModuleType:
    """The ``realtime_fast`` package as installed (compiled core when it is built)."""
    return importlib.import_module("realtime_fast")


def pure() -> ModuleType:
    """A copy of ``realtime_fast`` whose every module is the pure-Python one (see the module docstring)."""
    if PURE_NAME in sys.modules:
        return sys.modules[PURE_NAME]
    origin = compiled().__file__
    assert origin is not None
    spec = importlib.util.spec_from_file_location(
        PURE_NAME, origin, submodule_search_locations=[os.path.dirname(origin)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    saved = os.environ.get("REALTIME_FAST_NO_EXTENSIONS")
    os.environ["REALTIME_FAST_NO_EXTENSIONS"] = "1"
    sys.modules[PURE_NAME] = package
    try:
        spec.loader.exec_module(package)  # imports _impl (reads the variable), audio, events, client ...
    except BaseException:
        del sys.modules[PURE_NAME]
        raise
    finally:
        if saved is None:
            del os.environ["REALTIME_FAST_NO_EXTENSIONS"]
        else:
            os.environ["REALTIME_FAST_NO_EXTENSIONS"] = saved
    if package.IS_ACCELERATED or package.events.COMPILED or package.audio.COMPILED:
        raise RuntimeError("The pure copy of realtime_fast loaded a compiled module.")
    return package
