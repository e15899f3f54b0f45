"""Pick the compiled or the pure-Python implementation of each core module.

The only place in the package that imports a compiled module by name.  Pure is
chosen when ``REALTIME_FAST_NO_EXTENSIONS=1`` is set or the interpreter is not
CPython; otherwise the compiled module is used, falling back to the pure twin
when it cannot be imported (a source install on a machine without a compiler).
"""

from __future__ import annotations

import importlib
import importlib.util
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


#: The module name :func:`load_pure_copy` loads the package's pure copy under.
PURE_COPY_NAME = "_realtime_fast_pure"


def load_pure_copy() -> ModuleType:
    """A second copy of this package, every module of it pure Python, side by side with the first.

    For differential tests and benchmarks: the copy is imported under
    :data:`PURE_COPY_NAME` with ``REALTIME_FAST_NO_EXTENSIONS=1`` in force while
    its modules choose their implementation, so all of them (client, API,
    conversation, codecs) are the pure twins, and its classes (errors
    included) are its own.  Loaded once; nothing is installed.
    """
    if PURE_COPY_NAME in sys.modules:
        return sys.modules[PURE_COPY_NAME]
    package = sys.modules[__package__]
    origin = package.__file__
    assert origin is not None
    spec = importlib.util.spec_from_file_location(PURE_COPY_NAME, origin, submodule_search_locations=[os.path.dirname(origin)])
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    saved = os.environ.get("REALTIME_FAST_NO_EXTENSIONS")
    os.environ["REALTIME_FAST_NO_EXTENSIONS"] = "1"
    sys.modules[PURE_COPY_NAME] = copy
    try:
        spec.loader.exec_module(copy)  # imports its own _impl (which reads the variable), audio, events, client ...
    except BaseException:
        del sys.modules[PURE_COPY_NAME]
        raise
    finally:
        if saved is None:
            del os.environ["REALTIME_FAST_NO_EXTENSIONS"]
        else:
            os.environ["REALTIME_FAST_NO_EXTENSIONS"] = saved
    if any(sys.modules[f"{PURE_COPY_NAME}._impl"].COMPILED_MODULES.values()):
        raise RuntimeError("The pure copy of realtime_fast loaded a compiled module.")
    return copy
