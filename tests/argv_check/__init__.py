"""Check generated command lines against Dynamo's real argument parsers, from tests.

``check_argvs`` runs ``validate.py`` (next to this file) once in a subprocess of the running
interpreter, which is the project's venv with ai-dynamo installed. It is a subprocess so that
the stand-in ``tensorrt_llm`` package and the parsers' ``sys.exit`` calls never reach the pytest
process. Dynamo is required: if it is missing the validator fails and so do the tests; they
are never skipped.

Batch all command lines of a test module into one call (a module-scoped fixture): every call
starts a Python process that imports the parsers.

    results = check_argvs([
        {"program": "trtllm", "argv": ["--model", "Qwen/Qwen3-0.6B"]},
        {"program": "frontend", "argv": ["--router-mode", "kv"], "env": {"DYN_FILE_KV": "/x"}},
    ])
    assert results[0]["ok"], results[0]["error"]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TypedDict

__all__ = ["VALIDATOR", "ArgvCheck", "ArgvCheckError", "ArgvResult", "Program", "check_argvs"]

VALIDATOR = Path(__file__).resolve().parent / "validate.py"

Program = Literal["frontend", "trtllm", "mocker", "vllm", "sglang"]

#: Inherited variables that the parsers read as defaults (every Dynamo flag has a DYN_* env
#: twin; the NATS TLS flags read NATS_TLS_*). Dropped so that a result depends only on the
#: check's own argv and env, not on the shell that runs the tests.
_DROPPED_ENV_PREFIXES = ("DYN_", "NATS_TLS_")

_TIMEOUT_S = 120
#: Importing vLLM's parser takes 15-30 s on a busy 2-core machine, parsing adds a little.
_VLLM_TIMEOUT_S = 600


class _ArgvCheckRequired(TypedDict):
    program: Program
    argv: list[str]


class ArgvCheck(_ArgvCheckRequired, total=False):
    """One command line: ``python -m dynamo.<program> <argv...>`` run with ``env`` added."""

    env: dict[str, str]


class ArgvResult(TypedDict):
    """What Dynamo's parser made of one command line."""

    ok: bool
    #: One line saying why the parser rejected it; "" when ok.
    error: str
    #: Warnings logged or raised while parsing, e.g. for a deprecated alias.
    warnings: list[str]
    #: The parsed config's fields when ok (non-JSON values as repr), else {}.
    parsed: dict[str, Any]


class ArgvCheckError(RuntimeError):
    """The validator itself failed (bad request, Dynamo missing, crash), not a check."""


def check_argvs(items: Sequence[ArgvCheck], python: str | Path | None = None) -> list[ArgvResult]:
    """Parse each command line with Dynamo's own parser; one result per item, same order.

    ``python`` runs the validator (default: this interpreter); "vllm" checks need one
    whose venv has vLLM, such as the real-engine tier's ``vllm_python``, and "sglang"
    checks one with SGLang, such as its ``sglang_python``.
    """
    if not items:
        return []
    interpreter = str(python or sys.executable)
    # vLLM's and SGLang's parsers import torch first: tens of seconds, minutes under load.
    heavy = any(i["program"] in ("vllm", "sglang") for i in items)
    timeout = _VLLM_TIMEOUT_S if heavy else _TIMEOUT_S
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(_DROPPED_ENV_PREFIXES)
    }
    try:
        proc = subprocess.run(
            [interpreter, str(VALIDATOR)],
            input=json.dumps(list(items)),
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ArgvCheckError(f"{VALIDATOR.name} ran longer than {timeout} s") from exc
    if proc.returncode != 0:
        raise ArgvCheckError(
            f"{VALIDATOR.name} exited with status {proc.returncode} under {interpreter}; "
            f"stderr:\n{proc.stderr[-4000:]}"
        )
    try:
        results: list[ArgvResult] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise ArgvCheckError(
            f"{VALIDATOR.name} printed no JSON result: {proc.stdout[-2000:]!r}"
        ) from exc
    if len(results) != len(items):
        raise ArgvCheckError(f"asked {len(items)} checks, got {len(results)} results")
    return results


def check_plans(
    plans: dict[str, Any],
    bad: dict[str, ArgvCheck],
    programs: dict[str, str],
    python: str | Path | None = None,
) -> dict[str, tuple[Any, ArgvResult]]:
    """Every process of every plan (``{key}/{process}``), then each ``bad/{key}`` command
    line, through Dynamo's parsers in one run: ``{key: (process plan or None, result)}``.
    ``programs`` maps a process's module (argv[2]) to the parser to use."""
    keys, procs, items = [], [], []
    for key, plan in plans.items():
        for proc in plan.processes:
            keys.append(f"{key}/{proc.name}")
            procs.append(proc)
            items.append(
                ArgvCheck(program=programs[proc.argv[2]], argv=proc.argv[3:], env=proc.env)
            )
    for key, item in bad.items():
        keys.append(f"bad/{key}")
        procs.append(None)
        items.append(item)
    results = check_argvs(items, python=python)
    return dict(zip(keys, zip(procs, results, strict=True), strict=True))
