"""Tests for scripts/make_tiny_model.py, run as a user would: a subprocess writing into tmp_path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_tiny_model.py"
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json")
SENTENCE = "Hello, world! The mocker streams tokens like a real worker: ünïcödé, 日本語, 3.14."


def run_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Training takes a couple of seconds: build once and share it across the module.
    out = tmp_path_factory.mktemp("tiny") / "model"
    proc = run_script(out)
    assert proc.returncode == 0, proc.stderr
    return out


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_writes_every_file_and_no_temp_leftovers(model_dir: Path) -> None:
    for name in (*MODEL_FILES, ".trtl-tiny-model"):
        assert (model_dir / name).is_file(), name
    # The temp dir it built in was renamed into place, not left beside it.
    assert [p.name for p in model_dir.parent.iterdir()] == ["model"]


def test_tokenizer_has_full_vocab_and_round_trips(model_dir: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    assert tok.get_vocab_size() == 32768
    assert tok.decode(tok.encode(SENTENCE).ids) == SENTENCE
    # The mocker emits ids up to ~32000; they must decode to real text, not "".
    assert tok.decode(list(range(31990, 32000))).strip()


def test_config_is_llama_like_and_matches_tokenizer(model_dir: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    config = read_json(model_dir / "config.json")
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["model_type"] == "llama"
    assert config["vocab_size"] == tok.get_vocab_size()
    assert config["hidden_size"] == config["num_attention_heads"] * config["head_dim"]
    assert config["num_attention_heads"] % config["num_key_value_heads"] == 0

    tok_config = read_json(model_dir / "tokenizer_config.json")
    for role in ("bos", "eos", "pad"):
        assert tok.token_to_id(tok_config[f"{role}_token"]) == config[f"{role}_token_id"], role
    gen = read_json(model_dir / "generation_config.json")
    assert config["eos_token_id"] in gen["eos_token_id"]


def test_chat_template_is_present(model_dir: Path) -> None:
    template = read_json(model_dir / "tokenizer_config.json").get("chat_template")
    assert isinstance(template, str)
    assert "add_generation_prompt" in template


def test_chat_template_renders(model_dir: Path) -> None:
    jinja2 = pytest.importorskip("jinja2")
    template = read_json(model_dir / "tokenizer_config.json")["chat_template"]
    render = jinja2.Environment().from_string(template).render
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    ]
    text = render(messages=messages, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nbe brief<|im_end|>\n"
        "<|im_start|>user\nhi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert not render(messages=messages, add_generation_prompt=False).endswith("assistant\n")


def test_second_run_is_a_noop(model_dir: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in model_dir.iterdir()}
    proc = run_script(model_dir)
    assert proc.returncode == 0, proc.stderr
    assert "already complete" in proc.stdout
    assert {p.name: p.stat().st_mtime_ns for p in model_dir.iterdir()} == before
    assert "built tiny model" not in proc.stdout  # no training: nothing was rebuilt


def test_force_rebuilds_identical_files(model_dir: Path, tmp_path: Path) -> None:
    parent = tmp_path / "force"  # own dir: tmp_path may hold other fixtures' dirs
    parent.mkdir()
    copy = parent / "model"
    shutil.copytree(model_dir, copy)
    old_inode = copy.stat().st_ino
    proc = run_script(copy, "--force")
    assert proc.returncode == 0, proc.stderr
    assert "built" in proc.stdout
    assert copy.stat().st_ino != old_inode  # a fresh directory was renamed into place
    for name in MODEL_FILES:  # and the build is deterministic
        assert (copy / name).read_bytes() == (model_dir / name).read_bytes(), name
    assert [p.name for p in parent.iterdir()] == ["model"]  # old copy and temp dir are gone


@pytest.mark.parametrize("kind", ["file", "under-a-file", "foreign-dir"])
def test_bad_out_dir_exits_2_with_one_line(tmp_path: Path, kind: str) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory\n")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me\n")
    out = {"file": a_file, "under-a-file": a_file / "model", "foreign-dir": foreign}[kind]

    proc = run_script(out, "--force")  # --force must not override any of these

    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "error" in lines[0]
    assert "Traceback" not in proc.stderr
    assert a_file.read_text() == "not a directory\n"
    assert [p.name for p in foreign.iterdir()] == ["precious.txt"]
