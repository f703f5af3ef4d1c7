"""The state file: private, atomic, and honest about a supervisor that is gone."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import psutil
import pytest
from trtl.launcher.deployments.lock import DeploymentLock
from trtl.launcher.deployments.paths import RunDir
from trtl.launcher.deployments.state import (
    ProcessState,
    find_deployment,
    make_private_dir,
    read_state,
)
from trtl.profiles.errors import SupervisorError

from tests.live_state import live_state, save_state


def test_round_trip_and_private_permissions():
    run_dir = save_state(live_state("alpha"))
    back = read_state(run_dir)
    assert back is not None
    assert back.deployment == "alpha"
    assert back.processes[0].ports == {"http": 8000}
    assert stat.S_IMODE((run_dir.root / "state.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(run_dir.root.stat().st_mode) == 0o700


def test_a_gone_supervisor_makes_the_state_failed_and_says_what_is_left():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    create_time = psutil.Process(dead.pid).create_time()
    dead.wait()
    me = psutil.Process()
    left = ProcessState(
        name="worker-0", role="worker", pid=me.pid, create_time=me.create_time(), state="running"
    )
    gone = ProcessState(
        name="worker-1", role="worker", pid=dead.pid, create_time=create_time, state="running"
    )
    run_dir = save_state(
        live_state(
            "beta",
            supervisor_pid=dead.pid,
            supervisor_create_time=create_time,
            processes=[left, gone],
        )
    )
    state = read_state(run_dir)
    assert state.state == "failed"
    assert "trtl down beta` stops what it left running (worker-0)" in state.message
    assert [p.state for p in state.processes] == ["running", "stopped"]
    assert read_state(run_dir, as_written=True).state == "ready"


def test_a_reused_pid_is_not_our_supervisor():
    # Our own PID, but a different create time: a process that merely reused the number.
    run_dir = save_state(
        live_state("gamma", supervisor_create_time=psutil.Process().create_time() - 100)
    )
    assert read_state(run_dir).state == "failed"


def test_corrupt_state_is_one_clear_sentence():
    run_dir = RunDir.for_deployment("broken")
    make_private_dir(run_dir.root)
    (run_dir.root / "state.json").write_text("{not json")
    with pytest.raises(SupervisorError, match=r"state file .* is unreadable") as info:
        read_state(run_dir)
    assert "trtl down broken" in info.value.hint


def test_find_deployment_picks_the_only_active_one_or_asks():
    with pytest.raises(SupervisorError, match="no deployment is running"):
        find_deployment(None)
    save_state(live_state("one"))
    assert find_deployment(None).deployment == "one"
    save_state(live_state("two"))
    with pytest.raises(SupervisorError, match=r"2 deployments are running \(one, two\)"):
        find_deployment(None)
    assert find_deployment("two").deployment == "two"
    with pytest.raises(SupervisorError, match="no deployment named 'three'"):
        find_deployment("three")


def test_lock_is_exclusive_across_processes():
    run_dir = RunDir.for_deployment("locked")
    lock = DeploymentLock(run_dir)
    assert lock.acquire()
    code = (
        "import sys; from trtl.launcher.deployments.lock import DeploymentLock;"
        "from trtl.launcher.deployments.paths import RunDir;"
        "sys.exit(0 if DeploymentLock(RunDir.for_deployment('locked')).held_elsewhere() else 1)"
    )
    held = subprocess.run([sys.executable, "-c", code], env=os.environ)
    assert held.returncode == 0
    lock.release()
    assert not DeploymentLock(run_dir).held_elsewhere()
