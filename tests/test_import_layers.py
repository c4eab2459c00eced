"""The layers of DESIGN.md, enforced: imports inside pronghorn point down only.

Each subpackage or top-level module has a rank; a module may import pronghorn modules of a
lower rank or of its own layer. The supervisor additionally never imports the request path.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pronghorn"

RANK = {
    "errors": 0,
    "build": 0,
    "config": 1,
    "http": 1,
    "wsgi": 2,
    "static": 3,
    "logs": 3,
    "loader": 3,
    "demo": 3,
    "metrics": 3,
    "io": 4,
    "supervisor": 5,
    "cli": 6,
    "api": 7,
    "paste": 8,
    "__main__": 9,
    "__init__": 9,
}
NEVER = {"supervisor": {"http", "wsgi", "static"}}


def _layer(module_path: Path) -> str:
    relative = module_path.relative_to(SRC)
    return relative.parts[0].removesuffix(".py")


def _pronghorn_imports(module_path: Path) -> set[str]:
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "pronghorn" and len(parts) > 1:
                found.add(parts[1])
    return found


MODULES = sorted(SRC.rglob("*.py"))


def test_every_layer_has_a_rank() -> None:
    unknown = {_layer(path) for path in MODULES} - RANK.keys()
    assert not unknown, f"give these layers a rank in tests/test_layering.py: {unknown}"


@pytest.mark.parametrize("module_path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(module_path: Path) -> None:
    layer = _layer(module_path)
    if layer not in RANK:
        pytest.fail(f"unranked layer {layer}")
    for imported in _pronghorn_imports(module_path):
        if imported == layer:
            continue
        assert imported in RANK, f"{module_path.name} imports unknown layer {imported}"
        assert RANK[imported] < RANK[layer], (
            f"{module_path.relative_to(SRC)} ({layer}) imports {imported}, a layer above it"
        )
        assert imported not in NEVER.get(layer, set()), f"{layer} must not import {imported}"
