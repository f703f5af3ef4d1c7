"""Hypothesis strategies and the one check every bad-input property test makes.

The check is what a user sees: ``trtl`` either works (exit 0) or says what is wrong in
one sentence on stderr and exits 2 with nothing on stdout. A traceback, an exception's
repr or an "internal error" (exit 1) is a bug, whatever the input was.

Profile documents are drawn from the profile schema itself (``Profile.model_fields``),
so a field added to the format is fuzzed without touching this file. A document is
"tidy" (every field of its own type, mostly in range: it reaches the engine table and
the export) or "junky" (any field may be missing, of another type, or an unknown key).

The default run uses a small fixed, derandomized set of examples per property;
``HYPOTHESIS_PROFILE=deep`` runs each property's own (larger) count and
``HYPOTHESIS_PROFILE=hunt`` 3000 random ones to look for new bugs (tests/conftest.py).
"""

from __future__ import annotations

import copy
import math
import os
import re
import shlex
import types
import typing
from collections.abc import Callable
from typing import Any

import yaml
from click.testing import CliRunner, Result
from hypothesis import settings
from hypothesis import strategies as st
from pydantic import BaseModel
from trtl.profiles.schema import Profile


def fuzz_settings(max_examples: int = 150) -> settings:
    """Settings for a property whose thorough run takes ``max_examples`` examples.

    The default profile caps the count (``FAST_EXAMPLES`` in tests/conftest.py), ``deep``
    runs ``max_examples``, ``hunt`` its own 3000.
    """
    profile = os.environ.get("HYPOTHESIS_PROFILE", "fast")
    if profile == "hunt":
        return settings(settings.get_profile("hunt"))
    if profile == "deep":
        return settings(settings.get_profile("deep"), max_examples=max_examples)
    fast = settings.get_profile("fast")
    return settings(fast, max_examples=min(max_examples, fast.max_examples))


# ---------------------------------------------------------------- running trtl and checking

RUNNER = CliRunner()
ENV = {"NO_COLOR": "1", "COLUMNS": "80", "TRTL_DEBUG": None, "CUDA_VISIBLE_DEVICES": None}
# What only a crash prints: a traceback, trtl's own net for bugs, or an exception's repr.
LEAKS = re.compile(
    r"Traceback \(most recent call last\)|internal error|"
    r"\b(?:Key|Type|Value|Attribute|Index|Recursion|Runtime|Unicode\w*|OS|Name|Overflow|"
    r"ZeroDivision|Assertion|Lookup|Memory|Validation)(?:Error|Exception)\b|"
    r"<class '|object at 0x|<built-in|<function "
)

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def invoke(*args: str) -> Result:
    """``trtl ARGS`` in-process, as a script would run it (no colour, no debug tracebacks)."""
    from trtl.launcher.cli import cli

    return RUNNER.invoke(cli, list(args), prog_name="trtl", env=ENV, catch_exceptions=True)


def assert_clean(result: Result, args: tuple[str, ...] | list[str], given: str = "") -> None:
    """Exit 0, or exit 2 with one clean error sentence on stderr and nothing on stdout."""
    context = f"\n$ trtl {shlex.join(args)}\n{given}\n--- exit {result.exit_code}\n{result.output}"
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        import traceback

        trace = "".join(traceback.format_exception(exc))
        raise AssertionError(f"uncaught {type(exc).__name__}{context}\n{trace}")
    assert result.exit_code in (0, 2), f"exit {result.exit_code} is neither success nor 2{context}"
    assert not LEAKS.search(result.stderr), f"a crash leaks into the message{context}"
    if result.exit_code == 0:
        return
    assert result.stdout == "", f"a failed command wrote to stdout{context}"
    message = error_message(result.stderr)
    assert message, f"exit 2 without an error message{context}"
    if "Usage:" not in result.stderr:  # click's own usage errors have their own style
        assert message[-1] in ".?", f"the error is not a sentence{context}"
    # A raw carriage return or escape sequence from the input would garble the terminal.
    assert not CONTROL.search(result.stderr), f"control characters in the message{context}"


def error_message(stderr: str) -> str:
    """The error text: trtl's ``error: …`` lines (up to the hint) or click's ``Error: …``."""
    lines = stderr.split("\n")
    errors = [i for i, line in enumerate(lines) if line.startswith(("error: ", "Error: "))]
    assert len(errors) == 1, f"expected one error, got {len(errors)}:\n{stderr}"
    start = errors[0]
    body = [lines[start].split(": ", 1)[1]]
    # A multi-line error continues with indented lines ("Profile is invalid:\n  a.\n  b.").
    body += [line for line in lines[start + 1 :] if line.startswith("  ")]
    return "\n".join(body).strip()


