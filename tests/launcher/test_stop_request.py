"""Stop requests of two `trtl down` at once: one's end never takes back the other's."""

from __future__ import annotations

import os
import subprocess
import sys

from trtl.launcher.deployments import stop_request
from trtl.launcher.deployments.paths import RunDir

_OTHER_DOWN = """
import sys, time
from trtl.launcher.deployments import stop_request
from trtl.launcher.deployments.paths import RunDir
stop_request.post(RunDir.for_deployment("x"))
print("posted", flush=True)
time.sleep(60)
"""


def test_one_downs_end_leaves_the_other_downs_request_and_what_it_stopped():
    # Before: the second `down`'s request replaced the first's, and whichever ended first
    # removed the request and the list of cancelled starts: the other then said
    # "no deployment named 'x' has run here" (exit 1) about the start it had cancelled.
    run_dir = RunDir.for_deployment("x")
    other = subprocess.Popen([sys.executable, "-c", _OTHER_DOWN], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline() == "posted\n"
        stop_request.post(run_dir)  # this process is the first `down`...
        stop_request.record_cancelled(run_dir)  # ...and, for the test, the start it stopped
        stop_request.withdraw(run_dir)
        # This test process started before the other `down`: as a start, it is cancelled.
        assert stop_request.requester(run_dir) == other.pid
        assert os.getpid() in stop_request.cancelled(run_dir)
    finally:
        other.kill()
        other.wait()


def test_a_start_given_its_name_twice_is_found_by_the_name_it_runs_under():
    # click takes the last --name; down looked at the first and missed the start.
    argv = ["/venv/bin/python", "/venv/bin/trtl", "up", "agg", "--name", "a", "--name=b"]
    assert stop_request._may_start(argv, "b")
    assert not stop_request._may_start(argv, "a")
    assert stop_request._may_start([*argv[:-1], "--name", "c"], "c")
