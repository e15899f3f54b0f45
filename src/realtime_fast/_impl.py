"""Pick the compiled or the pure-Python implementation of each core module.

The only place in the package that imports a compiled module by name.  Pure is
chosen when ``REALTIME_FAST_NO_EXTENSIONS=1`` is set or the interpreter is not
CPython; otherwise the compiled module is used, falling back to the pure twin
when it cannot be imported (a source install on a machine without a compiler).
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

NO_EXTENSIONS: bool = os.environ.get("REALTIME_FAST_NO_EXTENSIONS", "") == "1" or sys.implementation.name != "cpython"

#: Why each compiled module could not be loaded (module name -> error text).
LOAD_ERRORS: dict[str, str] = {}
#: Each module :func:`load` chose so far -> True when compiled.
COMPILED_MODULES: dict[str, bool] = {}
#: The compiled core: realtime_fast is accelerated when all of these are compiled.
CORE_MODULES = ("_audio", "_events", "_conversation_core", "_client_fast")


def load(name: str) -> tuple[ModuleType, bool]:
    """Return ``(module, compiled)`` for compiled module ``name`` (``"_audio"``, ``"_events"``, ``"transport._picows_listener"``).

    A compiled module that does not import (not built, or built against
    another release of a library it compiles in) is replaced by its pure twin
    ``<name>_py``; the reason is kept in :data:`LOAD_ERRORS`.
    """
    if not NO_EXTENSIONS:
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except (ImportError, ValueError) as exc:  # ValueError: Cython's check of a cimported type's size
            LOAD_ERRORS[name] = str(exc)
        else:
            COMPILED_MODULES[name] = True
            return module, True
    COMPILED_MODULES[name] = False
    # Relative to this package (not "realtime_fast" spelled out), so that a second copy
    # of the package loaded under another name (the benchmarks' pure build) is self-contained.
    return importlib.import_module(f"{__package__}.{name}_py"), False


def accelerated() -> bool:
    """True when every module of the compiled core (:data:`CORE_MODULES`) was loaded compiled."""
    return all(COMPILED_MODULES.get(name, False) for name in CORE_MODULES)
