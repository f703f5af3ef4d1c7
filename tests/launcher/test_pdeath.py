"""Children die with trtl: the setpriv wrapper (vfork spawn) and the preexec_fn fallback.

The hard case is the first instant: trtl killed right after it spawned a child, before the
wrapper could arm the parent-death signal. Each test starts a small Python program that
spawns ``sleep`` the way trtl does, prints its PID and SIGKILLs itself at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from trtl.launcher.supervision import pdeath

SPAWN_THEN_DIE = r"""
import os, signal, subprocess, sys
from trtl.launcher.supervision import pdeath
argv, preexec_fn = pdeath.spawn_args(["sleep", "60"])
child = subprocess.Popen(argv, start_new_session=True, preexec_fn=preexec_fn,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # before anything else runs
"""


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (dead, waiting for whoever adopted it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except FileNotFoundError:
        return True


def _spawn_then_die(env: dict[str, str]) -> int:
    done = subprocess.run(
        [sys.executable, "-c", SPAWN_THEN_DIE], env=env, capture_output=True, text=True
    )
    assert done.returncode == -9, done.stderr
    return int(done.stdout.split()[0])


def _assert_dies(pid: int) -> None:
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if not _gone(pid):
        os.kill(pid, 9)
        pytest.fail(f"child {pid} outlived its SIGKILLed parent")


@pytest.mark.skipif(not pdeath.WRAPPED, reason="needs setpriv (util-linux) and /bin/sh")
def test_a_child_spawned_through_setpriv_dies_when_its_parent_is_killed_at_once():
    for _ in range(5):  # the kill lands at a different instant of the child's start each time
        _assert_dies(_spawn_then_die(dict(os.environ)))


def test_a_child_spawned_with_the_preexec_fallback_dies_too():
    env = {**os.environ, "TRTL_NO_SETPRIV": "1"}
    for _ in range(3):
        _assert_dies(_spawn_then_die(env))


@pytest.mark.skipif(not pdeath.WRAPPED, reason="needs setpriv (util-linux) and /bin/sh")
def test_the_wrapped_program_runs_with_the_parent_death_signal_and_its_own_argv():
    probe = (
        "import ctypes, sys; v = ctypes.c_int(); "
        "ctypes.CDLL(None).prctl(2, ctypes.byref(v)); print(v.value, sys.argv[1:])"
    )
    argv, preexec_fn = pdeath.spawn_args([sys.executable, "-c", probe, "a b", "$HOME"])
    assert preexec_fn is None  # no preexec_fn: subprocess spawns with vfork
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert out.split(" ", 1) == ["9", "['a b', '$HOME']\n"]  # SIGKILL; arguments untouched


def test_a_program_that_does_not_exist_fails_to_spawn_as_before():
    with pytest.raises(FileNotFoundError):
        pdeath.spawn_args(["/nonexistent/python", "-m", "dynamo.frontend"])
