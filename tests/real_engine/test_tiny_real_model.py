"""scripts/make_tiny_real_model.py: the random-weight Llama the real-engine tests serve.

Run with the vLLM venv's Python, which has torch and transformers (the fast suite's venv
has no torch).
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_tiny_real_model.py"


def build(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), str(SCRIPT), *args], capture_output=True, text=True, timeout=600
    )


def digests(model: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(model.iterdir())
        if path.is_file()
    }


def safetensors_header(path: Path) -> dict:
    # The format: an 8-byte little-endian length, then that many bytes of JSON.
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(size))


def test_weights_fit_the_config_vllm_reads(tiny_real_model: Path) -> None:
    config = json.loads((tiny_real_model / "config.json").read_text())
    # vLLM's CPU attention rejects head sizes below 32.
    assert config["head_dim"] >= 32
    assert config["num_attention_heads"] * config["head_dim"] == config["hidden_size"]
    header = safetensors_header(tiny_real_model / "model.safetensors")
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    assert {t["dtype"] for t in tensors.values()} == {"BF16"}
    assert tensors["model.embed_tokens.weight"]["shape"] == [
        config["vocab_size"],
        config["hidden_size"],
    ]
    assert "lm_head.weight" not in tensors  # tied: stored once, as the embedding
    layers = {k.split(".")[2] for k in tensors if k.startswith("model.layers.")}
    assert len(layers) == config["num_hidden_layers"]


def test_rebuild_gives_the_same_bytes(
    tiny_real_model: Path, vllm_python: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model"
    result = build(vllm_python, str(out))
    assert result.returncode == 0, result.stderr
    assert digests(out) == digests(tiny_real_model)
    again = build(vllm_python, str(out))
    assert again.returncode == 0, again.stderr
    assert "already complete" in again.stdout


def test_a_file_as_out_dir_is_one_line_error(vllm_python: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("mine")
    result = build(vllm_python, str(target))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "is not a directory" in result.stderr
    assert target.read_text() == "mine"
