"""The rooms' public names and the one-way dependencies between them (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import k8s_export
import launcher
import profiles

ROOT = Path(__file__).resolve().parents[1]
# room -> rooms it must never import
FORBIDDEN = {
    "profiles": {"launcher", "k8s_export"},
    "k8s_export": {"launcher"},
}


def imported_rooms(room: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / room).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_dependencies_point_one_way(room):
    imports = imported_rooms(room)
    bad = {other: sorted(imports[other]) for other in FORBIDDEN[room] if other in imports}
    assert not bad, f"{room} imports {bad}"


@pytest.mark.parametrize("module", [profiles, launcher, k8s_export])
def test_public_names_are_sorted_and_exist(module):
    names = module.__all__
    assert names == sorted(names)
    assert all(hasattr(module, name) for name in names)
