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
from dataclasses import dataclass
from typing import Any

from trtl.profiles.engines import ENGINES, FRONTEND_MODULE
from trtl.profiles.engines.argv import int_flag, take
from trtl.profiles.errors import ProfileError

SHELLS = {"sh", "bash", "dash", "zsh"}
SHELL_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>&1"}
PYTHON = re.compile(r"^python[0-9.]*$")


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
        hint=f"trtl reads `python3 -m <{'|'.join(_modules())}> …` commands.",
    )


def _modules() -> list[str]:
    return [FRONTEND_MODULE, *(e.module for e in ENGINES.values())]


__all__ = ["Command", "command_of", "int_flag", "take"]
