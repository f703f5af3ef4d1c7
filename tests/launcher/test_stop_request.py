"""Stop requests of two `trtl down` at once: one's end never takes back the other's."""

from __future__ import annotations

import os
import subprocess
import sys
import time

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


def test_a_wrapper_of_trtl_up_is_no_start_but_trtl_itself_is():
    # Before the fix: `timeout 200 trtl up …` was listed as a start that never claimed its name,
    # and `trtl down` waited 120 s for it.
    up = ["up", "agg", "--name", "a"]
    assert stop_request._may_start(["/venv/bin/python3.11", "/venv/bin/trtl", *up], "a")
    assert stop_request._may_start(["python", "-X", "importtime", "/venv/bin/trtl", *up], "a")
    assert stop_request._may_start(["/usr/bin/python3", "-u", "-m", "trtl.launcher", *up], "a")
    assert not stop_request._may_start(["timeout", "200", "/venv/bin/trtl", *up], "a")
    assert not stop_request._may_start(["uv", "run", "trtl", *up], "a")
    assert not stop_request._may_start(["timeout", "9", "python", "-m", "trtl.launcher", *up], "a")
    assert not stop_request._may_start(["bash", "-c", "trtl up agg --name a"], "a")
    assert not stop_request._may_start(["python", "-c", "import trtl", "trtl", *up], "a")


# A stand-in for `trtl up --name x` (its command line is one): reports its start time, then,
# once told that the `down` posted its request, whether the request cancels it.
_FAKE_UP = """#!{python}
import sys
from trtl.launcher.deployments import stop_request
from trtl.launcher.deployments.paths import RunDir
sys.stdin.readline()
print(stop_request.requester(RunDir.for_deployment("x")), flush=True)
sys.stdin.readline()
"""

# A stand-in for `trtl down x`, started right before the start: lists the starts it waits
# for, posts its request and keeps it until told to end.
_FAKE_DOWN = """
import sys
from trtl.launcher.deployments import stop_request
from trtl.launcher.deployments.paths import RunDir
run_dir = RunDir.for_deployment("x")
sys.stdin.readline()
print(" ".join(str(p.pid) for p in stop_request.early_starters("x", run_dir)), flush=True)
stop_request.post(run_dir)
print("posted", flush=True)
sys.stdin.readline()
"""


def test_a_down_waits_for_exactly_the_starts_its_request_cancels(tmp_path):
    # Before the fix: `down` counted a start begun up to 50 ms after it as begun before it and
    # waited for it, but the start obeyed only a `down` begun no later than itself: it
    # took the name, and `down` hung 120 s, then said the start had not claimed it. Retried
    # until the start begins in a later tick than the `down` (the window of the old bug);
    # in whatever tick it begins, both sides must agree.
    from trtl.launcher.deployments.process_time import create_time_of

    script = tmp_path / "trtl"
    script.write_text(_FAKE_UP.format(python=sys.executable))
    script.chmod(0o755)
    seen_later_tick = False
    for _ in range(20):
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
        down = subprocess.Popen([sys.executable, "-c", _FAKE_DOWN], **pipes)
        time.sleep(0.012)  # a clock tick (10 ms): the start begins a tick or two later
        up = subprocess.Popen([str(script), "up", "agg", "--name", "x"], **pipes)
        try:
            later = create_time_of(up.pid) > create_time_of(down.pid)
            down.stdin.write("\n")
            down.stdin.flush()
            waited_for = down.stdout.readline().split()
            assert down.stdout.readline() == "posted\n"
            up.stdin.write("\n")
            up.stdin.flush()
            cancelled_by = up.stdout.readline().strip()
            assert (str(up.pid) in waited_for) == (cancelled_by == str(down.pid)), (
                f"down waits for the start: {str(up.pid) in waited_for}; "
                f"the start obeys it: {cancelled_by}; start in a later tick: {later}"
            )
        finally:
            for proc in (down, up):
                proc.kill()
                proc.wait()
        stop_request.withdraw(RunDir.for_deployment("x"))
        if later:
            seen_later_tick = True
            break
    assert seen_later_tick, "the start never began in a later tick than the down"
