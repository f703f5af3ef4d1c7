"""Lifecycle defects an adversarial test found, with the real frontend and mocker: a `down` that
waited for a wrapper of `trtl up`, a graph grown past the machine's limit by `scale`, a
profile's new frontend port ignored by `apply`, a read-only state directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.up_helpers import (
    deployment_pids,
    free_ports,
    pids_of,
    read_until,
    status,
    trtl,
    trtl_env,
    up_args,
    up_detached,
    wait_for,
)


def test_down_without_a_name_ignores_a_wrapper_of_trtl_up(tiny_model, home, deployments):
    # Before the fix: `timeout 200 trtl up …` was counted as a start that had not claimed its
    # name yet: `down` waited 120 s for it to claim one, then failed (exit 1) and left the
    # deployment running.
    name = "t-wrapped"
    deployments.append(name)
    args = up_args("agg", tiny_model, name)
    wrapped = [shutil.which("timeout"), "200", sys.executable, "-m", "trtl.launcher", *args]
    up = subprocess.Popen(
        wrapped, env=trtl_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        read_until(up, "is ready after", timeout=60)
        down = trtl("down", home=home, timeout=90)
        up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert down.returncode == 0, down.stderr
    assert f"'{name}' stopped; nothing left running" in down.stderr, down.stderr
    assert "has not claimed" not in down.stderr
    assert deployment_pids(name) == []


def _one_core(*args: str, home) -> subprocess.CompletedProcess[str]:
    """``trtl ARGS`` on one CPU core: this machine then runs at most 8 processes."""
    return subprocess.run(
        [shutil.which("taskset"), "-c", "0", sys.executable, "-m", "trtl.launcher", *args],
        env=trtl_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_scale_and_apply_refuse_a_graph_up_would_refuse(tiny_model, home, deployments):
    # Before the fix: `scale` (and `apply`) grew a live graph past the limit `up` enforces: 65
    # processes on two cores, a deployment its next `up` refuses.
    name = "t-too-big"
    deployments.append(name)
    before = up_detached("agg", tiny_model, name, home)
    refused = "'agg' has 9 processes; this machine runs at most 8 (8 per CPU core, 1 core)."
    scaled = _one_core("scale", name, "worker=8", home=home)
    assert scaled.returncode == 2, scaled.stdout + scaled.stderr
    assert scaled.stderr.startswith(f"error: {refused}\n"), scaled.stderr
    up = _one_core(*up_args("agg", tiny_model, "t-too-big-up", "-d", "--set",
                            "workers.worker.replicas=8"), home=home)  # fmt: skip
    assert up.returncode == 2 and up.stderr.startswith(f"error: {refused}\n"), up.stderr
    for dry in ((), ("--dry-run",)):
        applied = _one_core("apply", "agg", "--engine", "mocker", "--model", str(tiny_model),
                            "--name", name, "--set", "workers.worker.replicas=8", *dry,
                            home=home)  # fmt: skip
        assert applied.returncode == 2, applied.stdout + applied.stderr
        assert applied.stderr.startswith(f"error: {refused}\n"), applied.stderr
    # Untouched: the same processes serve. Growing within the limit still works.
    assert pids_of(status(name, home)) == pids_of(before)
    grown = _one_core("scale", name, "worker=2", home=home)
    assert grown.returncode == 0, grown.stderr
    assert len(status(name, home)["processes"]) == 3


def test_apply_refuses_a_frontend_port_changed_in_the_profile(tiny_model, home, deployments):
    # Before the fix: a new frontend.http_port in the profile file was dropped: "nothing to
    # change", exit 0, the frontend still on the old port.
    name = "t-port-file"
    deployments.append(name)
    old, new = free_ports(2, exclude=set())
    profiles = Path.cwd() / ".trtl" / "profiles"
    profiles.mkdir(parents=True)
    mine = profiles / "mine.yaml"
    text = "extends: agg\nengine: mocker\nmodel: {model}\nfrontend: {{http_port: {port}}}\n"
    mine.write_text(text.format(model=tiny_model, port=old))
    started = trtl("up", "mine", "-d", "--name", name, home=home)
    assert started.returncode == 0, started.stderr
    before = status(name, home)
    mine.write_text(text.format(model=tiny_model, port=new))
    for dry in (("--dry-run",), ()):
        applied = trtl("apply", "mine", "--name", name, *dry, home=home)
        assert applied.returncode == 2, applied.stdout + applied.stderr
        assert applied.stderr.startswith(
            f"error: apply cannot change the frontend address (http://127.0.0.1:{old} -> "
            f"http://127.0.0.1:{new}) of the running '{name}' in place"
        ), applied.stderr
        assert "nothing to change" not in applied.stderr
    after = status(name, home)
    assert after["frontend_url"].endswith(f":{old}") and pids_of(after) == pids_of(before), after


@pytest.fixture
def read_only_state(tmp_path, monkeypatch):
    """XDG_STATE_HOME on a read-only file system (a tmpfs mounted read-only: needs root)."""
    where = tmp_path / "read-only"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64m", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs: {mounted.stderr.decode().strip()}")
    monkeypatch.setenv("XDG_STATE_HOME", str(where))
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_read_only_state_directory_gets_one_sentence(tiny_model, home, read_only_state):
    # Before the fix: "internal error: OSError: [Errno 30] Read-only file system … This is a trtl
    # bug", exit 1.
    said = (
        f"error: trtl cannot write its state directory {read_only_state / 'trtl'} "
        "(read-only file system).\nSet XDG_STATE_HOME to a writable directory.\n"
    )
    for extra in (("-d",), ()):
        result = trtl(*up_args("agg", tiny_model, "t-ro", *extra), home=home)
        assert (result.returncode, result.stderr) == (2, said), result.stdout + result.stderr
        assert deployment_pids("t-ro") == []
    listed = trtl("ps", home=home)  # reading needs no writing
    assert listed.returncode == 0 and "no deployment is running" in listed.stderr, listed
    assert list(read_only_state.iterdir()) == []


@pytest.mark.parametrize("source", ["profile", "dgd"])
def test_up_d_serves_a_profile_or_dgd_read_from_a_pipe(source, tiny_model, home, deployments):
    # Before the fix: the background supervisor read the pipe again, which was used up:
    # "'p' failed to start: /dev/stdin: the file is empty".
    name = f"t-pipe-{source}"
    deployments.append(name)
    if source == "profile":
        text = (Path(__file__).parents[2] / "profiles" / "builtin" / "agg.yaml").read_text()
    else:
        exported = trtl("export", "--k8s", "agg", "--engine", "mocker", home=home)
        assert exported.returncode == 0, exported.stderr
        text = exported.stdout
    args = up_args("/dev/stdin", tiny_model, name, "-d")
    started = subprocess.run(
        [sys.executable, "-m", "trtl.launcher", *args], input=text, env=trtl_env(home),
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert status(name, home)["state"] == "ready"
    log = Path(os.environ["XDG_STATE_HOME"]) / "trtl" / name / "supervisor.log"
    banner = wait_for(lambda: "stop: " in log.read_text() and log.read_text())
    assert f"stop: trtl down {name}" in banner  # no Ctrl-C: nothing reaches it by one
    stopped = trtl("down", name, home=home)
    assert stopped.returncode == 0, stopped.stderr
    assert deployment_pids(name) == []
