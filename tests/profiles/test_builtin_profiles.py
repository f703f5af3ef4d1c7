"""The four built-in profiles mirror Dynamo's deployment patterns and upstream's configs."""

from __future__ import annotations

import pytest
from trtl.profiles.loader import list_profiles, load_profile

# Upstream's Qwen3-0.6B TensorRT-LLM engine config keys shared by every role.
UPSTREAM_COMMON = {
    "moe_expert_parallel_size": 1,
    "enable_attention_dp": False,
    "max_num_tokens": 8192,
    "trust_remote_code": True,
    "backend": "pytorch",
    "enable_chunked_prefill": True,
    "kv_cache_config": {"free_gpu_memory_fraction": 0.85},
    "cuda_graph_config": {"max_batch_size": 16},
}


def test_the_four_patterns_are_built_in():
    builtins = {p.name for p in list_profiles() if p.origin == "built-in"}
    assert builtins == {"agg", "agg_router", "disagg", "disagg_router"}


@pytest.mark.parametrize(
    ("name", "router", "roles"),
    [
        ("agg", "round-robin", {"worker": ("agg", 1)}),
        ("agg_router", "kv", {"worker": ("agg", 2)}),
        ("disagg", "round-robin", {"prefill": ("prefill", 1), "decode": ("decode", 1)}),
        ("disagg_router", "kv", {"prefill": ("prefill", 2), "decode": ("decode", 1)}),
    ],
)
def test_builtin_graph_shape(name, router, roles):
    profile = load_profile(name)
    assert profile.name == name
    assert profile.model == "Qwen/Qwen3-0.6B"
    assert profile.engine == "trtllm"
    assert profile.frontend.router_mode == router
    assert {n: (r.mode, r.replicas) for n, r in profile.workers.items()} == roles
    assert all(r.gpus_per_replica == 1 for r in profile.workers.values())


@pytest.mark.parametrize("name", ["agg", "agg_router"])
def test_agg_engine_config_is_upstreams(name):
    config = load_profile(name).workers["worker"].engine_config
    assert config == {**UPSTREAM_COMMON, "max_batch_size": 16}


@pytest.mark.parametrize("name", ["disagg", "disagg_router"])
def test_disagg_engine_configs_are_upstreams(name):
    workers = load_profile(name).workers
    assert workers["prefill"].engine_config == {
        **UPSTREAM_COMMON,
        "disable_overlap_scheduler": True,
    }
    assert workers["decode"].engine_config == {
        **UPSTREAM_COMMON,
        "disable_overlap_scheduler": False,
    }
    assert workers["prefill"].kv_transfer_backend == "DEFAULT"
    assert workers["decode"].kv_transfer_backend == "DEFAULT"
