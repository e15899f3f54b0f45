"""The package's structure: no module reads another class's private state, and no two modules import each other in a loop.

Both rules are checked on the sources (``src/realtime_fast``, ``.py`` and
``.pyx``), statically: a private attribute (``_name``, not a dunder) may only
be read on ``self`` / ``cls`` or on something the same file defines it for;
and the graph of imports between the package's modules (``TYPE_CHECKING``
imports and ``cimport`` included) has no cycle.  The short allow-lists below
say why each exception stands.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

import realtime_fast

PACKAGE = Path(realtime_fast.__file__).resolve().parent
SOURCE_ROOT = PACKAGE.parent

#: (file relative to the package, attribute) -> why the read is fine.
ALLOWED_PRIVATE_READS: Dict[Tuple[str, str], str] = {}

#: A compiled module may use its own pure twin's private helpers (``_py._name``): the two
#: are one module in two languages, and sharing the helpers keeps their messages identical.
TWIN_ALIASES = {"_py", "_audio_py"}


def _sources(suffix: str) -> List[Path]:
    return sorted(p for p in PACKAGE.rglob(f"*{suffix}") if "__pycache__" not in p.parts)


def _defined_private_names(tree: ast.AST) -> Set[str]:
    """Private names a Python file defines: functions, classes, attributes it assigns, slots."""
    names: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("_"):
            names.add(node.value)  # __slots__ entries
    return {name for name in names if name.startswith("_")}


def _private_reads_py(path: Path) -> Iterator[Tuple[int, str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = _defined_private_names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not isinstance(node.ctx, ast.Load):
            continue
        attr = node.attr
        if not attr.startswith("_") or (attr.startswith("__") and attr.endswith("__")):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in ("self", "cls"):
            continue
        if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "super":
            continue
        if attr in own:
            continue
        yield node.lineno, ast.unparse(base), attr


_IMPORT_LINE = re.compile(r"^\s*(from|import|cimport)\b")
_PYX_ATTRIBUTE = re.compile(r"(\b[A-Za-z_][\w.]*|\))\._([A-Za-z]\w*)")
_PYX_DEFINITION = re.compile(r"(?:cdef|cpdef|def)\b[^\n(]*?\b(_\w+)\s*[(:=\n]|(?:self|cls)\.(_\w+)\s*=|\b(_\w+)\s*=")


def _without_strings(text: str) -> str:
    """``text`` with its triple-quoted strings blanked (line numbers kept): prose may name private things."""
    return re.sub(r'"""[\s\S]*?"""', lambda m: "\n" * m.group(0).count("\n"), text)


def _private_reads_pyx(path: Path) -> Iterator[Tuple[int, str, str]]:
    text = _without_strings(path.read_text(encoding="utf-8"))
    pxd = path.with_suffix(".pxd")
    declared = text + (pxd.read_text(encoding="utf-8") if pxd.exists() else "")
    own = {name for match in _PYX_DEFINITION.finditer(declared) for name in match.groups() if name}
    own |= set(re.findall(r"cdef\s+(?:public\s+|readonly\s+)?[\w.*\[\]]+\s+(_\w+)", declared))
    for lineno, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        if _IMPORT_LINE.match(code):
            continue
        for match in _PYX_ATTRIBUTE.finditer(code):
            base, attr = match.group(1), "_" + match.group(2)
            if base in ("self", "cls") or base.endswith("__") or attr in own:
                continue
            if base in TWIN_ALIASES:
                continue
            yield lineno, base, attr


def test_no_module_reads_another_class_private_state() -> None:
    found = []
    for path in _sources(".py"):
        for lineno, base, attr in _private_reads_py(path):
            key = (str(path.relative_to(PACKAGE)), attr)
            if key not in ALLOWED_PRIVATE_READS:
                found.append(f"{path.relative_to(SOURCE_ROOT)}:{lineno}: {base}.{attr}")
    for path in _sources(".pyx"):
        for lineno, base, attr in _private_reads_pyx(path):
            key = (str(path.relative_to(PACKAGE)), attr)
            if key not in ALLOWED_PRIVATE_READS:
                found.append(f"{path.relative_to(SOURCE_ROOT)}:{lineno}: {base}.{attr}")
    assert not found, "private state read from outside its class (ask its owner through a public method):\n" + "\n".join(found)


# -- imports --------------------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, level: int, target: str) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _imports_py(path: Path, module: str) -> Set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node.level, node.module or "")
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # "from . import x" names a module
    return found


def _imports_pyx(path: Path) -> Set[str]:
    found: Set[str] = set()
    for match in re.finditer(r"^\s*(?:from\s+([\w.]+)\s+c?import|c?import\s+([\w.]+))", path.read_text(encoding="utf-8"), re.M):
        found.add(match.group(1) or match.group(2))
    return found


def _import_graph() -> Dict[str, Set[str]]:
    files = {_module_name(p): p for p in _sources(".py") + _sources(".pyx")}
    graph: Dict[str, Set[str]] = {}
    for module, path in files.items():
        targets = _imports_pyx(path) if path.suffix == ".pyx" else _imports_py(path, module)
        edges = set()
        for target in targets:
            while target and target not in files:  # "pkg.mod.name" -> "pkg.mod"
                target = target.rpartition(".")[0]
            if target and target != module:
                edges.add(target)
        graph[module] = edges
    return graph


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


#: A package's __init__ re-exports its modules; a module that imports a sibling through the
#: package (``from . import x``) is drawn as an edge to that sibling, not to __init__.
def _without_package_faces(graph: Dict[str, Set[str]]) -> Dict[str, Set[str]]:
    packages = {name for name in graph if (SOURCE_ROOT / name.replace(".", "/") / "__init__.py").exists()}
    return {module: {t for t in edges if t not in packages or module in packages} for module, edges in graph.items()}


def test_no_two_modules_import_each_other_in_a_loop() -> None:
    cycles = _cycles(_without_package_faces(_import_graph()))
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", ["realtime_fast._version", "realtime_fast.names", "realtime_fast.errors"])
def test_leaf_modules_import_nothing_of_the_package(module: str) -> None:
    assert not _import_graph()[module], f"{module} must stay a leaf: every module may import it"
