"""The quiet wait after the early spawn (``supervision.quiet_start``): it ends when the
model is listed, when a process exits (without reaping it: the supervisor reads its exit
status) or at its limit; a plan that does not say where the frontend is ends it at once.

The "listed" case against the real frontend is in tests/e2e/test_fast_start.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys

from trtl.launcher.planning.ports import free_ports
from trtl.launcher.supervision.quiet_start import wait_until_listed


def plan_at(port: int, model: str = "m") -> dict:
    return {"frontend_url": f"http://127.0.0.1:{port}", "profile": {"served_name": model}}


def test_a_process_that_exits_ends_the_wait_and_stays_for_its_parent_to_reap():
    child = subprocess.Popen(["sh", "-c", "exit 3"])
    port = free_ports(1, exclude=set())[0]  # nothing listens: only the exit can end it
    assert wait_until_listed(plan_at(port), [child.pid], limit=120) == "exited"
    assert child.wait(timeout=5) == 3  # its exit status is still there for the supervisor


def test_nothing_listening_ends_at_the_limit():
    child = subprocess.Popen(["sleep", "30"])
    try:
        port = free_ports(1, exclude=set())[0]
        assert wait_until_listed(plan_at(port), [child.pid], limit=0.3) == "limit"
    finally:
        child.kill()
        child.wait()


def test_a_plan_without_a_frontend_address_does_not_wait():
    assert wait_until_listed({"profile": {}}, [], limit=120) == "unknown"
    assert wait_until_listed({"frontend_url": "nonsense", "profile": {}}, [], limit=120) == (
        "unknown"
    )


# HeldStops changes the signal handlers of the process it runs in: each case runs in a
# Python of its own, which sends itself the signals.
HELD = """
import os, signal, sys
from trtl.launcher.supervision.quiet_start import HeldStops, wait_until_listed
{before}
stops = HeldStops()
{then}
"""


def run_held(then: str, before: str = "") -> subprocess.CompletedProcess[str]:
    code = HELD.format(before=before, then=then)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_a_stop_signal_is_kept_and_ends_the_wait():
    done = run_held(
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "plan = {'frontend_url': 'http://127.0.0.1:9', 'profile': {'served_name': 'm'}}\n"
        "print(stops.received, wait_until_listed(plan, [], limit=60, stops=stops))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[15]", "stopped"]


def test_a_second_stop_signal_acts_at_once():
    done = run_held(
        "os.kill(os.getpid(), signal.SIGTERM)\nos.kill(os.getpid(), signal.SIGTERM)\nprint('alive')"
    )
    assert done.returncode == -signal.SIGTERM and "alive" not in done.stdout


def test_given_back_the_kept_signal_acts_as_before():
    done = run_held(
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "try:\n    stops.give_back()\nexcept KeyboardInterrupt:\n    print('interrupted')"
    )
    assert done.stdout.split() == ["interrupted"], done.stderr


def test_a_signal_ignored_before_stays_ignored():
    done = run_held(
        "os.kill(os.getpid(), signal.SIGHUP)\n"
        "print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN, stops.received)",
        before="signal.signal(signal.SIGHUP, signal.SIG_IGN)",
    )
    assert done.stdout.split() == ["True", "[]"], done.stderr
