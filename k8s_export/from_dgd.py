"""DynamoGraphDeployment (+ ConfigMaps) → Profile: ``trtl import`` and DGD files for plan/up.

Reads either API version. The graph says almost everything a profile holds; what it
cannot say (the profile's own name, description, local-only settings) trtl's exports
carry in the ``trtl.dev/profile`` annotation (see ``residual``). Anything a user must know
(a setting left out) is appended to ``notes``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from trtl.profiles.engines import FRONTEND_MODULE, LOCAL_ONLY_ENV, engine
from trtl.profiles.engines.frontend import read_frontend
from trtl.profiles.errors import ProfileError
from trtl.profiles.loader import validate
from trtl.profiles.schema import COMPONENT_NAME_PATTERN, Profile
from trtl.profiles.yaml_source import Sourced

from . import configmaps, pods, wild_gpus
from .commands import Command, int_flag
from .drift import settle
from .names import ANNOTATION_PREFIX, KIND, k8s_name, profile_name, role_name
from .roles import WorkerRead, read_worker
from .shapes import Component, Graph, from_document
from .wild import LaunchRead, read_launch
from .wild_export import settle_layout
from .wild_roles import (
    adopt_configmap,
    adopt_heredoc,
    carried_configmaps,
    frontend_less,
    launch_record,
)

WORKER_TYPES = {None, "worker", "prefill", "decode"}
SERVER_SET = {
    "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
    "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences",
}  # fmt: skip
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def parse(
    docs: list[dict[str, Any]], *, label: str = "<input>", notes: list | None = None
) -> Profile:
    """The profile a DGD (with its ConfigMaps) describes. Raises ProfileError."""
    from .dgd_fields import check_fields
    from .dgd_types import check_types
    from .residual import ANNOTATION, apply_residual
    from .secrets import scrub

    notes = [] if notes is None else notes
    check_types(docs, label)
    dgd, configs = _split(docs, label)
    dgd = copy.deepcopy(dgd)  # the caller's documents stay as they are (export reads them)
    scrub(dgd, "", notes)
    graph, _ = from_document(dgd, label)
    check_fields(dgd, label)
    residual = (graph.metadata.get("annotations") or {}).get(ANNOTATION)
    data = graph_data(graph, configs, label, notes)
    if residual:
        try:
            return _validate(apply_residual(data, residual), label)
        except (ProfileError, ValueError, TypeError, AttributeError, RecursionError):
            # RecursionError: JSON nested thousands deep, which json.loads reads recursively.
            notes.append(f"ignored the {ANNOTATION} annotation: it no longer fits the graph.")
    return _validate(data, label)


def _validate(data: dict[str, Any], label: str) -> Profile:
    try:
        return validate(Sourced(data))
    except ProfileError as exc:
        raise ProfileError(f"{label}: the imported profile is invalid: {exc.message}") from exc


def _split(docs: list[dict[str, Any]], label: str) -> tuple[dict, dict[str, dict]]:
    graphs = [d for d in docs if d.get("kind") == KIND]
    if not graphs:
        kinds = ", ".join(sorted({str(d.get("kind", "no kind")) for d in docs})) or "nothing"
        raise ProfileError(
            f"{label} is not a DynamoGraphDeployment (it holds {kinds}).",
            hint="Give a file with `kind: DynamoGraphDeployment`, e.g. from `trtl export --k8s`.",
        )
    if len(graphs) > 1:
        raise ProfileError(
            f"{label} holds {len(graphs)} DynamoGraphDeployments; trtl reads one per file.",
            hint="Split the file: one DynamoGraphDeployment (with its ConfigMaps) per file.",
        )
    configs = {
        str((d.get("metadata") or {}).get("name")): d for d in docs if d.get("kind") == "ConfigMap"
    }
    return graphs[0], configs


def graph_data(graph: Graph, configs: dict, label: str, notes: list[str]) -> dict[str, Any]:
    """Profile data (not yet validated) from the graph alone."""
    frontend_c, worker_cs = _classify(graph, label, notes)
    for c in graph.components:
        # The Dynamo namespace is trtl's locally and the operator's in the cluster.
        if c.extra.pop("dynamoNamespace", None) is not None:
            notes.append(f"component {c.name}: left out dynamoNamespace (the operator sets it).")
    # trtl's own ConfigMap is recreated on export; a user's one stays theirs.
    own = {n: d for n, d in configs.items() if configmaps.is_trtls(d)}
    user = {n: d for n, d in configs.items() if n not in own}
    originals: dict[str, list[str]] = {}
    heredocs: dict[str, dict] = {}
    fe_read = _launch(frontend_c, graph, label) if frontend_c.name else None
    frontend, settings = _frontend(frontend_c, fe_read, label, notes)
    settings["launch"] = launch_record(fe_read, frontend_c, None)
    if frontend_c.name:
        originals["frontend"] = fe_read.args if fe_read else []
        if fe_read is None:  # the operator's default command: written back as none
            settings["launch"] = {**(settings["launch"] or {}), "no_command": True}
    per_role: dict[str, dict[str, Any]] = {"frontend": settings}
    reads: dict[str, WorkerRead] = {}
    for c in worker_cs:
        launch = _launch(c, graph, label)
        if launch is None:
            raise ProfileError(
                f"{label}: component {c.name!r} sets no command or args, so trtl cannot tell "
                "which engine it runs.",
                hint="Give it `command: [python3, -m, dynamo.<engine>]` and its args.",
            )
        name = _unique(role_name(c.name), reads)
        cmd = Command(launch.module, launch.args)
        reads[name] = read_worker(c, cmd, own, frontend["router_mode"], label, notes)
        per_role[name], env = _settings(c, "worker", f"workers.{name}", notes)
        reads[name].role["env"] = {**env, **launch.env}
        config = adopt_heredoc(reads[name], launch.launch, c.container, label)
        if config is None:
            config = adopt_configmap(reads[name], launch.launch, c, user, label)
        if config is not None:
            heredocs[name] = config
        per_role[name]["launch"] = launch_record(launch, c, reads[name].role["mode"])
        per_role[name]["component_name"] = _carried(c.name, k8s_name(name))
        originals[name] = launch.args
        derived = wild_gpus.from_flags(launch.module, launch.args, reads[name].role)
        limit = per_role[name]["gpus"]
        per_role[name]["gpus"] = wild_gpus.replica_gpus(
            limit, wild_gpus.nodes(c.extra), derived, c.name, notes
        )
        if wild_gpus.no_gpu_limit(c.name, per_role[name], limit, reads[name], notes):
            per_role[name]["launch"] = {**(per_role[name]["launch"] or {}), "no_gpu_limit": True}
    settings["component_name"] = _carried(frontend_c.name, "frontend")
    if frontend_c.replicas not in (None, 1):
        notes.append(
            f"component {frontend_c.name}: replicas {frontend_c.replicas}; trtl runs one "
            f"frontend locally, and the export writes {frontend_c.replicas} again."
        )
    if fe_read is None and not frontend_c.name:
        settings["launch"] = {"in_cluster": False}
    data = _graph_fields(graph, reads, label, notes)
    data["frontend"] = frontend
    data["workers"] = {name: read.role for name, read in reads.items()}
    data["k8s"] = _k8s(graph, per_role, data, notes, synthetic=not frontend_c.name)
    dropped = SERVER_SET | {LAST_APPLIED}
    data["k8s"]["config_maps"] = carried_configmaps(user, per_role, dropped, graph.namespace, notes)
    return settle_layout(settle(data, originals, heredocs))


def _launch(c: Component, graph: Graph, label: str) -> LaunchRead | None:
    return read_launch(c.container, graph.env, graph.backend, (c.name, c.type), label)


def _carried(original: str, invented: str) -> str | None:
    """The component's own name when the export would invent another: Services keep theirs."""
    if original == invented or not re.match(COMPONENT_NAME_PATTERN, original):
        return None
    return original


