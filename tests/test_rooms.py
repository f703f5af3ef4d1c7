"""The rooms' public names and the one-way dependencies between them (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import trtl
from trtl import k8s_export, launcher, profiles

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
            for name in _imported_names(node):
                room = name.removeprefix("trtl.").split(".")[0]
                found.setdefault(room, set()).add(str(path.relative_to(ROOT)))
    return found


def _imported_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        if node.module == "trtl":  # from trtl import profiles
            return [f"trtl.{alias.name}" for alias in node.names]
        return [node.module]
    return []


ROOMS = ("launcher", "profiles", "k8s_export")


def test_every_import_of_a_room_goes_through_the_trtl_package():
    """An installed wheel has the rooms only under trtl/: a bare `import profiles` would
    work in a checkout and fail for every user."""
    bare = []
    for top in (*ROOMS, "trtl", "tests", "scripts"):
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if any(name.split(".")[0] in ROOMS for name in _imported_names(node)):
                    bare.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bare, bare


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
    # The Python API (api.py and the checks of its arguments) sits beside the stages it uses.
    assert flat == ["__init__.py", "__main__.py", "api.py", "api_arguments.py", "terminal.py"], flat
    for stage in LAUNCHER_STAGES:
        assert (ROOT / "launcher" / stage / "__init__.py").is_file()


def test_core_modules_do_not_import_the_cli():
    offenders = []
    for path in (ROOT / "launcher").rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[1] == "cli" or rel.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            module = node.module if isinstance(node, ast.ImportFrom) else ""
            if (module or "").startswith("trtl.launcher.cli"):
                offenders.append(str(rel))
    assert not offenders, f"core modules import the CLI: {offenders}"
