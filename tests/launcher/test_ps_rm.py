"""``trtl ps`` lists running deployments, ``--all`` stopped ones too, and ``trtl rm NAME``
forgets a stopped one (its state and logs) but refuses a running one."""

from __future__ import annotations

import json

from trtl.launcher.deployments.paths import RunDir
from trtl.launcher.deployments.state import ProcessState

from tests.live_state import live_state, save_state


def stopped(name: str) -> RunDir:
    """A deployment that ran and was stopped: its state and a log are left behind."""
    procs = [ProcessState(name="frontend", role="frontend", state="stopped", exit_code=0)]
    run_dir = save_state(live_state(name, state="stopped", processes=procs))
    run_dir.logs.mkdir()
    (run_dir.logs / "frontend.log").write_text("INFO the last run\n")
    return run_dir


def names(result) -> list[str]:
    return [row["deployment"] for row in json.loads(result.stdout)]


def test_ps_shows_running_and_all_shows_stopped_too(run_trtl):
    save_state(live_state("serving"))
    stopped("old")
    plain = run_trtl("ps")
    assert plain.exit_code == 0, plain.output
    assert "serving" in plain.stdout and "old" not in plain.stdout
    assert "1 stopped deployment not shown: `trtl ps --all`" in plain.stderr
    every = run_trtl("ps", "--all")
    assert "serving" in every.stdout and "old" in every.stdout
    assert names(run_trtl("ps", "--json")) == ["serving"]
    assert names(run_trtl("ps", "--all", "--json")) == ["old", "serving"]


def test_ps_with_only_stopped_ones_says_how_to_see_them(run_trtl):
    stopped("old")
    result = run_trtl("ps")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no deployment is running" in result.stderr
    assert "(1 stopped: `trtl ps --all` lists them)" in result.stderr


def test_a_dead_supervisors_leftover_processes_count_as_running(run_trtl):
    procs = [ProcessState(name="worker-0", role="worker", state="running")]
    save_state(live_state("orphaned", state="failed", processes=procs))
    assert names(run_trtl("ps", "--json")) == ["orphaned"]


def test_rm_forgets_a_stopped_deployment(run_trtl):
    run_dir = stopped("old")
    result = run_trtl("rm", "old")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("forgot 'old': removed ")
    assert not run_dir.root.exists()
    assert "old" not in run_trtl("ps", "--all").stdout


def test_rm_refuses_a_running_deployment_in_one_sentence(run_trtl):
    run_dir = save_state(live_state("serving"))
    result = run_trtl("rm", "serving")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: 'serving' is still running; stop it first with `trtl down serving`, "
        "then `trtl rm serving`.\n"
    )
    assert (run_dir.root / "state.json").is_file()


def test_rm_of_an_unknown_name_points_at_ps_all(run_trtl):
    result = run_trtl("rm", "never")
    assert result.exit_code == 1
    assert "no deployment named 'never' has run here." in result.stderr
    assert "`trtl ps --all` lists them" in result.stderr


def test_rm_refuses_a_name_that_is_not_a_deployment_name(run_trtl):
    result = run_trtl("rm", "../etc")
    assert result.exit_code == 2
    assert "'../etc' is not a valid deployment name" in result.stderr
