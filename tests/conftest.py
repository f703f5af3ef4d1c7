"""Shared fixtures: every test runs with its own state, config and working directories."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Private XDG dirs and cwd, so no test reads or writes the developer's own profiles."""
    home = tmp_path / "home"
    for name, sub in (("XDG_STATE_HOME", "state"), ("XDG_CONFIG_HOME", "config")):
        path = home / sub
        path.mkdir(parents=True)
        monkeypatch.setenv(name, str(path))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return work


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CliRunner with colour off and a fixed width, as a script would see trtl."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    return CliRunner()


@pytest.fixture
def run_trtl(runner: CliRunner):
    """Run ``trtl ARGS`` in-process through the root group (error handling included)."""
    from launcher.cli import cli

    def invoke(*args: str):
        return runner.invoke(cli, list(args), prog_name="trtl", catch_exceptions=False)

    return invoke
