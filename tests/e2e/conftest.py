"""Fixtures of the end-to-end tests: a private HOME, and deployments taken down whatever happens."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.up_helpers import kill_groups, status, trtl


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
        trtl("down", name, "--grace", "2", home=home)
        kill_groups(state_pids)