def eight_idle_gpus():
    """An inventory of eight idle H100s, so trtllm plans place workers without NVML."""
    from trtl.launcher.gpus.inventory import Gpu, Inventory

    return Inventory(tuple(Gpu(i, f"GPU-{i:08d}", "NVIDIA H100", 81559, 0) for i in range(8)))


# ---------------------------------------------------------------- values of every kind

SPECIAL_TEXT = [
    "", " ", "\t", "~", "null", "yes", "no", "on", "0", "-1", "1e400", ".nan", ".inf", "0x1f",
    "0755", "1_000", "2024-01-01", "12:30:45", "<<", "=", "a=b", "[", "]", "{", "}", "'", '"',
    "*a", "&a", "!!python/object:os.system", "%YAML", "---", "...", "# c", "a: b", "- x",
    "\x00", "\x1b[31m", "\u202e", "é", "ünïcødé", "日本語", "🙂", "\ud7ff", "x" * 5000,
    "/dev/null", "../../etc/passwd", "C:\\x", "hf_" + "a" * 34,
]  # fmt: skip

texts = st.one_of(st.text(max_size=20), st.sampled_from(SPECIAL_TEXT))
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2, 64, 65, 65535, 65536, 2**31, 2**63, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.5, -0.0, 1e-300, 1e300]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(texts, st.integers(-5, 5), st.booleans()), inner, max_size=4),
    ),
    max_leaves=10,
)


# ---------------------------------------------------------------- profiles from the schema

ROLE_NAMES = ["worker", "prefill", "decode", "frontend", "Decode", "a" * 40, "", "x y", "1st"]
PROFILE_NAMES = ["agg", "p", "my-profile", "x" * 41, "Agg", "a_b", "-a", "", "é"]
EXTENDS = ["agg", "disagg", "disagg_router", "p", "p.yaml", "./p.yaml", "nosuch", "/", ""]


def _members(annotation: Any) -> list[Any]:
    """The types a field accepts: Optional, unions and Annotated taken apart."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    return [annotation]


# Leaf values per Python type: "tidy" ones are in range for most fields, "wide" ones not.
_WORD = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_TIDY: dict[Any, st.SearchStrategy[Any]] = {
    bool: st.booleans(),
    int: st.integers(1, 4),
    float: st.floats(0.5, 50),
    str: _WORD,
    "name": st.sampled_from(["agg", "p", "my-profile", "a_b"]),
    "extends": st.sampled_from(["agg", "disagg", "disagg_router"]),
    "workers": st.sampled_from(["worker", "prefill", "decode", "w2"]),
    "key": st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True),
    "any": st.one_of(st.integers(1, 4), _WORD, st.booleans()),
}
_WIDE: dict[Any, st.SearchStrategy[Any]] = {
    bool: st.booleans(),
    int: st.one_of(st.integers(-2, 70), numbers),
    float: st.one_of(st.floats(0, 100), numbers),
    str: texts,
    "name": st.sampled_from(PROFILE_NAMES),
    "extends": st.sampled_from(EXTENDS),
    "workers": st.sampled_from(ROLE_NAMES),
    "key": texts,
    "any": junk,
}


def _plausible(
    annotation: Any, field_name: str, depth: int, junk_too: bool
) -> st.SearchStrategy[Any]:
    """Values of ``annotation``'s own type, by Python type (wide-ranging with ``junk_too``)."""
    leaves = _WIDE if junk_too else _TIDY
    options: list[st.SearchStrategy[Any]] = []
    for member in _members(annotation):
        origin = typing.get_origin(member)
        if member is type(None):
            options.append(st.none())
        elif isinstance(member, type) and issubclass(member, BaseModel):
            options.append(model_documents(member, depth + 1, junk_too))
        elif origin is typing.Literal:
            options.append(st.sampled_from(typing.get_args(member)))
        elif origin is dict:
            _, value = typing.get_args(member)
            keys = leaves["workers" if field_name == "workers" else "key"]
            values = _plausible(value, "", depth + 1, junk_too)
            options.append(st.dictionaries(keys, values, max_size=3))
        elif origin is list:
            (item,) = typing.get_args(member)
            options.append(st.lists(_plausible(item, "", depth + 1, junk_too), max_size=3))
        elif member is str and field_name in leaves:
            options.append(leaves[field_name])
        elif member in leaves:
            options.append(leaves[member])
        else:  # Any, and anything this walk does not model
            options.append(leaves["any"])
    return st.one_of(options) if options else leaves["any"]


