"""A validated plan, kept by the content of every input, so a repeated ``trtl up`` skips
pydantic, YAML and validation entirely and starts the processes first.

``trtl up`` in the foreground saves the plan it validated (argv, environment, ports, files
to write, and the few profile values supervising needs) under ``$XDG_STATE_HOME/trtl/
plan-cache/``, private to the user. The entry's name is a hash of what the command was
given and what it ran with; the entry holds what it read, and is used only while all of
it is unchanged:

- the ``up`` arguments (profile reference, ``--set`` overrides, every option), the working
  directory and the whole environment (but ``_``, ``SHLVL``, ``OLDPWD``, ``PWD``,
  ``COLUMNS`` and ``LINES``, which a shell changes between two identical commands);
- trtl itself: its Python and every source and built-in profile file (size and
  modification time);
- the profile files read (BLAKE2b hash of their content), and the profile search folders'
  listings (a new user profile of the same name would win);
- the model directory's listing (name, size, modification time of each entry), or that of
  its snapshot in the Hugging Face cache;
- the Python that runs Dynamo: the interpreter, every directory on its ``sys.path`` and the
  files of the modules the plan runs (what the engine-import check stamps): an install
  or upgrade of ai-dynamo changes them;
- the GPU inventory: plans that place workers on GPUs are not cached at all (placement
  reads the GPUs' free memory, which changes); the others are keyed on the GPUs present
  (``/proc/driver/nvidia/gpus``, ``/dev/nvidia*``) and the CPU affinity.

Anything unreadable, missing or different is a miss, and the command runs its normal,
validating path. A plan read back is a ``Plan`` whose ``profile`` is a ``ProfileValues``:
the validated values, without the pydantic model.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from trtl.launcher.deployments.paths import RunDir, state_home
from trtl.launcher.planning.plan_key import (
    CACHE_DIR,
    CACHE_VERSION,
    cache_key,
    read_entry,
    signature,
)
from trtl.launcher.planning.plan_types import Plan, ProcessPlan

CACHE_ENTRIES = 32  # the newest kept; one per distinct `trtl up` command line
# Set by the console-script entry point: the `up` arguments exactly as typed. Only a command
# started that way is cached (an in-process call, e.g. a test runner, has other argv).
ENTRY_ARGS: list[str] | None = None


@dataclass(frozen=True)
class ProfileValues:
    """What running a plan needs from its validated profile, without the pydantic model."""

    name: str
    engine: str
    model: str
    served_name: str
    python: str | None
    stop_grace: float
    frontend: SimpleNamespace  # .restart: the frontend's restart policy
    workers: dict[str, SimpleNamespace] = field(default_factory=dict)  # role -> .restart


@dataclass(frozen=True)
class CachedUp:
    """A cached ``trtl up``: the plan and the options as the validating run resolved them."""

    plan: Plan
    quiet: bool
    timeout: float
    grace: float
    verbose: bool = False
    log_max_bytes: int | None = None  # the LogLimits (None: the defaults)
    log_keep: int | None = None


# --- what the run read: checked when the entry is used ---------------------------------------


def _watched(profile_ref: str, plan: Plan, files_read: list[Path]) -> list[list[Any]]:
    from trtl.profiles.loader import search_dirs

    watched: list[tuple[str, str]] = [(str(p.resolve()), "content") for p in files_read]
    if os.path.isfile(profile_ref):
        watched.append((os.path.abspath(profile_ref), "content"))
    watched += [(str(folder), "listing") for _, folder in search_dirs()]
    watched.append((_model_folder(plan.profile.model), "listing"))
    for python, paths in _python_paths(plan).items():
        watched += [(path, "stat") for path in [python, os.path.realpath(python), *paths]]
    return [[path, kind, signature(path, kind)] for path, kind in dict.fromkeys(watched)]


def _model_folder(model: str) -> str:
    """The model's directory: the local one, or the Hugging Face cache's snapshot of it.
    Raises ValueError when it is in neither (then the plan is not kept)."""
    from trtl.launcher.checks.model_fetch import cached_snapshot, hf_cache_dir, is_local_path

    if is_local_path(model):
        return os.path.abspath(os.path.expanduser(model))
    snapshot = cached_snapshot(model, hf_cache_dir(os.environ))
    if snapshot is None:
        raise ValueError(f"{model} is not in the Hugging Face cache")
    return str(snapshot)


def _python_paths(plan: Plan) -> dict[str, list[str]]:
    """Per Dynamo interpreter: its sys.path and the files of the modules the plan runs, as
    the (cached) engine-import check found them."""
    from trtl.launcher.checks.preflight_engines import python_needs
    from trtl.launcher.checks.python_env import cached_probe

    paths = {}
    for python, (modules, dists, _engines) in python_needs(plan).items():
        probe = cached_probe(python, modules, dists)
        if not probe.ok or not all(probe.modules.values()):
            raise ValueError(f"{python} cannot import {modules}")
        paths[python] = [*probe.search_path, *probe.origins]
    return paths


# --- saving and loading ----------------------------------------------------------------------


def save(
    args: list[str],
    profile_ref: str,
    profile: Any,
    plan: Plan,
    *,
    quiet: bool,
    timeout: float,
    grace: float,
    verbose: bool = False,
    limits: Any = None,
) -> None:
    """Keep ``plan`` (validated, preflight passed) for the next identical ``trtl up``.
    Never raises: a plan that cannot be kept is simply validated again next time."""
    from trtl.profiles.yaml_source import FILES_READ

    if any(p.gpus for p in plan.processes):
        return  # placement depends on the GPUs' free memory at this moment
    try:
        entry = {
            "version": CACHE_VERSION,
            "watched": _watched(profile_ref, plan, FILES_READ),
            "options": {
                "quiet": quiet,
                "timeout": timeout,
                "grace": grace,
                "verbose": verbose,
                "log_max_bytes": limits.max_bytes if limits else None,
                "log_keep": limits.keep if limits else None,
            },
            "plan": _plan_data(plan, profile),
        }
        folder = state_home() / CACHE_DIR
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{cache_key(args)}.json"
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(entry, handle)
        os.replace(tmp, path)
        _prune(folder)
    except (OSError, ValueError, TypeError):
        return


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    for old in entries[:-CACHE_ENTRIES]:
        old.unlink(missing_ok=True)


def load(args: list[str]) -> CachedUp | None:
    """The cached plan for these ``up`` arguments if every input is unchanged, else None."""
    return from_entry(read_entry(args))


def from_entry(entry: dict[str, Any] | None) -> CachedUp | None:
    """The ``CachedUp`` of an entry ``plan_key.read_entry`` returned (None: None)."""
    if entry is None:
        return None
    try:
        options = entry["options"]
        return CachedUp(
            plan=_plan_from(entry["plan"]),
            quiet=bool(options["quiet"]),
            timeout=float(options["timeout"]),
            grace=float(options["grace"]),
            verbose=bool(options["verbose"]),
            log_max_bytes=_int_or_none(options["log_max_bytes"]),
            log_keep=_int_or_none(options["log_keep"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _plan_data(plan: Plan, profile: Any) -> dict[str, Any]:
    return {
        "deployment": plan.deployment,
        "namespace": plan.namespace,
        "frontend_url": plan.frontend_url,
        "run_dir": str(plan.run_dir.root),
        "processes": [asdict(p) for p in plan.processes],
        "files": {str(path): content for path, content in plan.files.items()},
        "notes": plan.notes,
        "gpu_source": plan.gpu_source,
        "gpu_skipped": {str(k): v for k, v in plan.gpu_skipped.items()},
        "gpu_shared": plan.gpu_shared,
        "cpu_only": plan.cpu_only,
        "http_host": plan.http_host,
        "profile": {
            "name": profile.name,
            "engine": profile.engine,
            "model": profile.model,
            "served_name": profile.served_name,
            "python": profile.python,
            "stop_grace": profile.stop_grace,
            "frontend": profile.frontend.restart.model_dump(),
            "workers": {role: w.restart.model_dump() for role, w in profile.workers.items()},
        },
    }


def _plan_from(data: dict[str, Any]) -> Plan:
    values = data["profile"]
    profile = ProfileValues(
        name=values["name"],
        engine=values["engine"],
        model=values["model"],
        served_name=values["served_name"],
        python=values["python"],
        stop_grace=float(values["stop_grace"]),
        frontend=SimpleNamespace(restart=SimpleNamespace(**values["frontend"])),
        workers={
            role: SimpleNamespace(restart=SimpleNamespace(**policy))
            for role, policy in values["workers"].items()
        },
    )
    return Plan(
        deployment=data["deployment"],
        profile=profile,  # type: ignore[arg-type]  # the validated values, duck-typed
        namespace=data["namespace"],
        frontend_url=data["frontend_url"],
        run_dir=RunDir(Path(data["run_dir"])),
        processes=[ProcessPlan(**p) for p in data["processes"]],
        files={Path(path): content for path, content in data["files"].items()},
        notes=list(data["notes"]),
        gpu_source=data["gpu_source"],
        gpu_skipped={int(k): v for k, v in data["gpu_skipped"].items()},
        gpu_shared=bool(data["gpu_shared"]),
        cpu_only=bool(data["cpu_only"]),
        http_host=data["http_host"],
    )
