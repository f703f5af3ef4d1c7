"""State files as a live supervisor writes them, with this test process standing in for it."""

from __future__ import annotations

import psutil
from trtl.launcher.deployments.paths import RunDir
from trtl.launcher.deployments.state import (
    DeploymentState,
    ProcessState,
    make_private_dir,
    write_state,
)


def live_state(deployment: str, **changes) -> DeploymentState:
    """A ``ready`` deployment whose supervisor is this process, so it reads as running."""
    me = psutil.Process()
    values = dict(
        deployment=deployment,
        state="ready",
        frontend_url="http://127.0.0.1:8000",
        run_dir=str(RunDir.for_deployment(deployment).root),
        supervisor_pid=me.pid,
        supervisor_create_time=me.create_time(),
        processes=[ProcessState(name="frontend", role="frontend", ports={"http": 8000})],
    )
    values.update(changes)
    return DeploymentState(**values)


def save_state(state: DeploymentState) -> RunDir:
    """Write ``state`` where trtl looks for it; returns its run directory."""
    run_dir = RunDir.for_deployment(state.deployment)
    make_private_dir(run_dir.root)
    write_state(run_dir, state)
    return run_dir
