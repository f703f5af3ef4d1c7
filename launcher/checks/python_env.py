"""What another Python interpreter can import, asked in one subprocess.

Dynamo may live in a venv other than trtl's (``--python`` or the profile's ``python:``),
so trtl cannot look at its own ``sys.path``. ``probe_python`` runs the target interpreter
once with a small script that answers in JSON: its version, which modules it could import
(``importlib.util.find_spec``, without importing them) and which distributions it has.
It never raises: a missing or broken interpreter gives ``ok=False`` and an error text.
``trtl up``'s preflight and ``trtl doctor`` both read it.

Starting that interpreter costs ``trtl up`` about 45 ms (more on a busy machine), on the
way to every start. ``cached_probe`` keeps a positive answer per interpreter, module list,
working directory and ``PYTHON*`` settings, stamped with the modification times of the
interpreter, every ``sys.path`` directory it had and each module found: installing or
removing a package changes one of them, and then the interpreter is asked again. A
negative answer is never kept, so a fixed environment is seen at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
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
modules, origins = {}, []
for name in query["modules"]:
    try:
        spec = importlib.util.find_spec(name)
        modules[name] = spec is not None
        if spec is not None and spec.origin and spec.has_location:
            origins.append(spec.origin)
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
    "path": [p for p in sys.path if p],
    "origins": origins,
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
    # Where the interpreter looks for modules, and the files of those found: what
    # cached_probe stamps.
    search_path: list[str] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)


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
        search_path=[str(p) for p in answer.get("path") or []],
        origins=[str(p) for p in answer.get("origins") or []],
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


# --- the cache of positive answers -----------------------------------------------------------

CACHE_VERSION = 2
CACHE_ENTRIES = 32  # interpreters × working directories; the oldest go first


def cache_file() -> str:
    """``$XDG_CACHE_HOME/trtl/python-probes.json`` (default ``~/.cache/trtl/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "trtl", "python-probes.json")


def cached_probe(
    python: str, modules: Iterable[str], distributions: Iterable[str] = ()
) -> PythonProbe:
    """``probe_python(python, modules, distributions)``, answered from the cache while
    nothing it depends on has changed. Never raises (a cache that cannot be read or written
    is skipped)."""
    modules, distributions = list(modules), list(distributions)
    key = _cache_key(python, [*modules, *(f"dist:{d}" for d in distributions)])
    entries = _read_cache()
    entry = entries.get(key) if key else None
    if isinstance(entry, dict) and entry.get("stamp") == _stamp(
        python, entry.get("search_path"), entry.get("origins")
    ):
        return PythonProbe(
            python=python,
            ok=True,
            version=entry.get("version"),
            modules=dict.fromkeys(modules, True),
            distributions=dict(entry.get("distributions") or {}),
            search_path=list(entry.get("search_path") or []),
            origins=list(entry.get("origins") or []),
        )
    probe = probe_python(python, modules, distributions)
    if key and probe.ok and all(probe.modules.values()):
        entries.pop(key, None)
        entries[key] = {
            "version": probe.version,
            "distributions": probe.distributions,
            "search_path": probe.search_path,
            "origins": probe.origins,
            "stamp": _stamp(python, probe.search_path, probe.origins),
        }
        _write_cache(dict(list(entries.items())[-CACHE_ENTRIES:]))
    return probe


def _cache_key(python: str, modules: list[str]) -> str | None:
    path = shutil.which(python) if os.sep not in python else os.path.expanduser(python)
    if not path:
        return None
    # What else decides what `python -c` finds: its working directory (first on sys.path)
    # and the PYTHON* variables (PYTHONPATH, PYTHONHOME, PYTHONNOUSERSITE, ...).
    settings = sorted((k, v) for k, v in os.environ.items() if k.startswith("PYTHON"))
    where = [os.path.abspath(path), os.getcwd()]
    return json.dumps([CACHE_VERSION, *where, sorted(modules), settings])


def _stamp(python: str, search_path: object, origins: object) -> list[object] | None:
    """Modification times that change when the interpreter or its packages do."""
    if not isinstance(search_path, list) or not isinstance(origins, list):
        return None
    path = shutil.which(python) if os.sep not in python else os.path.expanduser(python)
    stamp: list[object] = []
    for item in [path or python, os.path.realpath(path or python), *search_path, *origins]:
        try:
            st = os.stat(item)
            # A directory's mtime moves when entries are added or removed (an install).
            stamp.append([st.st_mtime_ns, 0 if stat.S_ISDIR(st.st_mode) else st.st_size])
        except (OSError, TypeError, ValueError):
            stamp.append(None)
    return stamp


def _read_cache() -> dict[str, Any]:
    try:
        with open(cache_file(), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(entries: dict[str, Any]) -> None:
    from trtl.launcher.deployments.files import write_atomic

    target = cache_file()
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        write_atomic(target, json.dumps(entries))