def _unique(name: str, taken: dict[str, Any]) -> str:
    candidate, n = name, 2
    while candidate in taken or candidate == "frontend":
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _classify(graph: Graph, label: str, notes: list[str]) -> tuple[Component, list[Component]]:
    frontends, workers = [], []
    for c in graph.components:
        if c.type == "frontend" or (c.type is None and c.name.lower() == "frontend"):
            frontends.append(c)
        elif c.type in WORKER_TYPES:
            workers.append(c)
        else:
            notes.append(f"left out component {c.name} of type {c.type}: trtl does not run it.")
    if len(frontends) > 1:
        raise ProfileError(
            f"{label}: the DynamoGraphDeployment {graph.name!r} has {len(frontends)} "
            "frontends; trtl runs exactly one (type frontend) to serve the model."
        )
    if not workers:
        what = "components" if not graph.components else "worker components"
        raise ProfileError(
            f"{label}: the DynamoGraphDeployment {graph.name!r} has no {what}, so nothing "
            "would serve the model.",
            hint="Give it worker components (type worker, or prefill and decode).",
        )
    if not frontends:
        frontends.append(frontend_less(notes))
    return frontends[0], workers


def _frontend(
    c: Component, cmd: LaunchRead | None, label: str, notes: list[str]
) -> tuple[dict, dict]:
    if cmd is not None and cmd.module != FRONTEND_MODULE:
        raise ProfileError(
            f"{label}: frontend component {c.name!r} runs `python -m {cmd.module}` instead "
            f"of {FRONTEND_MODULE}."
        )
    values, rest = read_frontend(cmd.args if cmd else [])
    settings, env = _settings(c, "frontend", "frontend", notes)
    env.update(cmd.env if cmd else {})
    # DYN_ROUTER_MODE stays in env: the export keeps it as written (drift omits the flag).
    router = values.get("--router-mode") or env.get("DYN_ROUTER_MODE") or "round-robin"
    frontend = {
        "router_mode": router,
        "migration_limit": int_flag(values, "--migration-limit", c.name, label) or 0,
        "extra_args": rest,
        "env": env,
    }
    return frontend, settings


