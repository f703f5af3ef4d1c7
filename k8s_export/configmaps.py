"""Engine configs as a ConfigMap: written with the export, found again on import.

Upstream's "agg-with-config" pattern: the TensorRT-LLM engine config lives in a ConfigMap
in the same YAML stream, a pod volume mounts it, and ``--extra-engine-args`` names the
mounted file. trtl writes one ConfigMap per deployment with one key per role
(``<role>.yaml``) and mounts each worker's key at ``MOUNT_DIR``, the directory the engine
table is given in place of the local run directory. On import, any ConfigMap in the file
that a worker's ``--extra-engine-args`` path reaches through a mount is read back.
"""

from __future__ import annotations

import posixpath
from typing import Any

import yaml
from trtl.profiles.errors import ProfileError

from .yamlio import dump

MOUNT_DIR = "/etc/trtl/engine"
VOLUME = "trtl-engine-config"


def configmap_name(deployment: str) -> str:
    return f"{deployment}-engine-config"


def configmap(name: str, namespace: str | None, configs: dict[str, dict[str, Any]]) -> dict:
    """The ConfigMap object holding every role's engine config."""
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = {"app.kubernetes.io/managed-by": "trtl"}
    data = {f"{role}.yaml": dump(config) for role, config in configs.items()}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def volume(name: str, role: str) -> dict[str, Any]:
    """A pod volume with just this role's engine config."""
    key = f"{role}.yaml"
    return {"name": VOLUME, "configMap": {"name": name, "items": [{"key": key, "path": key}]}}


def mount() -> dict[str, Any]:
    return {"name": VOLUME, "mountPath": MOUNT_DIR, "readOnly": True}


def resolve(
    path: str | None,
    container: dict[str, Any],
    pod: dict[str, Any],
    configmaps: dict[str, dict[str, Any]],
    label: str,
) -> dict[str, Any] | None:
    """The engine config that ``path`` names through a mounted ConfigMap of this file.

    On success the volume and its mounts are taken out of ``pod``/``container`` (the
    export recreates them); otherwise nothing changes and None comes back.
    """
    found = _find(path, container, pod, configmaps)
    if found is None:
        return None
    mount, source, key, text = found
    config = parse_config(text, f"{label}: ConfigMap {source} key {key}")
    _consume(container, pod, mount)
    return config


def locate(
    path: str, container: dict[str, Any], pod: dict[str, Any], configmaps: dict[str, dict]
) -> tuple[str, str, str] | None:
    """(ConfigMap name, key, text) that ``path`` reads through a mount; nothing is changed."""
    found = _find(path, container, pod, configmaps)
    return None if found is None else found[1:]


def is_trtls(doc: dict[str, Any]) -> bool:
    """Whether a ConfigMap is one trtl's export wrote (recreated on export, not carried)."""
    labels = (doc.get("metadata") or {}).get("labels") or {}
    return labels.get("app.kubernetes.io/managed-by") == "trtl"


def _find(
    path: str | None, container: dict[str, Any], pod: dict[str, Any], configmaps: dict
) -> tuple[Any, str, str, str] | None:
    volumes = {v.get("name"): v for v in pod.get("volumes") or [] if isinstance(v, dict)}
    mounts = [m for m in container.get("volumeMounts") or [] if isinstance(m, dict)]
    if path is None:
        # The mocker reads no engine config, but trtl's own export still mounts it.
        found = [m for m in mounts if m.get("name") == VOLUME]
        candidates = [(m, _single_key(volumes.get(VOLUME))) for m in found]
    else:
        full = posixpath.join(container.get("workingDir") or "/", path)
        candidates = [(m, _key_at(m, volumes.get(m.get("name")), full)) for m in mounts]
    for m, key in candidates:
        vol = volumes.get(m.get("name")) or {}
        source = (vol.get("configMap") or {}).get("name")
        if key is None or source not in configmaps:
            continue
        text = (configmaps[source].get("data") or {}).get(key)
        if text is not None:
            return m.get("name"), source, key, text
    return None


def _key_at(m: dict[str, Any], vol: dict[str, Any] | None, full: str) -> str | None:
    if not vol or not isinstance(vol.get("configMap"), dict):
        return None
    where = posixpath.normpath(str(m.get("mountPath", "")))
    if m.get("subPath"):
        return m["subPath"] if posixpath.normpath(full) == where else None
    if not posixpath.normpath(full).startswith(where.rstrip("/") + "/"):
        return None
    relative = posixpath.relpath(posixpath.normpath(full), where)
    items = vol["configMap"].get("items")
    if items:
        return next((i.get("key") for i in items if i.get("path") == relative), None)
    return relative


def _single_key(vol: dict[str, Any] | None) -> str | None:
    items = ((vol or {}).get("configMap") or {}).get("items") or []
    return items[0].get("key") if len(items) == 1 else None


def parse_config(text: str, where: str) -> dict[str, Any]:
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{where}: the engine config is not valid YAML.") from exc
    if not isinstance(config, dict):
        raise ProfileError(f"{where}: an engine config must be a YAML mapping.")
    return config


def _consume(container: dict[str, Any], pod: dict[str, Any], volume_name: Any) -> None:
    container["volumeMounts"] = [
        m for m in container.get("volumeMounts") or [] if m.get("name") != volume_name
    ]
    pod["volumes"] = [v for v in pod.get("volumes") or [] if v.get("name") != volume_name]
    for holder, key in ((container, "volumeMounts"), (pod, "volumes")):
        if not holder[key]:
            del holder[key]
