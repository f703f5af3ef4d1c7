"""The lock names who holds a deployment: a second start refuses naming the live holder,
never a supervisor long dead that a stale state file still names."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from trtl.launcher.deployments.lifecycle import DeploymentStatus
from trtl.launcher.deployments.lock import SUPERVISOR, DeploymentLock
from trtl.launcher.deployments.paths import RunDir
from trtl.launcher.deployments.state import DeploymentState, make_private_dir, write_state

HOLD = (
    "import sys, time; from trtl.launcher.deployments.lock import DeploymentLock;"
    "from trtl.launcher.deployments.paths import RunDir;"
    "assert DeploymentLock(RunDir.for_deployment('held')).acquire(sys.argv[1]);"
    "print('held', flush=True); time.sleep(60)"
)


def _holder(role: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, role], env=os.environ, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_holder_is_a_named_record_of_pid_and_role():
    proc = _holder(SUPERVISOR)
    try:
        holder = DeploymentLock(RunDir.for_deployment("held")).holder()
        assert holder is not None and holder.pid == proc.pid and holder.role == SUPERVISOR
        assert holder.alive
    finally:
        proc.kill()
        proc.wait()
    assert DeploymentLock(RunDir.for_deployment("held")).holder() is None


def test_already_running_names_the_live_holder_not_a_dead_supervisor(run_trtl, tiny_model):
    run_dir = RunDir.for_deployment("held")
    make_private_dir(run_dir.root)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = DeploymentState(
        deployment="held",
        state=DeploymentStatus.READY,
        frontend_url="http://127.0.0.1:1",
        run_dir=str(run_dir.root),
        supervisor_pid=dead.pid,
        supervisor_create_time=time.time() - 100,
    )
    write_state(run_dir, stale)
    proc = _holder(SUPERVISOR)
    try:
        args = ["up", "agg", "--engine", "mocker", "--model", str(tiny_model), "--name", "held"]
        result = run_trtl(*args)
    finally:
        proc.kill()
        proc.wait()
    assert result.exit_code == 2, result.output
    assert f"'held' is already running (supervisor pid {proc.pid})" in result.output
    assert f"pid {dead.pid}" not in result.output
