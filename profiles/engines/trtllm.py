"""TensorRT-LLM (``python -m dynamo.trtllm``): the engine profiles are written for.

A role's ``engine_config`` mapping becomes the YAML file ``--extra-engine-args`` names,
with the role's parallel sizes and KV transfer backend written into it (TensorRT-LLM lets
the file win over flags, so the file alone describes the engine). A role that shares a GPU
gets its own copy of that file with a smaller ``free_gpu_memory_fraction``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..errors import ProfileError
from ..identity import LOCAL_ONLY_FLAGS
from ..legacy import PUBLISH_BOTH, translate_worker_args
from .argv import compact, flag_value, int_flag, refuse_owned_flags, take, value_of, with_value
from .base import (
    Built,
    ComponentSpec,
    Engine,
    LocalWorker,
    Packages,
    Refusal,
    Replica,
    RoleRead,
    Verdict,
    WorkerCommand,
)

if TYPE_CHECKING:
    from ..schema import Profile, WorkerRole

NAME = "trtllm"
TENSORRT_LLM = "tensorrt_llm"
CONFIG_FLAG = "--extra-engine-args"
OVERRIDE_FLAG = "--override-engine-args"
FIX = (
    'Install it there (`pip install "ai-dynamo[trtllm]==1.6.1"`), pass --python with a '
    "venv's python that has it, or run without GPUs using --engine mocker."
)
_PIN = re.compile(r"^tensorrt[-_.]llm\s*==\s*([^;\s]+)\s*;.*extra\s*==\s*['\"]trtllm['\"]", re.I)

OWNED = {
    **LOCAL_ONLY_FLAGS,
    "--model": "model (or --model)",
    "--model-path": "model (or --model)",
    "--served-model-name": "served_model_name",
    CONFIG_FLAG: "the role's engine_config",
    "--tensor-parallel-size": "the role's tensor_parallel_size",
    "--pipeline-parallel-size": "the role's pipeline_parallel_size",
}
READ_FLAGS = {*OWNED, "--disaggregation-mode"}


def engine_config_file(config_dir: str, role: str) -> str:
    return f"{config_dir.rstrip('/')}/{role}.yaml"


def parallel_settings(role: WorkerRole) -> dict[str, int]:
    settings = {"tensor_parallel_size": role.tensor_parallel_size}
    if role.pipeline_parallel_size != 1:
        settings["pipeline_parallel_size"] = role.pipeline_parallel_size
    return settings


def config_file_content(role: WorkerRole) -> dict[str, Any]:
    """The engine config file trtl writes for a role with an engine_config mapping."""
    assert isinstance(role.engine_config, dict)
    config = {**role.engine_config, **parallel_settings(role)}
    if role.kv_transfer_backend:
        transceiver = config.get("cache_transceiver_config") or {}
        config["cache_transceiver_config"] = {**transceiver, "backend": role.kv_transfer_backend}
    return config


class TrtllmEngine(Engine):
    name = NAME
    title = "TensorRT-LLM"
    module = "dynamo.trtllm"
    framework = "trtllm"
    image_repository = "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime"
    uses_gpus = True
    cpu_without_gpu = False
    owned = OWNED
    local_env: Mapping[str, str] = MappingProxyType({})
    local_default_env: Mapping[str, str] = MappingProxyType({})

    def build(self, profile: Profile, name: str, role: WorkerRole, config_dir: str) -> Built:
        where = f"workers.{name}.extra_args"
        refuse_owned_flags(role.extra_args, OWNED, where)
        extra, notes = translate_worker_args(role.extra_args, where, publish=PUBLISH_BOTH)
        args = ["--model", profile.model, "--served-model-name", profile.served_name]
        if role.mode != "agg":
            args += ["--disaggregation-mode", role.mode]
        config: dict[str, Any] | None = None
        config_path: str | None = None
        if isinstance(role.engine_config, dict):
            config = config_file_content(role)
            config_path = engine_config_file(config_dir, name)
            args += [CONFIG_FLAG, config_path]
        else:
            parallel = parallel_settings(role)
            if isinstance(role.engine_config, str):
                config_path = role.engine_config
                args += [CONFIG_FLAG, config_path]
                # A config file trtl does not write may set parallelism itself, and a flag
                # would override it: pass only what the profile set on purpose.
                parallel = {k: v for k, v in parallel.items() if k in role.model_fields_set}
            for key, value in parallel.items():
                args += [f"--{key.replace('_', '-')}", str(value)]
            if role.kv_transfer_backend:
                override = {"cache_transceiver_config": {"backend": role.kv_transfer_backend}}
                args += [OVERRIDE_FLAG, compact(override)]
        if profile.frontend.router_mode == "kv" and not set(PUBLISH_BOTH) & set(extra):
            # The KV router needs each worker's KV events; the seed's combined flag split in two.
            args += list(PUBLISH_BOTH)
        return Built(args + extra, config, config_path, tuple(notes))

    def export_config(
        self, profile: Profile, name: str, role: WorkerRole, built: Built, config_dir: str
    ) -> dict[str, Any] | None:
        return built.engine_config

    def extra_ports(self, spec: ComponentSpec) -> int:
        return 0

    def local_worker(self, spec: ComponentSpec, replica: Replica) -> LocalWorker:
        """A replica that shares its GPU runs with its own, smaller KV-cache memory fraction:
        in its own copy of the role's engine config when trtl writes one, else through
        ``--override-engine-args`` (which TensorRT-LLM applies over the role's own file)."""
        args = list(spec.args)
        config, fraction = spec.engine_config, replica.memory_fraction
        if fraction is None:
            if config is None or not spec.engine_config_path:
                return LocalWorker(args)
            return LocalWorker(args, file=(spec.engine_config_path, config))
        if config is not None:
            own = copy.deepcopy(config)
            own.setdefault("kv_cache_config", {})["free_gpu_memory_fraction"] = fraction
            path = engine_config_file(replica.config_dir, replica.name)
            return LocalWorker(with_value(args, CONFIG_FLAG, path), file=(path, own))
        raw = value_of(args, OVERRIDE_FLAG)
        try:
            override = json.loads(raw) if raw else {}
        except ValueError:
            override = None
        if not isinstance(override, dict):
            raise ProfileError(
                f"workers.{spec.role}: {OVERRIDE_FLAG} {raw} is not a JSON object, so trtl "
                "cannot add this replica's share of a shared GPU to it.",
                hint="Give it a JSON object in the role's extra_args.",
            )
        override.setdefault("kv_cache_config", {})["free_gpu_memory_fraction"] = fraction
        return LocalWorker(with_value(args, OVERRIDE_FLAG, compact(override)))

    def memory_fraction(self, spec: ComponentSpec) -> float | None:
        config = spec.engine_config
        if config is None and spec.engine_config_path:
            config = _read_engine_config(spec.engine_config_path)
        cache = (config or {}).get("kv_cache_config")
        value = cache.get("free_gpu_memory_fraction") if isinstance(cache, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1:
            return float(value)
        return None

    def needs(self, disaggregated: bool) -> tuple[str, ...]:
        return (self.module, TENSORRT_LLM)

    def distributions(self) -> tuple[str, ...]:
        return ("tensorrt-llm",)

    def check_packages(
        self, found: Packages, *, cpu_only: bool, disaggregated: bool
    ) -> Refusal | None:
        if found.modules.get(self.module) and not found.modules.get(TENSORRT_LLM):
            return Refusal(
                f"TensorRT-LLM ({TENSORRT_LLM}) is not importable by {found.python} "
                f"(Python {found.version}).",
                FIX,
            )
        return None

    def install_hint(self, cpu_only: bool) -> str:
        return FIX

    def check_model(self, config: dict[str, Any], *, cpu_only: bool, source: str) -> str | None:
        return None

    def check_worker(
        self, name: str, mode: str | None, argv: list[str], read_yaml: Callable[[str], Any]
    ) -> Refusal | None:
        return None

    def doctor(self, found: Packages, *, has_gpus: bool, another_engine: bool) -> Verdict:
        dynamo = found.distributions.get("ai-dynamo")
        pin = tensorrt_llm_pin(found.requires.get("ai-dynamo", []))
        wanted = f" (ai-dynamo {dynamo} pins {pin})" if pin else ""
        version = found.distributions.get("tensorrt-llm")
        if version is None or not found.modules.get(TENSORRT_LLM):
            # Without GPUs only the mocker (or vLLM on CPU) can run anyway: no error.
            return Verdict(
                "tensorrt-llm",
                "error" if has_gpus else "warning",
                f"TensorRT-LLM is not importable in {found.python}{wanted}: "
                "--engine trtllm cannot run with it",
                FIX,
            )
        if pin and version != pin:
            return Verdict(
                "tensorrt-llm",
                "warning",
                f"tensorrt-llm {version} is installed, but ai-dynamo {dynamo} pins {pin}",
                f'Install the pinned one: pip install "ai-dynamo[trtllm]=={dynamo}".',
            )
        return Verdict("tensorrt-llm", "ok", f"tensorrt-llm {version}{wanted}")

    def read(self, command: WorkerCommand, notes: list[str]) -> RoleRead:
        c, label = command.component, command.label
        # The engine table adds both publish flags for the KV router; they come back from it.
        publish = frozenset(PUBLISH_BOTH) if command.router_mode == "kv" else frozenset()
        values, _, rest = take(command.args, READ_FLAGS, publish)
        path = flag_value(values, CONFIG_FLAG, c, label)
        config = command.config(path) if path else None
        role: dict[str, Any] = {"mode_arg": values.get("--disaggregation-mode")}
        # Only flags the DGD gives: the engine table passes them for an in-image config
        # only when the profile sets them, so an absent flag stays absent on export.
        for key in ("tensor_parallel_size", "pipeline_parallel_size"):
            size = int_flag(values, f"--{key.replace('_', '-')}", c, label)
            if size is not None:
                role[key] = size
        role.update(role_fields(config) if config is not None else {"engine_config": path})
        backend, rest = _override_backend(rest)
        if backend and "kv_transfer_backend" not in role:
            role["kv_transfer_backend"] = backend
        role["extra_args"] = rest
        model = values.get("--model") or values.get("--model-path")
        return RoleRead(NAME, model, values.get("--served-model-name"), role)

    def settings(self, reads: dict[str, RoleRead]) -> dict[str, Any]:
        return {}


def role_fields(config: dict[str, Any]) -> dict[str, Any]:
    """Role fields the engine table writes into the config file, taken back out of it."""
    config = dict(config)
    fields: dict[str, Any] = {}
    for key in ("tensor_parallel_size", "pipeline_parallel_size"):
        if key in config:
            fields[key] = config.pop(key)
    transceiver = config.get("cache_transceiver_config")
    if isinstance(transceiver, dict) and "backend" in transceiver:
        transceiver = {k: v for k, v in transceiver.items() if k != "backend"}
        fields["kv_transfer_backend"] = config["cache_transceiver_config"]["backend"]
        if transceiver:
            config["cache_transceiver_config"] = transceiver
        else:
            del config["cache_transceiver_config"]
    fields["engine_config"] = config
    return fields


def _override_backend(args: list[str]) -> tuple[str | None, list[str]]:
    values, _, rest = take(args, {OVERRIDE_FLAG})
    raw = values.get(OVERRIDE_FLAG)
    if raw is None:
        return None, args
    try:
        override = json.loads(raw)
    except ValueError:
        return None, args
    if not isinstance(override, dict):
        return None, args
    transceiver = override.get("cache_transceiver_config")
    if (
        set(override) == {"cache_transceiver_config"}
        and isinstance(transceiver, dict)
        and set(transceiver) == {"backend"}
    ):
        return transceiver["backend"], rest
    return None, args


def _read_engine_config(path: str) -> dict[str, Any] | None:
    """A role's own engine config file, or None where it cannot be read here (yet)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def tensorrt_llm_pin(requires: list[str]) -> str | None:
    """The tensorrt-llm version ai-dynamo's [trtllm] extra pins, from its Requires-Dist."""
    for line in requires:
        match = _PIN.match(line.strip())
        if match:
            return match.group(1)
    return None


ENGINE = TrtllmEngine()
