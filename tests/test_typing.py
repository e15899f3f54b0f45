"""The public payload types (``realtime_fast.types``) and the client's typed signatures, checked by mypy.

``tests/typing/app_ok.py`` is an application's use of them and must type-check;
``tests/typing/app_wrong.py`` holds mistakes, and mypy must report exactly the
lines marked ``# error``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "typing"
pytestmark = pytest.mark.timeout(300)


def _mypy(path: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy", reason="mypy is in the test extra")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports", "--no-incremental",
         "--hide-error-context", "--no-error-summary", str(path)],
        capture_output=True, text=True, timeout=280,
    )


def test_an_application_using_the_payload_types_type_checks() -> None:
    result = _mypy(HERE / "app_ok.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mistakes_with_the_payload_types_are_reported() -> None:
    source = (HERE / "app_wrong.py").read_text().splitlines()
    expected = {n for n, line in enumerate(source, 1) if "# error:" in line and not line.lstrip().startswith(("\"\"\"", "#"))}
    result = _mypy(HERE / "app_wrong.py")
    reported = {int(m.group(1)) for m in re.finditer(r"app_wrong\.py:(\d+): error", result.stdout)}
    assert reported == expected, result.stdout + result.stderr
