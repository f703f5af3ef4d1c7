#!/usr/bin/env python3
"""Build a tiny, weightless HF-style model directory that Dynamo's mocker can serve.

Usage: python scripts/make_tiny_model.py OUT_DIR [--force]

The directory holds `config.json` (a llama-like config), `tokenizer.json` (a byte-level BPE
with exactly 32,768 tokens, trained here on deterministic synthetic text),
`tokenizer_config.json` (special tokens and a ChatML chat template), `generation_config.json`
and a `.trtl-tiny-model` marker. It is built offline in a few seconds, so tests and local
runs of trtl need neither a model hub nor real weights: `python -m dynamo.mocker --model-path
OUT_DIR` only reads the config, the tokenizer and the chat template.

The build is idempotent (a complete model of the current version is left alone unless
--force), atomic (files are written to a sibling temp dir that is renamed into place, so an
interrupted run never leaves a half-written model) and deterministic (same bytes every run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Bump when any generated file changes: an existing model with another version is rebuilt.
MODEL_VERSION = 1
MARKER = ".trtl-tiny-model"

# The mocker emits token ids up to ~32000 and the frontend decodes them with this
# tokenizer; with a smaller vocabulary every reply decodes to empty text.
VOCAB_SIZE = 32768

# Ids follow list order: special tokens are added before the 256 byte-level symbols.
PAD, BOS, EOS, IM_START, IM_END = "<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, BOS, EOS, IM_START, IM_END]
TOKEN_ID = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}

# ChatML. `content` may be a string, a list of OpenAI content parts, or None (an assistant
# turn that only calls tools); written with tests that both jinja2 (transformers) and
# minijinja (Dynamo's frontend) implement.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}"
    "{{- message['content'] }}"
    "{%- elif message['content'] is sequence %}"
    "{%- for part in message['content'] %}"
    "{%- if part['type'] == 'text' %}{{- part['text'] }}{%- endif %}"
    "{%- endfor %}"
    "{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "hidden_act": "silu",
    "attention_bias": False,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "vocab_size": VOCAB_SIZE,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "bos_token_id": TOKEN_ID[BOS],
    "eos_token_id": TOKEN_ID[EOS],
    "pad_token_id": TOKEN_ID[PAD],
}

GENERATION_CONFIG: dict[str, Any] = {
    "bos_token_id": TOKEN_ID[BOS],
    # A ChatML model ends its turn with <|im_end|>; accept both so either stops generation.
    "eos_token_id": [TOKEN_ID[EOS], TOKEN_ID[IM_END]],
    "pad_token_id": TOKEN_ID[PAD],
    "max_new_tokens": 256,
}

TOKENIZER_CONFIG: dict[str, Any] = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "bos_token": BOS,
    "eos_token": EOS,
    "pad_token": PAD,
    "unk_token": None,
    "additional_special_tokens": [IM_START, IM_END],
    # ChatML carries no BOS; adding one would make prompts differ from the template's output.
    "add_bos_token": False,
    "add_eos_token": False,
    "clean_up_tokenization_spaces": False,
    "model_max_length": CONFIG["max_position_embeddings"],
    "added_tokens_decoder": {
        str(i): {
            "content": tok,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for i, tok in enumerate(SPECIAL_TOKENS)
    },
    "chat_template": CHAT_TEMPLATE,
}

MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json")

# A little real English so that common words become single tokens and replies look wordy.
ENGLISH = (
    "The quick brown fox jumps over the lazy dog. A model that needs no hub is served by the "
    "mocker, which streams tokens like a real worker. Hello, how are you today? I am fine, "
    "thank you. What is the capital of France? Paris is the capital of France. "
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000. Code: def main() -> int: return 0"
)

# fmt: off
ONSETS = ("", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v",
          "w", "z", "br", "ch", "cl", "dr", "fl", "gr", "pl", "qu", "sh", "st", "th", "tr", "wh")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ee", "io", "oo", "ou", "y")
CODAS = ("", "", "n", "r", "s", "t", "l", "m", "ck", "nd", "ng", "rt", "st", "x")
# fmt: on

# Every distinct word ends up as at most a few tokens, so ~60k distinct words of 2–4
# syllables give the trainer far more than the ~32.5k merges it needs.
N_WORDS = 60000

# A build takes seconds; a temp dir this old beside OUT_DIR was left by a killed run.
STALE_TEMP_AGE_S = 3600


class BadOutDir(Exception):
    """OUT_DIR cannot hold the model; the message is shown to the user as one line."""


def _lcg(seed: int) -> Iterator[int]:
    # Our own generator rather than `random`: Python only guarantees random()'s sequence
    # across versions, not choice()/randint(), and the output must never change.
    x = seed
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        yield x >> 33


def synthetic_corpus() -> Iterator[str]:
    """Yield deterministic lines of made-up words (plus some English) to train on."""
    rnd = _lcg(20260101)
    words: set[str] = set()
    while len(words) < N_WORDS:
        n_syllables = 2 + next(rnd) % 3
        words.add(
            "".join(
                ONSETS[next(rnd) % len(ONSETS)]
                + VOWELS[next(rnd) % len(VOWELS)]
                + CODAS[next(rnd) % len(CODAS)]
                for _ in range(n_syllables)
            )
        )
    for _ in range(50):
        yield ENGLISH
    ordered = sorted(words)  # set order depends on hash seeds; sort for determinism
    for i in range(0, len(ordered), 12):
        yield " ".join(ordered[i : i + 12])


def build_tokenizer() -> Any:
    """Train the byte-level BPE; returns a `tokenizers.Tokenizer`."""
    # Imported here so `--help` and the already-built fast path work without `tokenizers`.
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    # Byte-level: any text round-trips, so no unknown token is needed.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=0,  # synthetic words occur once; their pairs must still be merged
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(synthetic_corpus(), trainer=trainer)
    if tok.get_vocab_size() != VOCAB_SIZE:
        raise RuntimeError(f"tokenizer has {tok.get_vocab_size()} tokens, want {VOCAB_SIZE}")
    for text, want in TOKEN_ID.items():
        if tok.token_to_id(text) != want:
            raise RuntimeError(f"special token {text!r} got id {tok.token_to_id(text)}")
    return tok


def _dump_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def is_complete(out_dir: Path) -> bool:
    """True if out_dir holds every file of a model built by this version of the script."""
    try:
        marker = json.loads((out_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("version") != MODEL_VERSION:
        return False
    return all((out_dir / name).is_file() for name in MODEL_FILES)


def _check_out_dir(out_dir: Path) -> None:
    """Refuse anything we must not replace, before spending time on training."""
    if out_dir.exists() or out_dir.is_symlink():
        if not out_dir.is_dir():
            raise BadOutDir(f"{out_dir} exists and is not a directory")
        # Only an empty dir or an earlier tiny model may be replaced; --force never deletes
        # somebody's real directory.
        if any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
            raise BadOutDir(f"{out_dir} is not empty and holds no tiny model ({MARKER} missing)")
    parent = out_dir.parent
    if parent.exists() and not parent.is_dir():
        raise BadOutDir(f"{parent} is not a directory")


def _remove_stale_temp_dirs(out_dir: Path) -> None:
    """Delete temp dirs that a killed run (SIGKILL skips `finally`) left beside out_dir."""
    # Only old ones: a young one may belong to a concurrent run that is still building.
    cutoff = time.time() - STALE_TEMP_AGE_S
    for pattern in (f".{out_dir.name}.tmp-*", f".{out_dir.name}.old-*"):
        for path in out_dir.parent.glob(pattern):
            try:
                if path.is_dir() and path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass


def install(staged: Path, out_dir: Path, *, force: bool, complete: Callable[[Path], bool]) -> None:
    """Rename a fully built ``staged`` dir to ``out_dir``; an existing one is swapped out only
    after the new one is in place, so there is never a moment with no model at all."""
    if not out_dir.exists():
        os.rename(staged, out_dir)
        return
    # A concurrent run may have finished first; its output is identical, keep it.
    if complete(out_dir) and not force:
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    try:
        os.rename(out_dir, old / "model")
        try:
            os.rename(staged, out_dir)
        except BaseException:
            os.rename(old / "model", out_dir)
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def write_model(out_dir: Path, force: bool = False) -> None:
    """Build the model into a sibling temp dir, then rename it into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_dirs(out_dir)
    # Same parent, so the final rename stays on one filesystem and is atomic.
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        build_tokenizer().save(str(tmp / "tokenizer.json"), pretty=True)
        _dump_json(tmp / "config.json", CONFIG)
        _dump_json(tmp / "tokenizer_config.json", TOKENIZER_CONFIG)
        _dump_json(tmp / "generation_config.json", GENERATION_CONFIG)
        # The marker goes last: its presence means every other file was written.
        _dump_json(tmp / MARKER, {"version": MODEL_VERSION, "files": list(MODEL_FILES)})
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; the model dir should read like any other

        install(tmp, out_dir, force=force, complete=is_complete)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build a tiny weightless model directory that `dynamo.mocker` can serve."
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="directory to create")
    parser.add_argument("--force", action="store_true", help="rebuild even if already complete")
    args = parser.parse_args(argv)
    # abspath, not resolve(): normalise ".." but keep a symlinked OUT_DIR a symlink's name.
    out_dir = Path(os.path.abspath(args.out_dir.expanduser()))
    prog = parser.prog

    try:
        _check_out_dir(out_dir)
        if not args.force and is_complete(out_dir):
            print(f"{out_dir}: tiny model v{MODEL_VERSION} already complete, nothing to do")
            return 0
        start = time.monotonic()
        write_model(out_dir, force=args.force)
    except (BadOutDir, OSError) as exc:
        # One line, no traceback: the cause is the path the user gave, not a bug.
        msg = str(exc) if isinstance(exc, BadOutDir) else f"cannot write {out_dir}: {exc}"
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"{prog}: error: {exc} (pip install tokenizers)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # write_model's `finally` already removed the temp dir; OUT_DIR is untouched.
        print(f"{prog}: interrupted, {out_dir} left as it was", file=sys.stderr)
        return 130
    print(f"{out_dir}: built tiny model v{MODEL_VERSION} in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
