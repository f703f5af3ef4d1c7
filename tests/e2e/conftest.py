"""Fixtures of the end-to-end tests: a private HOME, and deployments taken down whatever happens."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.up_helpers import kill_groups, machine_report, status, trtl


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "user-home"
    path.mkdir()
    return path


@pytest.fixture
def deployments(home: Path):
    """Names started by the test; whatever happens, they are taken down at the end."""
    started: list[str] = []
    yield started
    for name in started:
        state_pids: list[int] = []
        try:
            state = status(name, home)
            state_pids = [p["pid"] for p in state["processes"] if p["pid"]]
            state_pids.append(state["supervisor_pid"])
        except (AssertionError, ValueError):
            pass
        try:
            trtl("down", name, "--grace", "2", home=home)
        finally:
            # Also when `down` itself failed or ran past its limit: nothing may outlive the
            # test and slow down the ones after it.
            kill_groups(state_pids)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed end-to-end test also shows how busy the machine was and what the
    supervisors logged: CI keeps nothing else of a run."""
    report = yield
    if report.failed and call.when in ("call", "teardown"):
        tmp = getattr(item, "funcargs", {}).get("tmp_path")
        report.sections.append(("machine and supervisor logs", machine_report(tmp)))
    return report
