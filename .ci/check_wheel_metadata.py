"""Check a built realtime_fast wheel: its runtime requirements, its files, and its manylinux policy.

Usage: python check_wheel_metadata.py WHEEL  (run in the venv the wheel is installed in, with
auditwheel installed there).  Exits non-zero with a message naming what is wrong.
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

#: The compiled modules every CPython wheel must hold.
COMPILED = ["_audio", "_events", "_conversation_core", "_client_fast", "transport/_picows_listener", "relay/_picows_pipe"]
#: Runtime requirements other than picows (name -> specifier).
BASE = {"numpy": ">=1.24", "orjson": ">=3.9", "websockets": ">=14.2", "prometheus_client": ">=0.17"}
#: The newest glibc a wheel may need: cibuildwheel's default image (manylinux_2_28) builds there.
NEWEST_GLIBC = (2, 28)


def fail(message: str) -> None:
    print(f"wheel check FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def main(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode())

    requirements = [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]
    runtime = [r for r in requirements if "extra" not in str(r.marker or "")]
    by_name = {canonicalize_name(r.name): r for r in runtime}
    for name, specifier in BASE.items():
        name = canonicalize_name(name)
        if name not in by_name or str(by_name[name].specifier) != specifier:
            fail(f"Requires-Dist should have {name}{specifier}; it has {[str(r) for r in runtime]}")
    picows = by_name.get("picows")
    installed = importlib.metadata.version("picows")
    if picows is None or str(picows.specifier) != f"=={installed}":
        fail(f"the compiled picows listener was built against picows {installed}, so Requires-Dist must pin "
             f"picows=={installed}; it has {picows}")
    if picows.marker is None or not picows.marker.evaluate({"platform_python_implementation": "CPython"}):
        fail(f"the picows requirement must apply on CPython: {picows}")
    print("Requires-Dist:", ", ".join(str(r) for r in runtime))

    for module in COMPILED:
        if not any(re.fullmatch(rf"realtime_fast/{module}\.[^/]+\.(so|pyd)", n) for n in names):
            fail(f"the wheel has no compiled realtime_fast/{module}")
    # The relay's voice page is the one HTML file that belongs in the wheel.
    leaked = [n for n in names if n.endswith((".c", ".pyx", ".html")) and not n.startswith("realtime_fast/relay/page/")]
    if leaked:
        fail(f"the wheel ships build sources: {leaked}")
    if "realtime_fast/py.typed" not in names:
        fail("the wheel has no realtime_fast/py.typed")
    print(f"files: {len(names)}, compiled modules present, no .c/.pyx/.html")

    if sys.platform.startswith("linux"):
        shown = subprocess.run([sys.executable, "-m", "auditwheel", "show", str(wheel)], capture_output=True, text=True, check=True).stdout
        tag = re.search(r'platform tag:\s+"manylinux_(\d+)_(\d+)_\w+"', shown)
        if tag is None:
            fail(f"auditwheel does not find the wheel manylinux-compatible:\n{shown}")
        glibc = (int(tag.group(1)), int(tag.group(2)))
        if glibc > NEWEST_GLIBC:
            fail(f"the wheel needs glibc {glibc[0]}.{glibc[1]}, newer than manylinux_2_28:\n{shown}")
        print(f"auditwheel: consistent with manylinux_{glibc[0]}_{glibc[1]}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
