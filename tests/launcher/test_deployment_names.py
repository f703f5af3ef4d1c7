"""Names are names: every command applies the same rule before a name touches the disk."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from trtl.launcher.deployments.paths import check_name, state_home

BAD = ["../../x", "../victim", "x/y", "abc\n", "ABC", "-x", "x_", "", "a" * 41, "a b"]


@pytest.mark.parametrize("name", BAD)
def test_the_rule_refuses_traversal_newlines_and_non_names(name):
    from trtl.profiles.errors import ProfileError

    with pytest.raises(ProfileError, match="is not a valid deployment name"):
        check_name(name)


@pytest.mark.parametrize("name", ["agg", "disagg_router", "a", "t-1", "a" * 40])
def test_the_rule_takes_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("command", ["down", "status", "up", "chat", "export"])
@pytest.mark.parametrize("name", ["../../victim", "abc\n"])
def test_every_command_refuses_a_bad_name_and_touches_nothing(run_trtl, command, name):
    # Before: `trtl down ../../x` removed a state file outside the state directory.
    outside = state_home().parent / "victim"
    outside.mkdir(parents=True)
    (outside / "state.json").write_text("{garbage")
    if command == "down":
        args = ["down", name]
    elif command == "status":
        args = ["status", name]
    elif command == "chat":
        args = ["chat", "--name", name, "hi"]
    elif command == "export":
        args = ["export", "--k8s", "agg", "--name", name]
    else:
        args = ["up", "agg", "--engine", "mocker", "--name", name]
    result = run_trtl(*args)
    assert result.exit_code == 2, result.output
    assert "is not a valid deployment name" in result.output or (
        command == "export" and "cannot be a Kubernetes name" in result.output
    )
    assert "Traceback" not in result.output
    assert (outside / "state.json").exists()


def test_export_name_with_a_trailing_newline_is_refused(run_trtl):
    result = run_trtl("export", "--k8s", "agg", "--name", "agg\n")
    assert result.exit_code == 2, result.output
    assert "cannot be a Kubernetes name" in result.output


def test_state_root_is_owner_only(run_trtl):
    from trtl.launcher.deployments.lock import DeploymentLock
    from trtl.launcher.deployments.paths import RunDir

    assert DeploymentLock(RunDir.for_deployment("agg")).acquire()
    mode = stat.S_IMODE(os.stat(state_home()).st_mode)
    assert mode == 0o700, oct(mode)
    assert not (Path(state_home()) / "agg").stat().st_mode & 0o077
