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
from types import ModuleType

PURE_NAME = "_realtime_fast_pure"  # realtime_fast._impl.PURE_COPY_NAME


def compiled() -> ModuleType:
    """The ``realtime_fast`` package as installed (compiled core when it is built)."""
    return importlib.import_module("realtime_fast")


def pure() -> ModuleType:
    """A copy of ``realtime_fast`` whose every module is the pure-Python one (see the module docstring)."""
    return compiled()._impl.load_pure_copy()
