"""The layers of DESIGN.md, enforced: imports inside pronghorn point down only.

Each subpackage or top-level module has a rank; a module may import pronghorn modules of a
lower rank or of its own layer. The supervisor additionally never imports the request path.
Inside the I/O engine and the request dispatch, the files are ranked too (`INNER_RANK`): a
file imports only files of a lower rank, so no import circle can form among them (imports
made only for type checking count: a circle of types is a circle of the design).
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
    "channel": 2,
    "wsgi": 3,
    "static": 4,
    "logs": 4,
    "loader": 4,
    "demo": 4,
    "metrics": 4,
    "dispatch": 5,
    "io": 6,
    "supervisor": 7,
    "top": 7,
    "cli": 8,
    "api": 9,
    "paste": 10,
    "__main__": 11,
    "__init__": 11,
}
NEVER = {"supervisor": {"http", "wsgi", "static"}}
INNER_RANK = {
    "io": {
        "_sockcalls": 0,  # C (the compiled build's accept and read): imports nothing
        "stream": 0,
        "tls": 0,
        "protocols": 0,
        "listeners": 0,
        "sockets": 1,
        "parked": 2,
        "outbox": 2,
        "contracts": 3,
        "preamble": 4,
        "batching": 4,
        "socket_channel": 4,
        "client": 5,
        "tls_connection": 6,
        "reactor": 7,
        "observer": 8,
        "worker": 9,
        "__init__": 10,
    },
    "dispatch": {"settings": 0, "requests": 1, "request_hooks": 2, "__init__": 3},
}


def _layer(module_path: Path) -> str:
    relative = module_path.relative_to(SRC)
    return relative.parts[0].removesuffix(".py")


def _pronghorn_imports(module_path: Path, depth: int = 1) -> set[str]:
    """The pronghorn layers a module imports; with `depth` 2, `layer.module` too."""
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
            if parts[0] == "pronghorn" and len(parts) > depth:
                found.add(".".join(parts[1 : depth + 1]))
    return found


MODULES = sorted(SRC.rglob("*.py"))


def test_every_layer_has_a_rank() -> None:
    unknown = {_layer(path) for path in MODULES} - RANK.keys()
    assert not unknown, f"give these layers a rank in RANK: {unknown}"


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


INNER = [path for path in MODULES if _layer(path) in INNER_RANK]


def test_every_inner_file_has_a_rank() -> None:
    unknown = {
        f"{_layer(path)}/{path.stem}" for path in INNER if path.stem not in INNER_RANK[_layer(path)]
    }
    assert not unknown, f"give these files a rank in INNER_RANK: {unknown}"


@pytest.mark.parametrize("module_path", INNER, ids=lambda p: str(p.relative_to(SRC)))
def test_files_inside_a_layer_import_down(module_path: Path) -> None:
    layer, name = _layer(module_path), module_path.stem
    ranks = INNER_RANK[layer]
    for imported in _pronghorn_imports(module_path, depth=2):
        imported_layer, _, imported_name = imported.partition(".")
        if imported_layer != layer:
            continue
        assert imported_name in ranks, f"{layer}/{imported_name} has no rank in INNER_RANK"
        assert ranks[imported_name] < ranks[name], (
            f"{layer}/{name} (rank {ranks[name]}) imports {layer}/{imported_name} "
            f"(rank {ranks[imported_name]}): files import only files ranked below them"
        )
