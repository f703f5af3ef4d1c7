"""Checks ``trtl up`` runs for vLLM workers before it starts anything.

A vLLM engine takes a minute to load before it fails, so what can be known up front is
checked here, each failure one ``PreflightError`` sentence with the fix:

- the worker's Python has vLLM (and ``dynamo.vllm``), a CPU build of it when trtl runs vLLM
  on CPU, and NIXL when prefill/decode workers move KV blocks;
- on CPU, the model's attention head size is one vLLM's CPU attention supports;
- every prefill worker has its NIXL KV transfer settings (the engine table writes them and
  refuses them in extra_args; a vLLM ``--config`` file could still override them).
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

from launcher.checks.kv_connectors import needed_modules
from launcher.checks.model_fetch import cached_snapshot, hf_cache_dir, is_local_path
from launcher.checks.python_env import probe_python
from launcher.planning.plan import Plan, ProcessPlan
from profiles.errors import PreflightError
from profiles.vllm_args import KV_TRANSFER_FLAG, VLLM_CONFIG_FILE_OWNED, VLLM_MODULE

# vLLM 0.31's CPU attention backend (CPUAttentionBackend.get_supported_head_sizes).
CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
SETUP_CPU = "scripts/setup_vllm_cpu.sh"
CPU_VENV_PYTHON = ".cache/vllm-venv/bin/python"
GPU_FIX = 'a venv\'s python that has "ai-dynamo[vllm]==1.6.1"'


def vllm_workers(plan: Plan) -> list[ProcessPlan]:
    return [p for p in plan.processes if len(p.argv) > 2 and p.argv[2] == VLLM_MODULE]


def check_vllm_engine(plan: Plan) -> None:
    """Each vLLM worker's Python has what it runs with. Raises PreflightError."""
    by_python: dict[str, list[ProcessPlan]] = {}
    for proc in vllm_workers(plan):
        by_python.setdefault(proc.argv[0], []).append(proc)
    for python, procs in by_python.items():
        disaggregated = any(p.mode in ("prefill", "decode") for p in procs)
        connectors = {m: c for p in procs for m, c in needed_modules(p.argv).items()}
        modules = [VLLM_MODULE, "vllm", *(["nixl"] if disaggregated else []), *connectors]
        probe = probe_python(python, modules, ["vllm", "vllm-cpu"])
        if not probe.ok:
            raise PreflightError(
                f"the Python that runs vLLM ({python}) {probe.error}.", hint=_fix(plan)
            )
        missing = [m for m in (VLLM_MODULE, "vllm") if not probe.modules.get(m)]
        if missing:
            raise PreflightError(
                f"vLLM ({' and '.join(missing)}) is not importable by the Python that runs the "
                f"workers, {python} (Python {probe.version}).",
                hint=_fix(plan),
            )
        if plan.cpu_only and _cuda_build(probe.distributions):
            raise PreflightError(
                f"the vLLM in {python} is a GPU build (vllm {probe.distributions['vllm']}), "
                "and this machine has no GPU.",
                hint=f"Build the CPU one with {SETUP_CPU} and pass --python {CPU_VENV_PYTHON}.",
            )
        _check_connectors(python, connectors, probe.modules)
        if disaggregated and not probe.modules.get("nixl"):
            raise PreflightError(
                f"nixl is not importable by {python}, and vLLM's prefill and decode workers "
                "move KV blocks through it.",
                hint="Install it there (pip install nixl==1.5.1; ai-dynamo[vllm] brings it, "
                f"as does {SETUP_CPU}), or run an aggregated profile (agg, agg_router).",
            )


def _check_connectors(python: str, connectors: dict[str, str], found: dict[str, bool]) -> None:
    """A KV connector of an imported graph (LMCache, KVBM, ...) needs its package here."""
    for module, connector in connectors.items():
        if module != "nixl" and not found.get(module):
            raise PreflightError(
                f"the workers move KV blocks with {connector}, which needs the {module} "
                f"package, and {python} cannot import it.",
                hint=f"Install {module} there, or drop {KV_TRANSFER_FLAG} from the role's "
                "vllm.role_extra_args to use trtl's NIXL settings.",
            )


