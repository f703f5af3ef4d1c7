"""The engine table for vLLM: role → `python -m dynamo.vllm` argv, mapped engine config keys,
NIXL KV transfer for prefill/decode, KV events for the KV router, and the `vllm:` section.

tests/real_engine/test_vllm_argv.py proves these command lines with vLLM's own parser.
"""

from __future__ import annotations

import json

import pytest
from trtl.profiles.engines import component_specs
from trtl.profiles.errors import ProfileError
from trtl.profiles.loader import load_profile
from trtl.profiles.schema import Profile

MODEL = "Qwen/Qwen3-0.6B"


def specs(name: str, *sets: str):
    profile = load_profile(name, engine="vllm", overrides=list(sets))
    return {s.role: s for s in component_specs(profile, "/run/engine")}


def value(args, flag: str) -> str:
    return args[args.index(flag) + 1]


def test_an_aggregated_worker_runs_dynamo_vllm_with_the_mapped_engine_config():
    worker = specs("agg")["worker"]
    assert worker.module == "dynamo.vllm"
    # The seed's TensorRT-LLM config, in vLLM's words.
    assert worker.args == (
        "--model", MODEL,
        "--served-model-name", MODEL,
        "--max-num-batched-tokens", "8192",
        "--max-num-seqs", "16",
        "--trust-remote-code",
        "--enable-chunked-prefill",
        "--gpu-memory-utilization", "0.85",
    )  # fmt: skip
    assert worker.gpus == 1 and worker.replicas == 1
    assert worker.engine_config is None and worker.engine_config_path is None
    # What vLLM has no flag for is named, not silently lost.
    assert worker.notes == (
        "workers.worker: vLLM has no equivalent of engine_config backend, "
        "cuda_graph_config.max_batch_size; left out.",
    )


@pytest.mark.parametrize(
    ("role", "kv_role"), [("prefill", "kv_producer"), ("decode", "kv_consumer")]
)
def test_disaggregated_workers_move_kv_blocks_with_nixl(role, kv_role):
    args = specs("disagg")[role].args
    assert value(args, "--disaggregation-mode") == role
    # kv_buffer_device is left to vLLM: cpu on a CPU build, cuda on GPUs (profiles.identity).
    assert json.loads(value(args, "--kv-transfer-config")) == {
        "kv_connector": "NixlConnector",
        "kv_role": kv_role,
    }
    assert "--kv-events-config" not in args  # round-robin routing needs no KV events


@pytest.mark.parametrize("name", ["agg_router", "disagg_router"])
def test_kv_routed_workers_publish_kv_events(name):
    for spec in specs(name).values():
        if spec.component == "worker":
            assert json.loads(value(spec.args, "--kv-events-config")) == {
                "enable_kv_cache_events": True,
                "publisher": "zmq",
                "endpoint": "tcp://*:5557",
            }


def test_every_mapped_engine_config_key_becomes_its_vllm_flag():
    worker = specs(
        "agg",
        "workers.worker.engine_config=null",  # drop the seed's config, then give this one
        "workers.worker.engine_config={max_batch_size: 8, max_num_tokens: 1024, "
        "max_seq_len: 2048, enable_chunked_prefill: false, trust_remote_code: false, "
        "moe_expert_parallel_size: 1, enable_attention_dp: false, "
        "kv_cache_config: {free_gpu_memory_fraction: 0.5, tokens_per_block: 32, "
        "enable_block_reuse: false}}",
    )["worker"]
    assert worker.args[4:] == (
        "--max-num-seqs", "8",
        "--max-num-batched-tokens", "1024",
        "--max-model-len", "2048",
        "--no-enable-chunked-prefill",
        "--no-trust-remote-code",
        "--gpu-memory-utilization", "0.5",
        "--block-size", "32",
        "--no-enable-prefix-caching",
    )  # fmt: skip
    # moe_expert_parallel_size 1 and enable_attention_dp false are what vLLM does anyway.
    assert worker.notes == ()


def test_parallelism_and_eager_mode_are_flags():
    spec = specs(
        "agg",
        "workers.worker.tensor_parallel_size=2",
        "workers.worker.pipeline_parallel_size=2",
        "vllm.enforce_eager=true",
    )["worker"]
    assert value(spec.args, "--tensor-parallel-size") == "2"
    assert value(spec.args, "--pipeline-parallel-size") == "2"
    assert "--enforce-eager" in spec.args
    assert spec.gpus == 4
    plain = specs("agg")["worker"].args
    assert "--tensor-parallel-size" not in plain and "--enforce-eager" not in plain


def test_extra_args_go_last_graph_wide_then_per_role():
    roles = specs(
        "disagg",
        "vllm.extra_args=[--max-num-seqs, '4']",
        "vllm.role_extra_args={prefill: [--enforce-eager]}",
    )
    assert roles["prefill"].args[-3:] == ("--max-num-seqs", "4", "--enforce-eager")
    assert roles["decode"].args[-2:] == ("--max-num-seqs", "4")


