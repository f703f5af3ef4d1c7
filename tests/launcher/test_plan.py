"""The local plan applies the runtime contract of DESIGN.md to the engine table's specs."""

from __future__ import annotations

import json
import os

import pytest
from trtl.launcher.gpus.inventory import Gpu, GpuProcess, Inventory
from trtl.launcher.planning.plan import PlanOptions, build_plan
from trtl.profiles.engines import LOCAL_ONLY_ENV, component_specs
from trtl.profiles.errors import PlacementError, ProfileError
from trtl.profiles.identity import LOCAL_ONLY_FLAGS
from trtl.profiles.loader import load_profile

BUILTINS = ["agg", "agg_router", "disagg", "disagg_router"]


def inventory(count: int) -> Inventory:
    gpus = tuple(
        Gpu(i, f"GPU-{i:08x}-0000-0000-0000-000000000000", "H100", 81559, 0) for i in range(count)
    )
    return Inventory(gpus, None if count else "no NVIDIA driver: libnvidia-ml.so.1 not found")


def plan_of(name: str, gpus: int = 8, options: PlanOptions | None = None, **kwargs):
    return build_plan(load_profile(name, **kwargs), options or PlanOptions(), inventory(gpus))


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("engine", ["trtllm", "mocker"])
def test_every_builtin_plans_for_both_engines(name, engine):
    plan = plan_of(name, engine=engine)
    profile = plan.profile
    expected = ["frontend"] + [
        f"{role}-{i}" for role, spec in profile.workers.items() for i in range(spec.replicas)
    ]
    assert [p.name for p in plan.processes] == expected
    assert plan.deployment == name
    assert plan.frontend_url == "http://127.0.0.1:8000"
    assert str(plan.run_dir.root) == os.path.join(os.environ["XDG_STATE_HOME"], "trtl", name)


def test_process_names_count_replicas():
    assert [p.name for p in plan_of("disagg_router").processes] == [
        "frontend", "prefill-0", "prefill-1", "decode-0",
    ]  # fmt: skip


@pytest.mark.parametrize("name", BUILTINS)
def test_local_runtime_contract(name):
    plan = plan_of(name, engine="mocker")
    discovery = str(plan.run_dir.discovery)
    namespace = f"trtl-{name.replace('_', '-')}"
    frontend, *workers = plan.processes
    assert frontend.argv[frontend.argv.index("--http-host") + 1] == "127.0.0.1"
    assert frontend.argv[frontend.argv.index("--namespace") + 1] == namespace
    for proc in plan.processes:
        assert proc.argv[-2:] == ["--discovery-backend", "file"]
        assert proc.env["DYN_FILE_KV"] == discovery
        for host in ("DYN_TCP_RPC_HOST", "DYN_TCP_RESPONSE_STREAM_HOST", "DYN_EVENT_PLANE_HOST"):
            assert proc.env[host] == "127.0.0.1"
    for proc in workers:
        assert proc.env["DYN_NAMESPACE"] == namespace
        assert proc.env["DYN_SYSTEM_HOST"] == "127.0.0.1"
        assert proc.ports == {"system": int(proc.env["DYN_SYSTEM_PORT"])}
    ports = [port for proc in plan.processes for port in proc.ports.values()]
    assert len(set(ports)) == len(ports), "every process needs its own port"
    # Dynamo parses DYN_SYSTEM_PORT as a signed 16-bit number.
    assert all(20000 <= proc.ports["system"] <= 32767 for proc in workers)


def test_name_and_port_options():
    plan = plan_of("agg", options=PlanOptions(deployment="exp-1", http_port=8123))
    assert plan.deployment == "exp-1"
    assert plan.frontend_url == "http://127.0.0.1:8123"
    assert plan.processes[0].ports == {"http": 8123}
    assert plan.namespace == "trtl-exp-1"
    assert plan.run_dir.root.name == "exp-1"


def test_bad_deployment_name():
    with pytest.raises(ProfileError) as info:
        plan_of("agg", options=PlanOptions(deployment="My Run"))
    assert "--name 'My Run' is not a valid deployment name" in str(info.value)


def test_identity_the_plan_adds_only_local_only_settings():
    """Each process runs the engine table's args; only the listed local-only parts are added."""
    profile = load_profile("disagg_router")
    plan = build_plan(profile, PlanOptions(), inventory(8))
    specs = {s.role: s for s in component_specs(profile, str(plan.run_dir.engine_configs))}
    for proc in plan.processes:
        spec = specs[proc.role]
        prefix = proc.argv[: 3 + len(spec.args)]
        assert prefix[1:3] == ["-m", spec.module]
        assert tuple(prefix[3:]) == spec.args
        added = proc.argv[3 + len(spec.args) :]
        assert set(added[::2]) <= set(LOCAL_ONLY_FLAGS), added
        added_env = set(proc.env) - set(spec.env)
        assert added_env <= set(LOCAL_ONLY_ENV), added_env


