#!/usr/bin/env python3
"""Build a tiny random-weight Llama that a real engine (vLLM on CPU) can load and run.

Usage: python scripts/make_tiny_real_model.py [OUT_DIR] [--force]
(default OUT_DIR: .cache/tiny-real-model in the checkout; run it with a Python that has torch,
transformers and safetensors, e.g. the one scripts/setup_vllm_cpu.sh builds).

It is the mocker's tiny model (scripts/make_tiny_model.py: the same 32k byte-level BPE,
chat template and llama config: hidden 64, 2 layers, 2 query heads and 1 KV head of size 32,
tied embeddings, bfloat16) plus `model.safetensors`: ~2 M parameters drawn from a fixed seed.
Replies are random subwords, but every token is really computed by the engine. vLLM's CPU
attention needs a head size of at least 32, which is why the heads are not smaller.

Like the tiny model the build is idempotent (a complete model of the current version is left
alone unless --force), atomic (built beside OUT_DIR, then renamed into place) and
deterministic (same bytes every run with the same torch).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's directory is on sys.path: share the tokenizer and config
# with the mocker's model instead of keeping a second copy in step.
import make_tiny_model as tiny

# Bump when the weights or any added file change: an existing model is then rebuilt.
REAL_MODEL_VERSION = 1
REAL_MARKER = ".trtl-tiny-real-model"
WEIGHTS = "model.safetensors"
SEED = 20261127
NEEDED_MODULES = ("torch", "transformers", "safetensors", "tokenizers")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / ".cache" / "tiny-real-model"


def is_complete(out_dir: Path) -> bool:
    """True if out_dir holds the tokenizer files and weights built by this version."""
    try:
        marker = json.loads((out_dir / REAL_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("version") != REAL_MODEL_VERSION:
        return False
    return tiny.is_complete(out_dir) and (out_dir / WEIGHTS).is_file()


def check_imports() -> None:
    """Raise ImportError naming every module the build needs but this Python lacks."""
    # Checked up front: the tokenizer trains for seconds before the weights need torch.
    missing = [m for m in NEEDED_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"this Python lacks {', '.join(missing)}")


def write_weights(model_dir: Path) -> None:
    """Write seeded random Llama weights matching model_dir/config.json as safetensors."""
    # Heavy imports here, so --help and the already-built path stay instant.
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(SEED)
    config = LlamaConfig(**{k: v for k, v in tiny.CONFIG.items() if k != "torch_dtype"})
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    # Tied embeddings: lm_head is the embedding matrix, which is stored once, as HF does.
    tensors = {
        name: tensor.detach().contiguous()
        for name, tensor in model.state_dict().items()
        if name != "lm_head.weight"
    }
    save_file(tensors, str(model_dir / WEIGHTS), metadata={"format": "pt"})
    os.chmod(model_dir / WEIGHTS, 0o644)  # save_file makes it 0600; read like the rest


def write_model(out_dir: Path, force: bool = False) -> None:
    """Build tokenizer, config and weights in a sibling temp dir, then rename it into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tiny._remove_stale_temp_dirs(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        staged = tmp / "model"
        tiny.write_model(staged)
        write_weights(staged)
        # The marker goes last: its presence means every other file was written.
        (staged / REAL_MARKER).write_text(
            json.dumps({"version": REAL_MODEL_VERSION, "seed": SEED}) + "\n", encoding="utf-8"
        )
        tiny.install(staged, out_dir, force=force, complete=is_complete)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build a tiny random-weight Llama that vLLM (CPU) can serve."
    )
    parser.add_argument(
        "out_dir", metavar="OUT_DIR", type=Path, nargs="?", default=DEFAULT_OUT,
        help=f"directory to create (default: {DEFAULT_OUT})",
    )  # fmt: skip
    parser.add_argument("--force", action="store_true", help="rebuild even if already complete")
    args = parser.parse_args(argv)
    out_dir = Path(os.path.abspath(args.out_dir.expanduser()))
    prog = parser.prog

    try:
        tiny._check_out_dir(out_dir)
        if not args.force and is_complete(out_dir):
            print(f"{out_dir}: tiny real model v{REAL_MODEL_VERSION} already complete")
            return 0
        check_imports()
        start = time.monotonic()
        write_model(out_dir, force=args.force)
    except (tiny.BadOutDir, OSError) as exc:
        # One line, no traceback: the cause is the path the user gave, not a bug.
        msg = str(exc) if isinstance(exc, tiny.BadOutDir) else f"cannot write {out_dir}: {exc}"
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(
            f"{prog}: error: {exc}; run this with the Python of .cache/vllm-venv "
            "(scripts/setup_vllm_cpu.sh builds it)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted, {out_dir} left as it was", file=sys.stderr)
        return 130
    took = time.monotonic() - start
    print(f"{out_dir}: built tiny real model v{REAL_MODEL_VERSION} in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
