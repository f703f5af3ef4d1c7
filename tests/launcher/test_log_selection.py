"""Which log files `trtl logs NAME [PROCESS]` reads, and what it says for a name it has not."""

from __future__ import annotations

from pathlib import Path

import pytest
from trtl.launcher.deployments.state import DeploymentState, ProcessState
from trtl.launcher.supervision.log_files import SUPERVISOR_LOG, select_logs
from trtl.profiles.errors import SupervisorError


def _state(run_dir: Path) -> DeploymentState:
    processes = [ProcessState("frontend", "frontend"), ProcessState("decode-0", "decode")]
    return DeploymentState("d", "ready", "", str(run_dir), processes=processes)


def test_a_role_selects_its_processes(tmp_path: Path) -> None:
    assert select_logs(_state(tmp_path), "decode") == {
        "decode-0": tmp_path / "logs" / "decode-0.log"
    }


def test_an_unknown_name_lists_the_supervisor_log_of_a_detached_start(tmp_path: Path) -> None:
    (tmp_path / SUPERVISOR_LOG).write_text("started\n")
    assert select_logs(_state(tmp_path), "supervisor") == {"supervisor": tmp_path / SUPERVISOR_LOG}
    with pytest.raises(SupervisorError) as raised:
        select_logs(_state(tmp_path), "prefill")
    assert raised.value.hint == "It has: frontend, decode-0, supervisor."


def test_without_a_supervisor_log_it_is_not_offered(tmp_path: Path) -> None:
    with pytest.raises(SupervisorError) as raised:
        select_logs(_state(tmp_path), "prefill")
    assert raised.value.hint == "It has: frontend, decode-0."
