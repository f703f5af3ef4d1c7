"""What the graph cannot say about a profile, kept in one annotation of the export.

A DGD carries the graph: roles, commands, replicas, resources, env, engine configs. It
cannot carry a profile's own name (``disagg_router`` becomes ``disagg-router``), its
description, or the local-only settings (restart policies, ``python``, ``stop_grace``,
the frontend's local port). So the export renders the profile, reads the result back
exactly as ``trtl import`` would, and stores only the settings that came back different
in the ``trtl.dev/profile`` annotation (JSON). Import applies it on top of what the graph
says; settings of roles that are gone are skipped, and an annotation that no longer fits
an edited graph is ignored with a note.
"""

from __future__ import annotations

import json
from typing import Any

from trtl.profiles.schema import Profile

ANNOTATION = "trtl.dev/profile"


def annotate(docs: list[dict[str, Any]], profile: Profile) -> None:
    """Add the annotation to the DGD in ``docs`` (the last document) when needed."""
    from .from_dgd import parse

    parsed = parse(docs, label="the export", notes=[])
    residual = difference(profile, parsed)
    if residual:
        metadata = docs[-1]["metadata"]
        annotations = metadata.setdefault("annotations", {})
        # In the profile's own order: import gives mappings back in that order, and a vLLM
        # role's flags follow its engine_config keys, so export -> import -> export is stable.
        annotations[ANNOTATION] = json.dumps(residual, separators=(",", ":"))


def difference(original: Profile, parsed: Profile) -> dict[str, Any]:
    """{"roles": {k8s name: role name}, "set": [[path, value], ...]} for what differs."""
    want = original.model_dump(mode="json", exclude={"extends"})
    got = parsed.model_dump(mode="json", exclude={"extends"})
    pairs = zip(got["workers"], want["workers"], strict=True)
    roles = {new: old for new, old in pairs if new != old}
    got["workers"] = {roles.get(k, k): v for k, v in got["workers"].items()}
    changed = _changed(want, got, [])
    return {k: v for k, v in (("roles", roles), ("set", changed)) if v}


def _changed(want: Any, got: Any, path: list[str]) -> list[list[Any]]:
    """[path, value] pairs, as deep as both sides are mappings with the same keys.

    Everything a path does not reach came back equal, so setting only these on top of
    what the graph says rebuilds the profile exactly.
    """
    if want == got:
        return []
    if isinstance(want, dict) and isinstance(got, dict) and set(want) == set(got):
        return [pair for key in want for pair in _changed(want[key], got[key], [*path, key])]
    return [[path, want]]


def apply_residual(data: dict[str, Any], text: str) -> dict[str, Any]:
    """``data`` with the annotation's settings applied. Raises ValueError if unreadable."""
    residual = json.loads(text)
    # The annotation is user-editable: check its shape before walking it.
    if not isinstance(residual, dict):
        raise ValueError("the annotation is not a JSON object")
    renames = residual.get("roles") or {}
    pairs = residual.get("set") or []
    if not isinstance(renames, dict) or not all(isinstance(v, str) for v in renames.values()):
        raise ValueError("roles is not a mapping of names")
    if not isinstance(pairs, list) or not all(_is_pair(pair) for pair in pairs):
        raise ValueError("set is not a list of [path, value] pairs")
    data = json.loads(json.dumps(data))  # a deep copy: the plain data stays usable
    data["workers"] = {renames.get(k, k): v for k, v in data["workers"].items()}
    for path, value in pairs:
        if path[0] == "workers" and (len(path) < 2 or path[1] not in data["workers"]):
            continue  # that role is gone from the graph
        node = data
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = value
    return data


def _is_pair(pair: Any) -> bool:
    """``[path, value]`` with a path of one or more names."""
    return (
        isinstance(pair, list)
        and len(pair) == 2
        and isinstance(pair[0], list)
        and bool(pair[0])
        and all(isinstance(part, str) for part in pair[0])
    )
