"""``trtl.up`` when its caller is interrupted, ends abruptly, or is not the main thread.

Real frontend and mocker processes. The caller is a Python child of the test (as a user's
script would be), so the test can interrupt or kill it; every test checks that nothing of
the graph is left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psutil
import pytest
from trtl.launcher.deployments.paths import RunDir
from trtl.launcher.deployments.run_setup import SUPERVISOR_LOG
from trtl.launcher.deployments.state import DeploymentState, read_state

import trtl
from tests.e2e.test_library_api import downstream_pytest
from tests.e2e.up_helpers import (
    deployment_pids,
    free_ports,
    kill_groups,
    slow_python,
    tree_alive,
    trtl_env,
    up_detached,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]

_CTRL_C_SCRIPT = """
import sys, trtl
model, port, name, python = sys.argv[1:]
try:
    trtl.up("agg", engine="mocker", model=model, port=int(port), name=name, python=python)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
except BaseException as exc:
    print(type(exc).__name__, exc, flush=True)
"""

_OWNER_SCRIPT = """
import os, sys, time, trtl
model, port, name, end = sys.argv[1:]
with trtl.up("agg", engine="mocker", model=model, port=int(port), name=name):
    print("ready", flush=True)
    if end == "os._exit":
        os._exit(3)
    time.sleep(600)
"""


@pytest.fixture(autouse=True)
def private_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(home))  # the frontend caches model cards under $HOME


def _caller(script: str, home: Path, *args: str) -> subprocess.Popen[str]:
    """A user's Python script that calls ``trtl`` (this checkout's)."""
    env = {**trtl_env(home), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _state(name: str) -> DeploymentState | None:
    try:
        return read_state(RunDir.for_deployment(name))
    except trtl.SupervisorError:
        return None


def _graph_pids(name: str) -> list[int]:
    """The supervisor and every process of the deployment, as its state names them."""
    state = _state(name)
    assert state is not None
    return [state.supervisor_pid, *(p.pid for p in state.processes if p.pid)]


def _nothing_left(name: str, pids: list[int]) -> bool:
    return not tree_alive(pids) and not deployment_pids(name)


def _signal_waiting_up(
    signum: int, name: str, tiny_model: Path, home: Path, tmp_path: Path
) -> tuple[subprocess.Popen[str], str, str, list[int]]:
    """Send ``signum`` to a Python waiting in ``trtl.up`` for a started graph; return
    the caller once it ended, its output and the graph's pids."""
    port = free_ports(1, exclude=set())[0]
    python = slow_python(tmp_path, 60)  # the worker registers late: up() is still waiting
    caller = _caller(_CTRL_C_SCRIPT, home, str(tiny_model), str(port), name, str(python))
    pids: list[int] = []
    try:
        wait_for(lambda: (s := _state(name)) and s.supervisor_pid and s.processes[0].pid, 60)
        pids = _graph_pids(name)
        caller.send_signal(signum)
        out, err = caller.communicate(timeout=120)
    finally:
        if caller.poll() is None:
            caller.kill()
        kill_groups(pids)
    return caller, out, err, pids


def test_ctrl_c_while_up_waits_raises_keyboard_interrupt_and_leaves_nothing(
    tiny_model: Path, home: Path, tmp_path: Path
):
    # Before: ImportError from Deployment.stop, and (with that fixed) a SupervisorError
    # with exit code 130 instead of the KeyboardInterrupt the docstring promises; and a
    # "note: SIGINT: stopping the start" on stderr from a library that says nothing.
    name = "api-ctrl-c"
    _, out, err, pids = _signal_waiting_up(signal.SIGINT, name, tiny_model, home, tmp_path)
    assert out == "KeyboardInterrupt\n", out + err
    assert "note:" not in err, err
    assert _nothing_left(name, pids)


def test_sigterm_while_up_waits_ends_the_caller_as_sigterm_does_and_leaves_nothing(
    tiny_model: Path, home: Path, tmp_path: Path
):
    # The start is stopped first, then SIGTERM does what the caller set it to do (here
    # Python's default: end the process), not an exception the caller never asked for.
    name = "api-sigterm"
    caller, out, err, pids = _signal_waiting_up(signal.SIGTERM, name, tiny_model, home, tmp_path)
    assert caller.returncode == -signal.SIGTERM, out + err
    assert out == "" and "note:" not in err, out + err
    assert _nothing_left(name, pids)


