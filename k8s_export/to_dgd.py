"""Profile → DynamoGraphDeployment (plus the engine-config ConfigMap), as plain dicts.

Each role's command and arguments come from the engine table (``profiles.engines``), the
same call the local plan makes; only the engine-config directory differs (the mounted
ConfigMap instead of the run directory). What the cluster adds is listed in
``profiles.identity.CLUSTER_ONLY``: image, working directory, resources, the HF token
Secret reference, the ConfigMap mount and the pod settings of the profile's ``k8s``
sections. The engine's registry module says what differs between engines: its DGD
``backendFramework``, the runtime image the hint names, which engine config travels in the
ConfigMap (TensorRT-LLM's file; the mocker's whole TensorRT-LLM config, mounted unread;
none where the settings are flags), and whether its workers ask for GPUs.
"""

from __future__ import annotations

from typing import Any

from trtl.profiles.engines import ComponentSpec, component_specs, engine, export_config
from trtl.profiles.errors import ExportError
from trtl.profiles.legacy import translate_env
from trtl.profiles.schema import Profile, RoleK8s

from . import configmaps, pods
from .dgd_fields import CONTAINER as CONTAINER_FIELDS
from .images import default_image
from .names import DNS_LABEL, MAX_COMPONENTS, ApiVersion, api_version, dns_label, k8s_name
from .shapes import Component, Graph, check_pass_through, to_document
from .wild_export import (
    command_args,
    component_type,
    heredoc_role,
    in_cluster,
    script_env,
    user_configmaps,
)
from .wild_gpus import nodes

TYPES = {"agg": "worker", "prefill": "prefill", "decode": "decode"}

# What import writes for a role the cluster runs another count of (k8s.launch.replicas).
IMPORTED_REPLICAS = 1


def render(
    profile: Profile,
    *,
    version: str = "v1beta1",
    image: str | None = None,
    name: str | None = None,
    namespace: str | None = None,
) -> list[dict[str, Any]]:
    """The objects to apply, in apply order: [ConfigMap,] DynamoGraphDeployment.

    ``image``/``namespace`` replace the profile's ``k8s`` values, ``name`` the DGD's name
    (default: the profile's). Raises ExportError (or ProfileError from the engine table).
    """
    from .residual import annotate
    from .secrets import refuse_document_secrets
    from .validate import check_structure

    if name is not None and not name.strip():
        raise ExportError("--name is empty; give the deployment a name, or leave --name out.")
    profile = with_cli_settings(profile, image=image, namespace=namespace)
    docs = documents(profile, api_version(version), name=name)
    refuse_document_secrets(docs)  # before the annotation, to name the field that holds it
    annotate(docs, profile)
    refuse_document_secrets(docs)  # and what the annotation carries
    check_structure(docs)
    return docs


def with_cli_settings(profile: Profile, *, image: str | None, namespace: str | None) -> Profile:
    """The profile with --image/--namespace applied, as import will read it back."""
    updates = {k: v for k, v in (("image", image), ("namespace", namespace)) if v}
    if not updates:
        return profile
    return profile.model_copy(update={"k8s": profile.k8s.model_copy(update=updates)})


def render_notes(profile: Profile) -> list[str]:
    """The engine table's notes for this profile (what the mocker leaves out, ...)."""
    return [n for s in component_specs(profile, configmaps.MOUNT_DIR) for n in s.notes]


def documents(profile: Profile, version: ApiVersion, name: str | None = None) -> list[dict]:
    """The export without trtl's annotation and without the structural check."""
    from .secrets import refuse_profile_secrets

    refuse_profile_secrets(profile)
    _check_settings(profile)
    deployment = dns_label(name or profile.name, "deployment name")
    specs = component_specs(profile, configmaps.MOUNT_DIR)
    specs = [s for s in specs if in_cluster(profile, s)]
    configs = _engine_configs(profile, specs)
    cm_name = configmaps.configmap_name(deployment)
    graph_env, _ = translate_env(profile.env, "env")
    graph = Graph(
        name=deployment,
        namespace=profile.k8s.namespace,
        metadata=dict(profile.k8s.metadata or {}),
        backend=engine(profile.engine).framework,
        env=[*_env_list(graph_env), *(profile.k8s.env_refs or [])],
        labels=dict(profile.k8s.labels or {}),
        annotations=dict(profile.k8s.annotations or {}),
        extra=dict(profile.k8s.spec or {}),
        components=[
            _component(profile, spec, graph_env, cm_name if spec.role in configs else None)
            for spec in specs
        ],
    )
    _check_names(profile, graph, specs)
    places = {_component_name(profile, s): _place(s) for s in specs}
    wrong = check_pass_through(graph, version, places)
    if wrong:
        raise ExportError(
            f"{wrong[0]} is not a field of {version.api_version} that trtl can pass through.",
            hint="It may belong to the other API version: try --api-version, or remove it.",
        )
    docs = [configmaps.configmap(cm_name, graph.namespace, configs)] if configs else []
    return [*docs, *user_configmaps(profile, specs), to_document(graph, version)]


def _component_name(profile: Profile, spec: ComponentSpec) -> str:
    """The role's carried DGD name (kept by import, so Services keep theirs), else trtl's."""
    own = _own(profile, spec)
    if own.component_name:
        return own.component_name
    return "frontend" if spec.component == "frontend" else k8s_name(spec.role)


