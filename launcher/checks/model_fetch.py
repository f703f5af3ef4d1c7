"""Make sure the model is on disk before any worker starts.

A local model directory must exist and hold ``config.json`` (the mocker and TensorRT-LLM
both read it). A Hugging Face model id is looked up in the local Hugging Face cache; when
it is missing, trtl downloads it once, with huggingface_hub's progress bars, so replicas
never race to download the same weights. Offline (``--offline``, ``HF_HUB_OFFLINE=1``)
nothing is downloaded and a missing model is an error. The HF token stays where
huggingface_hub reads it (``HF_TOKEN`` or its token file): trtl never prints or stores it.

The mocker loads no weights: for it (``weights=False``) trtl fetches only the config, the
tokenizer files and the chat template (``MOCKER_FILES``), a few MiB instead of gigabytes,
and says so. A cached snapshot counts for a real engine only when it holds weights, so a
model first fetched for the mocker gets the rest before a real engine loads it.

Where the cache is and whether to go offline are read from the environment the workers
will see, at call time, because huggingface_hub fixes its own settings at import.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from trtl.profiles.errors import PreflightError

# "org/name" or a bare legacy name like "gpt2"; anything else is a path.
HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_TRUE = {"1", "on", "yes", "true"}
# What the mocker and the frontend read of a model: the config, the tokenizer (fast or
# sentencepiece, with its vocabulary files) and the chat template. Never weights.
MOCKER_FILES = (
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "tokenizer.model", "vocab.json",
    "vocab.txt", "merges.txt", "chat_template.jinja", "chat_template.json",
)  # fmt: skip
WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf", "*.msgpack")


@dataclass(frozen=True)
class ModelLocation:
    """Where a profile's model is: a local directory, or a snapshot in the HF cache."""

    model: str
    path: Path
    source: str  # "local", "cache" or "download"


def is_local_path(model: str) -> bool:
    """True when ``model`` names a directory rather than a Hugging Face model id."""
    if model.startswith(("/", "./", "../", "~")) or model in (".", ".."):
        return True
    return Path(model).is_dir() or not HF_ID.match(model)


def hf_cache_dir(env: Mapping[str, str]) -> Path:
    """The hub cache huggingface_hub (and so every worker) uses under ``env``."""
    if env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        return Path(env.get("HF_HUB_CACHE") or env["HUGGINGFACE_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "huggingface" / "hub"


def offline_in(env: Mapping[str, str]) -> bool:
    """True when ``env`` tells huggingface_hub not to touch the network."""
    return any(
        env.get(k, "").strip().lower() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def ensure_model(
    model: str,
    *,
    offline: bool = False,
    env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = lambda _: None,
    weights: bool = True,
) -> ModelLocation:
    """Find ``model`` on disk, downloading an HF id once when allowed; ``weights=False`` (the
    mocker) fetches only ``MOCKER_FILES``. Raises PreflightError."""
    env = os.environ if env is None else env
    if is_local_path(model):
        return ModelLocation(model, check_local_model(model), "local")
    cache_dir = hf_cache_dir(env)
    cached = cached_snapshot(model, cache_dir)
    if cached is not None and (not weights or has_weights(cached)):
        return ModelLocation(model, cached, "cache")
    if offline or offline_in(env):
        what = "is not in" if cached is None else "has no weights (only a mocker's files) in"
        raise PreflightError(
            f"model {model} {what} the Hugging Face cache ({cache_dir}) and trtl is offline.",
            hint=f"Download it first (`hf download {model}`), or run without --offline "
            "and HF_HUB_OFFLINE so trtl fetches it.",
        )
    if weights:
        echo(f"downloading {model} into {cache_dir} (once, before any worker starts)")
    else:
        echo(
            f"downloading the config, tokenizer and chat template of {model} into {cache_dir} "
            "(no weights: the mocker needs none)"
        )
    files = None if weights else MOCKER_FILES
    path = download(model, cache_dir, endpoint=env.get("HF_ENDPOINT"), files=files)
    return ModelLocation(model, path, "download")


def check_local_model(model: str) -> Path:
    """The model directory, if it is one the workers can load. Raises PreflightError."""
    path = Path(model).expanduser()
    if not path.exists():
        raise PreflightError(
            f"model directory {model} does not exist.",
            hint="Fix --model (or the profile's model:), or give a Hugging Face id such as "
            "Qwen/Qwen3-0.6B.",
        )
    if not path.is_dir():
        raise PreflightError(
            f"model {model} is a file; a model is a directory with config.json and tokenizers.",
            hint="Point --model at the directory that holds it.",
        )
    if not (path / "config.json").is_file():
        raise PreflightError(
            f"model directory {model} has no config.json, which the workers need to load it.",
            hint="Point --model at a Hugging Face style model directory (config.json, "
            "tokenizer files).",
        )
    return path


def cached_snapshot(repo_id: str, cache_dir: Path) -> Path | None:
    """The cached snapshot of ``repo_id`` with a config.json, or None. Never uses the network."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:
        path = Path(snapshot_download(repo_id, cache_dir=cache_dir, local_files_only=True))
    except (OSError, HFValidationError, ValueError):
        # LocalEntryNotFoundError is an OSError: the repo or its ref is not cached.
        return None
    # A snapshot folder without config.json is an interrupted download: fetch the rest.
    return path if (path / "config.json").is_file() else None


def has_weights(snapshot: Path) -> bool:
    """True when a cached snapshot holds weight files (not only what the mocker fetched)."""
    return any(next(snapshot.glob(pattern), None) is not None for pattern in WEIGHTS)


def download(
    repo_id: str,
    cache_dir: Path,
    *,
    endpoint: str | None = None,
    files: tuple[str, ...] | None = None,
) -> Path:
    """Download ``repo_id`` (only ``files``, when given) into the HF cache with progress
    bars. Raises PreflightError."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError

    try:
        return Path(
            snapshot_download(
                repo_id,
                cache_dir=cache_dir,
                endpoint=endpoint,
                allow_patterns=list(files) if files else None,
            )
        )
    except GatedRepoError as exc:
        raise PreflightError(
            f"model {repo_id} is gated on the Hugging Face Hub and this account has no access.",
            hint="Accept its license on huggingface.co and export HF_TOKEN (or `hf auth login`).",
        ) from exc
    except RepositoryNotFoundError as exc:
        raise PreflightError(
            f"model {repo_id} was not found on the Hugging Face Hub (or it is private).",
            hint="Check the id, or export HF_TOKEN for a private model.",
        ) from exc
    except HFValidationError as exc:
        raise PreflightError(f"{repo_id!r} is not a valid Hugging Face model id.") from exc
    except Exception as exc:  # network, disk and HTTP failures all end the same way
        raise PreflightError(
            f"could not download {repo_id} from the Hugging Face Hub: {_cause(exc)}.",
            hint=f"Check the network (or HF_ENDPOINT), or download it by hand (`hf download "
            f"{repo_id}`) and run again.",
        ) from exc


def _cause(exc: BaseException) -> str:
    """The root cause in a few words: huggingface_hub wraps httpx errors in long texts."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