def model_documents(
    model: type[BaseModel], depth: int = 0, junk_too: bool = True
) -> st.SearchStrategy[dict]:
    """Mappings shaped like ``model``: each field plausible, missing or (``junk_too``) junk.

    Without junk the values are of the right type, though not always in range, so the
    draws get past validation into the engine table and the export.
    """
    if depth > 4:
        return st.dictionaries(texts, scalars, max_size=2)
    required, optional = {}, {}
    for name, info in model.model_fields.items():
        plausible = _plausible(info.annotation, name, depth, junk_too)
        if junk_too:
            optional[name] = st.one_of(*[plausible] * 3, junk)
        else:
            (required if info.is_required() else optional)[name] = plausible
    document = st.fixed_dictionaries(required, optional=optional)
    if not junk_too:
        return document
    extra = st.dictionaries(st.sampled_from(["tyop", "replica", "Name", "spec"]), junk, max_size=1)
    rarely_extra = st.one_of(*[st.just({})] * 4, extra)
    return st.tuples(document, rarely_extra).map(lambda pair: {**pair[0], **pair[1]})


def _overlay(base: Any, top: Any) -> Any:
    """``top`` over ``base``, mappings merged key by key (as ``extends`` does)."""
    if isinstance(base, dict) and isinstance(top, dict):
        return {**base, **{k: _overlay(base.get(k), v) for k, v in top.items()}}
    return copy.deepcopy(top)


def profile_documents(bases: list[dict]) -> st.SearchStrategy[dict]:
    """Schema-shaped documents: on their own, or laid over one of ``bases`` (valid files)."""
    shaped = st.one_of(model_documents(Profile), model_documents(Profile, junk_too=False))
    return st.one_of(
        shaped, st.tuples(st.sampled_from(bases), shaped).map(lambda bt: _overlay(*bt))
    )


# ---------------------------------------------------------------- mutating a document


def paths_of(node: Any, path: tuple = ()) -> list[tuple]:
    """Every path into ``node`` (mapping keys and list indices), parents first."""
    found = [path] if path else []
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        items = []
    for key, value in items:
        found.extend(paths_of(value, (*path, key)))
    return found


