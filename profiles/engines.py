"""The engine table: the one place where a profile role becomes a command line.

``component_specs(profile, engine_config_dir)`` gives, for the frontend and each worker
role, the module to run, its arguments and its environment. The local plan and the
Kubernetes export both start from these specs, so a role runs the same arguments on a
workstation and in the cluster; what each side adds is listed in ``profiles.identity``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ProfileError
from .identity import LOCAL_ONLY_ENV, LOCAL_ONLY_FLAGS
from .legacy import PUBLISH_BOTH, translate_env, translate_worker_args
from .schema import Profile, WorkerMode, WorkerRole
from .vllm_args import (
    VLLM_MODULE,
    VLLM_OWNED,
    VLLM_OWNED_PER_ROLE,
    normalised_flags,
    vllm_args,
)

FRONTEND_MODULE = "dynamo.frontend"
WORKER_MODULES = {"trtllm": "dynamo.trtllm", "mocker": "dynamo.mocker", "vllm": VLLM_MODULE}


@dataclass(frozen=True)
class ComponentSpec:
    """What one role runs, independent of where it runs."""

    role: str  # "frontend" or the worker role's name
    component: Literal["frontend", "worker"]
    mode: WorkerMode | None
    replicas: int
    gpus: int  # per replica
    module: str
    args: tuple[str, ...]  # after `python -m MODULE`
    env: dict[str, str]
    # Contents of the file that --extra-engine-args names, when trtl writes it.
    engine_config: dict[str, Any] | None = None
    engine_config_path: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def engine_config_file(engine_config_dir: str, role: str) -> str:
    return f"{engine_config_dir.rstrip('/')}/{role}.yaml"


def component_specs(profile: Profile, engine_config_dir: str) -> list[ComponentSpec]:
    """The frontend first, then each worker role in profile order. Raises ProfileError."""
    specs = [frontend_spec(profile)]
    for name, role in profile.workers.items():
        specs.append(worker_spec(profile, name, role, engine_config_dir))
    return specs


def frontend_spec(profile: Profile) -> ComponentSpec:
    fe = profile.frontend
    args = ["--router-mode", fe.router_mode]
    if fe.migration_limit:
        args += ["--migration-limit", str(fe.migration_limit)]
    _refuse_owned_flags(fe.extra_args, FRONTEND_OWNED, "frontend.extra_args")
    args += fe.extra_args
    env, notes = _env(profile.env, fe.env, "frontend.env")
    return ComponentSpec(
        role="frontend",
        component="frontend",
        mode=None,
        replicas=1,
        gpus=0,
        module=FRONTEND_MODULE,
        args=tuple(args),
        env=env,
        notes=tuple(notes),
    )


def worker_spec(
    profile: Profile, name: str, role: WorkerRole, engine_config_dir: str
) -> ComponentSpec:
    builder = _BUILDERS[profile.engine]
    args, config, config_path, notes = builder(profile, name, role, engine_config_dir)
    env, env_notes = _env(profile.env, role.env, f"workers.{name}.env")
    return ComponentSpec(
        role=name,
        component="worker",
        mode=role.mode,
        replicas=role.replicas,
        gpus=role.gpus_per_replica if profile.engine != "mocker" else 0,
        module=WORKER_MODULES[profile.engine],
        args=tuple(args),
        env=env,
        engine_config=config,
        engine_config_path=config_path,
        notes=tuple(notes + env_notes),
    )


_Built = tuple[list[str], dict[str, Any] | None, str | None, list[str]]


def _trtllm_args(profile: Profile, name: str, role: WorkerRole, config_dir: str) -> _Built:
    where = f"workers.{name}.extra_args"
    _refuse_owned_flags(role.extra_args, TRTLLM_OWNED, where)
    extra, notes = translate_worker_args(role.extra_args, "trtllm", where)
    args = ["--model", profile.model, "--served-model-name", profile.served_name]
    if role.mode != "agg":
        args += ["--disaggregation-mode", role.mode]
    config: dict[str, Any] | None = None
    config_path: str | None = None
    if isinstance(role.engine_config, dict):
        # The role's fields decide parallelism and KV transfer; they go into the file so
        # the file alone describes the engine (TensorRT-LLM lets the file win over flags).
        config = {**role.engine_config, **_parallel_settings(role)}
        if role.kv_transfer_backend:
            transceiver = config.get("cache_transceiver_config") or {}
            config["cache_transceiver_config"] = {
                **transceiver,
                "backend": role.kv_transfer_backend,
            }
        config_path = engine_config_file(config_dir, name)
        args += ["--extra-engine-args", config_path]
    else:
        parallel = _parallel_settings(role)
        if isinstance(role.engine_config, str):
            config_path = role.engine_config
            args += ["--extra-engine-args", config_path]
            # A config file trtl does not write may set parallelism itself, and a flag would
            # override it: pass only what the profile set on purpose.
            parallel = {k: v for k, v in parallel.items() if k in role.model_fields_set}
        for key, value in parallel.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        if role.kv_transfer_backend:
            override = {"cache_transceiver_config": {"backend": role.kv_transfer_backend}}
            args += ["--override-engine-args", json.dumps(override, separators=(",", ":"))]
    if profile.frontend.router_mode == "kv" and not set(PUBLISH_BOTH) & set(extra):
        # The KV router needs each worker's KV events; the seed's combined flag split in two.
        args += list(PUBLISH_BOTH)
    return args + extra, config, config_path, notes


def _parallel_settings(role: WorkerRole) -> dict[str, int]:
    settings = {"tensor_parallel_size": role.tensor_parallel_size}
    if role.pipeline_parallel_size != 1:
        settings["pipeline_parallel_size"] = role.pipeline_parallel_size
    return settings


# TensorRT-LLM engine config keys that the mocker can imitate, and the flag for each.
MOCKER_EQUIVALENTS: dict[str, Callable[[Any], list[str]]] = {
    "max_batch_size": lambda v: ["--max-num-seqs", str(v)],
    "max_num_tokens": lambda v: ["--max-num-batched-tokens", str(v)],
    "max_seq_len": lambda v: ["--max-model-len", str(v)],
    "enable_chunked_prefill": lambda v: [
        "--enable-chunked-prefill" if v else "--no-enable-chunked-prefill"
    ],
    "kv_cache_config.tokens_per_block": lambda v: ["--block-size", str(v)],
    "kv_cache_config.enable_block_reuse": lambda v: [
        "--enable-prefix-caching" if v else "--no-enable-prefix-caching"
    ],
}


def _mocker_args(profile: Profile, name: str, role: WorkerRole, config_dir: str) -> _Built:
    args = ["--model-path", profile.model, "--model-name", profile.served_name]
    if role.mode != "agg":
        args += ["--disaggregation-mode", role.mode]
    args += ["--speedup-ratio", _number(profile.mocker.speedup_ratio)]
    notes: list[str] = []
    dropped = (
        [f"kv_transfer_backend={role.kv_transfer_backend}"] if role.kv_transfer_backend else []
    )
    if role.tensor_parallel_size * role.pipeline_parallel_size > 1:
        dropped.append("tensor/pipeline parallelism")
    if isinstance(role.engine_config, dict):
        for key, value in _flatten(role.engine_config).items():
            if key in MOCKER_EQUIVALENTS:
                args += MOCKER_EQUIVALENTS[key](value)
            else:
                dropped.append(key)
    elif isinstance(role.engine_config, str):
        dropped.append(f"the engine_config file {role.engine_config}")
    if dropped:
        notes.append(f"workers.{name}: the mocker cannot imitate {', '.join(dropped)}; left out.")
    if role.extra_args:
        notes.append(
            f"workers.{name}: extra_args are TensorRT-LLM flags and are dropped for the mocker; "
            "use mocker.extra_args for mocker flags."
        )
    _refuse_owned_flags(profile.mocker.extra_args, MOCKER_OWNED, "mocker.extra_args")
    extra, legacy_notes = translate_worker_args(profile.mocker.extra_args, "mocker", "mocker")
    return args + extra, None, None, notes + legacy_notes


def _vllm_args(profile: Profile, name: str, role: WorkerRole, config_dir: str) -> _Built:
    flat = _flatten(role.engine_config) if isinstance(role.engine_config, dict) else None
    args, extra, notes = vllm_args(profile, name, role, flat)
    _refuse_owned_flags(normalised_flags(profile.vllm.extra_args), VLLM_OWNED, "vllm.extra_args")
    # One role may run eager while the others don't (imported graphs do): unless
    # vllm.enforce_eager already covers every role.
    owned = VLLM_OWNED if profile.vllm.enforce_eager else VLLM_OWNED_PER_ROLE
    own = profile.vllm.role_extra_args.get(name, [])
    _refuse_owned_flags(normalised_flags(own), owned, f"vllm.role_extra_args.{name}")
    return args + extra, None, None, notes


def _flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


_BUILDERS = {"trtllm": _trtllm_args, "mocker": _mocker_args, "vllm": _vllm_args}

# Flags that profile fields own: setting them in extra_args would contradict the profile.
FRONTEND_OWNED = {
    **LOCAL_ONLY_FLAGS,
    "--router-mode": "frontend.router_mode",
    "--migration-limit": "frontend.migration_limit",
    "--http-port": "frontend.http_port (or --port)",
}
TRTLLM_OWNED = {
    **LOCAL_ONLY_FLAGS,
    "--model": "model (or --model)",
    "--model-path": "model (or --model)",
    "--served-model-name": "served_model_name",
    "--extra-engine-args": "the role's engine_config",
    "--tensor-parallel-size": "the role's tensor_parallel_size",
    "--pipeline-parallel-size": "the role's pipeline_parallel_size",
}
MOCKER_OWNED = {
    **LOCAL_ONLY_FLAGS,
    "--model-path": "model (or --model)",
    "--model-name": "served_model_name",
    "--speedup-ratio": "mocker.speedup_ratio",
    "--disaggregation-mode": "the role's mode",
}


def _env(graph: dict[str, str], own: dict[str, str], where: str) -> tuple[dict, list[str]]:
    """Graph-wide env under the component's own, minus what trtl decides or Dynamo removed."""
    for key in (*graph, *own):
        if key in LOCAL_ONLY_ENV:
            place = where if key in own else "env"
            raise ProfileError(
                f"{place}.{key} is set by trtl ({LOCAL_ONLY_ENV[key]}); remove it.",
                hint="Use --gpus to choose GPUs." if key.startswith("CUDA_") else None,
            )
    return translate_env({**graph, **own}, where)


def _refuse_owned_flags(args: list[str], owned: dict[str, str], where: str) -> None:
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in owned:
            raise ProfileError(
                f"{where}: {flag} is decided by {owned[flag]}; remove it from {where}.",
            )
