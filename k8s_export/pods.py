"""Pod settings both ways: a profile's ``k8s`` sections ↔ a component's container and pod.

Graph-wide settings (``k8s``) apply to every component and a role's own ``k8s`` replaces
them field by field. On import the reverse happens: a value every component shares becomes
graph-wide, the others stay with their role. Fields trtl does not model stay in the
``pod``, ``container`` and ``component`` pass-through mappings, so nothing a cluster needed
is lost on the way through trtl.
"""

from __future__ import annotations

from typing import Any

from trtl.profiles.errors import ExportError
from trtl.profiles.schema import K8sSettings, PodSettings, Probe, Probes, ResourceSpec

from .dgd_fields import POD as POD_FIELDS
from .shapes import GPU

# Settings that a role inherits from the graph-wide k8s section unless it sets its own.
FACTORED = (
    "image", "working_dir", "node_selector", "tolerations", "shared_memory", "volumes",
    "volume_mounts", "image_pull_secrets", "probes", "pod", "container", "component",
)  # fmt: skip
# Container and pod fields trtl decides; a pass-through mapping may not set them.
CONTAINER_OWNED = {
    "name", "image", "workingDir", "command", "args", "env", "resources", "volumeMounts",
    "livenessProbe", "readinessProbe", "startupProbe",
}  # fmt: skip
POD_OWNED = {"nodeSelector", "tolerations", "volumes", "imagePullSecrets"}
MIG_PREFIX = "nvidia.com/mig-"  # a MIG slice, e.g. nvidia.com/mig-1g.18gb
PROBE_PATHS = {"liveness": "/live", "readiness": "/health", "startup": "/live"}
# The ports the operator gives Dynamo: the frontend's HTTP port, a worker's status port.
PROBE_PORTS = {"frontend": 8000, "worker": 9090}
TIMINGS = {
    "initial_delay_seconds": "initialDelaySeconds",
    "period_seconds": "periodSeconds",
    "timeout_seconds": "timeoutSeconds",
    "failure_threshold": "failureThreshold",
    "success_threshold": "successThreshold",
}


def effective(graph: K8sSettings, own: PodSettings) -> dict[str, Any]:
    """The factored settings of one role: its own where set, else the graph-wide ones."""
    return {
        f: getattr(own, f) if getattr(own, f) is not None else getattr(graph, f) for f in FACTORED
    }


def resources(spec: ResourceSpec | None, gpus: int) -> dict[str, Any]:
    """Kubernetes ``resources``: CPU/memory from the profile, GPUs = GPUs per replica."""
    out: dict[str, Any] = {}
    for part in ("requests", "limits"):
        r = getattr(spec, part) if spec else None
        values: dict[str, Any] = {}
        if r is not None:
            values.update({k: v for k, v in (("cpu", r.cpu), ("memory", r.memory)) if v})
            values.update(r.other)
        if part == "limits" and gpus and gpu_resource(values) is None:
            values[GPU] = str(gpus)
        if values:
            out[part] = values
    return out


def gpu_resource(values: dict[str, Any]) -> str | None:
    """The GPU resource ``values`` name (``nvidia.com/gpu`` or a MIG slice), if any.

    Named in a role's resources, it replaces the whole GPUs the role's ``gpus`` would ask for.
    """
    return next((k for k in values if k == GPU or k.startswith(MIG_PREFIX)), None)


