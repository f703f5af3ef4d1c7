"""What a run needs before its first process starts: files on disk and each child's environment.

The run directory is private to the user. The discovery directory is emptied at every
start: a registration left by a killed run would otherwise route requests to nothing.
Engine configs the plan names are written as YAML. Each child's environment follows
``child_settings``.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING

from trtl.launcher.deployments.child_settings import (  # noqa: F401 - also named from here
    DROPPED_ENV,
    PRESENTATION_ENV,
    QUIET_PROBES_LOG,
    base_env,
    process_env,
)
from trtl.launcher.deployments.lifecycle import DeploymentStatus
from trtl.launcher.deployments.paths import RunDir
from trtl.launcher.deployments.set_aside import remove_set_aside, set_aside
from trtl.launcher.deployments.state import DeploymentState, ProcessState, make_private_dir
from trtl.launcher.planning.plan_types import Plan, ProcessPlan
from trtl.profiles.errors import SupervisorError

if TYPE_CHECKING:
    from trtl.profiles.schema import Profile, RestartPolicy

SUPERVISOR_LOG = "supervisor.log"  # the background supervisor's output (`trtl up -d`)


def prepare_run_dir(plan: Plan) -> None:
    """Create the private run dir, empty discovery, a fresh logs dir (the last run's logs
    become the previous ones) and the engine configs; the old discovery and the older logs
    are set aside (``set_aside``). Raises SupervisorError on a full disk."""
    run_dir = plan.run_dir
    try:
        make_private_dir(run_dir.root)
        set_aside(str(run_dir.root), str(run_dir.discovery))  # deleted once it serves
        keep_supervisor_log(run_dir)
        if run_dir.logs.exists():
            set_aside(str(run_dir.root), str(run_dir.previous_logs))
            run_dir.logs.rename(run_dir.previous_logs)
        for path in (run_dir.discovery, run_dir.logs, run_dir.engine_configs):
            make_private_dir(path)
        if plan.files:
            import yaml  # only for engine configs: the mocker's plans have none
        for path, content in plan.files.items():
            make_private_dir(path.parent)
            path.write_text(yaml.safe_dump(content, sort_keys=False))
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        remove_set_aside(str(run_dir.root))  # trtl's own old logs: the next start has room
        raise SupervisorError(
            f"the disk holding {run_dir.root} is full; trtl cannot write the run's files.",
            hint="Free some space there, or set XDG_STATE_HOME to a directory on another disk.",
        ) from exc


def keep_supervisor_log(run_dir: RunDir) -> None:
    """Move the last run's ``supervisor.log`` in with its process logs (``logs/``, which
    becomes ``logs.previous/`` as this run starts), so ``trtl logs NAME supervisor
    --previous`` shows it. ``trtl up -d`` calls this before it opens the new one; the
    background supervisor it started then finds its own log there and leaves it."""
    log = run_dir.root / SUPERVISOR_LOG
    if not log.exists() or _is_my_output(log):
        return
    make_private_dir(run_dir.logs)
    with contextlib.suppress(FileNotFoundError):
        log.replace(run_dir.logs / SUPERVISOR_LOG)


def _is_my_output(path: Path) -> bool:
    """True when this process's stdout is ``path`` (the background supervisor's own log)."""
    try:
        mine, there = os.fstat(1), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def child_env(plan: Plan) -> dict[str, dict[str, str]]:
    """The full environment of each process, by name."""
    base = base_env(dict(os.environ))
    return {p.name: process_env(base, p.role, p.env) for p in plan.processes}


def restart_policy(profile: Profile, process: ProcessPlan) -> RestartPolicy:
    if process.role == "frontend":
        return profile.frontend.restart
    return profile.workers[process.role].restart


def initial_state(plan: Plan) -> DeploymentState:
    """The deployment as it starts: starting, every process pending."""
    logs = plan.run_dir.logs
    return DeploymentState(
        deployment=plan.deployment,
        state=DeploymentStatus.STARTING,
        frontend_url=plan.frontend_url,
        run_dir=str(plan.run_dir.root),
        profile=plan.profile.name,
        engine=plan.profile.engine,
        model=plan.profile.model,
        served_model_name=plan.profile.served_name,
        processes=[
            ProcessState(name=p.name, role=p.role, mode=p.mode, gpus=p.gpus, ports=p.ports,
                         log=str(logs / f"{p.name}.log"))
            for p in plan.processes
        ],
    )  # fmt: skip
