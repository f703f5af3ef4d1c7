"""Shared fixtures: every test runs with its own state, config and working directories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from tests import leftovers

ROOT = Path(__file__).resolve().parents[1]

# Property tests: the default run ("fast") tries a fixed, derandomized handful of examples
# per property, enough to catch a regression in the cases that found past bugs;
# HYPOTHESIS_PROFILE=deep runs each property's own larger count (tests/strategies.py
# fuzz_settings), HYPOTHESIS_PROFILE=hunt 3000 random ones to look for new bugs.
FAST_EXAMPLES = 25
settings.register_profile(
    "deep",
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    # The autouse isolated_dirs fixture is function-scoped: one directory for all examples
    # is what the tests want (every example overwrites the same files).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("fast", parent=settings.get_profile("deep"), max_examples=FAST_EXAMPLES)
settings.register_profile(
    "hunt", parent=settings.get_profile("deep"), max_examples=3000, derandomize=False
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        leftovers.mark_run()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when it leaves processes behind, after killing them (xdist workers'
    processes are counted by the controller once every worker has finished)."""
    if hasattr(session.config, "workerinput"):
        return
    # Processes on their way out (a `down` that just returned) get a moment to finish.
    found = leftovers.leftovers()
    if found:
        psutil.wait_procs(found, timeout=15)
        found = leftovers.leftovers()  # looked up again: a process may end while it is asked
    if not found:
        return
    lines = "\n".join(f"  {leftovers.describe(p)}" for p in found)
    leftovers.kill(found)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        message = f"\nprocesses left running by the tests (now killed):\n{lines}"
        reporter.write_line(message, red=True)
    if session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
    from trtl.launcher.cli import cli

    def invoke(*args: str):
        return runner.invoke(cli, list(args), prog_name="trtl", catch_exceptions=False)

    return invoke


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """The tiny offline model (tokenizer, config, chat template; no weights) for the mocker.

    Built once into the checkout's .cache; the builder is idempotent and atomic, so parallel
    test workers share it safely.
    """
    out = ROOT / ".cache" / "tiny-model"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_tiny_model.py"), str(out)],
        check=True,
        capture_output=True,
    )
    return out
