"""`trtl up` runs real Dynamo graphs: the real frontend and real mocker workers on loopback.

Every test gets its own state dir, HOME, deployment name and ports, so tests run in
parallel. Each ends with no process of any tree left (checked by PID and process group).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.up_helpers import (
    chat,
    foreground,
    pids_of,
    read_until,
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


@pytest.mark.parametrize("profile", ["agg", "agg_router", "disagg", "disagg_router"])
def test_builtin_profile_serves_and_stops_clean(profile, tiny_model, home, deployments):
    name = f"t-{profile}"
    deployments.append(name)
    state = up_detached(profile, tiny_model, name, home)
    assert state["state"] in ("ready", "degraded")
    url, model = state["frontend_url"], state["served_model_name"]
    assert chat(url, model)
    assert chat(url, model, stream=True)
    # Every worker registers shortly after the model is listed.
    state = wait_ready(name, home)
    assert {p["state"] for p in state["processes"]} == {"running"}
    roles = sorted(p["role"] for p in state["processes"])
    expected = {
        "agg": ["frontend", "worker"],
        "agg_router": ["frontend", "worker", "worker"],
        "disagg": ["decode", "frontend", "prefill"],
        "disagg_router": ["decode", "frontend", "prefill", "prefill"],
    }[profile]
    assert roles == expected
    pids = [p["pid"] for p in state["processes"]]

    down = trtl("down", name, home=home)
    assert down.returncode == 0, down.stderr
    assert "nothing left running" in down.stderr
    assert tree_alive(pids) == []
    assert status(name, home)["state"] == "stopped"


def test_killed_worker_restarts_and_killed_frontend_leaves_workers(tiny_model, home, deployments):
    name = "t-restart"
    deployments.append(name)
    state = up_detached("agg_router", tiny_model, name, home)
    before = pids_of(wait_ready(name, home))

    os.kill(before["worker-0"], signal.SIGKILL)
    state = wait_replaced(name, home, "worker-0", before["worker-0"])
    worker = next(p for p in state["processes"] if p["name"] == "worker-0")
    assert worker["restarts"] == 1
    assert chat(state["frontend_url"], state["served_model_name"])

    after_worker = pids_of(state)
    os.kill(after_worker["frontend"], signal.SIGKILL)
    state = wait_replaced(name, home, "frontend", after_worker["frontend"])
    now = pids_of(state)
    assert now["worker-0"] == after_worker["worker-0"]
    assert now["worker-1"] == after_worker["worker-1"]
    assert chat(state["frontend_url"], state["served_model_name"], stream=True)


def test_ctrl_c_stops_everything_with_exit_0(tiny_model, home, deployments):
    name = "t-ctrlc"
    deployments.append(name)
    proc = foreground("disagg", tiny_model, name, home, "--verbose")
    lines = read_until(proc, "is ready after")
    pids = [p["pid"] for p in status(name, home)["processes"]]
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, out
    assert "nothing left running" in out
    # With --verbose every process line is shown, with a padded name prefix like honcho and
    # docker compose (the terminal follows the log files in batches: a worker's first lines
    # may reach it just after trtl's own ready line).
    shown = lines + out.splitlines()
    assert any(re.match(r"frontend\s+\| ", line) for line in shown)
    assert any(re.match(r"decode-0\s+\| ", line) for line in shown)
    assert tree_alive(pids) == []


def test_sigkill_of_trtl_takes_children_down(tiny_model, home, deployments):
    name = "t-sigkill"
    deployments.append(name)
    proc = foreground("agg", tiny_model, name, home, "--quiet")
    read_until(proc, "is ready after")
    pids = [p["pid"] for p in status(name, home)["processes"]]
    proc.kill()
    proc.wait()
    assert wait_for(lambda: tree_alive(pids) == [], timeout=5)
    state = status(name, home)
    assert state["state"] == "failed"
    assert "none of its processes runs" in state["message"]
    assert {p["state"] for p in state["processes"]} == {"stopped"}
    down = trtl("down", name, home=home)
    assert down.returncode == 0, down.stderr
    assert status(name, home)["state"] == "stopped"


def test_worker_that_exits_at_start_ends_the_run_with_its_code_and_lines(
    tiny_model, home, deployments
):
    name = "t-badstart"
    deployments.append(name)
    proc = foreground(
        "agg", tiny_model, name, home, "--set", "mocker.extra_args=['--num-workers','many']"
    )
    out, _ = proc.communicate(timeout=60)
    # The mocker's argument error is exit 2, and so is trtl's: no restarts of a config error.
    assert proc.returncode == 2, out
    assert "worker-0 exited with code 2 before it was up" in out
    assert "restarting" not in out
    assert "lines of worker-0" in out
    assert "invalid int value: 'many'" in out  # the worker's own complaint is shown
    state = status(name, home)
    assert state["state"] == "failed"
    assert next(p for p in state["processes"] if p["name"] == "worker-0")["restarts"] == 0
    assert tree_alive([p["pid"] for p in state["processes"]]) == []


def test_busy_port_is_refused_before_anything_starts(tiny_model, home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = up_args("agg", tiny_model, "t-busy", "--port", str(port))
        result = trtl(*args, home=home)
    assert result.returncode == 2, result.stderr
    assert str(port) in result.stderr
    assert "Traceback" not in result.stderr
    assert trtl("status", "t-busy", home=home).returncode != 0  # never started


def test_two_deployments_side_by_side_and_no_second_up(tiny_model, home, deployments):
    deployments.extend(["t-side-a", "t-side-b"])
    a = up_detached("agg", tiny_model, "t-side-a", home)
    b = up_detached("agg", tiny_model, "t-side-b", home)
    assert a["frontend_url"] != b["frontend_url"]
    assert a["run_dir"] != b["run_dir"]
    assert chat(a["frontend_url"], a["served_model_name"])
    assert chat(b["frontend_url"], b["served_model_name"])

    again = trtl(*up_args("agg", tiny_model, "t-side-a", "-d"), home=home)
    assert again.returncode == 2
    assert "'t-side-a' is already running" in again.stderr

    ps = trtl("ps", home=home)
    assert "t-side-a" in ps.stdout and "t-side-b" in ps.stdout
    table = trtl("status", "t-side-b", home=home).stdout
    assert "t-side-b: ready" in table
    assert re.search(r"worker-0 .* running", table)
    logs = trtl("logs", "t-side-a", "worker-0", "-n", "3", home=home)
    assert logs.returncode == 0
    assert logs.stdout.count("worker-0 |") == 3

    assert trtl("down", "t-side-a", home=home).returncode == 0
    assert status("t-side-b", home)["state"] == "ready"
    assert chat(b["frontend_url"], b["served_model_name"])


def test_missing_tokenizer_is_a_configuration_error(tiny_model, home, tmp_path, deployments):
    model = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_model, model)
    (model / "tokenizer.json").unlink()
    deployments.append("t-notok")
    result = trtl(*up_args("agg", model, "t-notok", "--quiet"), home=home)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Model materialization failed" in result.stdout
    assert "tokenizer or chat template is missing" in result.stdout
    state = status("t-notok", home)
    assert state["state"] == "failed"
    assert tree_alive([p["pid"] for p in state["processes"]]) == []


def test_detached_start_that_fails_returns_the_reason(tiny_model, home, deployments):
    deployments.append("t-dfail")
    result = trtl(
        *up_args("agg", tiny_model, "t-dfail", "-d"),
        "--set", "mocker.extra_args=['--num-workers','many']",
        home=home,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "worker-0 exited with code 2 before it was up" in result.stderr
    assert "invalid int value: 'many'" in result.stderr  # its own last lines, shown with -d
    assert "supervisor.log" in result.stderr
    state = status("t-dfail", home)
    assert state["state"] == "failed"
    assert tree_alive([p["pid"] for p in state["processes"]] + [state["supervisor_pid"]]) == []


def test_not_servable_within_timeout_fails_with_the_reason(tiny_model, home, deployments):
    # The worker registers in another Dynamo namespace: up, but never serving this graph.
    deployments.append("t-timeout")
    args = up_args("agg", tiny_model, "t-timeout", "--quiet", "--timeout", "3")
    wrong = "mocker.extra_args=['--endpoint','dyn://elsewhere.backend.generate']"
    result = trtl(*args, "--set", wrong, home=home)
    assert result.returncode == 1, result.stdout
    assert "was not servable after 3 s" in result.stdout
    assert "the frontend does not list the model" in result.stdout
    assert "lines of frontend" in result.stdout
    state = status("t-timeout", home)
    assert state["state"] == "failed"
    assert tree_alive([p["pid"] for p in state["processes"]]) == []


def test_up_runs_a_dynamo_graph_deployment_file(tiny_model, home, deployments):
    dgd = Path(__file__).parents[1] / "k8s_export" / "data" / "upstream_v1beta1_disagg.yaml"
    deployments.append("t-dgd")
    state = up_detached(str(dgd), tiny_model, "t-dgd", home)
    # Roles keep the components' names (TRTLLMDecodeWorker -> trtllm-decode-worker).
    modes = sorted(p["mode"] or "frontend" for p in state["processes"])
    assert modes == ["decode", "decode", "frontend", "prefill"]
    assert "trtllm-decode-worker-1" in [p["name"] for p in state["processes"]]
    assert state["served_model_name"] == "qwen"
    assert chat(state["frontend_url"], "qwen", stream=True)
    assert trtl("down", "t-dgd", home=home).returncode == 0


def test_two_detached_ups_of_one_name_at_once_start_exactly_one(tiny_model, home, deployments):
    deployments.append("t-race")
    args = up_args("agg", tiny_model, "t-race", "-d", "--quiet")
    cmd = [sys.executable, "-m", "trtl.launcher", *args]
    racers = [
        subprocess.Popen(cmd, env=trtl_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=60), p.stderr.read().decode()) for p in racers]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "'t-race' is already running" in loser
    state = status("t-race", home)
    assert state["state"] in ("ready", "degraded")
    assert len(state["processes"]) == 2


def test_down_with_a_corrupt_state_file_still_stops_the_deployment(tiny_model, home, deployments):
    deployments.append("t-corrupt")
    state = up_detached("agg", tiny_model, "t-corrupt", home)
    pids = [p["pid"] for p in state["processes"]] + [state["supervisor_pid"]]
    Path(state["run_dir"], "state.json").write_text("{garbage")
    broken = trtl("status", "t-corrupt", home=home)  # says what it knows
    assert broken.returncode == 0, broken.stderr
    assert "t-corrupt: unknown" in broken.stdout
    assert "its state file is unreadable" in broken.stdout
    assert f"its supervisor (pid {state['supervisor_pid']}) runs" in broken.stdout
    down = trtl("down", "t-corrupt", home=home)
    assert down.returncode == 0, down.stderr
    assert "supervisor pid" in down.stderr
    assert wait_for(lambda: tree_alive(pids) == [], timeout=10)
    again = up_detached("agg", tiny_model, "t-corrupt", home)  # the name is free again
    assert again["state"] in ("ready", "degraded")


def test_logs_follow_ends_when_the_deployment_stops(tiny_model, home, deployments):
    deployments.append("t-follow")
    up_detached("agg", tiny_model, "t-follow", home)
    follower = subprocess.Popen(
        [sys.executable, "-m", "trtl.launcher", "logs", "t-follow", "worker-0", "-f", "-n", "1"],
        env=trtl_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    assert follower.poll() is None  # still following
    assert trtl("down", "t-follow", home=home).returncode == 0
    out, err = follower.communicate(timeout=15)
    assert follower.returncode == 0
    assert "worker-0" in out
    assert "t-follow is no longer running" in err
