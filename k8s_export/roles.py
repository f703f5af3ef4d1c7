"""One DGD worker component → one profile role: engine, model, mode, config and flags.

The reverse of the engine table: flags the table writes from profile fields become those
fields again, an engine config found through a mounted ConfigMap becomes the role's
``engine_config`` mapping (else the in-image path stays a path), and the remaining flags
become ``extra_args``. vLLM workers become an ``engine: vllm`` profile (``vllm_role``).
SGLang workers are read as far as the graph goes (model, mode, replicas, GPUs) and run on
the mocker, with a note.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from profiles.errors import ProfileError
from profiles.identity import LOCAL_ONLY_FLAGS
from profiles.legacy import PUBLISH_BOTH

from . import configmaps
from .commands import Command, flag_value, int_flag, mocker_flags, nested, number, take
from .shapes import Component
from .vllm_role import read_vllm

ENGINES = {"dynamo.trtllm": "trtllm", "dynamo.mocker": "mocker", "dynamo.vllm": "vllm"}
NOT_YET = {"dynamo.sglang": "SGLang"}
LOCAL = set(LOCAL_ONLY_FLAGS)


@dataclass
class WorkerRead:
    """What one worker component says about the profile."""

    engine: str
    model: str | None
    served: str | None
    role: dict[str, Any]
    speedup: str | None = None
    mocker_args: list[str] = field(default_factory=list)
    vllm_args: list[str] = field(default_factory=list)  # flags no profile field holds
    eager: bool = False  # the worker runs with --enforce-eager


def read_worker(
    c: Component,
    cmd: Command,
    configs: dict[str, dict[str, Any]],
    router_mode: str,
    label: str,
    notes: list[str],
) -> WorkerRead:
    """The role data of worker component ``c``; raises ProfileError for what trtl cannot run."""
    if cmd.module == "dynamo.trtllm":
        read = _trtllm(c, cmd.args, configs, router_mode, label)
    elif cmd.module == "dynamo.mocker":
        read = _mocker(c, cmd.args, configs, label)
    elif cmd.module == "dynamo.vllm":
        model, served, role, rest, eager = read_vllm(c, cmd.args, router_mode, label, notes)
        read = WorkerRead("vllm", model, served, role, vllm_args=rest, eager=eager)
    elif cmd.module in NOT_YET:
        read = _not_yet(c, cmd, label, notes)
    else:
        raise ProfileError(
            f"{label}: component {c.name!r} runs `python -m {cmd.module}`, which is not a "
            "Dynamo engine trtl knows.",
            hint="trtl runs dynamo.trtllm, dynamo.vllm and dynamo.mocker workers.",
        )
    replicas = 1 if c.replicas is None else int(c.replicas)
    if replicas < 1:
        notes.append(f"component {c.name}: replicas {replicas} becomes 1 (trtl runs at least one).")
        replicas = 1
    read.role = {"mode": _mode(c, read.role.pop("mode_arg", None), label), "replicas": replicas,
                 **read.role}  # fmt: skip
    if read.role["mode"] == "agg" and read.role.pop("kv_transfer_backend", None):
        notes.append(f"component {c.name}: left out the KV transfer backend of an agg worker.")
    return read


def _mode(c: Component, arg: str | None, label: str) -> str:
    typed = c.type if c.type in ("prefill", "decode") else None
    if arg in (None, "agg", "prefill_and_decode"):
        # The command decides: a decode-labelled worker without the flag runs aggregated
        # (k8s.launch.component_type keeps the label for the export).
        return "agg"
    if arg not in ("prefill", "decode"):
        raise ProfileError(
            f"{label}: component {c.name!r} runs --disaggregation-mode {arg}, which trtl "
            "cannot run (it runs agg, prefill and decode workers)."
        )
    if typed and typed != arg:
        raise ProfileError(
            f"{label}: component {c.name!r} has type {typed} but runs "
            f"--disaggregation-mode {arg}; make them agree."
        )
    return arg


TRTLLM_FLAGS = {
    "--model", "--model-path", "--served-model-name", "--extra-engine-args",
    "--disaggregation-mode", "--tensor-parallel-size", "--pipeline-parallel-size", *LOCAL,
}  # fmt: skip


def _trtllm(
    c: Component, args: list[str], configs: dict, router_mode: str, label: str
) -> WorkerRead:
    # The engine table adds both publish flags for the KV router; they come back from it.
    publish = frozenset(PUBLISH_BOTH) if router_mode == "kv" else frozenset()
    values, _, rest = take(args, TRTLLM_FLAGS, publish)
    path = flag_value(values, "--extra-engine-args", c.name, label)
    config = configmaps.resolve(path, c.container, c.pod, configs, label) if path else None
    role: dict[str, Any] = {"mode_arg": values.get("--disaggregation-mode")}
    # Only flags the DGD gives: the engine table passes them for an in-image config only
    # when the profile sets them, so an absent flag stays absent on export.
    for key in ("tensor_parallel_size", "pipeline_parallel_size"):
        size = int_flag(values, f"--{key.replace('_', '-')}", c.name, label)
        if size is not None:
            role[key] = size
    role.update(_config_fields(config) if config is not None else {"engine_config": path})
    backend, rest = _override_backend(rest)
    if backend and "kv_transfer_backend" not in role:
        role["kv_transfer_backend"] = backend
    role["extra_args"] = rest
    model = values.get("--model") or values.get("--model-path")
    return WorkerRead("trtllm", model, values.get("--served-model-name"), role)


def _config_fields(config: dict[str, Any]) -> dict[str, Any]:
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
    values, _, rest = take(args, {"--override-engine-args"})
    raw = values.get("--override-engine-args")
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


def _mocker(c: Component, args: list[str], configs: dict, label: str) -> WorkerRead:
    value_flags, switch_flags = mocker_flags()
    flags = {"--model-path", "--model-name", "--disaggregation-mode", "--speedup-ratio"}
    values, switches, rest = take(args, flags | set(value_flags) | LOCAL, frozenset(switch_flags))
    config = configmaps.resolve(None, c.container, c.pod, configs, label)
    role: dict[str, Any] = {"mode_arg": values.get("--disaggregation-mode")}
    if config is not None:
        role.update(_config_fields(config))
    else:
        flat = {value_flags[f]: number(v) for f, v in values.items() if f in value_flags}
        flat.update(dict(switch_flags[s] for s in switches))
        if flat:
            role["engine_config"] = nested(flat)
    return WorkerRead(
        "mocker",
        values.get("--model-path"),
        values.get("--model-name"),
        role,
        speedup=values.get("--speedup-ratio"),
        mocker_args=rest,
    )


def _not_yet(c: Component, cmd: Command, label: str, notes: list[str]) -> WorkerRead:
    flags = {"--model", "--model-path", "--served-model-name", "--disaggregation-mode",
             "--tensor-parallel-size", "--tp", "--tp-size", *LOCAL}  # fmt: skip
    switches = frozenset({"--is-prefill-worker", "--is-decode-worker"})
    values, seen, rest = take(cmd.args, flags, switches)
    framework = NOT_YET[cmd.module]
    left = f"; left out its {framework} flags: {' '.join(rest)}" if rest else ""
    notes.append(
        f"component {c.name} runs {framework} (python -m {cmd.module}), which trtl cannot run "
        f"yet: the profile runs this graph on the mocker engine{left}."
    )
    mode = values.get("--disaggregation-mode")
    if "--is-prefill-worker" in seen:
        mode = "prefill"
    elif "--is-decode-worker" in seen:
        mode = "decode"
    role: dict[str, Any] = {"mode_arg": mode}
    for flag in ("--tensor-parallel-size", "--tp", "--tp-size"):
        tp = int_flag(values, flag, c.name, label)
        if tp is not None:
            role["tensor_parallel_size"] = tp
    model = values.get("--model") or values.get("--model-path")
    return WorkerRead("mocker", model, values.get("--served-model-name"), role)