def test_engine_config_files_are_planned_in_the_run_dir():
    plan = plan_of("disagg")
    paths = {p.name: str(p) for p in plan.files}
    assert set(paths) == {"prefill.yaml", "decode.yaml"}
    for path, content in plan.files.items():
        assert path.parent == plan.run_dir.engine_configs
        assert content["tensor_parallel_size"] == 1
    decode = next(p for p in plan.processes if p.name == "decode-0")
    assert decode.argv[decode.argv.index("--extra-engine-args") + 1] == paths["decode.yaml"]


# --- GPUs -----------------------------------------------------------------------------------


def test_each_replica_gets_its_own_gpu():
    plan = plan_of("disagg_router", gpus=8)
    placed = {p.name: (p.gpus, p.env.get("CUDA_VISIBLE_DEVICES")) for p in plan.processes}
    assert placed == {
        "frontend": ([], None),
        "prefill-0": ([0], "0"),
        "prefill-1": ([1], "1"),
        "decode-0": ([2], "2"),
    }
    assert all(p.env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID" for p in plan.processes if p.gpus)
    assert plan.gpu_source == "all GPUs"


def test_tensor_parallel_replicas_get_contiguous_gpus():
    plan = plan_of("agg_router", gpus=8, overrides=["workers.worker.tensor_parallel_size=2"])
    assert [p.env.get("CUDA_VISIBLE_DEVICES") for p in plan.processes] == [None, "0,1", "2,3"]


def test_gpus_option_and_inherited_cuda_visible_devices():
    chosen = plan_of("disagg", options=PlanOptions(gpus="3,5"))
    assert [p.gpus for p in chosen.processes] == [[], [3], [5]]
    inherited = plan_of("disagg", options=PlanOptions(inherited_cvd="6,7"))
    assert [p.gpus for p in inherited.processes] == [[], [6], [7]]
    assert inherited.gpu_source == "CUDA_VISIBLE_DEVICES=6,7"
    both = plan_of("disagg", options=PlanOptions(gpus="1,2", inherited_cvd="6,7"))
    assert [p.gpus for p in both.processes] == [[], [1], [2]]


@pytest.mark.parametrize(("gpus", "needed"), [(0, 2), (1, 2)])
def test_too_few_gpus_is_refused(gpus, needed):
    with pytest.raises(PlacementError) as info:
        plan_of("disagg", gpus=gpus)
    message = str(info.value)
    assert message.startswith(f"disagg needs {needed} GPUs, this machine has")
    assert "--engine mocker" in message


def test_the_mocker_needs_no_gpu():
    plan = plan_of("disagg_router", gpus=0, engine="mocker")
    assert all(not p.gpus and "CUDA_VISIBLE_DEVICES" not in p.env for p in plan.processes)
    assert plan.gpu_source is None


def test_gpus_option_with_the_mocker_is_refused():
    with pytest.raises(PlacementError) as info:
        plan_of("agg", engine="mocker", options=PlanOptions(gpus="0"))
    assert "the mocker engine uses no GPUs" in str(info.value)


def test_json_form_keeps_its_keys():
    data = plan_of("disagg").to_json()
    assert {"deployment", "frontend_url", "run_dir", "processes"} <= set(data)
    for proc in data["processes"]:
        assert {"name", "role", "argv", "env", "gpus", "ports"} <= set(proc)


# --- sharing GPUs and busy GPUs ----------------------------------------------------------


def test_disagg_on_one_gpu_is_refused_naming_share_gpus():
    with pytest.raises(PlacementError) as info:
        plan_of("disagg", gpus=1)
    assert info.value.message == (
        "disagg needs 2 GPUs, this machine has 1: prefill-0 needs 1, decode-0 needs 1."
    )
    assert "--share-gpus" in info.value.hint


def test_share_gpus_packs_disagg_on_one_gpu_with_own_engine_configs():
    plan = plan_of("disagg", gpus=1, options=PlanOptions(share_gpus=True))
    workers = {p.name: p for p in plan.processes if p.gpus}
    assert {name: p.gpus for name, p in workers.items()} == {"prefill-0": [0], "decode-0": [0]}
    assert plan.gpu_shared
    assert any("timings are not representative" in note for note in plan.notes)
    engine = plan.run_dir.engine_configs
    assert set(plan.files) == {engine / "prefill-0.yaml", engine / "decode-0.yaml"}
    for name, proc in workers.items():
        path = proc.argv[proc.argv.index("--extra-engine-args") + 1]
        assert path == str(engine / f"{name}.yaml")
        config = plan.files[engine / f"{name}.yaml"]
        assert config["kv_cache_config"] == {"free_gpu_memory_fraction": 0.42}
        assert proc.gpu_memory_fraction == 0.42
        assert config["max_num_tokens"] == 8192  # the rest of the role's config is kept
    # The profile itself is untouched: the export keeps 0.85 and whole GPUs.
    assert plan.profile.workers["decode"].engine_config["kv_cache_config"] == {
        "free_gpu_memory_fraction": 0.85
    }


def test_share_gpus_as_a_profile_setting():
    plan = plan_of("disagg", gpus=1, overrides=["share_gpus=true"])
    assert plan.gpu_shared


def test_replicas_of_one_role_with_different_fractions_get_their_own_files():
    plan = plan_of("disagg_router", gpus=2, options=PlanOptions(share_gpus=True))
    engine = plan.run_dir.engine_configs
    argv = {
        p.name: p.argv[p.argv.index("--extra-engine-args") + 1] for p in plan.processes if p.gpus
    }
    assert argv == {
        "prefill-0": str(engine / "prefill-0.yaml"),  # shares GPU 0 with decode-0
        "prefill-1": str(engine / "prefill.yaml"),  # GPU 1 alone: the role's own config
        "decode-0": str(engine / "decode-0.yaml"),
    }
    assert plan.files[engine / "prefill.yaml"]["kv_cache_config"] == {
        "free_gpu_memory_fraction": 0.85
    }
    assert plan.files[engine / "prefill-0.yaml"]["kv_cache_config"] == {
        "free_gpu_memory_fraction": 0.42
    }


def test_share_without_an_engine_config_mapping_overrides_the_fraction(tmp_path):
    own = tmp_path / "decode.yaml"
    own.write_text("kv_cache_config:\n  free_gpu_memory_fraction: 0.6\n")
    plan = plan_of(
        "disagg",
        gpus=1,
        options=PlanOptions(share_gpus=True),
        overrides=["workers.prefill.engine_config=null", f"workers.decode.engine_config={own}"],
    )
    args = {p.name: p.argv for p in plan.processes if p.gpus}
    prefill = args["prefill-0"][args["prefill-0"].index("--override-engine-args") + 1]
    decode = args["decode-0"][args["decode-0"].index("--override-engine-args") + 1]
    # TensorRT-LLM's default 0.9 for the role without a config; 0.6 read from the file.
    assert json.loads(prefill) == {
        "cache_transceiver_config": {"backend": "DEFAULT"},
        "kv_cache_config": {"free_gpu_memory_fraction": 0.45},
    }
    assert json.loads(decode)["kv_cache_config"] == {"free_gpu_memory_fraction": 0.3}
    assert args["decode-0"][args["decode-0"].index("--extra-engine-args") + 1] == str(own)


def test_share_gpus_with_the_mocker_says_there_is_nothing_to_share():
    plan = plan_of("disagg", gpus=0, engine="mocker", options=PlanOptions(share_gpus=True))
    assert any("nothing to share" in note for note in plan.notes)


def test_busy_gpu_is_skipped_and_shown_in_the_json():
    gpus = (
        Gpu(0, "GPU-00000000", "H100", 81559, 60000, processes=(GpuProcess(99, 59000, "train"),)),
        Gpu(1, "GPU-11111111", "H100", 81559, 500),
        Gpu(2, "GPU-22222222", "H100", 81559, 500),
    )
    plan = build_plan(load_profile("disagg"), PlanOptions(), Inventory(gpus))
    assert [p.gpus for p in plan.processes] == [[], [1], [2]]
    data = plan.to_json()
    assert data["gpu_placement"]["skipped"][0]["index"] == 0
    assert "train (pid 99, 59000 MiB)" in data["gpu_placement"]["skipped"][0]["reason"]
    assert data["processes"][1]["gpu_reason"] == "a GPU of its own"


def test_python_from_the_profile_or_option_runs_every_process(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    plan = plan_of("agg", engine="mocker", overrides=("python=~/venv/bin/python",))
    assert {p.argv[0] for p in plan.processes} == {str(tmp_path / "venv/bin/python")}
    chosen = plan_of("agg", engine="mocker", options=PlanOptions(python="/opt/py/bin/python"))
    assert {p.argv[0] for p in chosen.processes} == {"/opt/py/bin/python"}
