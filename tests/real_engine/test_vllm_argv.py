"""Every vLLM command line trtl plans is accepted by the real `dynamo.vllm` parser.

`dynamo.vllm.args.parse_args(argv)` is the worker's own entry point: Dynamo's flags, then
vLLM's engine flags (typos, bad choices, bad JSON all fail), then Dynamo's checks (a prefill
worker needs --kv-transfer-config). It imports vLLM (~15-30 s), so every command line of
this module is parsed in one validator run (tests/argv_check/validate.py) under the CPU vLLM
venv's Python. The model is the tiny real one: vLLM reads its config while parsing.

Plans are built both ways a user meets them: on a machine with GPUs (a fake inventory of 8)
and on this CPU-only machine (the argv must be the same; only the environment differs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from trtl.launcher.checks.preflight import run_preflight
from trtl.launcher.gpus.inventory import Gpu, Inventory
from trtl.launcher.planning.plan import PlanOptions, build_plan
from trtl.launcher.planning.ports import free_ports
from trtl.profiles.loader import load_profile

from tests.argv_check import ArgvCheck, check_plans

BUILTINS = ["agg", "agg_router", "disagg", "disagg_router"]
# Profiles whose vLLM flags differ from the built-ins': every mapped engine config key,
# parallelism, eager mode, extra flags, and a GPU shared by --share-gpus.
VARIANTS = {
    "mapped": (
        "agg",
        (
            "workers.worker.engine_config=null",
            "workers.worker.engine_config={max_batch_size: 8, max_num_tokens: 1024, "
            "max_seq_len: 1024, enable_chunked_prefill: false, trust_remote_code: true, "
            "moe_expert_parallel_size: 1, enable_attention_dp: false, kv_cache_config: "
            "{free_gpu_memory_fraction: 0.5, tokens_per_block: 16, enable_block_reuse: false}}",
        ),
    ),
    "tuned": (
        "disagg",
        (
            "workers.prefill.tensor_parallel_size=2",
            "workers.decode.pipeline_parallel_size=2",
            "vllm.enforce_eager=true",
            "vllm.extra_args=[--seed, '7']",
            "vllm.role_extra_args={decode: [--block-size, '32']}",
        ),
    ),
}
EIGHT_GPUS = Inventory(tuple(Gpu(i, f"GPU-{i:08x}", "H100", 81559, 0) for i in range(8)))
NO_GPU = Inventory((), "NVML Shared Library Not Found")
PROGRAMS = {"dynamo.frontend": "frontend", "dynamo.vllm": "vllm"}


def _plans(model: Path):
    """(key, plan) for every profile, on GPUs and on CPU; share-gpus on one GPU as well."""
    cases = [(name, name, ()) for name in BUILTINS] + [
        (key, name, sets) for key, (name, sets) in VARIANTS.items()
    ]
    one_gpu = Inventory(EIGHT_GPUS.gpus[:1])
    for key, name, sets in cases:
        profile = load_profile(name, engine="vllm", model=str(model), overrides=list(sets))
        yield f"{key}/gpu", build_plan(profile, PlanOptions(), EIGHT_GPUS)
        yield f"{key}/cpu", build_plan(profile, PlanOptions(cpu_cores=(0, 1)), NO_GPU)
    profile = load_profile("disagg_router", engine="vllm", model=str(model))
    yield "shared/gpu", build_plan(profile, PlanOptions(share_gpus=True), one_gpu)


def _bad(plans: dict) -> dict[str, ArgvCheck]:
    """Command lines the real parser must reject, so these tests can fail at all."""
    agg = plans["agg/cpu"].processes[1]
    prefill = plans["disagg/cpu"].processes[1]
    at = prefill.argv.index("--kv-transfer-config")
    return {
        "typo": {"program": "vllm", "argv": [*agg.argv[3:], "--max-num-seq", "16"],
                 "env": agg.env},
        "prefill without kv transfer": {
            "program": "vllm", "argv": prefill.argv[3:at] + prefill.argv[at + 2 :],
            "env": prefill.env,
        },
        "kv transfer not json": {
            "program": "vllm",
            "argv": [*prefill.argv[3 : at + 1], "{NixlConnector}", *prefill.argv[at + 2 :]],
            "env": prefill.env,
        },
    }  # fmt: skip


@pytest.fixture(scope="module")
def checked(vllm_python, tiny_real_model):
    """{key: (process plan or None, parser result)} for every command line, in one run."""
    plans = dict(_plans(tiny_real_model))
    return check_plans(plans, _bad(plans), PROGRAMS, python=vllm_python)


def test_every_vllm_command_line_is_accepted(checked):
    good = {k: r for k, (_, r) in checked.items() if not k.startswith("bad/")}
    rejected = {key: r["error"] for key, r in good.items() if not r["ok"]}
    assert not rejected, rejected
    workers = {k for k, (p, _) in checked.items() if p is not None and p.argv[2] == "dynamo.vllm"}
    # Every built-in and variant, on GPUs and on CPU, every worker process.
    assert len(workers) == 2 * (1 + 2 + 2 + 3 + 1 + 2) + 3
    assert {k.rsplit("/", 1)[-1] for k in workers} == {
        "worker-0", "worker-1", "prefill-0", "prefill-1", "decode-0",
    }  # fmt: skip


def test_gpu_and_cpu_plans_run_the_same_vllm_arguments(checked):
    compared = 0
    for key, (proc, result) in checked.items():
        if proc is None or key.split("/")[1] != "cpu" or proc.argv[2] != "dynamo.vllm":
            continue
        compared += 1
        gpu_proc, gpu_result = checked[key.replace("/cpu/", "/gpu/")]
        # The KV events endpoint is the one per-replica value (a free loopback port each).
        assert _without_endpoint(proc.argv[3:]) == _without_endpoint(gpu_proc.argv[3:]), key
        transfer = result["parsed"]["engine.kv_transfer_config"]
        gpu_transfer = gpu_result["parsed"]["engine.kv_transfer_config"]
        assert _same_but(transfer) == _same_but(gpu_transfer), key
    assert compared == 11


def test_the_parser_reads_what_the_profile_says(checked, tiny_real_model):
    agg = checked["agg/cpu/worker-0"][1]["parsed"]
    assert agg["served_model_name"] == str(tiny_real_model)
    assert agg["disaggregation_mode"] == "agg"
    assert (agg["engine.max_num_seqs"], agg["engine.max_num_batched_tokens"]) == (16, 8192)
    assert agg["engine.gpu_memory_utilization"] == 0.85
    assert agg["engine.enable_chunked_prefill"] is True
    assert agg["namespace"] == "trtl-agg"
    for role, kv_role in (("prefill", "kv_producer"), ("decode", "kv_consumer")):
        parsed = checked[f"disagg/cpu/{role}-0"][1]["parsed"]
        assert parsed["disaggregation_mode"] == role
        transfer = parsed["engine.kv_transfer_config"]
        assert (transfer["kv_connector"], transfer["kv_role"]) == ("NixlConnector", kv_role)
        # Left unset by trtl, vLLM picks the device it runs on: cpu in this CPU build.
        assert transfer["kv_buffer_device"] == "cpu"
    router = checked["disagg_router/cpu/prefill-1"]
    events = router[1]["parsed"]["engine.kv_events_config"]
    assert events["enable_kv_cache_events"] is True
    assert events["endpoint"] == f"tcp://127.0.0.1:{router[0].ports['kv_events']}"
    mapped = checked["mapped/cpu/worker-0"][1]["parsed"]
    assert (mapped["engine.max_num_seqs"], mapped["engine.max_model_len"]) == (8, 1024)
    assert (mapped["engine.block_size"], mapped["engine.enable_prefix_caching"]) == (16, False)
    assert mapped["engine.enable_chunked_prefill"] is False
    assert mapped["engine.gpu_memory_utilization"] == 0.5
    tuned = checked["tuned/gpu/prefill-0"][1]["parsed"]
    assert (tuned["engine.tensor_parallel_size"], tuned["engine.enforce_eager"]) == (2, True)
    assert tuned["engine.seed"] == 7
    decode = checked["tuned/gpu/decode-0"][1]["parsed"]
    assert (decode["engine.pipeline_parallel_size"], decode["engine.block_size"]) == (2, 32)
    shared = checked["shared/gpu/decode-0"][1]["parsed"]
    assert shared["engine.gpu_memory_utilization"] == 0.28  # 0.85 shared by three workers


def test_the_parser_rejects_bad_command_lines(checked):
    verdicts = {k[4:]: r for k, (_, r) in checked.items() if k.startswith("bad/")}
    assert not any(r["ok"] for r in verdicts.values()), verdicts
    assert "unrecognized arguments: --max-num-seq 16" in verdicts["typo"]["error"]
    assert (
        "must explicitly provide --kv-transfer-config"
        in (verdicts["prefill without kv transfer"]["error"])
    )
    assert "kv-transfer-config" in verdicts["kv transfer not json"]["error"]


def test_preflight_passes_with_the_cpu_vllm_venv(vllm_python, tiny_real_model, isolated_dirs):
    """The real venv answers every preflight question (vLLM CPU build, nixl, head size)."""
    profile = load_profile("disagg", engine="vllm", model=str(tiny_real_model))
    port = free_ports(1, exclude=set())[0]
    options = PlanOptions(http_port=port, python=str(vllm_python), cpu_cores=(0, 1))
    assert run_preflight(build_plan(profile, options, NO_GPU), echo=pytest.fail) == []


def _without_endpoint(args: list[str]) -> list[str]:
    if "--kv-events-config" not in args:
        return args
    at = args.index("--kv-events-config") + 1
    return [*args[:at], "<endpoint>", *args[at + 1 :]]


def _same_but(transfer: dict | None) -> dict | None:
    """A KV transfer config, minus what vLLM makes up per parse (a fresh engine id)."""
    if transfer is None:
        return None
    return {**transfer, "engine_id": None}