@pytest.mark.parametrize("end", ["os._exit", "SIGKILL", "SIGTERM"])
def test_the_graph_ends_with_the_python_that_started_it(end: str, tiny_model: Path, home: Path):
    # Before: supervisor, frontend and worker went on serving, owned by nobody, and the
    # next start of the name (a pytest fixture's, say) refused: "already running".
    name, port = f"api-owner-{end[-4:].lower()}", free_ports(1, exclude=set())[0]
    caller = _caller(_OWNER_SCRIPT, home, str(tiny_model), str(port), name, end)
    pids: list[int] = []
    try:
        assert caller.stdout is not None and caller.stdout.readline() == "ready\n"
        pids = _graph_pids(name)
        if end != "os._exit":
            caller.send_signal(getattr(signal, end))
        caller.wait(timeout=60)
        wait_for(lambda: _nothing_left(name, pids), timeout=60)
    finally:
        if caller.poll() is None:
            caller.kill()
        kill_groups(pids)
    state = _state(name)
    assert state is not None and state.state == "stopped", state
    log = (RunDir.for_deployment(name).root / SUPERVISOR_LOG).read_text()
    assert f"the process that started this deployment (pid {caller.pid}) is gone" in log


def test_trtl_up_d_is_not_tied_to_the_shell_that_ran_it(
    tiny_model: Path, home: Path, deployments: list[str]
):
    # The CLI's `up -d` keeps its meaning: the graph outlives the command.
    deployments.append("cli-detached")
    state = up_detached("agg", tiny_model, "cli-detached", home)
    supervisor = psutil.Process(state["supervisor_pid"])
    assert "TRTL_OWNER" not in supervisor.environ()
    assert trtl.attach("cli-detached").chat("Hi", max_tokens=4)
    assert trtl.attach("cli-detached").state == "ready"


def test_up_from_a_worker_thread_serves_and_stops(tiny_model: Path):
    # Before: ValueError: signal only works in main thread of the main interpreter.
    port = free_ports(1, exclude=set())[0]
    replies: list[str] = []
    errors: list[BaseException] = []
    pids: list[int] = []

    def use() -> None:
        try:
            with trtl.up(
                "agg", engine="mocker", model=str(tiny_model), port=port, name="api-thread"
            ):
                pids.extend(_graph_pids("api-thread"))
                replies.append(trtl.attach("api-thread").chat("Hi", max_tokens=4))
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    worker = threading.Thread(target=use)
    worker.start()
    worker.join(timeout=300)
    kill_groups([] if _nothing_left("api-thread", pids) else pids)
    assert not errors, errors
    assert replies and replies[0]
    assert pids and _nothing_left("api-thread", pids)


def test_the_fixtures_of_one_session_and_of_xdist_workers_do_not_collide(
    tiny_model: Path, tmp_path: Path, home: Path
):
    # Before: each fixture deployment was named after its profile ('agg'): the second one
    # in a session, or in a second xdist worker, failed with "'agg' is already running".
    tests = tmp_path / "downstream"
    tests.mkdir()
    (tests / "test_a.py").write_text(
        textwrap.dedent(
            """
            from trtl.testing import trtl_deployment, trtl_module_deployment

            def test_both_serve_apart(trtl_deployment, trtl_module_deployment):
                assert trtl_deployment.name != trtl_module_deployment.name
                assert trtl_deployment.url != trtl_module_deployment.url
                assert trtl_deployment.chat("hi", max_tokens=4)
                assert trtl_module_deployment.chat("hi", max_tokens=4)
            """
        )
    )
    (tests / "test_b.py").write_text(
        textwrap.dedent(
            """
            from trtl.testing import trtl_deployment

            def test_serves(trtl_deployment):
                assert trtl_deployment.chat("hi", max_tokens=4)
            """
        )
    )
    env = {**trtl_env(home), "TRTL_MODEL": str(tiny_model), "PYTHONPATH": str(ROOT)}
    runs = []
    for _ in range(2):  # the second session forgets the first one's stopped deployments
        done = downstream_pytest(tests, env, "-n", "2", "--dist", "loadfile")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2 passed" in done.stdout
        states = sorted((Path(os.environ["XDG_STATE_HOME"]) / "trtl").glob("*/state.json"))
        assert len(states) == 3, states  # one per fixture instance: a session one per worker
        for path in states:
            assert path.parent.name.startswith("agg-pytest-")
            assert '"state": "stopped"' in path.read_text()
        runs.append({path.parent.name for path in states})
    assert not runs[0] & runs[1]
