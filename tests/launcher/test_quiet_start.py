"""The quiet wait after the early spawn (``supervision.quiet_start``): it ends when the
model is listed, when a process exits (without reaping it: the supervisor reads its exit
status) or at its limit; a plan that does not say where the frontend is ends it at once.

The "listed" case against the real frontend is in tests/e2e/test_fast_start.py.
"""

from __future__ import annotations

import subprocess

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