def _retype(value: Any) -> Any:
    """The same content in another type: what a hand-edit often does."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)} or None
    if isinstance(value, dict):
        return list(value.values()) or ""
    return {}


@st.composite
def mutations(draw: st.DrawFn, document: Any, max_edits: int = 3) -> Any:
    """``document`` with 1..max_edits nodes dropped, replaced, retyped or duplicated."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, max_edits))):
        paths = paths_of(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        how = draw(st.sampled_from(["drop", "replace", "retype", "copy", "rename"]))
        if how == "drop":
            del parent[key]
        elif how == "replace":
            parent[key] = draw(junk)
        elif how == "retype":
            parent[key] = _retype(parent[key])
        elif how == "copy" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif isinstance(parent, dict):
            parent[draw(texts)] = parent.pop(key)
    return doc


# ---------------------------------------------------------------- YAML text of every sort


def dump(document: Any) -> str:
    """YAML text for any drawn value (anything PyYAML's safe dumper can write)."""
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def _nested(depth: int) -> str:
    return "".join(f"{'  ' * i}k{i}:\n" for i in range(depth)) + "  " * depth + "v\n"


def _laughs(levels: int) -> str:
    """The 'billion laughs': each level a list of ten aliases of the one before."""
    lines = ["workers: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\nname: agg\n"


YAML_SHAPES: list[Callable[[Any], str]] = [
    lambda draw: "",
    lambda draw: "   \n\n# only a comment\n",
    lambda draw: "---\n---\n",
    lambda draw: "...\n",
    lambda draw: "- a\n- b\n",
    lambda draw: "just a string\n",
    lambda draw: "name: agg\nname: agg\nworkers: {}\n",  # duplicate key
    lambda draw: "name: agg\nworkers:\n\tworker: {mode: agg}\n",  # a tab for indent
    lambda draw: "base: &b {mode: agg}\nname: p\nworkers: {w: *b, v: {<<: *b, replicas: 2}}\n",
    lambda draw: "name: p\nworkers: &w {worker: *w}\n",  # an alias inside its own anchor
    lambda draw: "name: p\nworkers: *undefined\n",
    lambda draw: _nested(draw(st.sampled_from([50, 500, 1500]))),
    lambda draw: "name: p\nworkers: " + "[" * 1000 + "]" * 1000 + "\n",
    lambda draw: "name: p\nworkers: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n",
    lambda draw: _laughs(draw(st.integers(1, 9))),
    lambda draw: "!!binary aGVsbG8=\n",
    lambda draw: "name: !!python/name:os.system p\nworkers: {}\n",
    lambda draw: "? [a, b]\n: 1\nname: p\n",  # a list as a key
    lambda draw: "? {a: 1}\n: 1\n",
    lambda draw: "name: p\nmodel: " + "x" * draw(st.sampled_from([10_000, 1_000_000])) + "\n",
    lambda draw: "name: p\nworkers: {worker: {mode: agg, replicas: 1e400}}\n",
    lambda draw: "name: p\nworkers: {worker: {mode: agg, replicas: .nan}}\n",
    lambda draw: "name: p\nworkers: {worker: {mode: agg, engine_config: {d: 2024-01-01}}}\n",
    lambda draw: "name: p\nworkers: {worker: {mode: agg, engine_config: {2024-01-01: 1}}}\n",
    lambda draw: "name: p\nworkers: {worker: {mode: agg, engine_config: {1: a, '1': b}}}\n",
    lambda draw: "name: p\nenv: {X: 2024-01-01}\nworkers: {worker: {mode: agg}}\n",
    lambda draw: "%YAML 1.1\n---\nname: p\n",
    lambda draw: "%YAML 9.9\n---\nname: p\n",
    lambda draw: "\ufeffname: p\nworkers: {worker: {mode: agg}}\n",  # a byte-order mark
    lambda draw: "name: p\r\nworkers:\r\n  worker: {mode: agg}\r\n",
]


@st.composite
def yaml_texts(draw: st.DrawFn) -> str:
    """Odd YAML text: empty, broken, tabs, duplicate keys, aliases, deep nesting, huge."""
    shape = draw(st.sampled_from(YAML_SHAPES))
    return shape(draw)


# ---------------------------------------------------------------- --set paths and values


def setting_paths(
    model: type[BaseModel] = Profile, roles: tuple[str, ...] = ("worker",)
) -> list[str]:
    """Every dotted path the format has, worker roles named ``roles``."""
    found: list[str] = []
    for name, info in model.model_fields.items():
        found.append(name)
        for member in _members(info.annotation):
            if isinstance(member, type) and issubclass(member, BaseModel):
                found += [f"{name}.{sub}" for sub in setting_paths(member, roles)]
            elif typing.get_origin(member) is dict:
                value = typing.get_args(member)[1]
                if isinstance(value, type) and issubclass(value, BaseModel):
                    for role in roles:
                        found.append(f"{name}.{role}")
                        found += [f"{name}.{role}.{sub}" for sub in setting_paths(value, roles)]
                else:  # free-form: env, engine_config, pod fields
                    found += [f"{name}.KEY", f"{name}.a.b"]
    return sorted(set(found))


@st.composite
def dotted_paths(draw: st.DrawFn, roles: tuple[str, ...] = ("worker",)) -> str:
    """A real setting's path, sometimes bent: a typo, an extra or empty part, odd text."""
    parts = draw(st.sampled_from(setting_paths(roles=roles))).split(".")
    how = draw(st.sampled_from(["as is", "as is", "typo", "extend", "cut", "empty", "odd"]))
    if how == "typo":
        i = draw(st.integers(0, len(parts) - 1))
        parts[i] = draw(st.sampled_from([parts[i][:-1], parts[i].upper(), parts[i] + "s", ""]))
    elif how == "extend":
        parts.append(draw(texts))
    elif how == "cut" and len(parts) > 1:
        parts.pop(draw(st.integers(0, len(parts) - 1)))
    elif how == "empty":
        parts.insert(draw(st.integers(0, len(parts))), "")
    elif how == "odd":
        parts[draw(st.integers(0, len(parts) - 1))] = draw(texts)
    return ".".join(parts)


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip()


set_values = st.one_of(
    texts,
    st.sampled_from(["[1, 2", "{a: 1", "'x", '"x', "a=b=c", "[[[]]]", "{a: [1, {b: 2}]}",
                     "!!str 5", "!!int x", "&a [*a]", "*nope", "? a", "- a", "|\n  x", "a\nb"]),
    junk.map(_flow),
)  # fmt: skip
