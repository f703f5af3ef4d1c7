"""The two DynamoGraphDeployment API versions as one neutral shape, both ways.

``Graph`` and ``Component`` hold a deployment the way Kubernetes runs it: a main container
(Kubernetes ``Container`` fields), the rest of the pod spec, pod labels and annotations,
and what is left of the component. ``to_document`` writes them as ``nvidia.com/v1beta1``
(``spec.components[]`` with a ``podTemplate``) or ``nvidia.com/v1alpha1`` (``spec.services``
with ``componentType``, ``envs``, ``envFromSecret``, ``resources.limits.gpu``,
``extraPodMetadata`` and ``extraPodSpec.mainContainer``); ``from_document`` reads either
back. Fields this module does not map travel in ``extra`` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trtl.profiles.errors import ProfileError

from .names import KIND, ApiVersion, api_version

GPU = "nvidia.com/gpu"
MAIN = "main"

# Component fields each version has beyond those this module maps (they pass through).
PASS_THROUGH = {
    "v1beta1": {
        "compilationCache", "eppConfig", "experimental", "frontendSidecar", "globalDynamoNamespace",
        "minAvailable", "modelRef", "multinode", "providerOverride", "runtimeVersionOverride",
        "scalingAdapter", "topologyConstraint",
    },
    "v1alpha1": {
        "annotations", "autoscaling", "checkpoint", "dynamoNamespace", "eppConfig", "failover",
        "frontendSidecar", "globalDynamoNamespace", "gpuMemoryService", "ingress", "labels",
        "minAvailable", "modelRef", "multinode", "providerOverride", "runtimeVersionOverride",
        "scalingAdapter", "serviceName", "topologyConstraint", "volumeMounts",
    },
}  # fmt: skip
SPEC_PASS_THROUGH = {
    "v1beta1": {"experimental", "priorityClassName", "providerOverride", "restart",
                "topologyConstraint"},
    "v1alpha1": {"experimental", "priorityClassName", "providerOverride", "pvcs", "restart",
                 "topologyConstraint"},
}  # fmt: skip


@dataclass
class Component:
    """One component of the graph, independent of the API version."""

    name: str
    type: str | None  # frontend | worker | prefill | decode | planner | epp
    replicas: int | None = None
    container: dict[str, Any] = field(default_factory=dict)  # the main container
    pod: dict[str, Any] = field(default_factory=dict)  # pod spec; sidecars under "containers"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    shared_memory: str | None = None  # "0": no /dev/shm volume
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """A DynamoGraphDeployment, independent of the API version."""

    name: str
    namespace: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # labels, annotations of the DGD
    backend: str | None = None
    env: list[dict[str, Any]] = field(default_factory=list)  # graph-wide EnvVars
    labels: dict[str, str] = field(default_factory=dict)  # propagated to every child resource
    annotations: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # spec fields passed through
    components: list[Component] = field(default_factory=list)


def to_document(graph: Graph, version: ApiVersion) -> dict[str, Any]:
    """The DGD object of ``graph`` in ``version``."""
    metadata: dict[str, Any] = {"name": graph.name}
    if graph.namespace:
        metadata["namespace"] = graph.namespace
    metadata.update(graph.metadata)
    spec: dict[str, Any] = {}
    if graph.backend:
        spec["backendFramework"] = graph.backend
    if graph.labels:
        spec["labels"] = dict(graph.labels)
    if graph.annotations:
        spec["annotations"] = dict(graph.annotations)
    if graph.env:
        spec["env" if version.version == "v1beta1" else "envs"] = list(graph.env)
    spec.update(graph.extra)
    if version.version == "v1beta1":
        spec["components"] = [_v1beta1(c) for c in graph.components]
    else:
        spec["services"] = {c.name: _v1alpha1(c) for c in graph.components}
    return {"apiVersion": version.api_version, "kind": KIND, "metadata": metadata, "spec": spec}


def _v1beta1(c: Component) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name}
    if c.type:
        out["type"] = c.type
    if c.replicas is not None:
        out["replicas"] = c.replicas
    if c.shared_memory is not None:
        out["sharedMemorySize"] = c.shared_memory
    out.update(c.extra)
    template: dict[str, Any] = {}
    meta = {k: v for k, v in (("labels", c.labels), ("annotations", c.annotations)) if v}
    if meta:
        template["metadata"] = meta
    pod = dict(c.pod)
    sidecars = pod.pop("containers", [])
    template["spec"] = {"containers": [{"name": MAIN, **c.container}, *sidecars], **pod}
    out["podTemplate"] = template
    return out


def _v1alpha1(c: Component) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if c.type in ("prefill", "decode"):
        out.update(componentType="worker", subComponentType=c.type)
    elif c.type:
        out["componentType"] = c.type
    if c.replicas is not None:
        out["replicas"] = c.replicas
    container = dict(c.container)
    env_from = list(container.pop("envFrom", []))
    secret = next((e for e in env_from if _plain_secret(e)), None)
    if secret is not None:
        out["envFromSecret"] = secret["secretRef"]["name"]
        env_from.remove(secret)
    if env_from:
        container["envFrom"] = env_from
    if "env" in container:
        out["envs"] = container.pop("env")
    if "resources" in container:
        out["resources"] = _alpha_resources(container.pop("resources"))
    for probe in ("livenessProbe", "readinessProbe"):
        if probe in container:
            out[probe] = container.pop(probe)
    if c.shared_memory is not None:
        zero = c.shared_memory in ("0", 0)
        out["sharedMemory"] = {"disabled": True} if zero else {"size": c.shared_memory}
    meta = {k: dict(v) for k, v in (("labels", c.labels), ("annotations", c.annotations)) if v}
    if meta:
        out["extraPodMetadata"] = meta
    out.update(c.extra)
    out["extraPodSpec"] = {**c.pod, "mainContainer": container}
    return out


def _plain_secret(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and set(entry) == {"secretRef"}
        and isinstance(entry["secretRef"], dict)
        and set(entry["secretRef"]) == {"name"}
    )


def _alpha_resources(resources: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in ("requests", "limits"):
        values = dict(resources.get(part) or {})
        if not values:
            continue
        alpha: dict[str, Any] = {}
        for key in ("cpu", "memory"):
            if key in values:
                alpha[key] = str(values.pop(key))
        if GPU in values:
            alpha["gpu"] = str(values.pop(GPU))
        if values:
            alpha["custom"] = {k: str(v) for k, v in values.items()}
        out[part] = alpha
    return out


def _k8s_resources(alpha: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in ("requests", "limits"):
        values = dict(alpha.get(part) or {})
        if not values:
            continue
        k8s: dict[str, Any] = {}
        for key in ("cpu", "memory"):
            if key in values:
                k8s[key] = values.pop(key)
        gpu_type = values.pop("gpuType", None)
        if "gpu" in values:
            k8s[gpu_type or GPU] = values.pop("gpu")
        k8s.update(values.pop("custom", None) or {})
        k8s.update(values)
        out[part] = k8s
    return out


def from_document(doc: dict[str, Any], label: str) -> tuple[Graph, ApiVersion]:
    """Read a DGD object of either version; raises ProfileError for what is not one."""
    if doc.get("apiVersion") is None:
        raise ProfileError(
            f"{label}: the DynamoGraphDeployment has no apiVersion.",
            hint="Add `apiVersion: nvidia.com/v1beta1` (spec.components) or "
            "`apiVersion: nvidia.com/v1alpha1` (spec.services).",
        )
    try:
        version = api_version(str(doc.get("apiVersion", "")))
    except Exception as exc:
        raise ProfileError(
            f"{label}: unknown DynamoGraphDeployment API version {doc.get('apiVersion')!r}; "
            "trtl reads nvidia.com/v1beta1 and nvidia.com/v1alpha1."
        ) from exc
    metadata = dict(doc.get("metadata") or {})
    spec = dict(doc.get("spec") or {})
    if not isinstance(spec, dict):
        raise ProfileError(f"{label}: spec must be a mapping.")
    graph = Graph(
        name=str(metadata.pop("name", "") or "imported"),
        namespace=metadata.pop("namespace", None),
        metadata=metadata,
        backend=spec.pop("backendFramework", None),
        env=list(spec.pop("env" if version.version == "v1beta1" else "envs", None) or []),
        labels=dict(spec.pop("labels", None) or {}),
        annotations=dict(spec.pop("annotations", None) or {}),
    )
    if version.version == "v1beta1":
        items = spec.pop("components", None) or []
        graph.components = [_from_v1beta1(item, label) for item in _listed(items, label)]
    else:
        services = spec.pop("services", None) or {}
        if not isinstance(services, dict):
            raise ProfileError(f"{label}: spec.services must be a mapping of service names.")
        graph.components = [_from_v1alpha1(k, v or {}, label) for k, v in services.items()]
    graph.extra = spec
    return graph, version


def _listed(items: Any, label: str) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ProfileError(f"{label}: spec.components must be a list of components.")
    return items


def _from_v1beta1(item: dict[str, Any], label: str) -> Component:
    item = dict(item)
    name = str(item.pop("name", "") or "")
    template = dict(item.pop("podTemplate", None) or {})
    meta = dict(template.get("metadata") or {})
    pod = dict(template.get("spec") or {})
    containers = list(pod.pop("containers", None) or [])
    main = next((c for c in containers if c.get("name") == MAIN), None)
    if main is None and len(containers) == 1:
        main = containers[0]
    if containers and main is None:
        raise ProfileError(
            f"{label}: component {name!r} has {len(containers)} containers and none named "
            "'main'; trtl reads the command of the container named main."
        )
    sidecars = [c for c in containers if c is not main]
    if sidecars:
        pod["containers"] = sidecars
    container = {k: v for k, v in (main or {}).items() if k != "name"}
    return Component(
        name=name,
        type=item.pop("type", None),
        replicas=item.pop("replicas", None),
        container=container,
        pod=pod,
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        shared_memory=_quantity(item.pop("sharedMemorySize", None)),
        extra=item,
    )


def _from_v1alpha1(name: str, service: dict[str, Any], label: str) -> Component:
    if not isinstance(service, dict):
        raise ProfileError(f"{label}: spec.services.{name} must be a mapping.")
    svc = dict(service)
    kind = svc.pop("componentType", None)
    sub = svc.pop("subComponentType", None)
    pod = dict(svc.pop("extraPodSpec", None) or {})
    container = dict(pod.pop("mainContainer", None) or {})
    container.pop("name", None)
    if "envs" in svc:
        container["env"] = [*(svc.pop("envs") or []), *container.get("env", [])]
    secret = svc.pop("envFromSecret", None)
    if secret:
        container["envFrom"] = [{"secretRef": {"name": secret}}, *container.get("envFrom", [])]
    if "resources" in svc:
        container["resources"] = _k8s_resources(svc.pop("resources") or {})
    for probe in ("livenessProbe", "readinessProbe"):
        if probe in svc:
            container[probe] = svc.pop(probe)
    meta = dict(svc.pop("extraPodMetadata", None) or {})
    shm = svc.pop("sharedMemory", None) or {}
    shared = "0" if shm.get("disabled") else _quantity(shm.get("size"))
    return Component(
        name=name,
        type=sub if kind == "worker" and sub in ("prefill", "decode") else kind,
        replicas=svc.pop("replicas", None),
        container=container,
        pod=pod,
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        shared_memory=shared,
        extra=svc,
    )


def _quantity(value: Any) -> str | None:
    return None if value is None else str(value)


def check_pass_through(graph: Graph, version: ApiVersion, where: dict[str, str]) -> list[str]:
    """Pass-through fields ``version`` lacks, as ``place.k8s.component.field`` strings."""
    wrong = [
        f"{where.get(c.name, c.name)}.k8s.component.{key}"
        for c in graph.components
        for key in c.extra
        if key not in PASS_THROUGH[version.version]
    ]
    wrong += [
        f"k8s.spec.{key}" for key in graph.extra if key not in SPEC_PASS_THROUGH[version.version]
    ]
    return wrong
