"""Every SGLang command line trtl plans is accepted by the real `dynamo.sglang` parser.

`dynamo.sglang.args.parse_args(argv)` is the worker's own entry point: Dynamo's flags, then
SGLang's server flags (typos, bad choices fail), then Dynamo's checks. It imports SGLang and
torch, so every command line of this module is parsed in one validator run under the SGLang
parser venv (scripts/setup_vllm_cpu.sh builds it over the CPU vLLM venv). SGLang has no CPU
build, so plans are built on a machine with GPUs (a fake inventory of 8); no worker runs.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from trtl.k8s_export import parse, render
from trtl.k8s_export.yamlio import parse_documents
from trtl.launcher.checks.preflight import run_preflight
from trtl.launcher.gpus.inventory import Gpu, Inventory
from trtl.launcher.planning.plan import PlanOptions, build_plan
from trtl.launcher.planning.ports import free_ports
from trtl.profiles.loader import load_profile

from tests.argv_check import ArgvCheck, check_argvs, check_plans

BUILTINS = ["agg", "agg_router", "disagg", "disagg_router"]
# Profiles whose SGLang flags differ from the built-ins': every mapped engine config key,
# parallelism, extra flags per graph and per role.
VARIANTS = {
    "mapped": (
        "agg",
        (
            "workers.worker.engine_config=null",
            "workers.worker.engine_config={max_batch_size: 8, max_num_tokens: 1024, "
            "max_seq_len: 1024, enable_chunked_prefill: true, trust_remote_code: true, "
            "moe_expert_parallel_size: 1, enable_attention_dp: false, kv_cache_config: "
            "{free_gpu_memory_fraction: 0.5, tokens_per_block: 16, enable_block_reuse: false}}",
        ),
    ),
    "tuned": (
        "disagg",
        (
            "workers.prefill.tensor_parallel_size=2",
            "workers.decode.pipeline_parallel_size=2",
            "sglang.extra_args=[--random-seed, '7']",
            "sglang.role_extra_args={decode: [--max-running-requests, '32']}",
        ),
    ),
}
EIGHT_GPUS = Inventory(tuple(Gpu(i, f"GPU-{i:08x}", "H100", 81559, 0) for i in range(8)))
PROGRAMS = {"dynamo.frontend": "frontend", "dynamo.sglang": "sglang"}


def _plans(model: Path):
    """(key, plan) for every profile on 8 GPUs, and disagg_router sharing one GPU."""
    cases = [(name, name, ()) for name in BUILTINS] + [
        (key, name, sets) for key, (name, sets) in VARIANTS.items()
    ]
    for key, name, sets in cases:
        profile = load_profile(name, engine="sglang", model=str(model), overrides=list(sets))
        yield key, build_plan(profile, PlanOptions(), EIGHT_GPUS)
    profile = load_profile("disagg_router", engine="sglang", model=str(model))
    one_gpu = Inventory(EIGHT_GPUS.gpus[:1])
    yield "shared", build_plan(profile, PlanOptions(share_gpus=True), one_gpu)


def _bad(plans: dict) -> dict[str, ArgvCheck]:
    """Command lines the real parser must reject, so these tests can fail at all."""
    agg = plans["agg"].processes[1]
    prefill = plans["disagg"].processes[1]
    at = prefill.argv.index("--disaggregation-transfer-backend") + 1
    return {
        "typo": {"program": "sglang", "argv": [*agg.argv[3:], "--max-running-request", "16"],
                 "env": agg.env},
        "unknown transfer backend": {
            "program": "sglang",
            "argv": [*prefill.argv[3:at], "carrier-pigeon", *prefill.argv[at + 1 :]],
            "env": prefill.env,
        },
    }  # fmt: skip


@pytest.fixture(scope="module")
def checked(sglang_python, tiny_real_model):
    """{key: (process plan or None, parser result)} for every command line, in one run."""
    plans = dict(_plans(tiny_real_model))
    return check_plans(plans, _bad(plans), PROGRAMS, python=sglang_python)


def test_every_sglang_command_line_is_accepted(checked):
    good = {k: r for k, (_, r) in checked.items() if not k.startswith("bad/")}
    rejected = {key: r["error"] for key, r in good.items() if not r["ok"]}
    assert not rejected, rejected
    workers = {k for k, (p, _) in checked.items() if p and p.argv[2] == "dynamo.sglang"}
    # Every built-in, both variants and the shared GPU, every worker process.
    assert len(workers) == (1 + 2 + 2 + 3) + (1 + 2) + 3


def test_the_parser_reads_what_the_profile_says(checked, tiny_real_model):
    agg = checked["agg/worker-0"][1]["parsed"]
    assert agg["engine.served_model_name"] == str(tiny_real_model)
    assert agg["engine.disaggregation_mode"] == "null"
    assert agg["engine.mem_fraction_static"] == 0.85
    assert agg["engine.max_running_requests"] == 16
    assert agg["namespace"] == "trtl-agg"
    for role in ("prefill", "decode"):
        parsed = checked[f"disagg/{role}-0"][1]["parsed"]
        assert parsed["engine.disaggregation_mode"] == role
        assert parsed["engine.disaggregation_transfer_backend"] == "nixl"
    router = checked["disagg_router/prefill-1"]
    assert router[1]["parsed"]["use_kv_events"] is True
    events = json.loads(router[1]["parsed"]["engine.kv_events_config"])
    assert events["publisher"] == "zmq"
    assert events["endpoint"] == f"tcp://127.0.0.1:{router[0].ports['kv_events']}"
    assert checked["disagg/prefill-0"][1]["parsed"]["use_kv_events"] is False
    mapped = checked["mapped/worker-0"][1]["parsed"]
    assert (mapped["engine.max_running_requests"], mapped["engine.context_length"]) == (8, 1024)
    assert (mapped["engine.max_prefill_tokens"], mapped["engine.page_size"]) == (1024, 16)
    assert mapped["engine.disable_radix_cache"] is True
    assert mapped["engine.trust_remote_code"] is True
    assert mapped["engine.mem_fraction_static"] == 0.5
    tuned = checked["tuned/prefill-0"][1]["parsed"]
    assert (tuned["engine.tp_size"], tuned["engine.random_seed"]) == (2, 7)
    decode = checked["tuned/decode-0"][1]["parsed"]
    assert (decode["engine.pp_size"], decode["engine.max_running_requests"]) == (2, 32)
    shared = checked["shared/decode-0"][1]["parsed"]
    assert shared["engine.mem_fraction_static"] == 0.28  # 0.85 shared by three workers


def test_the_parser_rejects_bad_command_lines(checked):
    verdicts = {k[4:]: r for k, (_, r) in checked.items() if k.startswith("bad/")}
    assert not any(r["ok"] for r in verdicts.values()), verdicts
    assert "--max-running-request" in verdicts["typo"]["error"]
    assert "carrier-pigeon" in verdicts["unknown transfer backend"]["error"]


def test_preflight_passes_with_a_python_that_has_sglang(
    sglang_python, tiny_real_model, isolated_dirs
):
    """`trtl up --engine sglang` gets past every preflight question where SGLang is there."""
    profile = load_profile("disagg", engine="sglang", model=str(tiny_real_model))
    port = free_ports(1, exclude=set())[0]
    options = PlanOptions(http_port=port, python=str(sglang_python))
    assert run_preflight(build_plan(profile, options, EIGHT_GPUS), echo=pytest.fail) == []


# Dynamo 1.6.1's own SGLang example writes `--tp 1`: argparse's abbreviation of --tp-size,
# which dynamo.sglang accepts and the validator refuses on purpose (trtl spells flags out).
ABBREVIATED = {"--tp": "--tp-size"}
UPSTREAM_SGLANG = Path(__file__).parents[1] / "k8s_export" / "data" / "sglang_v1beta1_disagg.yaml"


def test_an_imported_sglang_graph_exports_what_the_parser_read(sglang_python, tiny_real_model):
    """Import → export of Dynamo's SGLang example: each worker's exported command line reads,
    through dynamo.sglang's own parser, exactly as the original did (its --tp 1 and its
    --disaggregation-bootstrap-port included). The parser reads the model's config: the
    example's model becomes the tiny local one."""
    text = UPSTREAM_SGLANG.read_text().replace("Qwen/Qwen3-0.6B", str(tiny_real_model))
    docs = parse_documents(text, "sglang example")
    again = render(parse(copy.deepcopy(docs), notes=[]))
    lines = {}
    for side, doc in (("before", docs[-1]), ("after", again[-1])):
        for c in doc["spec"]["components"]:
            main = c["podTemplate"]["spec"]["containers"][0]
            if main["command"][-1] == "dynamo.sglang":
                lines[(side, c["name"])] = [ABBREVIATED.get(a, a) for a in main["args"]]
    items: list[ArgvCheck] = [{"program": "sglang", "argv": argv} for argv in lines.values()]
    results = dict(zip(lines, check_argvs(items, python=sglang_python), strict=True))
    assert all(r["ok"] for r in results.values()), {k: r["error"] for k, r in results.items()}
    for name in ("prefill", "decode"):
        before, after = results[("before", name)]["parsed"], results[("after", name)]["parsed"]
        assert after == before, name
        assert after["engine.disaggregation_bootstrap_port"] == 12345
        assert after["engine.tp_size"] == 1
