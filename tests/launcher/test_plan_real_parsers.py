"""Every command line of every built-in plan is accepted by Dynamo 1.6.1's own parsers.

The trtllm worker cannot run here (TensorRT-LLM is not installable), so its argv is checked
with ``dynamo.trtllm``'s real parser and a stand-in for its one TensorRT-LLM import; the
frontend and mocker argv are checked with theirs (see tests/argv_check).
"""

from __future__ import annotations

import pytest
from trtl.launcher.gpus.inventory import Gpu, Inventory
from trtl.launcher.planning.plan import PlanOptions, build_plan
from trtl.profiles.loader import load_profile

from tests.argv_check import check_argvs

BUILTINS = ["agg", "agg_router", "disagg", "disagg_router"]
# Variations that change the generated flags: parallelism, a config file, legacy flags.
VARIANTS = [
    (
        "disagg",
        ("workers.decode.tensor_parallel_size=2", "workers.prefill.pipeline_parallel_size=2"),
    ),
    ("disagg", ("workers.decode.engine_config=engine_configs/decode.yaml",)),
    (
        "disagg_router",
        ("workers.decode.engine_config=null", "workers.decode.tensor_parallel_size=2"),
    ),
    ("agg", ("workers.worker.extra_args=[--publish-events-and-metrics, --max-seq-len, '4096']",)),
    ("agg", ("frontend.migration_limit=0", "frontend.extra_args=[--kv-cache-block-size, '32']")),
    ("agg", ("mocker.speedup_ratio=1000", "mocker.extra_args=[--num-gpu-blocks-override, '64']")),
]
EIGHT_GPUS = Inventory(tuple(Gpu(i, f"GPU-{i:08x}", "H100", 81559, 0) for i in range(8)))
PROGRAMS = {"dynamo.frontend": "frontend", "dynamo.trtllm": "trtllm", "dynamo.mocker": "mocker"}


def _cases() -> list[tuple[str, str, tuple[str, ...]]]:
    cases = [(name, engine, ()) for name in BUILTINS for engine in ("trtllm", "mocker")]
    cases += [(name, engine, sets) for name, sets in VARIANTS for engine in ("trtllm", "mocker")]
    return cases


@pytest.fixture(scope="module")
def verdicts() -> dict[str, dict]:
    """All command lines, checked in one validator run (each run imports the parsers)."""
    items, keys = [], []
    for name, engine, sets in _cases():
        plan = build_plan(
            load_profile(name, engine=engine, overrides=sets), PlanOptions(), EIGHT_GPUS
        )
        for proc in plan.processes:
            assert proc.argv[1] == "-m"
            items.append(
                {"program": PROGRAMS[proc.argv[2]], "argv": proc.argv[3:], "env": proc.env}
            )
            keys.append(f"{name}/{engine}/{'+'.join(sets)}/{proc.name}")
    return dict(zip(keys, check_argvs(items), strict=True))


def test_every_command_line_is_accepted(verdicts):
    rejected = {key: v["error"] for key, v in verdicts.items() if not v["ok"]}
    assert not rejected, rejected
    # Every built-in, both engines, every process: frontend, trtllm and mocker all covered.
    assert {key.split("/")[-1] for key in verdicts} >= {
        "frontend",
        "worker-1",
        "prefill-1",
        "decode-0",
    }


def test_parsers_read_what_the_profile_says(verdicts):
    decode = verdicts["disagg_router/trtllm//decode-0"]["parsed"]
    assert decode["disaggregation_mode"] in ("decode", "DisaggregationMode.DECODE")
    assert decode["publish_kv_events"] is True
    assert decode["served_model_name"] == "Qwen/Qwen3-0.6B"
    assert decode["namespace"] == "trtl-disagg-router"
    frontend = verdicts["disagg_router/trtllm//frontend"]["parsed"]
    assert frontend["router_mode"] == "kv"
    assert frontend["migration_limit"] == 3
    mocker = verdicts["disagg/mocker//prefill-0"]["parsed"]
    assert mocker["disaggregation_mode"] == "prefill"


def test_no_deprecation_warnings_in_generated_lines(verdicts):
    warned = {k: v["warnings"] for k, v in verdicts.items() if v["warnings"]}
    assert not warned, warned