def _settings(c: Component, kind: str, where: str, notes: list[str]) -> tuple[dict, dict]:
    """(pod settings of the component, its env values); refs and leftovers into settings."""
    container = {k: v for k, v in c.container.items() if k not in ("command", "args")}
    env, refs = _env(container.pop("env", None) or [], where, notes)
    env_from = list(container.pop("envFrom", None) or [])
    s: dict[str, Any] = {"image": container.pop("image", None)}
    s["working_dir"] = container.pop("workingDir", None)
    s["resources"], s["gpus"] = pods.read_resources(container.pop("resources", None) or {})
    s["volume_mounts"] = container.pop("volumeMounts", None) or None
    s["probes"] = pods.read_probes(container, pods.PROBE_PORTS[kind])
    s.update(pods.read_pod(c.pod))
    s["shared_memory"] = c.shared_memory
    s["labels"], s["annotations"] = c.labels or None, c.annotations or None
    s["env_refs"] = refs or None
    s["component"] = c.extra or None
    plain = next((e for e in env_from if _secret_ref(e)), None) if kind == "worker" else None
    if plain is not None:
        s["secret"] = plain["secretRef"]["name"]
        env_from.remove(plain)
    if env_from:
        container["envFrom"] = env_from
    s["container"] = container or None
    return s, env


def _secret_ref(entry: Any) -> bool:
    ref = entry.get("secretRef") if isinstance(entry, dict) else None
    return set(entry) == {"secretRef"} and isinstance(ref, dict) and set(ref) == {"name"}


