"""The validated-plan cache: the same plan back while nothing changed, a miss for any change."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from trtl.launcher.planning import plan_cache
from trtl.launcher.planning.plan import PlanOptions, build_plan
from trtl.profiles.loader import load_profile

ARGS = ["agg", "--engine", "mocker", "--model", "MODEL", "--port", "18500"]


@pytest.fixture
def model(tmp_path: Path, tiny_model: Path) -> Path:
    """A private copy of the tiny model, so a test may change it."""
    return Path(shutil.copytree(tiny_model, tmp_path / "model"))


def _save(ref: str, model: Path, args: list[str] | None = None, **overrides):
    profile = load_profile(
        ref, model=str(model), engine="mocker", overrides=overrides.get("set", ())
    )
    plan = build_plan(profile, PlanOptions(http_port=18500))
    args = args or [a.replace("MODEL", str(model)) for a in ARGS]
    plan_cache.save(args, ref, profile, plan, quiet=True, timeout=90.0, grace=3.0)
    return args, profile, plan


def test_an_unchanged_up_gets_the_very_plan_back(model):
    args, profile, plan = _save("agg", model)
    cached = plan_cache.load(args)
    assert cached is not None
    assert cached.plan.to_json() == plan.to_json()
    assert (cached.quiet, cached.timeout, cached.grace) == (True, 90.0, 3.0)
    restored = cached.plan.profile
    assert restored.served_name == profile.served_name
    assert restored.stop_grace == profile.stop_grace
    assert (
        vars(restored.workers["worker"].restart) == profile.workers["worker"].restart.model_dump()
    )
    assert vars(restored.frontend.restart) == profile.frontend.restart.model_dump()


def test_the_cache_is_private_and_reading_it_imports_no_pydantic(model):
    args, _, _ = _save("agg", model)
    folder = Path(os.environ["XDG_STATE_HOME"]) / "trtl" / plan_cache.CACHE_DIR
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    check = (
        "import sys; from trtl.launcher.planning import plan_cache; "
        f"hit = plan_cache.load({args!r}); "
        "print(hit is not None, 'pydantic' in sys.modules, 'yaml' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"]


def test_other_arguments_or_environment_miss(model, monkeypatch):
    args, _, _ = _save("agg", model)
    assert plan_cache.load([*args, "--quiet"]) is None
    monkeypatch.setenv("HF_HOME", "/elsewhere")
    assert plan_cache.load(args) is None
    monkeypatch.delenv("HF_HOME")
    assert plan_cache.load(args) is not None
    monkeypatch.setenv("SHLVL", "7")  # what a shell changes between two commands: no miss
    assert plan_cache.load(args) is not None


def test_a_changed_profile_file_misses_and_its_old_content_hits_again(model, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("extends: agg\nname: mine\n")
    args, _, _ = _save(str(path), model, args=["mine.yaml"])
    assert plan_cache.load(args) is not None
    path.write_text("extends: agg\nname: mine\nstop_grace: 7\n")
    assert plan_cache.load(args) is None
    path.write_text("extends: agg\nname: mine\n")  # content, not modification time, counts
    assert plan_cache.load(args) is not None


def test_a_new_profile_that_would_win_the_name_misses(model):
    args, _, _ = _save("agg", model)
    project = Path.cwd() / ".trtl" / "profiles"
    project.mkdir(parents=True)
    (project / "agg.yaml").write_text("extends: agg\nname: agg\n")
    assert plan_cache.load(args) is None


def test_a_changed_model_directory_misses(model):
    args, _, _ = _save("agg", model)
    (model / "tokenizer_config.json").write_text("{}")
    assert plan_cache.load(args) is None


def test_a_cache_file_others_could_write_is_not_used(model):
    args, _, _ = _save("agg", model)
    folder = Path(os.environ["XDG_STATE_HOME"]) / "trtl" / plan_cache.CACHE_DIR
    for entry in folder.iterdir():
        entry.chmod(0o620)
    assert plan_cache.load(args) is None


def test_a_changed_dynamo_install_misses(model):
    args, _, _ = _save("agg", model)
    assert plan_cache.load(args) is not None
    # The module the frontend runs, as the engine-import check found it: an upgrade
    # rewrites it (here: its modification time moves).
    import dynamo.frontend

    origin = Path(dynamo.frontend.__file__)
    before = origin.stat()
    try:
        os.utime(origin, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        assert plan_cache.load(args) is None
    finally:
        os.utime(origin, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert plan_cache.load(args) is not None


def test_the_log_options_come_back_as_they_were_given(model):
    from trtl.launcher.supervision.log_rotation import LogLimits

    profile = load_profile("agg", model=str(model), engine="mocker")
    plan = build_plan(profile, PlanOptions(http_port=18500))
    args = [a.replace("MODEL", str(model)) for a in ARGS]
    limits = LogLimits(max_bytes=2 * 2**20, keep=1)
    plan_cache.save(
        args, "agg", profile, plan, quiet=False, timeout=90.0, grace=3.0, verbose=True,
        limits=limits,
    )  # fmt: skip
    cached = plan_cache.load(args)
    assert cached is not None
    assert (cached.verbose, cached.log_max_bytes, cached.log_keep) == (True, 2 * 2**20, 1)


def test_a_cached_start_of_a_claimed_name_leaves_it_to_the_validating_path(model):
    from trtl.launcher.deployments.cached_up import cached_up
    from trtl.launcher.deployments.lock import STARTER, DeploymentLock

    args, _, plan = _save("agg", model)
    assert plan_cache.load(args) is not None  # a hit: only the claim sends it back
    holder = DeploymentLock(plan.run_dir)
    assert holder.acquire(STARTER)
    try:
        assert cached_up(args) is None  # nothing spawned: the usual path refuses, by name
        assert not plan.run_dir.logs.exists()
    finally:
        holder.release()


def test_a_cached_start_on_a_full_disk_leaves_it_to_the_validating_path(model, monkeypatch):
    from trtl.launcher.deployments import running
    from trtl.launcher.deployments.cached_up import cached_up
    from trtl.launcher.deployments.lock import DeploymentLock

    args, _, plan = _save("agg", model)
    assert plan_cache.load(args) is not None
    # A full disk, whoever asks (the early spawn and the supervisor both look).
    full = os.statvfs_result((4096, 4096, 1000, 0, 0, 1000, 0, 0, 0, 255))  # nothing available
    monkeypatch.setattr(os, "statvfs", lambda _path: full)
    assert running.MIN_FREE > 0
    assert cached_up(args) is None
    assert not plan.run_dir.logs.exists()
    assert DeploymentLock(plan.run_dir).holder() is None  # nothing claimed the name


def test_a_cached_start_whose_port_is_taken_leaves_it_to_the_validating_path(model):
    import socket

    from trtl.launcher.deployments.cached_up import cached_up
    from trtl.launcher.deployments.lock import DeploymentLock

    args, _, plan = _save("agg", model)
    assert plan_cache.load(args) is not None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 18500))  # the frontend's port
        taken.listen()
        assert cached_up(args) is None  # nothing spawned: the usual path names the holder
    assert not plan.run_dir.logs.exists()
    assert DeploymentLock(plan.run_dir).holder() is None


def test_the_early_start_names_the_files_and_states_the_supervisor_uses():
    from trtl.launcher.deployments import lock, running, state, stop_request
    from trtl.launcher.deployments.lifecycle import DeploymentStatus
    from trtl.launcher.supervision import early_start

    assert early_start.LOCK_FILE == lock.LOCK_FILE
    assert early_start.SUPERVISOR_ROLE == lock.SUPERVISOR
    assert early_start.STATE_FILE == state.STATE_FILE
    assert early_start.MIN_FREE == running.MIN_FREE
    assert f"{stop_request.REQUEST_FILE}." == early_start.STOP_REQUEST_PREFIX
    assert set(early_start.ENDED_STATES) == {DeploymentStatus.STOPPED, DeploymentStatus.FAILED}


def test_a_cached_start_asked_to_stop_by_a_down_spawns_nothing(model):
    """A `trtl down` that began right after this start left its request before the early
    spawn took the lock: the start spawns nothing and is cancelled (stop_request)."""
    from trtl.launcher.deployments.cached_up import cached_up
    from trtl.launcher.deployments.lock import DeploymentLock
    from trtl.launcher.deployments.process_time import create_time_of
    from trtl.launcher.deployments.state import make_private_dir
    from trtl.launcher.deployments.stop_request import CANCELLED_FILE, REQUEST_FILE

    args, _, plan = _save("agg", model)
    assert plan_cache.load(args) is not None
    down = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        make_private_dir(plan.run_dir.root)
        request = plan.run_dir.root / f"{REQUEST_FILE}.{down.pid}"
        request.write_text(f"{down.pid} {create_time_of(down.pid)}\n")
        assert cached_up(args) is None  # the validating path then says it was cancelled
        assert not plan.run_dir.logs.exists()
        assert DeploymentLock(plan.run_dir).holder() is None
        cancelled = (plan.run_dir.root / CANCELLED_FILE).read_text().split()
        assert str(os.getpid()) in cancelled
    finally:
        down.kill()
        down.wait()


def test_a_start_sets_the_last_run_aside_in_one_rename_and_tidying_deletes_it(model):
    """Both starts rename the last run's discovery and older logs out of the way (deleting
    them file by file delayed the first spawn); ``remove_set_aside`` deletes them, and
    whatever a killed run left too."""
    from trtl.launcher.deployments.run_setup import prepare_run_dir
    from trtl.launcher.deployments.set_aside import remove_set_aside
    from trtl.launcher.supervision import early_start

    _, _, plan = _save("agg", model)
    root = plan.run_dir.root
    for prepare in (lambda: early_start._prepare_run_dir(str(root)), lambda: prepare_run_dir(plan)):
        for folder, name in (("discovery", "v1/mdc/old"), ("logs", "frontend.log"),
                             ("logs.previous", "older.log")):  # fmt: skip
            (root / folder / name).parent.mkdir(parents=True, exist_ok=True)
            (root / folder / name).write_text("the last run's\n")
        (root / ".old.99999.discovery" / "v1").mkdir(parents=True)  # a killed run's

        prepare()

        assert list((root / "discovery").iterdir()) == []
        assert list((root / "logs").iterdir()) == []
        assert (root / "logs.previous" / "frontend.log").read_text() == "the last run's\n"
        assert not (root / "logs.previous" / "older.log").exists()
        mine = sorted(p for p in root.glob(f".old.{os.getpid()}.*"))
        assert [p.name.rsplit(".", 1)[-1] for p in mine] == ["discovery", "previous"], mine
        assert (mine[0] / "v1" / "mdc" / "old").exists()
        assert (mine[1] / "older.log").exists()
        assert (root / ".old.99999.discovery").exists()
        remove_set_aside(str(root))
        assert list(root.glob(".old.*")) == []
