"""Import steps for DGD shapes found in the wild, apart from any one engine.

- ``launch_record``: the ``k8s.launch`` data of a component (how its command was written,
  and the type label of a decode-labelled worker that runs aggregated).
- ``adopt_heredoc``: an engine config that the component's own script writes with a
  heredoc becomes the role's ``engine_config`` mapping; the export writes it back there.
- ``adopt_configmap``: the same for a config in a ConfigMap of the user's own, which the
  export writes again under its own name and key (the mounts stay as they were).
- ``carried_configmaps``: the user's own ConfigMaps of the file, kept for the export as
  they were (labels and annotations too), less the keys roles read their config from.
- ``frontend_less``: a worker-only graph gets a frontend for the local run only.
"""

from __future__ import annotations

import copy
from typing import Any

from trtl.profiles.engines import engine

from . import configmaps
from .roles import WorkerRead
from .shapes import Component
from .wild import LaunchRead, heredoc_config

TYPES = {"agg": "worker", "prefill": "prefill", "decode": "decode"}


def launch_record(read: LaunchRead | None, c: Component, mode: str | None) -> dict | None:
    """The role's ``k8s.launch`` data, None when the export writes the command as trtl does."""
    record = {k: v for k, v in (read.launch if read else {}).items() if v not in ({}, [], None)}
    if mode and c.type in TYPES.values() and c.type != TYPES[mode]:
        record["component_type"] = c.type
    if c.replicas == 0 or (mode is None and c.replicas not in (None, 1)):
        # Scaled to zero, or a frontend's count: trtl runs one locally, the export writes it.
        record["replicas"] = c.replicas
    return record or None


def adopt_heredoc(
    read: WorkerRead, launch: dict[str, Any], container: dict[str, Any], label: str
) -> dict[str, Any] | None:
    """Read the engine config a heredoc writes into ``read.role``; the config, or None."""
    path = read.role.get("engine_config")
    if not isinstance(path, str) or not launch.get("files"):
        return None
    text = heredoc_config(path, launch, container.get("workingDir"))
    if text is None:
        return None
    config = configmaps.parse_config(text, f"{label}: the heredoc writing {path}")
    fields = engine(read.engine).config_file_fields(config)
    if fields is not None:
        read.role.update(fields)
    else:
        read.role["engine_config"] = config
    return config


def adopt_configmap(
    read: WorkerRead, launch: dict[str, Any], c: Component, user: dict[str, dict], label: str
) -> dict[str, Any] | None:
    """Read an engine config from the user's own mounted ConfigMap; it stays that ConfigMap."""
    path = read.role.get("engine_config")
    if not isinstance(path, str):
        return None
    found = configmaps.locate(path, c.container, c.pod, user)
    if found is None:
        return None
    name, key, text = found
    config = configmaps.parse_config(text, f"{label}: ConfigMap {name} key {key}")
    fields = engine(read.engine).config_file_fields(config)
    if fields is None:
        return None  # the engine reads no such file: the ConfigMap stays as it is mounted
    read.role.update(fields)
    launch["engine_config_file"] = path
    launch["config_map"] = {"name": name, "key": key}
    return config


def carried_configmaps(
    user: dict[str, dict],
    per_role: dict[str, dict],
    server_set: set[str],
    namespace: str | None,
    notes: list[str],
) -> list[dict[str, Any]] | None:
    """The user's ConfigMaps as they were, without server-set metadata, adopted keys and
    keys holding a secret (noted).

    A key a role's engine config came from is filled again from that role on export
    (``wild_export.user_configmaps``), so the profile holds its content once.
    """
    from .secrets import scrub_configmap

    adopted: dict[str, set[str]] = {}
    for settings in per_role.values():
        ref = (settings.get("launch") or {}).get("config_map")
        if ref:
            adopted.setdefault(ref["name"], set()).add(ref["key"])
    out = []
    for name, doc in user.items():
        doc = copy.deepcopy(doc)
        metadata = doc.get("metadata") or {}
        if namespace:  # the export writes the graph's (pods mount their own namespace's)
            metadata.pop("namespace", None)
        for key in server_set:
            metadata.pop(key, None)
            (metadata.get("annotations") or {}).pop(key, None)
        if metadata.get("annotations") == {}:
            del metadata["annotations"]
        scrub_configmap(doc, notes)
        data = {k: v for k, v in (doc.get("data") or {}).items() if k not in adopted.get(name, ())}
        if data:
            doc["data"] = data
        else:
            doc.pop("data", None)
        out.append(doc)
    return out or None


def frontend_less(notes: list[str]) -> Component:
    """The frontend a worker-only graph runs with locally (the export writes none)."""
    notes.append(
        "the graph has no frontend (its workers join one deployed elsewhere): trtl runs a "
        "round-robin frontend locally, and the export writes none, as imported."
    )
    return Component(name="", type="frontend")
