"""Changing a running graph in place: ``trtl apply``, ``scale``, ``restart`` and ``top``.

Real ``trtl up -d`` deployments (the real Dynamo frontend and mocker workers) serve a
streaming load from ``load.py`` while a change is made; every stream must end whole, and
processes the change does not touch must keep their PIDs. The built-in profiles run the
frontend with ``--migration-limit 3``, so a stream cut by a stopping worker moves on.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.load import StreamingLoad
from tests.e2e.up_helpers import (
    foreground,
    pids_of,
    read_until,
    status,
    tree_alive,
    trtl,
    trtl_env,
    up_args,
    wait_ready,
)

SPEED = "mocker.speedup_ratio=1"  # ~6 ms a token: a 120-token stream lasts about a second
MAX_TOKENS = 120
REQUESTS = 16
CONCURRENCY = 4


def _up(profile: str, name: str, model: Path, home: Path, *sets: str) -> tuple[dict, list[str]]:
    """A ready deployment, and the arguments apply needs to name the same graph."""
    args = up_args(profile, model, name, "-d", "--quiet", "--set", SPEED)
    for item in sets:
        args += ["--set", item]
    result = trtl(*args, home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    same = ["apply", *args[1:args.index("-d")], "--set", SPEED]  # fmt: skip
    return wait_ready(name, home), same


def _load(state: dict, requests: int = REQUESTS) -> StreamingLoad:
    return StreamingLoad(
        state["frontend_url"],
        state["served_model_name"],
        requests=requests,
        concurrency=CONCURRENCY,
        max_tokens=MAX_TOKENS,
    )


def _whole(report) -> None:
    assert report.failed == [], report.summary()
    assert all(r.tokens == MAX_TOKENS for r in report.records), report.summary()


def test_apply_to_one_role_under_load_keeps_other_pids(tiny_model, home, deployments):
    name = "t-apply-role"
    deployments.append(name)
    state, same = _up("disagg", name, tiny_model, home, "workers.decode.replicas=2")
    before = pids_of(state)
    changed = [*same, "--set", "workers.decode.replicas=2", "--set", "workers.decode.env.MARK=2"]

    dry = trtl(*changed, "--dry-run", home=home)
    assert dry.returncode == 0, dry.stderr
    assert "+++ applied/decode-0" in dry.stdout and "+  MARK: '2'" in dry.stdout
    assert "unchanged (PIDs kept): frontend, prefill-0" in dry.stdout
    assert pids_of(status(name, home)) == before  # a dry run changes nothing

    with _load(state) as load:
        load.wait_streaming(CONCURRENCY)
        result = trtl(*changed, home=home, timeout=120)
        report = load.join(timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    _whole(report)
    after = pids_of(wait_ready(name, home))
    assert after["frontend"] == before["frontend"]
    assert after["prefill-0"] == before["prefill-0"]
    assert after["decode-0"] != before["decode-0"] and after["decode-1"] != before["decode-1"]
    env = Path(f"/proc/{after['decode-0']}/environ").read_bytes().split(b"\0")
    assert b"MARK=2" in env
    # Applying the same again changes nothing.
    again = trtl(*changed, home=home)
    assert again.returncode == 0 and "nothing to change" in again.stderr, again.stderr
    assert pids_of(status(name, home)) == after


def test_apply_changing_only_the_frontend_keeps_every_worker(tiny_model, home, deployments):
    name = "t-apply-frontend"
    deployments.append(name)
    state, same = _up("agg_router", name, tiny_model, home)
    before = pids_of(state)
    result = trtl(*same, "--set", "frontend.router_mode=round-robin", home=home, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    after = pids_of(wait_ready(name, home))
    assert after["frontend"] != before["frontend"]
    assert {k: v for k, v in after.items() if k != "frontend"} == {
        k: v for k, v in before.items() if k != "frontend"
    }


def test_scale_up_and_down_under_load(tiny_model, home, deployments):
    name = "t-scale"
    deployments.append(name)
    state, _ = _up("agg_router", name, tiny_model, home)
    # Long enough to run through both changes (each takes a few seconds here).
    with _load(state, requests=80) as load:
        load.wait_streaming(CONCURRENCY)
        up = trtl("scale", name, "worker=3", home=home, timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "worker-2 added" in up.stdout
        grown = status(name, home)  # reflected at once
        assert [p["name"] for p in grown["processes"]] == [
            "frontend", "worker-0", "worker-1", "worker-2"
        ]  # fmt: skip
        load.wait_streaming(1)
        down = trtl("scale", name, "worker=1", home=home, timeout=120)
        report = load.join(timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    assert len(report.records) == 80
    _whole(report)
    shrunk = wait_ready(name, home)
    assert [p["name"] for p in shrunk["processes"]] == ["frontend", "worker-0"]
    assert pids_of(shrunk)["worker-0"] == pids_of(state)["worker-0"]


def test_failing_replacement_leaves_the_old_one_serving(tiny_model, home, deployments, tmp_path):
    name = "t-apply-fails"
    deployments.append(name)
    state, same = _up("agg", name, tiny_model, home)
    before = pids_of(state)
    broken = tmp_path / "broken-python"
    broken.write_text("#!/bin/sh\necho 'engine: cannot load the weights'\nsleep 3\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)

    first = subprocess.Popen(
        [sys.executable, "-m", "trtl.launcher", *same, "--python", str(broken)],
        env=trtl_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # the broken worker is starting (it fails after 3 s)
    second = trtl(*same, "--set", "workers.worker.env.MARK=1", home=home)
    out, err = first.communicate(timeout=60)

    assert second.returncode == 2, second.stderr
    assert "another apply, scale or restart" in second.stderr
    assert first.returncode == 1, out + err
    assert "the new worker-0 did not come up: it exited with code 3" in err
    assert "keeps serving" in err and "engine: cannot load the weights" in err
    after = wait_ready(name, home)
    assert pids_of(after) == before
    result = trtl("chat", "--name", name, "hi", home=home)
    assert result.returncode == 0, result.stderr


def test_refusals_leave_the_deployment_untouched(tiny_model, home, deployments):
    name = "t-refuse"
    deployments.append(name)
    state, same = _up("disagg", name, tiny_model, home)
    before = pids_of(state)
    cases = [
        (["scale", name, "decode=0"], 2, "it is the only decode role"),
        (["scale", name, "nope=2"], 2, "has no worker role 'nope'"),
        (["scale", name, "decode=x"], 2, "is not ROLE=N"),
        (["scale", name, "decode=-1"], 2, "'decode=-1': a replica count is 0 or more."),
        ([*same, "--set", "workers.decode.replicas=0"], 2, "replicas"),
        ([*same, "--model", str(tiny_model) + "/"], 2, "cannot change the model"),
        (["restart", name, "nope"], 2, "has no role or process 'nope'"),
    ]
    for args, code, text in cases:
        result = trtl(*args, home=home)
        assert result.returncode == code, (args, result.stderr)
        assert text in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    # A supervisor that does not answer: one line, exit 1, nothing changed.
    os.kill(state["supervisor_pid"], signal.SIGSTOP)
    try:
        result = trtl("scale", name, "decode=2", home=home, timeout=60)
    finally:
        os.kill(state["supervisor_pid"], signal.SIGCONT)
    assert result.returncode == 1, result.stderr
    assert "is not answering" in result.stderr
    assert pids_of(wait_ready(name, home)) == before


def test_restart_rolls_every_process(tiny_model, home, deployments):
    name = "t-restart"
    deployments.append(name)
    state, _ = _up("agg_router", name, tiny_model, home)
    before = pids_of(state)
    with _load(state) as load:
        load.wait_streaming(CONCURRENCY)
        result = trtl("restart", name, "worker", home=home, timeout=120)
        report = load.join(timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    _whole(report)
    after = pids_of(wait_ready(name, home))
    assert after["frontend"] == before["frontend"]
    assert after["worker-0"] != before["worker-0"] and after["worker-1"] != before["worker-1"]


def test_a_foreground_up_follows_what_a_restart_starts(tiny_model, home, deployments):
    name = "t-restart-fg"
    deployments.append(name)
    proc = foreground("agg_router", tiny_model, name, home, "--set", SPEED)
    read_until(proc, "is ready after")
    state = status(name, home)
    before = pids_of(state)
    # The workers are replaced beside their predecessors, the frontend stopped first.
    result = trtl("restart", name, home=home, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = "".join(read_until(proc, "frontend replaced"))
    # The terminal shows the new processes' lines: a candidate's under its temporary name
    # (worker-0~new1) or, read after it was installed, under its own.
    since = shown[shown.index("restart: replace") :]
    assert re.search(r"^worker-0(~new\d+)?\s+\| .*system status server", since, re.M), shown
    after = pids_of(wait_ready(name, home))
    logs = Path(state["run_dir"]) / "logs"
    for process in ("frontend", "worker-0", "worker-1"):
        assert after[process] != before[process]
        # `trtl logs` reads NAME.log: the new process writes it; the old one's is kept apart.
        assert os.readlink(f"/proc/{after[process]}/fd/1") == str(logs / f"{process}.log")
        assert list(logs.glob(f"{process}~old*.log")), sorted(logs.iterdir())
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, shown + out
    assert "nothing left running" in out
    assert tree_alive(list(after.values())) == []


def test_top_once_json_counts_grow_under_load(tiny_model, home, deployments):
    name = "t-top"
    deployments.append(name)
    state, _ = _up("agg_router", name, tiny_model, home)

    def top() -> dict:
        result = trtl("top", name, "--once", "--json", "--interval", "0.5", home=home)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    first = top()
    with _load(state) as load:
        load.wait_streaming(CONCURRENCY)
        during = top()
        report = load.join(timeout=120)
    _whole(report)
    final = top()
    assert first["frontend"]["requests_total"] < final["frontend"]["requests_total"]
    assert final["frontend"]["requests_total"] >= REQUESTS
    assert during["frontend"]["inflight"] >= 1
    assert during["frontend"]["output_tokens_per_s"] > 0
    workers = [p for p in final["processes"] if p["role"] == "worker"]
    assert sum(p["metrics"]["requests_total"] for p in workers) >= REQUESTS
    assert all(p["memory_mib"] > 0 and p["pid"] for p in final["processes"])
