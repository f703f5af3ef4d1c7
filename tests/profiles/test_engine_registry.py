"""The engine registry: every engine implements the whole interface, and no module outside
``profiles/engines/`` names an engine (adding one is one module, not twenty edits)."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import click
import pytest
from trtl.profiles.engines import ENGINES, engine, engine_names, engine_of_module
from trtl.profiles.engines.base import Engine
from trtl.profiles.errors import ProfileError
from trtl.profiles.schema import Profile

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "profiles" / "engines"
ROOMS = ("launcher", "k8s_export", "profiles")
ATTRIBUTES = {
    "name": str,
    "title": str,
    "module": str,
    "image_repository": str,
    "uses_gpus": bool,
    "cpu_without_gpu": bool,
}


@pytest.mark.parametrize("name", engine_names())
def test_every_engine_implements_the_whole_interface(name):
    eng = engine(name)
    assert isinstance(eng, Engine)
    own = {k for cls in type(eng).__mro__ if cls is not Engine for k in vars(cls)}
    missing = sorted(Engine.__abstractmethods__ - own)
    assert not missing, f"{name} inherits {missing} instead of implementing them"
    for attribute, kind in ATTRIBUTES.items():
        assert isinstance(getattr(eng, attribute), kind), attribute
    assert eng.name == name
    assert eng.framework is None or isinstance(eng.framework, str)
    assert eng.owned and all(flag.startswith("-") for flag in eng.owned)
    assert engine_of_module(eng.module) is eng


@pytest.mark.parametrize("name", engine_names())
def test_every_engine_has_an_nvidia_runtime_image(name):
    image = engine(name).default_image("1.6.1")
    assert image.startswith("nvcr.io/nvidia/ai-dynamo/") and image.endswith("-runtime:1.6.1")


def test_the_schema_and_the_cli_offer_the_registrys_engines():
    assert typing.get_args(Profile.model_fields["engine"].annotation) == engine_names()
    assert Profile.model_fields["engine"].default == engine_names()[0]
    from trtl.launcher.cli import cli

    plan = cli.get_command(click.Context(cli), "plan")
    option = next(p for p in plan.params if p.name == "engine")
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == engine_names()


def test_an_unknown_engine_is_one_sentence():
    with pytest.raises(ProfileError, match="engine 'tgi' is not one trtl runs; use one of"):
        engine("tgi")


# The schema's per-engine settings blocks (mocker:, vllm:, ...) are the profile format
# itself: their field descriptions name the engine's module, as `trtl schema` shows users.
ALLOWED = {"profiles/schema.py"}


def docstrings(tree: ast.AST) -> set[int]:
    """The ids of docstring constants: prose, not code that decides anything."""
    found = set()
    for node in ast.walk(tree):
        kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        if isinstance(node, kinds) and node.body and isinstance(node.body[0], ast.Expr):
            found.add(id(node.body[0].value))
    return found


def engine_literals(path: Path) -> list[str]:
    """``file:line 'name'`` for every string constant naming an engine or its module."""
    names = set(ENGINES)
    modules = {e.module for e in ENGINES.values()}
    found = []
    tree = ast.parse(path.read_text())
    prose = docstrings(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        if id(node) in prose:
            continue
        if node.value in names or any(m in node.value for m in modules):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    return found


def test_no_module_outside_the_registry_names_an_engine():
    offenders = []
    for room in ROOMS:
        for path in sorted((ROOT / room).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if REGISTRY not in path.parents and rel not in ALLOWED:
                offenders += engine_literals(path)
    assert not offenders, "engine names outside profiles/engines/:\n" + "\n".join(offenders)


def test_the_scan_sees_an_engine_name():
    # The scan above must be able to fail: it finds the names where they belong.
    assert engine_literals(REGISTRY / "vllm.py")
