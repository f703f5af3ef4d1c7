"""Liveness and start-up faults with real processes: hung (SIGSTOPped) processes, a crash loop
after the deployment was ready, and workers that take long to register.

Hangs are detected through the health endpoints trtl already polls: a process that accepts
the connection but never answers (what a stopped or wedged process does) for the role's
``restart.hang_timeout`` seconds is killed and restarted. The tests shorten that timeout.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.e2e.up_helpers import (
    chat,
    foreground,
    pids_of,
    slow_python,
    status,
    tree_alive,
    trtl,
    trtl_env,
    up_args,
    up_detached,
    wait_for,
    wait_ready,
    wait_replaced,
)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _proc(state: dict, name: str) -> dict:
    return next(p for p in state["processes"] if p["name"] == name)


def _supervisor_log(state: dict) -> str:
    return (Path(state["run_dir"]) / "supervisor.log").read_text()


def test_stopped_worker_is_detected_killed_and_restarted(tiny_model, home, deployments):
    name = "t-hang-worker"
    deployments.append(name)
    up_detached(
        "agg_router", tiny_model, name, home, "--set", "workers.worker.restart.hang_timeout=2"
    )
    before = pids_of(wait_ready(name, home))

    os.kill(before["worker-0"], signal.SIGSTOP)
    # Stopped, the worker would never be replaced without hang detection: the wait's own
    # limit is the bound, no stopwatch needed.
    state = wait_replaced(name, home, "worker-0", before["worker-0"], timeout=60)
    assert _gone(before["worker-0"]), "the hung worker must not be left behind, stopped"
    assert _proc(state, "worker-0")["restarts"] == 1
    assert pids_of(state)["worker-1"] == before["worker-1"]  # the healthy one is untouched
    log = _supervisor_log(state)
    assert "worker-0 has not answered its status server's /health" in log
    assert "(stopped or hung)" in log
    assert chat(state["frontend_url"], state["served_model_name"])


def test_stopped_frontend_is_restarted_and_workers_stay(tiny_model, home, deployments):
    name = "t-hang-frontend"
    deployments.append(name)
    up_detached("agg", tiny_model, name, home, "--set", "frontend.restart.hang_timeout=2")
    before = pids_of(wait_ready(name, home))

    os.kill(before["frontend"], signal.SIGSTOP)
    state = wait_replaced(name, home, "frontend", before["frontend"], timeout=40)
    assert _gone(before["frontend"])
    assert pids_of(state)["worker-0"] == before["worker-0"]
    assert "frontend has not answered /v1/models" in _supervisor_log(state)
    assert chat(state["frontend_url"], state["served_model_name"], stream=True)


def test_hang_detection_can_be_turned_off(tiny_model, home, deployments):
    name = "t-hang-off"
    deployments.append(name)
    up_detached("agg", tiny_model, name, home, "--set", "workers.worker.restart.hang_timeout=0")
    before = pids_of(wait_ready(name, home))
    os.kill(before["worker-0"], signal.SIGSTOP)
    try:
        # Unanswered health checks make it look not ready, but nothing kills it.
        wait_for(lambda: status(name, home)["state"] == "degraded", timeout=20)
        time.sleep(3)
        state = status(name, home)
        assert pids_of(state)["worker-0"] == before["worker-0"]
        assert _proc(state, "worker-0")["restarts"] == 0
    finally:
        os.kill(before["worker-0"], signal.SIGCONT)
    wait_for(lambda: status(name, home)["state"] == "ready", timeout=20)


def test_crash_loop_after_ready_ends_the_run_with_the_reason(tiny_model, home, deployments):
    name = "t-crashloop"
    deployments.append(name)
    proc = foreground(
        "agg", tiny_model, name, home, "--quiet",
        "--set", "workers.worker.restart.backoff_initial=0.05",
        "--set", "workers.worker.restart.max_failures=3",
    )  # fmt: skip
    try:
        wait_for(lambda: _state_or_none(name, home) == "ready", timeout=30)
        killed: set[int] = set()
        for _ in range(3):
            pid = wait_for(
                lambda: (p := pids_of(status(name, home))["worker-0"]) not in killed and p
            )
            # Wait until it is up again, so each kill is a crash of a running worker.
            wait_for(lambda: _proc(status(name, home), "worker-0")["state"] == "running")
            killed.add(pid)
            os.kill(pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out
    assert "worker-0 failed 3 times within 120 s (last exit code -9)" in out
    state = status(name, home)
    assert state["state"] == "failed"
    assert tree_alive([p["pid"] for p in state["processes"]]) == []


def _state_or_none(name: str, home: Path) -> str | None:
    result = trtl("status", name, "--json", home=home)
    if result.returncode != 0:
        return None
    import json

    return json.loads(result.stdout)["state"]


def _slow_python(tmp: Path, delay: float) -> Path:
    return slow_python(tmp, delay)


def test_slow_worker_keeps_the_deployment_starting_then_ready(
    tiny_model, home, deployments, tmp_path
):
    name = "t-slow"
    deployments.append(name)
    python = _slow_python(tmp_path, 5)
    up = subprocess.Popen(
        [sys.executable, "-m", "trtl.launcher",
         *up_args("agg", tiny_model, name, "-d", "--python", str(python))],
        env=trtl_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _state_or_none(name, home) == "starting", timeout=20)
        time.sleep(2)
        state = status(name, home)
        assert state["state"] == "starting"
        assert _proc(state, "worker-0")["state"] == "starting"
        text = trtl("status", name, home=home).stdout
        assert f"{name}: starting for " in text  # elapsed time while the engine loads
        out, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0, out
    assert "is ready after" in out
    state = status(name, home)
    assert state["ready_after"] >= 5
    assert _proc(state, "worker-0")["restarts"] == 0


def test_slow_worker_past_timeout_is_named(tiny_model, home, deployments, tmp_path):
    name = "t-slow-timeout"
    deployments.append(name)
    python = _slow_python(tmp_path, 30)
    result = trtl(
        *up_args("agg", tiny_model, name, "--quiet", "--timeout", "3", "--python", str(python)),
        home=home,
    )
    assert result.returncode == 1, result.stdout
    assert "was not servable after 3 s (not up: worker-0)" in result.stdout
    state = status(name, home)
    assert state["state"] == "failed"
    assert tree_alive([p["pid"] for p in state["processes"]]) == []


def test_what_a_crashed_worker_leaves_is_killed_before_its_restart(
    tiny_model, home, deployments, tmp_path
):
    # Real engines fork helpers (vLLM: EngineCore, workers, a resource tracker) that outlive
    # a crashed leader; here the worker's interpreter leaves a child of its own behind.
    wrapper = tmp_path / "forking-python"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$1 $2" in "-m dynamo.mocker") sleep 300 </dev/null >/dev/null 2>&1 & ;; esac\n'
        f'exec {sys.executable} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    name = "t-leftover"
    deployments.append(name)
    up_detached("agg", tiny_model, name, home, "--python", str(wrapper))
    before = pids_of(wait_ready(name, home))
    helpers = [c.pid for c in psutil.Process(before["worker-0"]).children()]
    assert helpers, "the worker's helper process should be running"

    os.kill(before["worker-0"], signal.SIGKILL)
    state = wait_replaced(name, home, "worker-0", before["worker-0"], timeout=30)
    assert all(_gone(pid) for pid in helpers), "the crashed worker's helper was left running"
    assert _proc(state, "worker-0")["restarts"] == 1


def test_ready_waits_for_every_replica_though_the_model_is_listed_earlier(
    tiny_model, home, deployments, tmp_path
):
    # The first mocker to start loads 6 s longer; the frontend lists the model as soon as the
    # other one registered. "Ready" promises every process up, as real engines need (a vLLM
    # worker is listed before its first health check passes, and answers 503 until then).
    wrapper = tmp_path / "one-slow-python"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$1 $2" in "-m dynamo.mocker") mkdir {tmp_path}/claimed 2>/dev/null && sleep 6;;'
        " esac\n"
        f'exec {sys.executable} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    name = "t-first-start"
    deployments.append(name)
    state = up_detached("agg_router", tiny_model, name, home, "--python", str(wrapper))
    assert state["state"] == "ready"
    assert {p["state"] for p in state["processes"]} == {"running"}
    assert state["ready_after"] >= 6
    log = _supervisor_log(state)
    # The model was listed (one worker up) well before the slow one came up.
    assert log.index("is up after") < log.index("is ready after")
    assert chat(state["frontend_url"], state["served_model_name"])
