"""What a run needs before its first process starts: files on disk and each child's environment.

The run directory is private to the user. The discovery directory is emptied at every
start: a registration left by a killed run would otherwise route requests to nothing.
Engine configs the plan names are written as YAML. Children inherit trtl's environment
(the HF token reaches them that way only) plus the plan's variables.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from launcher.deployments.state import make_private_dir
from launcher.planning.plan_types import Plan, ProcessPlan

if TYPE_CHECKING:
    from profiles.schema import Profile, RestartPolicy

# A NATS_SERVER without a NATS server makes Dynamo retry for up to 120 s; file discovery and
# the TCP request plane need none.
DROPPED_ENV = ("NATS_SERVER",)
# Log presentation, unless the user chose a DYN_LOG: no colour codes in log files, and
# no line per trtl probe (the frontend logs every HTTP response at INFO, a worker's status
# server every 503 "notready" as ERROR while it starts).
PRESENTATION_ENV = {"DYN_SDK_DISABLE_ANSI_LOGGING": "1"}
QUIET_PROBES_LOG = {
    "frontend": "info,dynamo_llm::http::service::service_v2=warn",
    "worker": "info,tower_http=off",
}


def prepare_run_dir(plan: Plan) -> None:
    """Create the private run dir, empty discovery, a logs dir and the engine configs."""
    run_dir = plan.run_dir
    make_private_dir(run_dir.root)
    shutil.rmtree(run_dir.discovery, ignore_errors=True)
    for path in (run_dir.discovery, run_dir.logs, run_dir.engine_configs):
        make_private_dir(path)
    for log in run_dir.logs.glob("*.log"):
        log.unlink()
    if plan.files:
        import yaml  # only for engine configs: the mocker's plans have none
    for path, content in plan.files.items():
        make_private_dir(path.parent)
        path.write_text(yaml.safe_dump(content, sort_keys=False))


def child_env(plan: Plan) -> dict[str, dict[str, str]]:
    """The full environment of each process, by name."""
    base = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    base.update(PRESENTATION_ENV, PYTHONUNBUFFERED="1")
    envs = {}
    for p in plan.processes:
        env = {**base, **p.env}
        kind = "frontend" if p.role == "frontend" else "worker"
        env.setdefault("DYN_LOG", QUIET_PROBES_LOG[kind])
        envs[p.name] = env
    return envs


def restart_policy(profile: Profile, process: ProcessPlan) -> RestartPolicy:
    if process.role == "frontend":
        return profile.frontend.restart
    return profile.workers[process.role].restart
