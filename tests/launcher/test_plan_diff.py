"""What ``trtl apply`` changes: the per-process diff, ports kept, GPUs re-placed, the wire."""

from __future__ import annotations

import dataclasses
import os
import stat

import pytest
from trtl.launcher.cli.scale import scaled
from trtl.launcher.deployments.live_client import _without
from trtl.launcher.deployments.state import DeploymentState, ProcessState
from trtl.launcher.gpus.inventory import Gpu, GpuProcess, Inventory
from trtl.launcher.planning.diff import (
    align_ports,
    diff_plans,
    options_of,
    plan_from_wire,
    plan_to_wire,
    render_diff,
)
from trtl.launcher.planning.plan import PlanOptions, build_plan
from trtl.launcher.supervision.control import ControlServer, ask, socket_path
from trtl.profiles.errors import PlacementError, ProfileError, SupervisorError
from trtl.profiles.loader import load_profile


def plan(profile: str = "disagg", *sets: str, gpus: int = 0, **options):
    engine = "trtllm" if gpus else "mocker"
    loaded = load_profile(profile, overrides=sets, engine=engine)
    inventory = Inventory(
        tuple(Gpu(i, f"GPU-{i:08x}", "H100", 81559, 0) for i in range(gpus)), None
    )
    return build_plan(loaded, PlanOptions(**options), inventory if gpus else None)


def actions(diff) -> dict[str, str]:
    return {c.name: c.action for c in diff.changes}


def test_same_profile_changes_nothing_once_ports_are_aligned():
    running, again = plan(), plan()
    assert running.processes[1].ports != again.processes[1].ports  # drawn afresh
    diff = diff_plans(running, align_ports(again, running))
    assert diff.empty and set(actions(diff).values()) == {"keep"}
    assert diff.summary() == "nothing to change; 3 unchanged"


def test_a_role_change_replaces_only_that_role():
    running = plan("disagg", "workers.decode.replicas=2")
    new = plan("disagg", "workers.decode.replicas=2", "workers.decode.env.MARK=1")
    diff = diff_plans(running, align_ports(new, running))
    assert actions(diff) == {
        "frontend": "keep", "prefill-0": "keep", "decode-0": "replace", "decode-1": "replace"
    }  # fmt: skip
    text = render_diff(diff, running, align_ports(new, running))
    assert "--- running/decode-0\n+++ applied/decode-0" in text
    assert "+  MARK: '1'" in text
    assert text.endswith("unchanged (PIDs kept): frontend, prefill-0")


def test_scaling_adds_and_removes_the_highest_replicas_first_and_last():
    running = plan("agg_router")
    more = plan("agg_router", "workers.worker.replicas=3")
    diff = diff_plans(running, align_ports(more, running))
    assert [(c.name, c.action) for c in diff.actions] == [("worker-2", "add")]
    fewer = plan("agg_router", "workers.worker.replicas=1")
    diff = diff_plans(running, align_ports(fewer, running))
    assert [(c.name, c.action) for c in diff.actions] == [("worker-1", "remove")]


def test_engine_config_content_counts_and_the_frontend_goes_last():
    running = plan("disagg", gpus=2)
    new = plan(
        "disagg", "workers.prefill.engine_config.max_num_tokens=4096",
        "frontend.migration_limit=5", gpus=2,
    )  # fmt: skip
    diff = diff_plans(running, align_ports(new, running))
    assert [c.name for c in diff.actions] == ["prefill-0", "frontend"]
    added = [line for line in render_diff(diff, running, new).splitlines() if line[:1] == "+"]
    assert any(line.endswith("max_num_tokens: 4096") for line in added)


def test_model_engine_and_port_changes_are_blockers():
    running = plan()
    other = build_plan(
        load_profile("disagg", engine="mocker", model="Qwen/Qwen3-8B"), PlanOptions(http_port=9001)
    )
    blockers = diff_plans(running, other).blockers
    assert any(b.startswith("the model (Qwen/Qwen3-0.6B -> Qwen/Qwen3-8B)") for b in blockers)
    assert any(b.startswith("the frontend address") for b in blockers)


def test_the_wire_rebuilds_the_plan_and_its_options():
    running = plan("disagg", gpus=2)
    back = plan_from_wire(plan_to_wire(running))
    assert back == running
    options = options_of(running)
    assert options.http_port == 8000 and options.deployment == "disagg"
    chosen = dataclasses.replace(running, gpu_source="--gpus 1,0")
    assert options_of(chosen).gpus == "1,0"


def test_own_gpu_memory_does_not_make_gpus_busy(monkeypatch):
    busy = Inventory((
        Gpu(0, "GPU-0", "H100", 81559, 70000, processes=(GpuProcess(4242, 69000, "trtllm"),)),
        Gpu(1, "GPU-1", "H100", 81559, 70000, processes=(GpuProcess(7, 69000, "train"),)),
    ), None)  # fmt: skip
    monkeypatch.setattr("trtl.launcher.gpus.usage.process_tree", lambda pid: {pid})
    state = DeploymentState("d", "ready", "", "", processes=[ProcessState("w-0", "w", pid=4242)])
    freed = _without(busy, state)
    assert freed.gpus[0].memory_used_mib == 1000 and freed.gpus[0].processes == ()
    assert freed.gpus[1].memory_used_mib == 70000  # someone else's


def test_scaling_beyond_the_gpus_is_refused_like_up():
    running = plan("disagg", gpus=2)
    profile = scaled(running.profile, {"decode": 2}, "disagg")
    inventory = Inventory(tuple(Gpu(i, f"GPU-{i}", "H100", 81559, 0) for i in range(2)), None)
    with pytest.raises(PlacementError) as error:
        build_plan(profile, options_of(running), inventory)
    assert "3 GPUs" in error.value.message or "GPUs" in error.value.message


def test_scale_refusals():
    profile = plan("disagg").profile
    with pytest.raises(ProfileError, match="it is the only decode role"):
        scaled(profile, {"decode": 0}, "disagg")
    with pytest.raises(ProfileError, match="has no worker role 'x'"):
        scaled(profile, {"x": 1}, "disagg")
    with pytest.raises(ProfileError, match="replicas"):
        scaled(profile, {"decode": 65}, "disagg")
    assert scaled(profile, {"decode": 3}, "disagg").workers["decode"].replicas == 3


def test_control_socket_is_owner_only_and_answers(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)  # longer than a socket address may be
    deep.mkdir(parents=True)
    server = ControlServer(deep, lambda request: request.reply(True, f"got {request.op}"))
    server.start()
    try:
        mode = os.stat(socket_path(deep)).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        assert ask(deep, "d", "describe", timeout=5)["message"] == "got describe"
    finally:
        server.stop()
    with pytest.raises(SupervisorError, match="the supervisor of 'd' is not answering"):
        ask(deep, "d", "describe", timeout=5)


def test_two_changes_apply_cannot_make_are_named_in_one_sentence():
    from trtl.launcher.deployments.live_client import refuse_blockers
    from trtl.launcher.planning.diff import PlanDiff
    from trtl.profiles.errors import ProfileError

    diff = PlanDiff(blockers=["the model (a -> b)", "the served model name (a -> b)"])
    with pytest.raises(ProfileError) as raised:
        refuse_blockers(diff, "mine")
    assert str(raised.value).startswith(
        "apply cannot change the model (a -> b) and the served model name (a -> b) of the "
        "running 'mine' in place"
    )
