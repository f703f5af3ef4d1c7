"""Recognise the command a DGD component runs, and read profile fields out of its flags.

Upstream DGDs write commands three ways: ``command: [python3, -m, dynamo.trtllm]`` plus
``args``, everything in ``args``, or ``command: [/bin/sh, -c]`` with one shell line. All
three reduce to ``python -m MODULE ARGS``. Flags the engine table decides become profile
fields; the rest become ``extra_args`` in their original order.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from profiles.engines import MOCKER_EQUIVALENTS
from profiles.errors import ProfileError
from profiles.vllm_args import VLLM_EQUIVALENTS

SHELLS = {"sh", "bash", "dash", "zsh"}
SHELL_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>&1"}
PYTHON = re.compile(r"^python[0-9.]*$")
ENGINE_MODULES = {
    "dynamo.trtllm": "trtllm",
    "dynamo.mocker": "mocker",
    "dynamo.vllm": "vllm",
    "dynamo.sglang": "sglang",
}


@dataclass
class Command:
    module: str
    args: list[str]


def command_of(container: dict[str, Any], name: str, label: str) -> Command | None:
    """``python -m MODULE ARGS`` of the container; None when it sets no command at all."""
    argv = [str(a) for a in [*(container.get("command") or []), *(container.get("args") or [])]]
    if not argv:
        return None
    if posixpath.basename(argv[0]) in SHELLS and len(argv) >= 3 and argv[1] in ("-c", "-ec"):
        try:
            argv = shlex.split(argv[2])
        except ValueError as exc:
            raise _unrecognised(name, argv, label) from exc
        if SHELL_OPERATORS & set(argv):
            raise _unrecognised(name, argv, label)
    if argv and argv[0] == "exec":
        argv = argv[1:]
    if len(argv) >= 3 and PYTHON.match(posixpath.basename(argv[0])) and argv[1] == "-m":
        return Command(argv[2], argv[3:])
    raise _unrecognised(name, argv, label)


def _unrecognised(name: str, argv: list[str], label: str) -> ProfileError:
    shown = shlex.join(argv[:4]) + (" …" if len(argv) > 4 else "")
    return ProfileError(
        f"{label}: component {name!r} runs `{shown}`, a command trtl does not recognise.",
        hint="trtl reads `python3 -m dynamo.<frontend|trtllm|vllm|mocker> …` commands.",
    )


def take(
    args: list[str], flags: set[str], switches: frozenset[str] = frozenset()
) -> tuple[dict[str, str], set[str], list[str]]:
    """(values of ``flags``, ``switches`` present, remaining args in order)."""
    values: dict[str, str] = {}
    seen: set[str] = set()
    rest: list[str] = []
    i = 0
    while i < len(args):
        flag, eq, value = args[i].partition("=")
        if flag in flags:
            if not eq:
                value = args[i + 1] if i + 1 < len(args) else ""
                i += 1
            values[flag] = value
        elif args[i] in switches:
            seen.add(args[i])
        else:
            rest.append(args[i])
        i += 1
    return values, seen, rest


def int_flag(values: dict[str, str], flag: str, component: str, label: str) -> int | None:
    """The whole number a flag was given, None when absent; raises ProfileError otherwise."""
    if flag not in values:
        return None
    try:
        return int(values[flag])
    except ValueError:
        raise ProfileError(
            f"{label}: component {component!r}: {flag} expects a whole number, "
            f"got {values[flag]!r}."
        ) from None


def flag_value(values: dict[str, str], flag: str, component: str, label: str) -> str | None:
    """A flag's value, None when absent; raises ProfileError when the flag has none."""
    value = values.get(flag)
    if value is not None and not value.strip():
        raise ProfileError(f"{label}: component {component!r}: {flag} is given no value.")
    return value


def mocker_flags() -> tuple[dict[str, str], dict[str, tuple[str, bool]]]:
    """The engine table's mocker flags, inverted: value flag → config key, switch → (key, on)."""
    return _inverted(MOCKER_EQUIVALENTS)


def vllm_flags() -> tuple[dict[str, str], dict[str, tuple[str, bool]]]:
    """The engine table's vLLM flags for engine_config keys, inverted like ``mocker_flags``."""
    return _inverted(VLLM_EQUIVALENTS)


def _inverted(
    table: dict[str, Callable[[Any], list[str]]],
) -> tuple[dict[str, str], dict[str, tuple[str, bool]]]:
    values: dict[str, str] = {}
    switches: dict[str, tuple[str, bool]] = {}
    for key, build in table.items():
        on, off = build(True), build(False)
        if len(on) == 2:
            values[on[0]] = key
        else:
            switches[on[0]] = (key, True)
            switches[off[0]] = (key, False)
    return values, switches


def nested(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}``."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def number(text: str) -> Any:
    """A flag value as the engine config would hold it."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
