"""The local plan: which process runs where, with which argv, env, GPUs and ports.

``build_plan`` applies the local runtime contract to the engine table's specs: every
process discovers the others through a private directory (file discovery, no etcd or
NATS), workers live in the deployment's own Dynamo namespace, everything listens on
loopback, each worker gets a free status port, and each GPU replica its own GPUs.
vLLM workers get their own loopback settings and ports, and on a machine without GPU run
on CPU cores of their own (``vllm_local``). Nothing is started here; ``trtl plan`` prints
the result and ``trtl up`` runs it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher.checks.vllm_local import (
    CpuMode,
    cpu_mode,
    cpu_reason,
    extra_port_count,
    is_vllm,
    local_worker,
    memory_utilization,
    with_memory_utilization,
)
from launcher.deployments.paths import RunDir
from launcher.gpus.inventory import Inventory
from launcher.gpus.placement import (
    DEFAULT_MEMORY_FRACTION,
    SHARE_WARNING,
    Demand,
    Placement,
    cuda_visible_devices,
    place,
    select_gpus,
)
from launcher.planning.plan_types import LOOPBACK, Plan, ProcessPlan
from launcher.planning.ports import free_ports
from profiles.engines import ComponentSpec, component_specs
from profiles.errors import PlacementError, ProfileError
from profiles.schema import NAME_PATTERN, Profile

# Every process finds the others through files in the deployment's private directory.
FILE_DISCOVERY = ["--discovery-backend", "file"]
# A deployment is named like a profile: it becomes a directory and a Dynamo namespace.
DEPLOYMENT_PATTERN = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class PlanOptions:
    """The command-line choices that shape a plan."""

    deployment: str | None = None  # default: the profile's name
    http_port: int | None = None  # default: frontend.http_port
    gpus: str | None = None  # --gpus
    python: str | None = None  # --python; default: the profile's python, else this one
    inherited_cvd: str | None = None  # the CUDA_VISIBLE_DEVICES trtl was started with
    share_gpus: bool = False  # --share-gpus: pack workers onto fewer GPUs (local development)
    cpu_cores: tuple[int, ...] | None = None  # cores trtl may use; default: its own affinity
    http_host: str = LOOPBACK  # --host: the frontend's listen address; workers stay on loopback


def build_plan(profile: Profile, options: PlanOptions, inventory: Inventory | None = None) -> Plan:
    """Plan every process of ``profile``. Raises ProfileError or PlacementError.

    ``inventory`` is read through NVML when the engine needs GPUs and none is given.
    """
    deployment = profile.name if options.deployment is None else options.deployment
    if not DEPLOYMENT_PATTERN.match(deployment):
        raise ProfileError(
            f"--name {deployment!r} is not a valid deployment name: use up to 40 lowercase "
            "letters, digits, '-' and '_', starting and ending with a letter or digit."
        )
    run_dir = RunDir.for_deployment(deployment)
    namespace = f"trtl-{deployment}".replace("_", "-")
    specs = component_specs(profile, str(run_dir.engine_configs))
    python = os.path.expanduser(options.python or profile.python or sys.executable)
    http_port = options.http_port or profile.frontend.http_port
    http_host = _listen_address(options.http_host)
    placement, no_gpu = _place(profile, specs, options, inventory)
    cpu = cpu_mode(profile, specs, options.cpu_cores) if no_gpu else None
    workers = [s for s in specs if s.component == "worker"]
    port_count = sum(s.replicas * (1 + extra_port_count(s)) for s in workers)
    ports = iter(free_ports(port_count, exclude={http_port}))

    base_env = {
        "DYN_FILE_KV": str(run_dir.discovery),
        "DYN_TCP_RPC_HOST": LOOPBACK,
        "DYN_TCP_RESPONSE_STREAM_HOST": LOOPBACK,
        "DYN_EVENT_PLANE_HOST": LOOPBACK,
    }
    processes: list[ProcessPlan] = []
    notes: list[str] = list(cpu.notes) if cpu else []
    files: dict[Path, dict[str, Any]] = {}
    for spec in specs:
        notes.extend(spec.notes)
        command = [python, "-m", spec.module, *spec.args]
        if spec.component == "frontend":
            processes.append(_frontend(spec, command, base_env, namespace, http_host, http_port))
            continue
        worker_env = {
            **base_env,
            "DYN_NAMESPACE": namespace,
            "DYN_SYSTEM_HOST": LOOPBACK,
            # The status server's /health turns 200 once the worker registered and passes
            # its canary checks: trtl's per-worker readiness and liveness signal.
            "DYN_HEALTH_CHECK_ENABLED": "true",
        }
        for replica in range(spec.replicas):
            name = f"{spec.role}-{replica}"
            fraction = placement.fractions.get(name) if placement else None
            args, file = _engine_args(spec, name, fraction, run_dir)
            if file is not None:
                files[file[0]] = file[1]
            base = [python, "-m", spec.module]
            processes.append(_worker(spec, base, args, worker_env, replica, placement, ports, cpu))
    if placement and placement.shared:
        notes.append(SHARE_WARNING)
    elif placement is None and (options.share_gpus or profile.share_gpus):
        what = "vLLM runs on CPU here" if cpu else f"the {profile.engine} engine uses no GPUs"
        notes.append(f"--share-gpus: {what}; nothing to share.")
    return Plan(
        deployment=deployment,
        profile=profile,
        namespace=namespace,
        # trtl's own probes and `trtl chat` reach the frontend on loopback when it listens
        # on every interface, else on the one address it listens on.
        frontend_url=f"http://{LOOPBACK if http_host == ANY else http_host}:{http_port}",
        run_dir=run_dir,
        processes=processes,
        files=files,
        notes=notes,
        gpu_source=placement.source if placement else None,
        gpu_skipped=placement.skipped if placement else {},
        gpu_shared=bool(placement and placement.shared),
        cpu_only=cpu is not None,
        http_host=http_host,
    )


ANY = "0.0.0.0"


def _listen_address(host: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.IPv4Address(host.strip()))
    except ValueError:
        raise ProfileError(
            f"--host {host!r} is not an IPv4 address; give one of this machine's addresses, "
            f"or {ANY} to listen on every interface (the default is {LOOPBACK})."
        ) from None


def _frontend(
    spec: ComponentSpec, command: list[str], base_env: dict, namespace: str, host: str, port: int
) -> ProcessPlan:
    argv = [
        *command,
        "--http-host",
        host,
        "--http-port",
        str(port),
        "--namespace",
        namespace,
        *FILE_DISCOVERY,
    ]
    return ProcessPlan(
        name="frontend",
        role="frontend",
        mode=None,
        argv=argv,
        env={**spec.env, **base_env},
        gpus=[],
        ports={"http": port},
    )


def _worker(
    spec: ComponentSpec,
    command: list[str],
    args: list[str],
    base_env: dict[str, str],
    replica: int,
    placement: Placement | None,
    ports: Iterator[int],
    cpu: CpuMode | None,
) -> ProcessPlan:
    name = f"{spec.role}-{replica}"
    gpus = placement.assignments.get(name, ()) if placement else ()
    port = next(ports)
    own_env = dict(spec.env)
    env = {**base_env, "DYN_SYSTEM_PORT": str(port)}
    named = {"system": port}
    if is_vllm(spec):
        local = local_worker(
            spec,
            args,
            [next(ports) for _ in range(extra_port_count(spec))],
            cpu_bind=cpu.binds.get(name) if cpu else None,
            cpu_kv_cache_gib=cpu.kv_cache_gib if cpu else None,
        )
        args = local.args
        # The profile's own value of these wins: it may tune them for its cluster.
        own_env = {**local.default_env, **own_env}
        env.update(local.env)
        named.update(local.ports)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices(gpus)
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    return ProcessPlan(
        name=name,
        role=spec.role,
        mode=spec.mode,
        argv=[*command, *args, *FILE_DISCOVERY],
        env={**own_env, **env},
        gpus=[g.index for g in gpus],
        ports=named,
        replica=replica,
        gpu_reason=placement.reasons.get(name) if placement else cpu_reason(name, cpu),
        gpu_memory_fraction=placement.fractions.get(name) if placement else None,
    )


def _place(
    profile: Profile, specs: list[ComponentSpec], options: PlanOptions, inventory: Inventory | None
) -> tuple[Placement | None, bool]:
    """(each GPU replica's GPUs, whether vLLM runs on CPU instead for lack of any GPU).

    The mocker needs no GPU, so NVML is not even asked. vLLM with no GPU at all to choose
    from (none on the machine, or an inherited CUDA_VISIBLE_DEVICES that hides them) runs on
    CPU; TensorRT-LLM, and vLLM with too few GPUs, are refused as before.
    """
    demands = [
        Demand(f"{s.role}-{i}", s.gpus, memory_fraction(s))
        for s in specs
        if s.gpus
        for i in range(s.replicas)
    ]
    if not demands:
        if options.gpus:
            raise PlacementError(
                f"--gpus {options.gpus}: the {profile.engine} engine uses no GPUs.",
                hint="Leave --gpus out.",
            )
        return None, False
    if inventory is None:
        from launcher.gpus.inventory import read_inventory

        inventory = read_inventory()
    available, source = select_gpus(inventory, options.gpus, options.inherited_cvd)
    if not available and options.gpus is None and profile.engine == "vllm":
        return None, True
    placement = place(
        demands,
        available,
        profile=profile.name,
        source=source,
        why_empty=inventory.reason,
        share=options.share_gpus or profile.share_gpus,
    )
    return placement, False


def memory_fraction(spec: ComponentSpec) -> float:
    """The KV-cache memory fraction a worker's engine takes (TensorRT-LLM's default if unset)."""
    if is_vllm(spec):
        return memory_utilization(spec)
    config = spec.engine_config
    if config is None and spec.engine_config_path:
        config = _read_engine_config(spec.engine_config_path)
    cache = (config or {}).get("kv_cache_config")
    value = cache.get("free_gpu_memory_fraction") if isinstance(cache, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1:
        return float(value)
    return DEFAULT_MEMORY_FRACTION


def _read_engine_config(path: str) -> dict[str, Any] | None:
    """A role's own engine config file, or None where it cannot be read here (yet)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _engine_args(
    spec: ComponentSpec, name: str, fraction: float | None, run_dir: RunDir
) -> tuple[list[str], tuple[Path, dict[str, Any]] | None]:
    """A replica's worker args and the engine config file it reads, with a shared fraction.

    A replica that shares its GPU runs with its own, smaller KV-cache memory fraction: in
    its own copy of the role's engine config when trtl writes one, else through
    ``--override-engine-args`` (which TensorRT-LLM applies over the role's own file).
    """
    args = list(spec.args)
    if is_vllm(spec):
        return (args if fraction is None else with_memory_utilization(args, fraction)), None
    config = spec.engine_config
    if fraction is None:
        if config is None or not spec.engine_config_path:
            return args, None
        return args, (Path(spec.engine_config_path), config)
    setting = {"kv_cache_config": {"free_gpu_memory_fraction": fraction}}
    if config is not None:
        own = copy.deepcopy(config)
        own.setdefault("kv_cache_config", {})["free_gpu_memory_fraction"] = fraction
        path = run_dir.engine_configs / f"{name}.yaml"
        args[args.index("--extra-engine-args") + 1] = str(path)
        return args, (path, own)
    if "--override-engine-args" in args:
        at = args.index("--override-engine-args") + 1
        override = json.loads(args[at])
        override.setdefault("kv_cache_config", {}).update(setting["kv_cache_config"])
        args[at] = json.dumps(override, separators=(",", ":"))
    else:
        args += ["--override-engine-args", json.dumps(setting, separators=(",", ":"))]
    return args, None
