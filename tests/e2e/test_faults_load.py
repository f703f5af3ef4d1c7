"""Faults under load: processes die in the middle of streaming chat requests.

Real ``trtl up -d`` deployments (the real Dynamo frontend and mocker workers on loopback)
serve a bounded streaming load from ``load.py`` while a test kills one process. The
mocker emits exactly ``max_tokens`` tokens per request (it never samples an end token),
so a stream that survives a fault is checked token by token, not just for an end.

That a kill hit streams mid-flight is proven with Dynamo's own counters, not timing: the
victim's ``dynamo_component_inflight_requests`` just before the signal, and the
frontend's ``dynamo_frontend_model_migration_total{migration_type="ongoing_request"}``
(streams moved to another worker after tokens had been sent) after it.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import httpx
import pytest

from tests.e2e.load import LoadReport, StreamingLoad
from tests.e2e.up_helpers import (
    pids_of,
    status,
    trtl,
    up_args,
    wait_for,
    wait_ready,
)

# The mocker at real-time speed (~6 ms a token here; DYNAMO_FACTS suggests 1000 for fast
# tests): a 120-token stream lasts ~1 s, so a signal sent while 4 streams run lands
# mid-stream, and 12 requests keep the load going past the restart.
SPEED = "mocker.speedup_ratio=1"
MAX_TOKENS = 120
REQUESTS = 12
CONCURRENCY = 4

PROFILES = {
    # profile, extra --set, the role whose replica is killed
    "agg_router": ("agg_router", [], "worker"),
    "disagg-2-decode": ("disagg", ["workers.decode.replicas=2"], "decode"),
}


def _up(profile: str, sets: list[str], name: str, model: Path, home: Path) -> dict:
    args = up_args(profile, model, name, "-d", "--quiet", "--set", SPEED)
    for item in sets:
        args += ["--set", item]
    result = trtl(*args, home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    # Every worker registered, not only the model listed: a kill must find all of them up.
    return wait_ready(name, home)


def _migration_limit(profile: str, sets: list[str], model: Path, home: Path) -> int:
    args = ["plan", profile, "--engine", "mocker", "--model", str(model), "--json"]
    for item in sets:
        args += ["--set", item]
    plan = json.loads(trtl(*args, home=home).stdout)
    argv = next(p["argv"] for p in plan["processes"] if p["role"] == "frontend")
    return int(argv[argv.index("--migration-limit") + 1])


def _metric(url: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus metric's samples whose labels include ``labels``."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _inflight(proc: dict) -> float:
    url = f"http://127.0.0.1:{proc['ports']['system']}"
    return _metric(url, "dynamo_component_inflight_requests", dynamo_endpoint="generate")


def _ongoing_migrations(url: str) -> float:
    return _metric(url, "dynamo_frontend_model_migration_total", migration_type="ongoing_request")


def _busiest(state: dict, role: str) -> tuple[dict, float]:
    """The replica of ``role`` serving the most streams right now, and how many."""
    replicas = [p for p in state["processes"] if p["role"] == role]
    counts = [(p, _inflight(p)) for p in replicas]
    return max(counts, key=lambda pair: pair[1])


def _assert_every_stream_whole(report: LoadReport) -> None:
    assert report.failed == [], report.summary()
    assert len(report.records) == REQUESTS
    for record in report.records:
        # Whole: every token the request asked for, then the finish reason, then [DONE].
        assert record.tokens == MAX_TOKENS, record.describe()
        assert record.completion_tokens == MAX_TOKENS, record.describe()
        assert record.finish_reason == "length", record.describe()
        assert record.done, record.describe()


def _wait_restarted(name: str, home: Path, victim: str, old_pid: int) -> dict:
    return wait_for(
        lambda: (
            (s := status(name, home))["state"] == "ready" and pids_of(s)[victim] != old_pid and s
        ),
        timeout=30,
    )


@pytest.mark.parametrize("case", PROFILES)
def test_sigkill_of_a_worker_mid_stream_loses_no_request(case, tiny_model, home, deployments):
    profile, sets, role = PROFILES[case]
    name = f"t-kill-{case}"
    deployments.append(name)
    assert _migration_limit(profile, sets, tiny_model, home) >= 1
    state = _up(profile, sets, name, tiny_model, home)
    url, model = state["frontend_url"], state["served_model_name"]
    before = pids_of(state)
    assert _ongoing_migrations(url) == 0

    with StreamingLoad(
        url, model, requests=REQUESTS, concurrency=CONCURRENCY, max_tokens=MAX_TOKENS
    ) as load:
        load.wait_streaming(CONCURRENCY)
        victim, serving = _busiest(state, role)
        assert serving >= 1, "the worker to kill serves no stream"
        os.kill(victim["pid"], signal.SIGKILL)
        report = load.join(timeout=60)

    _assert_every_stream_whole(report)
    # The victim's streams went on on the other replica after tokens had been sent.
    assert _ongoing_migrations(url) >= 1
    state = _wait_restarted(name, home, victim["name"], victim["pid"])
    after = {p["name"]: p for p in state["processes"]}
    assert after[victim["name"]]["restarts"] == 1
    assert after[victim["name"]]["state"] == "running"
    for other, pid in before.items():
        if other != victim["name"]:
            assert after[other]["pid"] == pid and after[other]["restarts"] == 0, other
    with StreamingLoad(url, model, requests=4, concurrency=4, max_tokens=8) as again:
        assert again.join(timeout=30).failed == []


@pytest.mark.parametrize("case", PROFILES)
def test_sigterm_of_a_worker_drains_its_streams(case, tiny_model, home, deployments):
    profile, sets, role = PROFILES[case]
    name = f"t-term-{case}"
    deployments.append(name)
    state = _up(profile, sets, name, tiny_model, home)
    url, model = state["frontend_url"], state["served_model_name"]

    with StreamingLoad(
        url, model, requests=REQUESTS, concurrency=CONCURRENCY, max_tokens=MAX_TOKENS
    ) as load:
        load.wait_streaming(CONCURRENCY)
        victim, serving = _busiest(state, role)
        assert serving >= 1, "the worker to stop serves no stream"
        os.kill(victim["pid"], signal.SIGTERM)
        report = load.join(timeout=60)

    _assert_every_stream_whole(report)
    # Drained, not migrated: the victim finished its own streams before it exited.
    assert _ongoing_migrations(url) == 0
    state = _wait_restarted(name, home, victim["name"], victim["pid"])
    restarted = next(p for p in state["processes"] if p["name"] == victim["name"])
    assert restarted["restarts"] == 1
    # A drained worker exits 0, and trtl still treats that as a crash to restart.
    log = Path(state["run_dir"], "supervisor.log").read_text()
    assert re.search(rf"{victim['name']} exited with code 0; restarting", log), log


def test_sigkill_of_the_frontend_fails_open_streams_fast_and_recovers(
    tiny_model, home, deployments
):
    name = "t-kill-frontend"
    deployments.append(name)
    state = _up("agg_router", [], name, tiny_model, home)
    url, model = state["frontend_url"], state["served_model_name"]
    before = pids_of(state)

    # The streams' only connection is to the frontend: they cannot survive it. What a
    # client must see is a prompt connection error, not a hang until its read timeout.
    with StreamingLoad(
        url, model, requests=CONCURRENCY, concurrency=CONCURRENCY, max_tokens=2000
    ) as load:
        load.wait_streaming(CONCURRENCY)
        os.kill(before["frontend"], signal.SIGKILL)
        report = load.join(timeout=30)
    # "connection", not "timeout": each stream ended on the cut, not after its 30 s read limit.
    assert report.failure_kinds() == {"connection": CONCURRENCY}, report.summary()
    for record in report.records:
        assert record.tokens > 0, record.describe()  # it was mid-stream
        assert record.ended_at is not None, record.describe()

    state = _wait_restarted(name, home, "frontend", before["frontend"])
    after = {p["name"]: p for p in state["processes"]}
    assert after["frontend"]["restarts"] == 1
    for worker in ("worker-0", "worker-1"):
        assert after[worker]["pid"] == before[worker] and after[worker]["restarts"] == 0
    with StreamingLoad(url, model, requests=8, concurrency=4, max_tokens=32) as again:
        report = again.join(timeout=30)
    assert report.failed == [], report.summary()
    assert all(r.tokens == 32 for r in report.records), report.summary()
