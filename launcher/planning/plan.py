"""The local plan: which process runs where, with which argv, env, GPUs and ports.

``build_plan`` applies the local runtime contract to the engine table's specs: every
process discovers the others through a private directory (file discovery, no etcd or
NATS), workers live in the deployment's own Dynamo namespace, everything listens on
loopback, each worker gets a free status port, and each GPU replica its own GPUs.
Each engine adds its own local settings and ports per replica (``Engine.local_worker``),
and an engine that runs without GPU does so on CPU cores of its own (``cpu_mode``).
Nothing is started here; ``trtl plan`` prints the result and ``trtl up`` runs it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trtl.launcher.deployments.paths import RunDir, check_name
from trtl.launcher.gpus.inventory import Inventory
from trtl.launcher.gpus.placement import (
    DEFAULT_MEMORY_FRACTION,
    SHARE_WARNING,
    Demand,
    Placement,
    cuda_visible_devices,
    place,
    select_gpus,
)
from trtl.launcher.planning.limits import check_graph_size
from trtl.launcher.planning.plan_types import LOOPBACK, Plan, ProcessPlan
from trtl.launcher.planning.ports import free_ports
from trtl.profiles.engines import ComponentSpec, component_specs, engine, engine_of
from trtl.profiles.engines.base import Replica
from trtl.profiles.errors import PlacementError, ProfileError
from trtl.profiles.schema import Profile

if TYPE_CHECKING:
    from trtl.launcher.planning.cpu_mode import CpuMode

# Every process finds the others through files in the deployment's private directory.
FILE_DISCOVERY = ["--discovery-backend", "file"]


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
    check_name(deployment, "--name")
    # Before any GPU, port or file work: a 1,000-replica typo is refused at once.
    check_graph_size(
        1 + sum(w.replicas for w in profile.workers.values()), profile.name, stated_only=True
    )
    run_dir = RunDir.for_deployment(deployment)
    namespace = f"trtl-{deployment}".replace("_", "-")
    specs = component_specs(profile, str(run_dir.engine_configs))
    python = os.path.expanduser(options.python or profile.python or sys.executable)
    http_port = options.http_port or profile.frontend.http_port
    http_host = _listen_address(options.http_host)
    placement, no_gpu = _place(profile, specs, options, inventory)
    cpu = _cpu_mode(profile, specs, options) if no_gpu else None
    workers = [s for s in specs if s.component == "worker"]
    port_count = sum(s.replicas * (1 + engine_of(s).extra_ports(s)) for s in workers)  # type: ignore[union-attr]
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
            proc, file = _worker(spec, python, worker_env, replica, placement, ports, cpu, run_dir)
            if file is not None:
                files[Path(file[0])] = file[1]
            processes.append(proc)
    if placement and placement.shared:
        notes.append(SHARE_WARNING)
    elif placement is None and (options.share_gpus or profile.share_gpus):
        what = (
            f"{cpu.title} runs on CPU here" if cpu else f"the {profile.engine} engine uses no GPUs"
        )
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


def _cpu_mode(profile: Profile, specs: list[ComponentSpec], options: PlanOptions) -> CpuMode:
    # Loaded only without a GPU: most plans never run an engine on CPU cores.
    from trtl.launcher.planning.cpu_mode import cpu_mode

    return cpu_mode(profile, specs, options.cpu_cores)


def _cpu_reason(name: str, cpu: CpuMode | None) -> str | None:
    if cpu is None:
        return None
    from trtl.launcher.planning.cpu_mode import cpu_reason

    return cpu_reason(name, cpu)


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
    python: str,
    base_env: dict[str, str],
    replica: int,
    placement: Placement | None,
    ports: Iterator[int],
    cpu: CpuMode | None,
    run_dir: RunDir,
) -> tuple[ProcessPlan, tuple[str, dict[str, Any]] | None]:
    """One replica's process, and the engine config file it reads (if trtl writes one)."""
    name = f"{spec.role}-{replica}"
    gpus = placement.assignments.get(name, ()) if placement else ()
    port = next(ports)
    eng = engine_of(spec)
    assert eng is not None  # workers always have an engine
    local = eng.local_worker(
        spec,
        Replica(
            name=name,
            config_dir=str(run_dir.engine_configs),
            ports=tuple(next(ports) for _ in range(eng.extra_ports(spec))),
            memory_fraction=placement.fractions.get(name) if placement else None,
            cpu_bind=cpu.binds.get(name) if cpu else None,
            cpu_kv_cache_gib=cpu.kv_cache_gib if cpu and eng.cpu_without_gpu else None,
        ),
    )
    # The profile's own value of default_env wins: it may tune them for its cluster.
    env = {**local.default_env, **spec.env, **base_env, "DYN_SYSTEM_PORT": str(port), **local.env}
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices(gpus)
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    proc = ProcessPlan(
        name=name,
        role=spec.role,
        mode=spec.mode,
        argv=[python, "-m", spec.module, *local.args, *FILE_DISCOVERY],
        env=env,
        gpus=[g.index for g in gpus],
        ports={"system": port, **local.ports},
        replica=replica,
        gpu_reason=placement.reasons.get(name) if placement else _cpu_reason(name, cpu),
        gpu_memory_fraction=placement.fractions.get(name) if placement else None,
    )
    return proc, local.file


def _place(
    profile: Profile, specs: list[ComponentSpec], options: PlanOptions, inventory: Inventory | None
) -> tuple[Placement | None, bool]:
    """(each GPU replica's GPUs, whether the engine runs on CPU for lack of any GPU).

    An engine that needs no GPU (the mocker) does not even ask NVML. An engine that runs on
    CPU (vLLM) with no GPU at all to choose from (none on the machine, or an inherited
    CUDA_VISIBLE_DEVICES that hides them) runs on CPU; others, and any with too few GPUs,
    are refused.
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
        from trtl.launcher.gpus.inventory import read_inventory

        inventory = read_inventory()
    available, source = select_gpus(inventory, options.gpus, options.inherited_cvd)
    if not available and options.gpus is None and engine(profile.engine).cpu_without_gpu:
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
    """The GPU memory fraction a worker's engine takes (trtl's default where it says none)."""
    eng = engine_of(spec)
    fraction = eng.memory_fraction(spec) if eng else None
    return DEFAULT_MEMORY_FRACTION if fraction is None else fraction
