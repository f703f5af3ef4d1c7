"""`trtl status` from another terminal: JSON keys scripts rely on, and GPU columns.

CI has no GPU, so the GPU path here is the honest one without NVML: status still works,
says why GPU usage is missing, and never shows a traceback. The real-GPU proof is
`scripts/validate_gpus.py` (docs/gpu-validation.md).
"""

from __future__ import annotations

import json

import psutil
from trtl.launcher.deployments.state import ProcessState

from tests.live_state import live_state, save_state


def _running(name: str, gpus: list[int]) -> None:
    me = psutil.Process().pid
    save_state(
        live_state(
            name,
            served_model_name="m",
            processes=[
                ProcessState(name="frontend", role="frontend", pid=me, state="running"),
                ProcessState(name="worker-0", role="worker", pid=me, state="running", gpus=gpus),
            ],
        )
    )


def test_status_json_has_the_promised_keys(run_trtl):
    _running("plain", gpus=[])
    result = run_trtl("status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["deployment"] == "plain"
    assert data["state"] == "ready"
    assert data["frontend_url"] == "http://127.0.0.1:8000"
    for proc in data["processes"]:
        assert {"name", "role", "pid", "state", "restarts", "gpus", "ports"} <= proc.keys()
    assert "gpu_usage" not in data  # no process has GPUs: NVML is not even asked


def test_gpu_columns_without_nvml_say_why(run_trtl, monkeypatch):
    # Force the no-library path even on a developer machine that has a GPU.
    import trtl.launcher.gpus.inventory as gpus

    monkeypatch.setattr(gpus, "read_inventory", lambda: gpus.Inventory((), "no NVIDIA driver"))
    _running("ongpu", gpus=[0])
    data = json.loads(run_trtl("status", "ongpu", "--json").output)
    assert data["gpu_usage"]["reason"] == "no NVIDIA driver"
    worker = next(p for p in data["processes"] if p["name"] == "worker-0")
    assert worker["gpus"] == [0]
    table = run_trtl("status", "ongpu")
    assert table.exit_code == 0
    assert "GPU usage unavailable: no NVIDIA driver" in table.output
    assert "worker-0" in table.output