def _fix(plan: Plan) -> str:
    if plan.cpu_only:
        return (
            f"This machine has no GPU: build a CPU vLLM with {SETUP_CPU} and pass "
            f"--python {CPU_VENV_PYTHON}."
        )
    return f"Pass --python with {GPU_FIX}, or without a GPU build one with {SETUP_CPU}."


def _cuda_build(dists: dict[str, str | None]) -> bool:
    """A vllm distribution that is not the CPU build (vllm-cpu, or a +cpu source build)."""
    version = dists.get("vllm")
    return not dists.get("vllm-cpu") and version is not None and "+cpu" not in version


def check_vllm_model(plan: Plan) -> None:
    """On CPU, the model's head size is one vLLM's CPU attention takes. Raises PreflightError.

    Runs after the model check, so the model is on disk (a local directory or the HF cache).
    """
    if not plan.cpu_only or not vllm_workers(plan):
        return
    config_path = _model_dir(plan) / "config.json"
    config = _read_json(config_path)
    if config is None:
        return  # the worker reports a config.json it cannot read; nothing sure to say here
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    head, how = _head_size({**config, **text})
    if head is not None and head not in CPU_HEAD_SIZES:
        raise PreflightError(
            f"model {plan.profile.model} has attention head size {head} ({how} in "
            f"{config_path}), which vLLM's CPU attention does not support "
            f"(it takes {', '.join(map(str, CPU_HEAD_SIZES))}).",
            hint="Use a model with such a head size (scripts/make_tiny_real_model.py makes a "
            "tiny one with 32), or run it on a GPU machine.",
        )


def _model_dir(plan: Plan) -> Path:
    model = plan.profile.model
    if is_local_path(model):
        return Path(model).expanduser()
    worker = vllm_workers(plan)[0]
    snapshot = cached_snapshot(model, hf_cache_dir({**os.environ, **worker.env}))
    return snapshot or Path(model)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _head_size(config: dict[str, Any]) -> tuple[int | None, str]:
    head = config.get("head_dim")
    if isinstance(head, int) and not isinstance(head, bool) and head > 0:
        return head, f"head_dim {head}"
    hidden, heads = config.get("hidden_size"), config.get("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0:
        return hidden // heads, f"hidden_size {hidden} / num_attention_heads {heads}"
    return None, ""


def check_kv_transfer(plan: Plan) -> None:
    """Every prefill worker hands its KV blocks on through NIXL. Raises PreflightError."""
    for proc in vllm_workers(plan):
        _refuse_owned_in_config_file(proc)
        if proc.mode != "prefill":
            continue
        setting = _value(proc.argv, KV_TRANSFER_FLAG)
        try:
            config = json.loads(setting) if setting else None
        except ValueError:
            config = None
        if not isinstance(config, dict) or config.get("kv_role") not in ("kv_producer", "kv_both"):
            raise PreflightError(
                f"{proc.name} is a vLLM prefill worker without KV transfer settings "
                f"({KV_TRANSFER_FLAG} {setting or 'missing'}), so decode would never get its "
                "KV blocks.",
                hint="This is a trtl bug: please report it with `trtl plan --json`.",
            )


def _refuse_owned_in_config_file(proc: ProcessPlan) -> None:
    """A vLLM ``--config FILE`` may not set what profile fields decide."""
    path = _value(proc.argv, "--config")
    if path is None:
        return
    import yaml

    try:
        data = yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PreflightError(
            f"{proc.name}: cannot read its vLLM --config file {path}: {exc}.",
            hint="Fix the path in vllm.extra_args (or vllm.role_extra_args).",
        ) from exc
    for key in data if isinstance(data, dict) else {}:
        flag = "--" + str(key).replace("_", "-")
        if flag in VLLM_CONFIG_FILE_OWNED:
            raise PreflightError(
                f"{proc.name}: the vLLM --config file {path} sets {key}, which trtl decides "
                f"from {VLLM_CONFIG_FILE_OWNED[flag]}.",
                hint=f"Remove {key} from {shlex.quote(path)}.",
            )


def _value(argv: list[str], flag: str) -> str | None:
    """The last value given to ``flag`` (argparse keeps the last), or None."""
    found = None
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith(flag + "="):
            found = arg.split("=", 1)[1]
    return found
