"""What a user sees of the processes: a calm foreground until ready, and the previous run's logs.

Real ``trtl up`` runs of the Dynamo frontend and mocker. The disaggregated graph's
frontend warns before ready that the tiny model cannot be routed by images (a WARN line
Dynamo prints at every start), among about a hundred INFO lines.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

from tests.e2e.up_helpers import foreground, read_until, status, trtl, up_args

INFO = re.compile(r"^\S+\s+\| \S+\s+INFO ")  # "frontend  | 2026-…Z  INFO target: …"
LOUD = re.compile(r"^\S+\s+\| \S+\s+(WARN|ERROR) ")


def test_the_foreground_is_calm_until_ready(tiny_model, home, deployments):
    name = "t-calm"
    deployments.append(name)
    proc = foreground("disagg", tiny_model, name, home)
    before_ready = read_until(proc, "is ready after")
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, rest
    assert not [line for line in before_ready if INFO.match(line)], "".join(before_ready)
    # Warnings are shown while calm; the terminal follows the log files in batches, so the
    # frontend's start-up warning may reach it just after trtl's own ready line.
    shown = before_ready + rest.splitlines(keepends=True)
    assert [line for line in shown if LOUD.match(line)], "".join(shown)
    # The engine's notes about settings it cannot express: one short line, once.
    notes = [line for line in before_ready if "note:" in line]
    assert len(notes) == 1 and "`trtl plan`" in notes[0], notes
    # Shutdown shows no warning spam of stopping processes.
    assert "Failed to unregister" not in rest and "completed unexpectedly" not in rest, rest
    assert "nothing left running" in rest
    # The log files have every line, INFO included.
    logs = Path(status(name, home)["run_dir"], "logs", "frontend.log").read_text()
    assert " INFO " in logs


def test_the_previous_runs_logs_are_kept(tiny_model, home, deployments):
    name = "t-previous"
    deployments.append(name)
    first = trtl(*up_args("agg", tiny_model, name, "-d"), home=home)
    assert first.returncode == 0, first.stderr
    run_dir = Path(status(name, home)["run_dir"])
    assert trtl("down", name, home=home).returncode == 0
    first_log = (run_dir / "logs" / "worker-0.log").read_text().splitlines()
    first_supervisor_log = (run_dir / "supervisor.log").read_text().splitlines()
    assert first_supervisor_log  # what the background supervisor said, up to its stop

    second = trtl(*up_args("agg", tiny_model, name, "-d"), home=home)
    assert second.returncode == 0, second.stderr
    shown = trtl("logs", name, "worker-0", "--previous", "-n", "100000", home=home)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [f"worker-0 | {line}" for line in first_log]
    # The current run's logs are its own.
    current = trtl("logs", name, "worker-0", "-n", "100000", home=home).stdout
    assert current != shown.stdout
    # So is the background supervisor's log: the last run's is kept beside its processes'.
    shown = trtl("logs", name, "supervisor", "--previous", "-n", "100000", home=home)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [f"supervisor | {line}" for line in first_supervisor_log]
    current = trtl("logs", name, "supervisor", "-n", "100000", home=home)
    assert current.returncode == 0, current.stderr
    assert current.stdout and current.stdout != shown.stdout
    assert trtl("down", name, home=home).returncode == 0


def test_no_previous_run_is_one_sentence(tiny_model, home, deployments):
    name = "t-noprevious"
    deployments.append(name)
    assert trtl(*up_args("agg", tiny_model, name, "-d"), home=home).returncode == 0
    result = trtl("logs", name, "--previous", home=home)
    assert result.returncode != 0
    assert "no logs of a previous run" in result.stderr and "Traceback" not in result.stderr
