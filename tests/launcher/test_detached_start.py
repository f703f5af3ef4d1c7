"""``start_detached`` tells its caller when the graph became its own to stop.

Bench and the library stop the deployment of a start that failed, but only once its
supervisor ran: a start refused before (the name taken by another start in the meantime)
started nothing, and stopping that name would stop the other start's graph."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from trtl.launcher.deployments import detached, running
from trtl.launcher.deployments.lifecycle import SERVABLE
from trtl.profiles.errors import TrtlError

import trtl

MODEL = str(Path(__file__).resolve().parents[2] / ".cache" / "tiny-model")
SERVABLE_STATE = sorted(SERVABLE)[0]


def test_a_start_refused_at_its_claim_never_reports_a_spawn(isolated_dirs):
    plan = trtl.plan("agg", engine="mocker", model=MODEL, name="taken")
    held = running.claim(plan)  # another start holds the name
    spawned: list[bool] = []
    try:
        with pytest.raises(TrtlError, match="already running"):
            detached.start_detached(
                plan, ["up", "agg", "--supervise"], timeout=5, announce=False,
                on_spawned=lambda: spawned.append(True),
            )  # fmt: skip
    finally:
        held.release()
    assert spawned == []


def test_a_stop_signal_that_comes_as_the_start_turns_ready_still_stops_it(
    isolated_dirs, monkeypatch
):
    # Before: a SIGTERM counted while the wait read the servable state was dropped; `trtl up
    # -d` (and bench, and trtl.up) went on as if nothing had come. The signal is sent from
    # inside that read: no timing involved.
    plan = trtl.plan("agg", engine="mocker", model=MODEL, name="racing")
    supervisor = subprocess.Popen(["sleep", "60"], start_new_session=True)

    def read_as_the_signal_comes(_plan):
        os.kill(os.getpid(), signal.SIGTERM)
        return SimpleNamespace(supervisor_pid=supervisor.pid, state=SERVABLE_STATE)

    monkeypatch.setattr(detached, "quiet_read", read_as_the_signal_comes)
    try:
        with detached.StopRequests() as stops, pytest.raises(detached.StartStopped):
            detached._wait(plan, supervisor, stops, timeout=5, announce=False)
        assert supervisor.wait(timeout=10) == -signal.SIGTERM  # the supervisor was stopped
    finally:
        supervisor.kill()
        supervisor.wait()


@pytest.mark.parametrize("share_gpus", [True, False])
def test_the_background_supervisor_gets_the_share_gpus_choice(isolated_dirs, share_gpus):
    # `trtl up -d --share-gpus`, trtl.up(share_gpus=True) and bench's graphs all pass it
    # through detached_args: the supervisor plans again, and without it would refuse.
    plan = trtl.plan("agg", engine="mocker", model=MODEL, name="sharing")
    args = detached.detached_args(
        "agg", plan, "mocker", MODEL, (), None, None, 5.0, 1.0, False, share_gpus=share_gpus
    )
    assert ("--share-gpus" in args) is share_gpus
    assert args[:3] == ["up", "agg", "--supervise"]