def test_what_vllm_cannot_take_is_left_out_with_a_note():
    spec = specs(
        "disagg",
        "workers.prefill.engine_config=engine_configs/prefill.yaml",
        "workers.prefill.kv_transfer_backend=UCX",
        "workers.prefill.extra_args=[--max-seq-len, '4096']",
    )["prefill"]
    assert "engine_configs/prefill.yaml" not in spec.args
    assert "--max-seq-len" not in spec.args
    assert spec.notes == (
        "workers.prefill: vLLM cannot read the TensorRT-LLM engine_config file "
        "engine_configs/prefill.yaml; left out (give vLLM flags in vllm.extra_args).",
        "workers.prefill: vLLM moves KV blocks with NIXL (NixlConnector); "
        "kv_transfer_backend UCX left out.",
        "workers.prefill: extra_args are TensorRT-LLM flags and are dropped for vLLM; "
        "use vllm.extra_args or vllm.role_extra_args.prefill for vLLM flags.",
    )


@pytest.mark.parametrize(
    ("args", "flag", "owner"),
    [
        (["--model", "other"], "--model", "model (or --model)"),
        (["-tp", "2"], "-tp", "tensor_parallel_size"),
        (["--enforce-eager"], "--enforce-eager", "vllm.enforce_eager"),
        (["--disaggregation-mode", "decode"], "--disaggregation-mode", "the role's mode"),
        (["--discovery-backend", "etcd"], "--discovery-backend", "trtl"),
    ],
)
def test_flags_that_profile_fields_own_are_refused(args, flag, owner):
    quoted = "[" + ", ".join(f"'{a}'" for a in args) + "]"
    with pytest.raises(ProfileError) as info:
        specs("disagg", f"vllm.extra_args={quoted}")
    assert info.value.message.startswith(f"vllm.extra_args: {flag} is decided by ")
    assert owner in info.value.message


@pytest.mark.parametrize(
    "given",
    [
        ["--kv-transfer-config", '{"kv_connector":"LMCacheConnectorV1","kv_role":"kv_both"}'],
        # vLLM reads --kv_transfer_config as --kv-transfer-config: the same setting.
        ['--kv_transfer_config={"kv_connector":"LMCacheConnectorV1","kv_role":"kv_both"}'],
    ],
)
def test_a_connector_of_the_users_own_replaces_trtls_nixl_one(given):
    quoted = "[" + ", ".join(f"'{a}'" for a in given) + "]"
    args = specs("disagg", f"vllm.role_extra_args={{decode: {quoted}}}")["decode"].args
    flags = [a.split("=", 1)[0].replace("_", "-") for a in args]
    assert flags.count("--kv-transfer-config") == 1
    assert "LMCacheConnectorV1" in " ".join(args) and "NixlConnector" not in " ".join(args)
    prefill = specs("disagg")["prefill"].args
    assert "NixlConnector" in prefill[prefill.index("--kv-transfer-config") + 1]


def test_one_role_may_run_eager_unless_every_role_does():
    assert (
        "--enforce-eager"
        in specs("disagg", "vllm.role_extra_args={decode: [--enforce-eager]}")["decode"].args
    )
    with pytest.raises(ProfileError, match=r"vllm\.role_extra_args\.decode: --enforce-eager is"):
        specs(
            "disagg",
            "vllm.enforce_eager=true",
            "vllm.role_extra_args={decode: [--enforce-eager]}",
        )


def test_role_extra_args_for_a_role_that_does_not_exist_is_a_profile_error():
    with pytest.raises(ProfileError) as info:
        load_profile("agg", engine="vllm", overrides=["vllm.role_extra_args={prefil: [-x]}"])
    assert "vllm.role_extra_args names prefil, which is not a worker role (roles: worker)" in (
        info.value.message
    )


def test_cpu_kv_cache_must_be_a_whole_number_of_gib():
    # vLLM reads VLLM_CPU_KVCACHE_SPACE with int(): 1.5 would crash the worker at start.
    with pytest.raises(ProfileError, match=r"vllm\.cpu_kv_cache_gib"):
        load_profile("agg", engine="vllm", overrides=["vllm.cpu_kv_cache_gib=1.5"])


def test_the_schema_describes_the_vllm_section():
    schema = Profile.model_json_schema()
    assert "vllm" in schema["properties"]["engine"]["enum"]
    fields = schema["$defs"]["VllmSettings"]["properties"]
    assert set(fields) == {"enforce_eager", "cpu_kv_cache_gib", "extra_args", "role_extra_args"}
    assert all(field.get("description") for field in fields.values())
    assert "VLLM_CPU_KVCACHE_SPACE" in fields["cpu_kv_cache_gib"]["description"]
