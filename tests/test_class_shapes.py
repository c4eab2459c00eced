"""What is slow only pure: a hot class with more instance attributes than CPython shares.

CPython 3.11 keeps at most 30 attribute names in a class's shared key table. Past that,
the pure build measured slower on every request: three more attributes on the Reactor
(29 to 32) cost hello ~2k instructions a request, and `__slots__` on the RequestParser (33
attributes) saved ~3k (docs/design.md, "What is slow only pure"). So a class of the hot
path (the modules the compiled build compiles) that sets more than 30 attributes on its
instances declares `__slots__`. Counted from the source: every `self.name = ...` in the
class body.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pronghorn.build import COMPILED_MODULES

SRC = Path(__file__).resolve().parents[1] / "src"
SHARED_KEYS_MAX = 30


def _classes(module: str) -> list[tuple[str, int, bool]]:
    """(name, attributes set on self, has __slots__) of each class in `module`."""
    tree = ast.parse((SRC / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        names = {
            target.attr
            for target in ast.walk(node)
            if isinstance(target, ast.Attribute)
            and isinstance(target.ctx, ast.Store)
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
        }
        slotted = any(
            isinstance(item, ast.Assign | ast.AnnAssign)
            and any(
                isinstance(t, ast.Name) and t.id == "__slots__"
                for t in (item.targets if isinstance(item, ast.Assign) else [item.target])
            )
            for item in node.body
        )
        found.append((node.name, len(names), slotted))
    return found


@pytest.mark.parametrize("module", COMPILED_MODULES)
def test_a_hot_class_past_the_shared_keys_has_slots(module: str) -> None:
    crowded = [
        f"{name} ({count} attributes)"
        for name, count, slotted in _classes(module)
        if count > SHARED_KEYS_MAX and not slotted
    ]
    assert not crowded, f"declare __slots__ in {module}: {crowded}"


def test_the_count_sees_the_parser() -> None:
    """The check counts what it claims to: the parser is past the limit, and slotted."""
    shapes = {name: (count, slotted) for name, count, slotted in _classes("pronghorn.http.parser")}
    count, slotted = shapes["RequestParser"]
    assert count > SHARED_KEYS_MAX and slotted
