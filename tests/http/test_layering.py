"""`pronghorn.http` is sans-I/O: only the standard library and httptools, and none of the
modules that would tie it to sockets, threads, clocks or logging (DESIGN.md section 2)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

HTTP_DIR = Path(__file__).resolve().parents[2] / "src" / "pronghorn" / "http"
ALLOWED_THIRD_PARTY = {"httptools"}
FORBIDDEN = {
    "socket",
    "threading",
    "asyncio",
    "logging",
    "time",
    "select",
    "selectors",
    "ssl",
    "_thread",
    "multiprocessing",
    "concurrent",
    "signal",
    "subprocess",
}
MODULES = sorted(HTTP_DIR.glob("*.py"))


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside the package
                found.append((node.lineno, "pronghorn.http." + (node.module or "")))
            else:
                found.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            found.append((node.lineno, "__import__"))
    return found


def test_there_are_modules() -> None:
    assert {p.name for p in MODULES} >= {"events.py", "parser.py", "response.py"}


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_imports_are_sans_io(path: Path) -> None:
    for line, name in _imports(path):
        top = name.split(".")[0]
        where = f"{path.name}:{line} imports {name}"
        assert top not in FORBIDDEN, where
        if top == "pronghorn":
            assert name.startswith("pronghorn.http"), where
            continue
        assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, where
        assert top != "__import__", where