def _replicas(own: RoleK8s, spec: ComponentSpec) -> int:
    """The local replicas, unless import kept the cluster's own (0, or a frontend's) and
    the role still runs the one replica import wrote: a count set since (``--set
    workers.R.replicas=3``) is the one to export."""
    kept = own.launch.replicas if own.launch else None
    return kept if kept is not None and spec.replicas == IMPORTED_REPLICAS else spec.replicas


def _own(profile: Profile, spec: ComponentSpec) -> RoleK8s:
    return profile.frontend.k8s if spec.component == "frontend" else profile.workers[spec.role].k8s


def _check_settings(profile: Profile) -> None:
    """Settings the schema lets through but no cluster takes."""
    namespace = profile.k8s.namespace
    if namespace is not None and not DNS_LABEL.fullmatch(namespace):
        raise ExportError(
            f"Namespace {namespace!r} is not a Kubernetes namespace name: use up to 63 "
            "lowercase letters, digits and '-', starting and ending with a letter or digit."
        )


def _place(spec: ComponentSpec) -> str:
    return "frontend" if spec.component == "frontend" else f"workers.{spec.role}"


def _engine_configs(profile: Profile, specs: list[ComponentSpec]) -> dict[str, dict]:
    configs: dict[str, dict] = {}
    for spec in specs:
        if spec.component != "worker" or heredoc_role(profile, spec.role):
            continue
        config = export_config(profile, spec.role, configmaps.MOUNT_DIR)
        if config is not None:
            configs[spec.role] = config
    return configs


def _component(
    profile: Profile, spec: ComponentSpec, graph_env: dict[str, str], cm_name: str | None
) -> Component:
    own = _own(profile, spec)
    where = _place(spec) + ".k8s"
    eff = pods.effective(profile.k8s, own)
    container = _container(profile, spec, own, eff, graph_env, cm_name)
    pods.pass_through(
        container,
        eff["container"],
        pods.CONTAINER_OWNED,
        f"{where}.container",
        CONTAINER_FIELDS,
    )
    volumes = [configmaps.volume(cm_name, spec.role)] if cm_name else []
    return Component(
        name=_component_name(profile, spec),
        type=component_type(profile, spec, TYPES[spec.mode or "agg"]),
        replicas=_replicas(own, spec),
        container=container,
        pod=pods.pod(eff, volumes, where),
        labels=dict(own.labels or {}),
        annotations=dict(own.annotations or {}),
        shared_memory=eff["shared_memory"],
        extra=dict(eff["component"] or {}),
    )


def _container(
    profile: Profile,
    spec: ComponentSpec,
    own: RoleK8s,
    eff: dict[str, Any],
    graph_env: dict[str, str],
    cm_name: str | None,
) -> dict[str, Any]:
    """The main container: the engine table's command, plus what only the cluster adds."""
    if not eff["image"]:
        raise ExportError(
            "No container image to export: set k8s.image in the profile or pass --image.",
            hint=f"e.g. --image {default_image(profile.engine)}",
        )
    frontend = spec.component == "frontend"
    container: dict[str, Any] = {"image": eff["image"]}
    if eff["working_dir"]:
        container["workingDir"] = eff["working_dir"]
    command, args = command_args(spec, own.launch)
    container.update({k: v for k, v in (("command", command), ("args", args)) if v})
    skip = script_env(own.launch)
    own_env = {k: v for k, v in spec.env.items() if graph_env.get(k) != v and k not in skip}
    env = [*_env_list(own_env), *(own.env_refs or [])]
    if env:
        container["env"] = env
    secret = profile.k8s.hf_token_secret
    if secret and not frontend:
        container["envFrom"] = [{"secretRef": {"name": secret}}]
    graph_resources = profile.k8s.frontend_resources if frontend else profile.k8s.worker_resources
    # A multinode replica spreads its GPUs over nodeCount pods: the limit is per pod.
    per_pod = spec.gpus // nodes(eff["component"] or {})
    if own.launch and own.launch.no_gpu_limit:  # the cluster gave it none (import kept that)
        per_pod = 0
    res = pods.resources(own.resources or graph_resources, per_pod)
    if res:
        container["resources"] = res
    mounts = [*(eff["volume_mounts"] or []), *([configmaps.mount()] if cm_name else [])]
    if mounts:
        container["volumeMounts"] = mounts
    container.update(pods.probes(eff["probes"], pods.PROBE_PORTS[spec.component]))
    return container


def _env_list(env: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in env.items()]


def _check_names(profile: Profile, graph: Graph, specs: list[ComponentSpec]) -> None:
    seen: dict[str, str] = {}
    for component, spec in zip(graph.components, specs, strict=True):
        key = component.name.lower()  # the operator names Services in lower case
        if key in seen:
            raise ExportError(
                f"Roles {seen[key]!r} and {spec.role!r} both become the Kubernetes "
                f"name {component.name!r}; rename one of them."
            )
        seen[key] = spec.role
        if not _own(profile, spec).component_name:  # a carried name was checked by the schema
            dns_label(component.name, f"role {spec.role}")
        service = f"{graph.name}-{component.name.lower()}"
        if len(service) > 63:
            raise ExportError(
                f"The Service name {service!r} would be longer than 63 characters.",
                hint="Pass a shorter --name, or shorten the role name.",
            )
    if len(graph.components) > MAX_COMPONENTS:
        raise ExportError(
            f"The graph has {len(graph.components)} components; a DynamoGraphDeployment "
            f"holds at most {MAX_COMPONENTS}."
        )
