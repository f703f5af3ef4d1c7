"""What another Python interpreter can import, asked in one subprocess.

Dynamo may live in a venv other than trtl's (``--python`` or the profile's ``python:``),
so trtl cannot look at its own ``sys.path``. ``probe_python`` runs the target interpreter
once with a small script that answers in JSON: its version, which modules it could import
(``importlib.util.find_spec``, without importing them) and which distributions it has.
It never raises: a missing or broken interpreter gives ``ok=False`` and an error text.
``trtl up``'s preflight and ``trtl doctor`` both read it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Starting an interpreter and importing a parent package (``dynamo`` for ``dynamo.mocker``)
# takes well under a second; a minute means something is wrong with that interpreter.
PROBE_TIMEOUT = 60.0

# The answer's line starts with this, so a program that merely echoes its arguments (or
# a sitecustomize that prints) is not mistaken for an answer.
_MARK = "trtl-probe:"

# Runs inside the target interpreter: only the standard library, and Python 3.8 syntax so an
# old interpreter still answers with its version instead of a SyntaxError.
_SCRIPT = r"""
import json, sys
import importlib.util
try:
    import importlib.metadata as md
except ImportError:
    md = None
MARK, query = sys.argv[1], json.loads(sys.argv[2])
modules = {}
for name in query["modules"]:
    try:
        modules[name] = importlib.util.find_spec(name) is not None
    except Exception:
        # find_spec("a.b") imports "a"; a missing or broken parent means "not importable".
        modules[name] = False
dists, requires = {}, {}
for name in query["distributions"]:
    try:
        dists[name] = md.version(name)
        requires[name] = list(md.requires(name) or [])
    except Exception:
        dists[name] = None
print(MARK + json.dumps({
    "version": "%d.%d.%d" % sys.version_info[:3],
    "executable": sys.executable,
    "modules": modules,
    "distributions": dists,
    "requires": requires,
}))
"""


@dataclass(frozen=True)
class PythonProbe:
    """What one interpreter answered; ``ok`` is False when it could not be asked at all."""

    python: str
    ok: bool
    version: str | None = None
    error: str | None = None
    modules: dict[str, bool] = field(default_factory=dict)
    distributions: dict[str, str | None] = field(default_factory=dict)
    requires: dict[str, list[str]] = field(default_factory=dict)


def probe_python(
    python: str, modules: Iterable[str] = (), distributions: Iterable[str] = ()
) -> PythonProbe:
    """Ask ``python`` (a path, or a name looked up on PATH) what it can import. Never raises."""
    modules, distributions = list(modules), list(distributions)
    error = _not_runnable(python)
    if error:
        return PythonProbe(python=python, ok=False, error=error)
    query = json.dumps({"modules": modules, "distributions": distributions})
    try:
        done = subprocess.run(
            [os.path.expanduser(python), "-c", _SCRIPT, _MARK, query],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return PythonProbe(python, False, error=f"did not answer within {PROBE_TIMEOUT:.0f} s")
    except OSError as exc:
        return PythonProbe(python, False, error=f"cannot be run: {exc.strerror or exc}")
    answer = _answer(done.stdout)
    if answer is None:
        return PythonProbe(python, False, error=_not_python(done))
    return PythonProbe(
        python=python,
        ok=True,
        version=answer.get("version"),
        modules={name: bool(answer["modules"].get(name)) for name in modules},
        distributions={name: answer["distributions"].get(name) for name in distributions},
        requires={name: list(reqs) for name, reqs in answer.get("requires", {}).items()},
    )


def _answer(stdout: str) -> dict[str, Any] | None:
    """The probe's JSON from stdout, or None when the program was not a working Python."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(_MARK):
            try:
                answer = json.loads(line[len(_MARK) :])
            except ValueError:
                return None
            ok = isinstance(answer, dict) and isinstance(answer.get("modules"), dict)
            return answer if ok and isinstance(answer.get("distributions"), dict) else None
    return None


def _not_runnable(python: str) -> str | None:
    """Why ``python`` cannot even be started, or None."""
    if os.sep not in python:
        return None if shutil.which(python) else "is not on PATH"
    path = os.path.expanduser(python)
    if not os.path.exists(path):
        return "does not exist"
    if os.path.isdir(path):
        # People pass the venv itself; its interpreter is one level down.
        return f"is a directory, not an interpreter (a venv's Python is {path}/bin/python)"
    if not os.access(path, os.X_OK):
        return "is not executable"
    return None


def _not_python(done: subprocess.CompletedProcess[str]) -> str:
    """The error text for an interpreter whose answer was not the probe's JSON."""
    last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
    detail = f": {last[0][:200]}" if last[0] else ""
    return f"did not run the probe like a Python 3 interpreter (exit {done.returncode}){detail}"
