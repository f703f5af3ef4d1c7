"""The real-engine tier: real vLLM workers (on CPU) behind the real Dynamo frontend.

Every test here is marked ``real_engine``: the fast suite runs ``-m "not real_engine"``, CI
then builds the environment with ``scripts/setup_vllm_cpu.sh`` and runs ``-m real_engine``.
A missing environment fails these tests rather than skipping them: a skipped tier would
look green while proving nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VLLM_VENV = ROOT / ".cache" / "vllm-venv"
SGLANG_VENV = ROOT / ".cache" / "sglang-parser-venv"
TINY_REAL_MODEL = ROOT / ".cache" / "tiny-real-model"
SETUP = "scripts/setup_vllm_cpu.sh"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: the marker must already be there
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A conftest hook sees every collected item, not just this directory's.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.real_engine)


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    """The Python of the CPU vLLM venv (vllm-cpu, ai-dynamo, nixl) that setup builds."""
    python = VLLM_VENV / "bin" / "python"
    # The marker is written last, after a smoke import: without it the venv is half-built.
    if not python.is_file() or not (VLLM_VENV / ".trtl-ready").is_file():
        pytest.fail(
            f"{VLLM_VENV} is missing or incomplete; run {SETUP} to build it.", pytrace=False
        )
    return python


@pytest.fixture(scope="session")
def sglang_python() -> Path:
    """The Python of the SGLang parser venv (SGLang over the CPU vLLM venv) setup builds."""
    python = SGLANG_VENV / "bin" / "python"
    if not python.is_file() or not (SGLANG_VENV / ".trtl-ready").is_file():
        pytest.fail(
            f"{SGLANG_VENV} is missing or incomplete; run {SETUP} to build it.", pytrace=False
        )
    return python


@pytest.fixture(scope="session")
def tiny_real_model() -> Path:
    """The tiny random-weight Llama (scripts/make_tiny_real_model.py) that vLLM serves."""
    try:
        marker = json.loads((TINY_REAL_MODEL / ".trtl-tiny-real-model").read_text())
    except (OSError, ValueError):
        marker = None
    if not isinstance(marker, dict) or not (TINY_REAL_MODEL / "model.safetensors").is_file():
        pytest.fail(
            f"{TINY_REAL_MODEL} is missing or incomplete; run {SETUP} to build it.",
            pytrace=False,
        )
    return TINY_REAL_MODEL