def read_resources(res: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """(ResourceSpec data, GPUs per replica) from Kubernetes ``resources``.

    Whole GPUs become the count; ``nvidia.com/gpu: 0`` (no GPU) stays a resource of its
    own, as MIG slices do, so the export writes it as it was.
    """
    spec: dict[str, Any] = {}
    gpus = None
    for part in ("requests", "limits"):
        values = dict(res.get(part) or {})
        gpu = values.get(GPU)
        if gpu is not None and int(str(gpu)) > 0:
            del values[GPU]
            if part == "limits" or gpus is None:
                gpus = int(str(gpu))
        if values:
            part_data: dict[str, Any] = {
                k: str(values.pop(k)) for k in ("cpu", "memory") if k in values
            }
            if values:
                part_data["other"] = {k: str(v) for k, v in values.items()}
            spec[part] = part_data
    return spec, gpus


def probes(settings: Probes | None, port: int) -> dict[str, Any]:
    """Container probes on Dynamo's own endpoints with the profile's timings."""
    out: dict[str, Any] = {}
    for kind in ("liveness", "readiness", "startup"):
        probe: Probe | None = getattr(settings, kind) if settings else None
        if probe is None:
            continue
        body: dict[str, Any] = {
            "httpGet": {"path": probe.path or PROBE_PATHS[kind], "port": probe.port or port}
        }
        for field, key in TIMINGS.items():
            if getattr(probe, field) is not None:
                body[key] = getattr(probe, field)
        out[f"{kind}Probe"] = body
    return out


def read_probes(container: dict[str, Any], port: int) -> dict[str, Any] | None:
    """Take the HTTP probes trtl models out of ``container``; others stay there."""
    found: dict[str, Any] = {}
    for kind in ("liveness", "readiness", "startup"):
        body = container.get(f"{kind}Probe")
        http = body.get("httpGet") if isinstance(body, dict) else None
        if not isinstance(http, dict) or set(body) - {"httpGet", *TIMINGS.values()}:
            continue
        if set(http) - {"path", "port"}:
            continue
        probe = {f: body[k] for f, k in TIMINGS.items() if k in body}
        if http.get("path") != PROBE_PATHS[kind]:
            probe["path"] = http.get("path")
        if http.get("port") != port:
            probe["port"] = http.get("port")
        found[kind] = probe
        del container[f"{kind}Probe"]
    return found or None


def pass_through(
    target: dict[str, Any], extra: dict[str, Any] | None, owned: set, where: str, known: set[str]
):
    """Add pass-through fields to ``target``; raises ExportError for a field trtl decides,
    or one Kubernetes lacks (``known``: the fields of that object)."""
    from .dgd_fields import did_you_mean

    what = "a Kubernetes container" if "containers" not in known else "a pod spec"
    for key, value in (extra or {}).items():
        if key not in known:
            raise ExportError(
                f"{where}.{key} is not a field of {what}{did_you_mean(key, known)}.",
                hint="Remove it or fix its spelling: the cluster would refuse it.",
            )
        if key in owned:
            raise ExportError(
                f"{where}.{key} is decided by trtl; set it through the profile instead.",
                hint="See `trtl export --explain` and the k8s fields in `trtl schema`.",
            )
        if key in ("envFrom", "containers") and key in target:
            target[key] = [*target[key], *value]
        else:
            target[key] = value


def pod(eff: dict[str, Any], volumes: list[dict[str, Any]], where: str) -> dict[str, Any]:
    """The pod spec fields of one component (besides its main container)."""
    out: dict[str, Any] = {}
    if eff["node_selector"]:
        out["nodeSelector"] = dict(eff["node_selector"])
    if eff["tolerations"]:
        out["tolerations"] = list(eff["tolerations"])
    all_volumes = [*(eff["volumes"] or []), *volumes]
    if all_volumes:
        out["volumes"] = all_volumes
    if eff["image_pull_secrets"]:
        out["imagePullSecrets"] = [{"name": name} for name in eff["image_pull_secrets"]]
    pass_through(out, eff["pod"], POD_OWNED, f"{where}.pod", POD_FIELDS)
    return out


def read_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """Settings from a pod spec; what trtl does not model stays under ``pod``."""
    pod = dict(pod)
    settings: dict[str, Any] = {
        "node_selector": pod.pop("nodeSelector", None),
        "tolerations": pod.pop("tolerations", None),
        "volumes": pod.pop("volumes", None) or None,
    }
    secrets = pod.get("imagePullSecrets")
    if isinstance(secrets, list) and all(
        isinstance(s, dict) and set(s) == {"name"} for s in secrets
    ):
        settings["image_pull_secrets"] = [s["name"] for s in pod.pop("imagePullSecrets")]
    settings["pod"] = pod or None
    return settings


def factor(per_role: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Split per-role settings into graph-wide values (shared by all) and role overrides."""
    graph: dict[str, Any] = {}
    roles: dict[str, dict[str, Any]] = {role: {} for role in per_role}
    for name in FACTORED:
        values = [settings.get(name) for settings in per_role.values()]
        if all(value == values[0] for value in values):
            graph[name] = values[0]
            continue
        graph[name] = None
        for role, settings in per_role.items():
            if settings.get(name) is not None:
                roles[role][name] = settings[name]
    return graph, roles
