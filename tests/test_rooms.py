"""The rooms' public names and the one-way dependencies between them (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import k8s_export
import launcher
import profiles
import trtl

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


@pytest.mark.parametrize("module", [profiles, launcher, k8s_export, trtl])
def test_public_names_are_sorted_and_exist(module):
    names = module.__all__
    assert names == sorted(names)
    assert all(hasattr(module, name) for name in names)


LAUNCHER_STAGES = ("gpus", "checks", "supervision", "deployments", "planning")


def test_launcher_is_grouped_by_stage():
    flat = sorted(p.name for p in (ROOT / "launcher").glob("*.py"))
    assert flat == ["__init__.py", "__main__.py", "api.py", "terminal.py"], flat
    for stage in LAUNCHER_STAGES:
        assert (ROOT / "launcher" / stage / "__init__.py").is_file()


def test_core_modules_do_not_import_the_cli():
    offenders = []
    for path in (ROOT / "launcher").rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[1] == "cli" or rel.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("launcher.cli"):
                offenders.append(str(rel))
    assert not offenders, f"core modules import the CLI: {offenders}"
