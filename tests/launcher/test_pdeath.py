"""Children die with trtl: the setpriv wrapper (vfork spawn), the forked child that arms
the signal itself (a repeated `trtl up`'s first start) and the preexec_fn fallback.

The hard case is the first instant: trtl killed right after it spawned a child, before the
wrapper could arm the parent-death signal. Each test starts a small Python program that
spawns ``sleep`` the way trtl does, prints its PID and SIGKILLs itself at once.
"""

from __future__ import annotations

import os
import signal
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


# The same through pdeath.spawn (os.posix_spawn), as a repeated `trtl up` starts its
# processes before it imports anything else (early_start).
POSIX_SPAWN_THEN_DIE = r"""
import os, signal
from trtl.launcher.supervision import pdeath
fd = os.open(os.devnull, os.O_WRONLY)
child = pdeath.spawn(["sleep", "60"], dict(os.environ), fd, wait_exec=WAIT)
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


def _spawn_then_die(env: dict[str, str], script: str = SPAWN_THEN_DIE) -> int:
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
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


@pytest.mark.skipif(not pdeath.WRAPPED, reason="needs setpriv (util-linux) and /bin/sh")
@pytest.mark.parametrize("wait_exec", [True, False], ids=["posix_spawn", "fork"])
def test_a_child_of_pdeath_spawn_dies_when_its_parent_is_killed_at_once(wait_exec):
    # fork: the child arms the signal itself (prctl), then checks its parent is still there
    script = POSIX_SPAWN_THEN_DIE.replace("WAIT", repr(wait_exec))
    for _ in range(5):
        _assert_dies(_spawn_then_die(dict(os.environ), script))


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


@pytest.mark.skipif(pdeath._raw_prctl() is None, reason="needs Linux's prctl")
def test_a_forked_child_arms_the_signal_itself_and_runs_the_program_without_a_wrapper(tmp_path):
    """The first start of a repeated `trtl up`: no setpriv, no shell, the program's own
    argv from the first instant (ps shows what runs), and SIGKILL armed across its exec."""
    probe = (
        "import ctypes, os, sys; v = ctypes.c_int(); "
        "ctypes.CDLL(None).prctl(2, ctypes.byref(v)); "
        "print(v.value, sys.argv[1:], os.getppid() == int(sys.argv[1]))"
    )
    log = tmp_path / "child.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        child = pdeath.spawn(
            [sys.executable, "-c", probe, str(os.getpid()), "a b"], {}, fd, wait_exec=False
        )
    finally:
        os.close(fd)
    assert child.wait() == 0
    assert log.read_text() == f"9 ['{os.getpid()}', 'a b'] True\n"


def test_a_forked_spawn_of_a_program_that_does_not_exist_raises_before_forking():
    fd = os.open(os.devnull, os.O_WRONLY)
    try:
        with pytest.raises(FileNotFoundError):
            pdeath.spawn(["/nonexistent/python"], {}, fd, wait_exec=False)
    finally:
        os.close(fd)


def test_a_program_that_does_not_exist_fails_to_spawn_as_before():
    with pytest.raises(FileNotFoundError):
        pdeath.spawn_args(["/nonexistent/python", "-m", "dynamo.frontend"])


@pytest.mark.parametrize("wait_exec", [True, False], ids=["posix_spawn", "fork"])
def test_a_spawned_child_gets_a_group_its_log_and_nothing_else_of_its_parent(tmp_path, wait_exec):
    log = tmp_path / "child.log"
    script = (
        "import os, signal, sys; "
        "print(os.getpgid(0) == os.getpid() and os.getsid(0) == int(sys.argv[1]), "
        "sys.stdin.read() == '', "
        "len([f for f in os.listdir('/proc/self/fd') if int(f) > 2])); "
        "print('to stderr', file=sys.stderr); sys.exit(3)"
    )
    inherited_r, inherited_w = os.pipe()  # a descriptor trtl was given open, say by a shell
    os.set_inheritable(inherited_w, True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        child = pdeath.spawn(
            [sys.executable, "-c", script, str(os.getsid(0))],
            dict(os.environ),
            fd,
            wait_exec=wait_exec,
        )
    finally:
        os.close(fd)
        os.close(inherited_w)
    assert child.wait() == 3 and child.poll() == 3
    # The pipe's last writer was trtl's copy: the child never held it.
    assert os.read(inherited_r, 1) == b""
    os.close(inherited_r)
    lines = log.read_text().splitlines()
    # Its own process group in trtl's session (pdeath's SESSIONS); above 2, only the
    # listing's own descriptor.
    assert lines[0] == "True True 1"
    assert lines[1] == "to stderr"


@pytest.mark.parametrize("wait_exec", [True, False], ids=["posix_spawn", "fork"])
def test_a_spawned_child_does_not_inherit_pythons_ignored_sigpipe(tmp_path, wait_exec):
    log = tmp_path / "child.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:  # a shell: Python would ignore SIGPIPE again itself
        argv = ["/bin/sh", "-c", "grep ^SigIgn: /proc/$$/status"]
        child = pdeath.spawn(argv, {}, fd, wait_exec=wait_exec)
    finally:
        os.close(fd)
    assert child.wait() == 0
    ignored = int(log.read_text().split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))


def test_a_spawned_child_killed_by_a_signal_reports_it_as_popen_does(tmp_path):
    fd = os.open(os.devnull, os.O_WRONLY)
    try:
        child = pdeath.spawn(["sleep", "60"], dict(os.environ), fd)
    finally:
        os.close(fd)
    assert child.poll() is None
    os.killpg(child.pid, 9)
    assert child.wait() == -9


@pytest.mark.parametrize("wait_exec", [True, False], ids=["posix_spawn", "fork"])
def test_a_stop_sent_to_the_group_at_once_reaches_the_child(wait_exec):
    # What early_start does when a later process cannot start: killpg on the ones just
    # spawned. A forked child that had not yet run its own setpgid was missed (no such
    # group) and the wait for it hung; the parent now sets the group too.
    fd = os.open(os.devnull, os.O_WRONLY)
    children = []
    try:
        for _ in range(20):
            child = pdeath.spawn(["sleep", "60"], dict(os.environ), fd, wait_exec=wait_exec)
            children.append(child)
            assert os.getpgid(child.pid) == child.pid
            os.killpg(child.pid, signal.SIGKILL)
            assert child.wait() == -9
    finally:
        os.close(fd)
        for child in children:
            if child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
