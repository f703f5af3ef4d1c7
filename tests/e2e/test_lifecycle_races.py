"""Races and lost files around a deployment's lifecycle, with the real frontend and mocker.

`down` at several moments of a detached start (while `up -d` checks, once the background
supervisor runs, while the worker loads), Ctrl-C on the `up -d` client, a state file that
is deleted, processes found with no state file and no supervisor, a worker port taken
before the worker binds it, and two deployments racing for one frontend port.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from trtl.launcher.deployments.lock import DeploymentLock
from trtl.launcher.deployments.paths import RunDir

from tests.e2e.up_helpers import (
    deployment_pids,
    free_ports,
    slow_python,
    status,
    trtl,
    trtl_env,
    up_args,
    up_detached,
    wait_for,
)

# When `down` comes: seconds after `up -d` was started ("started": before it read its
# profile and claimed the name, the first fraction of a second; 0 is at once), or after it
# claimed the name ("claimed": 0 is during its checks, 1 once the background supervisor
# runs (the worker sleeps its first 12 s), 4 while the worker loads).
MOMENTS = [("started", 0.0), ("started", 0.2), ("claimed", 0.0), ("claimed", 1.0), ("claimed", 4.0)]


def _start(name: str, tiny_model: Path, home: Path, python: Path, *extra: str):
    args = up_args("agg", tiny_model, name, "-d", "--python", str(python), *extra)
    return subprocess.Popen(
        [sys.executable, "-m", "trtl.launcher", *args],
        env=trtl_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _claimed(name: str) -> bool:
    return DeploymentLock(RunDir.for_deployment(name)).holder() is not None


def _port_of(up: subprocess.Popen) -> int:
    args = list(up.args)  # type: ignore[arg-type]
    return int(args[args.index("--port") + 1])


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# The worker comes up 12 s late: longer than the longest delay plus the checks on a quick
# machine, so `down` always lands during the start. Before the name was claimed, `down`
# said "no deployment named … has run here" and the start went on to come up.
@pytest.mark.parametrize(("after", "delay"), MOMENTS)
def test_down_right_after_up_d_stops_that_start(
    after, delay, tiny_model, home, deployments, tmp_path
):
    name = f"t-early-{after[0]}{int(delay * 10)}"
    deployments.append(name)
    up = _start(name, tiny_model, home, slow_python(tmp_path, 12))
    try:
        if after == "claimed":
            wait_for(lambda: _claimed(name), timeout=30, interval=0.01)
        time.sleep(delay)
        down = trtl("down", name, home=home)
        out, err = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    assert down.returncode == 0, down.stderr
    assert "no deployment" not in down.stderr and "not running" not in down.stderr, down.stderr
    assert "stop" in down.stderr.replace(f"'{name}' stopped; nothing left running", ""), down.stderr
    if after == "started":  # down names the very `trtl up` it stopped
        assert f"`trtl up` pid {up.pid})" in down.stderr, down.stderr
    assert f"'{name}' stopped; nothing left running" in down.stderr
    # The start ended without coming up, and says why.
    assert up.returncode != 0, out + err
    assert "is ready" not in out
    assert f"the start of '{name}' was" in err or "was stopped" in err, err
    # `down` stopped it, not a SIGTERM of the user's (it used to say "SIGTERM: …", exit 143).
    assert "SIGTERM" not in err and up.returncode == 1, (up.returncode, err)
    time.sleep(2)  # had it gone on, its worker would register now
    assert deployment_pids(name) == []
    assert _port_free(_port_of(up))
    result = trtl("status", name, "--json", home=home)
    if result.returncode == 0:  # a state was written before the stop
        assert json.loads(result.stdout)["state"] in ("stopped", "failed")


# `trtl down` with no name stops "the only running one": right after `up -d`, before the
# start claimed its name, it said "nothing to stop: no deployment is running" and the start
# went on to come up.
def test_down_without_a_name_right_after_up_d_stops_that_start(
    tiny_model, home, deployments, tmp_path
):
    name = "t-early-noname"
    deployments.append(name)
    up = _start(name, tiny_model, home, slow_python(tmp_path, 12))
    try:
        down = trtl("down", home=home)
        out, err = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    assert down.returncode == 0, down.stderr
    assert "nothing to stop" not in down.stderr, down.stderr
    assert f"'{name}' stopped; nothing left running" in down.stderr
    assert up.returncode != 0, out + err
    assert "is ready" not in out
    time.sleep(2)  # had it gone on, its worker would register now
    assert deployment_pids(name) == []
    assert _port_free(_port_of(up))


def test_ctrl_c_on_up_d_stops_the_start(tiny_model, home, deployments, tmp_path):
    name = "t-ctrlc-d"
    deployments.append(name)
    up = _start(name, tiny_model, home, slow_python(tmp_path, 3))
    try:
        assert up.stderr is not None
        started = up.stderr.readline()
        while "started in the background" not in started:
            started = up.stderr.readline()
            assert started, "up -d ended before it started the supervisor"
        up.send_signal(signal.SIGINT)
        out, err = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 130, out + err
    assert f"SIGINT: stopping the start of '{name}'" in err
    assert f"the start of '{name}' was stopped; nothing of it runs" in err
    assert deployment_pids(name) == []
    assert not _claimed(name)


def test_a_deleted_state_file_leaves_the_deployment_visible_and_stoppable(
    tiny_model, home, deployments
):
    name = "t-nostate"
    deployments.append(name)
    state = up_detached("agg", tiny_model, name, home)
    supervisor = state["supervisor_pid"]
    Path(state["run_dir"], "state.json").unlink()
    shown = trtl("status", name, home=home)
    assert shown.returncode == 0, shown.stderr
    assert f"{name}: unknown" in shown.stdout
    assert f"its supervisor (pid {supervisor}) runs" in shown.stdout
    assert "frontend" in shown.stdout and "worker-0" in shown.stdout  # from its log files
    listed = trtl("ps", home=home)
    assert name in listed.stdout and "unknown" in listed.stdout
    logs = trtl("logs", name, "frontend", "-n", "5", home=home)
    assert logs.returncode == 0, logs.stderr
    assert "frontend" in logs.stdout
    down = trtl("down", home=home)  # also found without a name: it is the only one
    assert down.returncode == 0, down.stderr
    assert f"stopping '{name}' (supervisor pid {supervisor})" in down.stderr
    assert wait_for(lambda: deployment_pids(name) == [], timeout=10)


def test_processes_without_state_file_or_supervisor_are_found_and_stopped(home):
    # What a supervisor killed with SIGKILL may leave (an engine's own subprocesses), after
    # its state file was lost too: the processes name the deployment in their environment.
    name = "t-orphans"
    run_dir = RunDir.for_deployment(name)
    run_dir.root.mkdir(parents=True)
    env = {**os.environ, "DYN_FILE_KV": str(run_dir.discovery)}
    orphan = subprocess.Popen(["sleep", "600"], env=env, start_new_session=True)
    try:
        shown = trtl("status", name, home=home)
        assert shown.returncode == 0, shown.stderr
        assert f"process groups [{orphan.pid}] of it still run" in shown.stdout
        down = trtl("down", name, "--grace", "2", home=home)
        assert down.returncode == 0, down.stderr
        assert f"stopping 1 process groups left by '{name}'" in down.stderr
        assert orphan.wait(timeout=10) == -signal.SIGTERM
    finally:
        if orphan.poll() is None:
            orphan.kill()


class _Impostor(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ready", "endpoints": {"generate": "ready"}}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_status_port_taken_before_the_worker_binds_it_fails_the_start(
    tiny_model, home, deployments, tmp_path
):
    # Before: the worker ran on without its status server, and trtl believed the impostor's
    # "ready" for ever (a stopped worker was never restarted).
    name = "t-impostor"
    deployments.append(name)
    up = _start(name, tiny_model, home, slow_python(tmp_path, 5))
    state_file = RunDir.for_deployment(name).root / "state.json"
    server = None
    try:
        wait_for(lambda: state_file.exists(), timeout=30, interval=0.01)
        procs = json.loads(state_file.read_text())["processes"]
        worker = next(p for p in procs if p["name"] == "worker-0")
        port = worker["ports"]["system"]
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Impostor)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        out, err = up.communicate(timeout=90)
    finally:
        if up.poll() is None:
            up.kill()
        if server is not None:
            server.shutdown()
            server.server_close()
    assert up.returncode == 2, out + err
    assert f"worker-0's status port {port} is held by another program (pid {os.getpid()}" in err
    assert "is ready" not in out
    assert status(name, home)["state"] == "failed"
    assert deployment_pids(name) == []


def test_two_deployments_racing_for_one_frontend_port_get_one_line(
    tiny_model, home, deployments, tmp_path
):
    # B checks the port while it is free, then its frontend starts 8 s late; A, started in
    # between, passes the same check. Whichever frontend binds second loses (usually B's).
    # Before: the loser ended with the frontend's 20-line "Address already in use" traceback.
    port = str(free_ports(1, exclude=set())[0])
    deployments.extend(["t-port-a", "t-port-b"])
    late = slow_python(tmp_path, 8, module="dynamo.frontend")
    b = _start("t-port-b", tiny_model, home, late, "--port", port)
    try:
        b_state = RunDir.for_deployment("t-port-b").root / "state.json"
        wait_for(lambda: b_state.exists(), timeout=30, interval=0.01)
        a = trtl(*up_args("agg", tiny_model, "t-port-a", "-d", "--port", port), home=home)
        _out, err = b.communicate(timeout=60)
    finally:
        if b.poll() is None:
            b.kill()
    results = {"t-port-a": (a.returncode, a.stderr), "t-port-b": (b.returncode, err)}
    assert sorted(code for code, _ in results.values()) == [0, 2], results
    winner, loser = sorted(results, key=lambda n: results[n][0])
    message = results[loser][1]
    assert f"the frontend port {port} " in message, message
    assert "choose another with --port" in message
    assert "Traceback" not in message and "lines of frontend" not in message
    assert status(winner, home)["state"] == "ready"


def test_an_oversized_graph_is_refused_before_anything_starts(tiny_model, home, tmp_path):
    wide = tmp_path / "wide.yaml"
    wide.write_text(
        "name: wide\nextends: agg\nworkers:\n"
        "  w0: {mode: agg, replicas: 64}\n  w1: {mode: agg, replicas: 64}\n"
    )
    result = trtl(*up_args(str(wide), tiny_model, "t-wide", "-d"), home=home)
    assert result.returncode == 2, result.stderr
    assert "'wide' has 130 processes; this machine runs at most" in result.stderr
    assert deployment_pids("t-wide") == []
    assert not (RunDir.for_deployment("t-wide").root / "state.json").exists()
