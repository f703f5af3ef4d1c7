"""SGLang (`--engine sglang`): every built-in plans and exports, the argv carries its KV
transfer and KV events settings, DGDs import as `engine: sglang`, and preflight names
SGLang where the worker Python lacks it. (The real parser: tests/real_engine.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from trtl.k8s_export import parse, render
from trtl.k8s_export.files import load_documents
from trtl.launcher.checks.preflight import run_preflight
from trtl.launcher.gpus.inventory import Gpu, Inventory
from trtl.launcher.planning.plan import PlanOptions, build_plan
from trtl.launcher.planning.ports import free_ports
from trtl.profiles.engines import component_specs, engine
from trtl.profiles.errors import PlacementError, PreflightError, ProfileError
from trtl.profiles.loader import load_profile

BUILTINS = ["agg", "agg_router", "disagg", "disagg_router"]
EIGHT_GPUS = Inventory(tuple(Gpu(i, f"GPU-{i}", "H100", 81559, 0) for i in range(8)))
NO_GPU = Inventory((), "NVML Shared Library Not Found")
IMAGE = engine("sglang").default_image("1.6.1")
UPSTREAM = Path(__file__).parents[1] / "k8s_export" / "data" / "sglang_v1beta1_disagg.yaml"


def sglang(name: str, *sets: str):
    return load_profile(name, engine="sglang", overrides=list(sets))


def worker_args(name: str, *sets: str) -> dict[str, list[str]]:
    return {s.role: list(s.args) for s in component_specs(sglang(name, *sets), "/cfg")[1:]}


def test_the_default_image_is_nvidias_sglang_runtime():
    assert IMAGE == "nvcr.io/nvidia/ai-dynamo/sglang-runtime:1.6.1"


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_plans_on_gpus(name):
    plan = build_plan(sglang(name), PlanOptions(), EIGHT_GPUS)
    workers = [p for p in plan.processes if p.role != "frontend"]
    assert workers and all(p.argv[1:3] == ["-m", "dynamo.sglang"] for p in workers)
    assert all(len(p.gpus) == 1 and p.env["SGLANG_HOST_IP"] == "127.0.0.1" for p in workers)


def test_without_a_gpu_sglang_is_refused_in_one_sentence():
    with pytest.raises(PlacementError) as info:
        build_plan(sglang("agg"), PlanOptions(), NO_GPU)
    assert info.value.message.startswith("agg needs 1 GPU, this machine has no GPU")


def test_prefill_and_decode_move_kv_blocks_with_nixl():
    args = worker_args("disagg")
    for mode in ("prefill", "decode"):
        at = args[mode].index("--disaggregation-mode")
        assert args[mode][at : at + 4] == [
            "--disaggregation-mode", mode, "--disaggregation-transfer-backend", "nixl",
        ]  # fmt: skip
    assert "--disaggregation-mode" not in worker_args("agg")["worker"]


def test_the_kv_router_gets_kv_events_and_each_replica_its_own_port():
    args = worker_args("disagg_router")["prefill"]
    events = json.loads(args[args.index("--kv-events-config") + 1])
    assert events == {"publisher": "zmq", "topic": "kv-events", "endpoint": "tcp://*:5557"}
    assert "--kv-events-config" not in worker_args("disagg")["prefill"]
    plan = build_plan(sglang("disagg_router"), PlanOptions(), EIGHT_GPUS)
    ports = [p.ports["kv_events"] for p in plan.processes if p.role == "prefill"]
    assert len(set(ports)) == 2
    prefills = [p for p in plan.processes if p.role == "prefill"]
    for proc, port in zip(prefills, ports, strict=True):
        config = json.loads(proc.argv[proc.argv.index("--kv-events-config") + 1])
        assert config["endpoint"] == f"tcp://127.0.0.1:{port}"


def test_engine_config_keys_become_sglang_flags_or_notes():
    specs = component_specs(sglang("agg", "workers.worker.engine_config.max_seq_len=2048"), "/c")
    args, notes = list(specs[1].args), specs[1].notes
    assert args[args.index("--context-length") + 1] == "2048"
    assert args[args.index("--max-running-requests") + 1] == "16"
    assert args[args.index("--mem-fraction-static") + 1] == "0.85"
    assert "--trust-remote-code" in args
    assert any("SGLang has no equivalent of engine_config" in n for n in notes)


@pytest.mark.parametrize(
    "setting",
    ["sglang.extra_args=[--tp-size, '2']", "sglang.role_extra_args={worker: [--model-path, x]}"],
)
def test_flags_the_profile_decides_are_refused_in_sglang_args(setting):
    with pytest.raises(ProfileError, match="is decided by"):
        component_specs(sglang("agg", setting), "/c")


def test_role_extra_args_must_name_a_role():
    with pytest.raises(ProfileError, match=r"sglang\.role_extra_args names prefil"):
        sglang("disagg", "sglang.role_extra_args={prefil: [--random-seed, '1']}")


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_exports_as_backend_framework_sglang(name):
    docs = render(sglang(name), image=IMAGE)
    dgd = docs[-1]
    assert [d["kind"] for d in docs] == ["DynamoGraphDeployment"]  # flags, no ConfigMap
    assert dgd["spec"]["backendFramework"] == "sglang"
    workers = [c for c in dgd["spec"]["components"] if c["type"] != "frontend"]
    for component in workers:
        main = component["podTemplate"]["spec"]["containers"][0]
        assert main["command"] == ["python3", "-m", "dynamo.sglang"]
        assert main["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert parse(docs) == sglang(name).model_copy(
        update={"k8s": sglang(name).k8s.model_copy(update={"image": IMAGE})}
    )


def test_an_upstream_sglang_dgd_imports_as_sglang_not_the_mocker():
    notes: list[str] = []
    profile = parse(load_documents(UPSTREAM), notes=notes)
    assert profile.engine == "sglang"
    assert {r.mode for r in profile.workers.values()} == {"prefill", "decode"}
    assert profile.workers["prefill"].engine_config == {
        "kv_cache_config": {"tokens_per_block": 16},
        "trust_remote_code": True,
    }
    assert profile.sglang.extra_args == ["--host", "0.0.0.0"]
    assert any("--disaggregation-bootstrap-port" in n for n in notes)
    again = render(profile)[-1]
    assert again["spec"]["backendFramework"] == "sglang"


def test_an_sglang_dgd_with_another_transfer_backend_is_refused(tmp_path):
    text = UPSTREAM.read_text().replace("- nixl", "- mooncake")
    with pytest.raises(ProfileError, match="moves KV blocks with mooncake"):
        parse(list(yaml.safe_load_all(text)))


def test_preflight_names_sglang_where_the_worker_python_lacks_it(tmp_path, isolated_dirs):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    profile = load_profile("agg", engine="sglang", model=str(model))
    port = free_ports(1, exclude=set())[0]
    plan = build_plan(profile, PlanOptions(http_port=port), EIGHT_GPUS)
    with pytest.raises(PreflightError) as info:
        run_preflight(plan, echo=pytest.fail)
    assert info.value.message.startswith(
        "SGLang (sglang) is not importable by the Python that runs the workers, "
    )
    assert "\n" not in info.value.message
    assert '"ai-dynamo[sglang]==1.6.1"' in info.value.hint
