"""Build the compiled core; falls back to a pure-Python install where it cannot.

REALTIME_FAST_NO_EXTENSIONS=1 skips compilation.  Under cibuildwheel
(CIBUILDWHEEL=1) or with REALTIME_FAST_REQUIRE_EXTENSIONS=1 a compile failure is
an error, so no wheel ships without its compiled core.

The runtime dependencies are set here (pyproject lists them as dynamic): a
build that compiles the picows listener requires exactly the picows release it
was compiled against, since the listener refuses any other one (and the
transport then quietly uses its slower pure listener).  Every other build, and
the sdist, requires ``picows>=PICOWS_FLOOR``.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

MODULES = ["_audio", "_events", "_conversation_core", "_client_fast"]
#: Built only where picows (and its .pxd) is installed at build time: pyproject's
#: build-requires asks for it on CPython.  It compiles in picows' C layout, so it is
#: tied to that release (it checks at import and the transport falls back).
PICOWS_MODULES = ["transport._picows_listener", "relay._picows_pipe"]
NO_EXTENSIONS = os.environ.get("REALTIME_FAST_NO_EXTENSIONS") == "1"
REQUIRED = os.environ.get("CIBUILDWHEEL") == "1" or os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") == "1"
#: The oldest picows supported without the compiled listener (pyproject's build requirement asks for the same).
PICOWS_FLOOR = "2.3"
CPYTHON_ONLY = "platform_python_implementation == 'CPython'"
#: Runtime dependencies other than picows (markers included).
#: websockets: the transport subclasses its asyncio connection internals; the whole suite passes on
#: 14.2, 15.0.1, 16.0 and 17.4 (13.x lacks internals it uses; 14.0/14.1 warn on an import it needs).
#: prometheus_client: the relay's /metrics (text exposition, registry, custom collectors).
BASE_REQUIREMENTS = ["numpy>=1.24", "websockets>=14.2", "orjson>=3.9", "prometheus_client>=0.17"]


class ReportingBuildExt(build_ext):
    """build_ext that says whether the result is accelerated or pure."""

    def run(self):
        super().run()
        built = [e.name for e in self.extensions if os.path.exists(self.get_ext_fullpath(e.name))]
        missing = sorted(set(e.name for e in self.extensions) - set(built))
        if missing:
            print(f"realtime_fast: PURE build, extensions not compiled: {', '.join(missing)}", file=sys.stderr)
        else:
            print("realtime_fast: ACCELERATED build (compiled core)", file=sys.stderr)


def picows_version():
    """The version of the picows whose .pxd this build can cimport, or None."""
    try:
        import picows
    except ImportError:
        return None
    pxd = os.path.join(os.path.dirname(picows.__file__), "picows.pxd")
    return picows.__version__ if os.path.exists(pxd) else None


def extensions():
    """The extension modules to build, and the picows release the listener is compiled against (or None)."""
    if NO_EXTENSIONS or sys.implementation.name != "cpython":
        print("realtime_fast: PURE build (REALTIME_FAST_NO_EXTENSIONS=1 or not CPython)", file=sys.stderr)
        return [], None
    from Cython.Build import cythonize

    # -g0: no debug info, it would triple the size of the wheels
    extra = ["/O2"] if sys.platform == "win32" else ["-O3", "-g0"]
    sources = [
        Extension(
            f"realtime_fast.{m}",
            [f"src/realtime_fast/{m}.pyx"],
            include_dirs=["src/realtime_fast"],
            extra_compile_args=extra,
        )
        for m in MODULES
    ]
    version = picows_version()
    if version is not None:
        sources.extend(
            Extension(
                f"realtime_fast.{module}",
                [f"src/realtime_fast/{module.replace('.', '/')}.pyx"],
                include_dirs=["src/realtime_fast"],
                # As character codes: a quoted string in -D is mangled by some compilers' command lines.
                define_macros=[("RF_PICOWS_BUILD_VERSION_CHARS", ",".join(str(ord(c)) for c in version))],
                extra_compile_args=extra,
            )
            for module in PICOWS_MODULES
        )
    elif REQUIRED:
        raise RuntimeError("picows (with its picows.pxd) must be installed to build the compiled picows listener and relay pipe.")
    else:
        print("realtime_fast: picows not installed at build time: the picows transport will use its pure listener", file=sys.stderr)
    exts = cythonize(
        sources,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
        },
    )
    for ext in exts:  # cythonize() drops the flag, so it is set afterwards
        ext.optional = not REQUIRED
    return exts, version


def install_requires(listener_picows):
    """Runtime requirements: picows pinned to ``listener_picows`` when the listener is compiled against it, else the floor."""
    picows = f"picows=={listener_picows}" if listener_picows else f"picows>={PICOWS_FLOOR}"
    return BASE_REQUIREMENTS + [f"{picows}; {CPYTHON_ONLY}"]


EXTENSIONS, LISTENER_PICOWS = extensions()
if "sdist" in sys.argv[1:]:  # an sdist ships sources only: the wheel built from it sets its own pin
    LISTENER_PICOWS = None
if LISTENER_PICOWS:
    print(f"realtime_fast: picows listener compiled against picows {LISTENER_PICOWS}: requiring picows=={LISTENER_PICOWS}", file=sys.stderr)

setup(ext_modules=EXTENSIONS, install_requires=install_requires(LISTENER_PICOWS), cmdclass={"build_ext": ReportingBuildExt})