def _env(entries: list[Any], where: str, notes: list[str]) -> tuple[dict[str, str], list]:
    # Secret literals are gone already (secrets.scrub).
    values: dict[str, str] = {}
    refs: list[Any] = []
    for entry in entries:
        name = str(entry.get("name", ""))
        if "valueFrom" in entry:
            refs.append(entry)
        elif name in LOCAL_ONLY_ENV:
            notes.append(
                f"{where}: left out {name}; trtl sets it locally ({LOCAL_ONLY_ENV[name]})."
            )
        else:
            values[name] = "" if entry.get("value") is None else str(entry["value"])
    return values, refs


def _graph_fields(graph: Graph, reads: dict[str, WorkerRead], label: str, notes: list) -> dict:
    engines = {r.engine for r in reads.values()}
    models = {r.model for r in reads.values()}
    if len(engines) > 1:
        raise ProfileError(
            f"{label}: workers run different engines ({', '.join(sorted(engines))})."
        )
    if None in models:
        name = next(n for n, r in reads.items() if r.model is None)
        raise ProfileError(f"{label}: worker {name!r} names no model (--model or --model-path).")
    if len(models) > 1:
        raise ProfileError(
            f"{label}: workers serve different models ({', '.join(sorted(models))}); a trtl "
            "profile serves one model."
        )
    model = models.pop()
    served = next((r.served for r in reads.values() if r.served), None)
    env, refs = _env(graph.env, "env", notes)
    data: dict[str, Any] = {
        "name": profile_name(graph.name),
        "description": f"Imported from DynamoGraphDeployment {graph.name}",
        "engine": engines.pop(),
        "model": model,
        "served_model_name": None if served in (None, model) else served,
        "env": env,
        "graph_env_refs": refs,
    }
    # The engine's own settings block (mocker:, vllm:, ...), from every worker's read.
    data.update(engine(data["engine"]).settings(reads))
    return data


def _k8s(
    graph: Graph, per_role: dict[str, dict], data: dict, notes: list[str], synthetic: bool
) -> dict:
    # A frontend trtl adds for the local run has no pod settings to factor.
    factored = {k: v for k, v in per_role.items() if not (synthetic and k == "frontend")}
    graph_wide, overrides = pods.factor(factored)
    overrides.setdefault("frontend", {})
    workers = [name for name in per_role if name != "frontend"]
    res = [per_role[name]["resources"] for name in workers]
    shared = all(r == res[0] for r in res)
    for name, settings in per_role.items():
        own = overrides[name]
        for key in ("labels", "annotations", "env_refs", "component_name", "launch"):
            if settings.get(key):
                own[key] = settings[key]
        if name != "frontend":
            gpus, role = settings["gpus"], data["workers"][name]
            if gpus and gpus != role.get("tensor_parallel_size", 1) * role.get(
                "pipeline_parallel_size", 1
            ):
                role["gpus"] = gpus
            if not shared:
                own["resources"] = settings["resources"]
            if own:
                role["k8s"] = own
        elif own:
            data["frontend"]["k8s"] = own
    secrets = [per_role[n].get("secret") for n in workers if per_role[n].get("secret")]
    k8s = {
        **graph_wide,
        "hf_token_secret": secrets[0] if secrets else None,
        "namespace": graph.namespace,
        "frontend_resources": per_role["frontend"]["resources"],
        "worker_resources": res[0] if shared else {},
        "labels": graph.labels or None,
        "annotations": graph.annotations or None,
        "env_refs": data.pop("graph_env_refs") or None,
        "spec": graph.extra or None,
        "metadata": _metadata(graph.metadata),
    }
    return k8s


def _metadata(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The DGD's own labels and annotations, without server-set fields and trtl's own."""
    kept: dict[str, Any] = {}
    for key, value in metadata.items():
        if key in SERVER_SET or not value:
            continue
        if key == "annotations":
            value = {
                k: v for k, v in value.items()
                if not k.startswith(ANNOTATION_PREFIX) and k != LAST_APPLIED
            }  # fmt: skip
            if not value:
                continue
        kept[key] = value
    return kept or None
