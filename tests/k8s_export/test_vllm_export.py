"""vLLM graphs ⇄ DynamoGraphDeployments: `dynamo.vllm` workers, backendFramework vllm,
GPUs per role, no engine-config ConfigMap; and upstream vLLM DGDs import as `engine: vllm`.

The identity promise for vLLM (plan argv == export args, on GPU and on CPU-only machines)
is in test_identity.py; CRD validation and the round trip of every built-in in test_crd.py
and test_round_trip.py (both parametrized over the engines).
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from k8s_helpers import DATA, builtin
from trtl.k8s_export import parse, render
from trtl.k8s_export.yamlio import load_documents
from trtl.profiles.errors import ExportError, ProfileError
from trtl.profiles.loader import load_profile

VLLM_IMAGE = "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1"
FIXTURE = DATA / "vllm_v1beta1_disagg.yaml"


def main(dgd: dict, name: str) -> dict:
    component = next(c for c in dgd["spec"]["components"] if c["name"] == name)
    return component["podTemplate"]["spec"]["containers"][0]


def test_disagg_exports_vllm_workers_with_their_gpus():
    profile = load_profile("disagg", engine="vllm", overrides=[f"k8s.image={VLLM_IMAGE}"])
    docs = render(profile)
    assert [d["kind"] for d in docs] == ["DynamoGraphDeployment"]  # flags only: no ConfigMap
    dgd = docs[0]
    assert dgd["spec"]["backendFramework"] == "vllm"
    for role, kv_role in (("prefill", "kv_producer"), ("decode", "kv_consumer")):
        container = main(dgd, role)
        assert container["image"] == VLLM_IMAGE
        assert container["command"] == ["python3", "-m", "dynamo.vllm"]
        args = container["args"]
        assert args[args.index("--disaggregation-mode") + 1] == role
        assert json.loads(args[args.index("--kv-transfer-config") + 1])["kv_role"] == kv_role
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert "volumeMounts" not in container and "env" not in container


def test_a_missing_image_points_at_the_vllm_runtime_image():
    with pytest.raises(ExportError) as info:
        render(load_profile("agg", engine="vllm"))
    assert info.value.message.startswith("No container image to export")
    assert info.value.hint == "e.g. --image nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1"


def test_trtl_export_writes_a_vllm_dgd(run_trtl, isolated_dirs):
    result = run_trtl(
        "export", "--k8s", "disagg_router", "--engine", "vllm", "--image", VLLM_IMAGE,
        "--set", "vllm.enforce_eager=true", "-o", "out.yaml",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    dgd = yaml.safe_load((isolated_dirs / "out.yaml").read_text())
    args = main(dgd, "prefill")["args"]
    assert "--enforce-eager" in args
    assert json.loads(args[args.index("--kv-events-config") + 1])["endpoint"] == "tcp://*:5557"
    # The local-only KV-cache size never reaches the cluster.
    assert "VLLM_CPU" not in (isolated_dirs / "out.yaml").read_text()


def test_an_upstream_vllm_dgd_exports_again(run_trtl, isolated_dirs):
    result = run_trtl("export", "--k8s", str(FIXTURE), "-o", "out.yaml")
    assert result.exit_code == 0, result.output
    again = yaml.safe_load((isolated_dirs / "out.yaml").read_text())
    assert main(again, "VllmPrefillWorker")["command"] == ["python3", "-m", "dynamo.vllm"]


def test_the_vllm_section_survives_the_round_trip():
    profile = builtin("disagg", "vllm").model_copy(deep=True)
    profile.vllm.enforce_eager = True
    profile.vllm.extra_args = ["--max-num-seqs", "4"]
    profile.vllm.role_extra_args = {"decode": ["--block-size", "32"]}
    profile.vllm.cpu_kv_cache_gib = 4
    assert parse(render(profile)) == profile


def test_an_old_vllm_dgd_with_prefill_switches_imports_with_a_note():
    docs = load_documents(FIXTURE)
    prefill = main(docs[-1], "VllmPrefillWorker")
    prefill["args"] = ["--model", "Qwen/Qwen3-0.6B", "--is-prefill-worker"]
    notes: list[str] = []
    profile = parse(docs, notes=notes)
    assert profile.workers["vllm-prefill-worker"].mode == "prefill"
    assert (
        "component VllmPrefillWorker: --is-prefill-worker is gone from Dynamo; written as "
        "--disaggregation-mode prefill." in notes
    )
    args = main(render(profile)[-1], "VllmPrefillWorker")["args"]
    assert args[args.index("--disaggregation-mode") + 1] == "prefill"
    assert "--is-prefill-worker" not in args


def test_worker_flags_come_back_as_profile_fields_and_vllm_args():
    docs = load_documents(FIXTURE)
    for name in ("VllmPrefillWorker", "VllmDecodeWorker"):
        main(docs[-1], name)["resources"]["limits"]["nvidia.com/gpu"] = "2"
        main(docs[-1], name)["args"] += [
            "--gpu-memory-utilization", "0.7", "--no-enable-prefix-caching",
            "--tensor-parallel-size", "2", "--enforce-eager", "--max-loras", "2",
        ]  # fmt: skip
    profile = parse(docs, notes=[])
    decode = profile.workers["vllm-decode-worker"]
    assert decode.engine_config == {
        "kv_cache_config": {"free_gpu_memory_fraction": 0.7, "enable_block_reuse": False}
    }
    assert decode.tensor_parallel_size == 2
    # Both roles now run eager and share --max-loras: graph-wide settings.
    assert profile.vllm.enforce_eager is True
    assert profile.vllm.extra_args == ["--max-loras", "2"]
    assert profile.vllm.role_extra_args == {}


def test_kv_transfer_settings_that_are_not_json_are_refused():
    docs = load_documents(FIXTURE)
    args = main(docs[-1], "VllmDecodeWorker")["args"]
    args[args.index("--kv-transfer-config") + 1] = "not json"
    with pytest.raises(ProfileError, match="component 'VllmDecodeWorker'"):
        parse(docs, notes=[])


def test_a_different_nixl_role_is_rewritten_with_a_note():
    docs = load_documents(FIXTURE)
    args = main(docs[-1], "VllmDecodeWorker")["args"]
    args[args.index("--kv-transfer-config") + 1] = (
        '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'
    )
    notes: list[str] = []
    parse(copy.deepcopy(docs), notes=notes)
    assert notes == [
        'component VllmDecodeWorker: --kv-transfer-config becomes trtl\'s {"kv_connector":'
        '"NixlConnector","kv_role":"kv_consumer"} (it had {"kv_connector":"NixlConnector",'
        '"kv_role":"kv_both"}).'
    ]


def test_a_token_in_vllm_args_is_never_exported():
    profile = builtin("agg", "vllm").model_copy(deep=True)
    profile.vllm.role_extra_args = {"worker": ["--hf-token", "hf_" + "a" * 34]}
    with pytest.raises(ExportError, match=r"vllm\.role_extra_args\.worker holds a Hugging Face"):
        render(profile)
