"""What each engine needs before ``trtl up`` starts anything; the engine module judges.

An engine takes a minute to load before it fails, so what can be known up front is checked
here, each failure one ``PreflightError`` sentence with the fix. The launcher gathers the
facts (what the worker Python imports, the model's config.json, the files a worker's argv
names); the engine's own module (``profiles.engines``) says what they mean:

- the worker Python can import the engine (``Engine.needs``) and has the right build of it
  (``Engine.check_packages``: e.g. vLLM's CPU build on a machine without GPU, NIXL for
  prefill/decode);
- the model is one the engine runs here (``Engine.check_model``: e.g. vLLM's CPU attention
  head sizes);
- each worker's argv, and the files it names, still say what the profile decided
  (``Engine.check_worker``: e.g. a vLLM prefill worker's KV transfer settings).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from trtl.launcher.checks.model_fetch import cached_snapshot, hf_cache_dir, is_local_path
from trtl.launcher.checks.python_env import cached_probe
from trtl.launcher.planning.plan import Plan, ProcessPlan
from trtl.profiles.engines import Engine, engine_of_module
from trtl.profiles.engines.base import Packages
from trtl.profiles.errors import PreflightError

DYNAMO_FIX = (
    "Install the trtl[dynamo] extra into it (`uv sync --extra dynamo` in a trtl checkout), "
    "or pass --python with a venv's python that has ai-dynamo 1.6.1."
)


def workers(plan: Plan) -> list[tuple[ProcessPlan, Engine]]:
    """Each worker process with its engine."""
    found = []
    for proc in plan.processes:
        eng = engine_of_module(proc.argv[2]) if len(proc.argv) > 2 else None
        if eng is not None:
            found.append((proc, eng))
    return found


def check_workers(plan: Plan) -> None:
    """Each worker's argv and the files it names. Raises PreflightError."""
    for proc, eng in workers(plan):
        refusal = eng.check_worker(proc.name, proc.mode, proc.argv, _read_yaml)
        if refusal:
            raise PreflightError(refusal.message, hint=refusal.hint)


def check_engines(plan: Plan) -> None:
    """Each process's Python can import its module and its engine. Raises PreflightError."""
    argvs = _worker_argvs(plan)
    for python, (modules, dists, engines) in python_needs(plan).items():
        _check_python(plan, python, modules, dists, engines, argvs.get(python, []))


def python_needs(plan: Plan) -> dict[str, tuple[list[str], list[str], dict[Engine, bool]]]:
    """Per Python of the plan: the modules and distributions to probe, in order, and its
    engines (engine -> disaggregated). The plan cache probes the same, from the same cache."""
    needs: dict[str, dict[str, None]] = {}  # python -> modules, in order
    dists: dict[str, dict[str, None]] = {}
    engines: dict[str, dict[Engine, bool]] = {}  # python -> engine -> disaggregated
    for proc in plan.processes:
        python, module = _python_module(proc)
        eng = engine_of_module(module)
        needs.setdefault(python, {})[module] = None
        dists.setdefault(python, {})
        if eng is not None:
            split = engines.setdefault(python, {}).get(eng, False) or proc.mode != "agg"
            engines[python][eng] = split
            needs[python].update(dict.fromkeys(eng.worker_needs(proc.argv)))
    result = {}
    for python, modules in needs.items():
        for eng, split in engines.get(python, {}).items():
            modules.update(dict.fromkeys(eng.needs(split)))
            dists[python].update(dict.fromkeys(eng.distributions()))
        result[python] = (list(modules), list(dists[python]), engines.get(python, {}))
    return result


def _worker_argvs(plan: Plan) -> dict[str, list[tuple[Engine, list[str]]]]:
    """Per Python of the plan: each worker's engine and argv."""
    argvs: dict[str, list[tuple[Engine, list[str]]]] = {}
    for proc in plan.processes:
        python, module = _python_module(proc)
        eng = engine_of_module(module)
        if eng is not None:
            argvs.setdefault(python, []).append((eng, proc.argv))
    return argvs


def _check_python(
    plan: Plan,
    python: str,
    modules: list[str],
    dists: list[str],
    engines: dict[Engine, bool],
    argvs: list[tuple[Engine, list[str]]],
) -> None:
    probe = cached_probe(python, modules, dists)
    origin = _origin(plan, python)
    if not probe.ok:
        raise PreflightError(
            f"the Python that runs Dynamo ({origin}{python}) {probe.error}.",
            hint="Pass --python with the path of a venv's python that has ai-dynamo, "
            "or leave --python out to use trtl's own.",
        )
    found = Packages(
        f"{origin}{python}", probe.version, probe.modules, probe.distributions, probe.requires
    )
    # Each engine first: it names itself and its own fix; then any module still missing.
    for eng, split in engines.items():
        refusal = eng.check_packages(found, cpu_only=plan.cpu_only, disaggregated=split)
        if refusal:
            raise PreflightError(refusal.message, hint=refusal.hint)
    for eng, argv in argvs:  # what one worker's own flags need (e.g. its KV connector)
        refusal = eng.check_worker_packages(found, argv)
        if refusal:
            raise PreflightError(refusal.message, hint=refusal.hint)
    for module in modules:
        if not probe.modules.get(module):
            raise PreflightError(
                f"{module} is not importable by {origin}{python} (Python {probe.version}).",
                hint=DYNAMO_FIX,
            )


def check_model_fits(plan: Plan) -> None:
    """The model is one each engine runs here. Raises PreflightError.

    Runs after the model check, so the model is on disk (a local directory or the HF cache).
    """
    found = workers(plan)
    if not found:
        return
    config_path = _model_dir(plan, found[0][0]) / "config.json"
    config = _read_json(config_path)
    if config is None:
        return  # the worker reports a config.json it cannot read; nothing sure to say here
    for eng in dict.fromkeys(eng for _, eng in found):
        problem = eng.check_model(config, cpu_only=plan.cpu_only, source=str(config_path))
        if problem:
            raise PreflightError(
                f"model {plan.profile.model} {problem}.",
                hint="Use a model the engine runs here (scripts/make_tiny_real_model.py makes "
                "a tiny one with head size 32), or run it on a GPU machine.",
            )


def _python_module(proc: ProcessPlan) -> tuple[str, str]:
    argv = proc.argv
    if len(argv) < 3 or argv[1] != "-m":
        # build_plan always writes `python -m MODULE`; anything else is a trtl bug.
        raise AssertionError(f"{proc.name}: argv does not run a module: {argv[:3]}")
    return argv[0], argv[2]


def _origin(plan: Plan, python: str) -> str:
    if plan.profile.python and python == plan.profile.python:
        return "the profile's python: "
    if python != sys.executable:
        return "--python "
    return ""


def _model_dir(plan: Plan, worker: ProcessPlan) -> Path:
    model = plan.profile.model
    if is_local_path(model):
        return Path(model).expanduser()
    snapshot = cached_snapshot(model, hf_cache_dir({**os.environ, **worker.env}))
    return snapshot or Path(model)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_yaml(path: str) -> Any:
    """A file a worker's argv names, for the engine to check; ValueError when unreadable."""
    import yaml

    try:
        return yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(str(exc)) from exc
