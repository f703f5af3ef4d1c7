"""The types of the DGD fields trtl reads, checked before any of them is read.

A DGD file is user input: a field of the wrong type (``replicas: two``, a ``null``
container, a list where a name belongs) must become one sentence naming the field, not a
crash somewhere in the reader. The rules below cover exactly the fields ``shapes``,
``from_dgd``, ``roles``, ``pods`` and ``configmaps`` read; everything else travels through
unchanged and is Kubernetes' business.

A rule is a ``Kind`` (a leaf), ``[rule]`` (a list of such items) or ``{key: rule}`` (a
mapping; ``"*"`` is the rule for keys not named). A ``null`` value counts as absent, as
the reader treats it, except as a list item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from trtl.profiles.errors import ProfileError

from .names import KIND


class Kind(NamedTuple):
    what: str  # "a string", for the message
    ok: Callable[[Any], bool]
    floor: int | None = None  # the least value a number of this kind may have


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


STR = Kind("a string", lambda v: isinstance(v, str))
INT = Kind("an integer", _is_int)
REPLICAS = Kind("an integer", _is_int, floor=0)  # the CRD's minimum; 0 scales to zero
BOOL = Kind("true or false", lambda v: isinstance(v, bool))
# Args and env values: Kubernetes wants strings, trtl reads numbers and booleans as text.
SCALAR = Kind("a string", lambda v: isinstance(v, (str, int, float)))
QUANTITY = Kind("a quantity", lambda v: isinstance(v, (str, int, float)) and v is not True)
GPUS = Kind(
    "a whole number of GPUs",
    lambda v: (_is_int(v) and v >= 0) or (isinstance(v, str) and v.isascii() and v.isdigit()),
)
MAP = Kind("a mapping", lambda v: isinstance(v, dict))

STRINGS = {"*": STR}  # labels, annotations, node selectors
META = {"labels": STRINGS, "annotations": STRINGS}
ENV = [{"name": STR, "value": SCALAR, "valueFrom": MAP}]
QUANTITIES = {"nvidia.com/gpu": GPUS, "*": QUANTITY}
CONTAINER = {
    "name": STR, "image": STR, "workingDir": STR, "command": [SCALAR], "args": [SCALAR],
    "env": ENV, "envFrom": [{"secretRef": {"name": STR}, "configMapRef": {"name": STR}}],
    "resources": {"requests": QUANTITIES, "limits": QUANTITIES},
    "volumeMounts": [{"name": STR, "mountPath": STR, "subPath": STR}],
    "livenessProbe": MAP, "readinessProbe": MAP, "startupProbe": MAP,
}  # fmt: skip
POD = {
    "containers": [CONTAINER], "nodeSelector": STRINGS, "tolerations": [MAP],
    "volumes": [{"name": STR, "configMap": {"name": STR, "items": [{"key": STR, "path": STR}]}}],
}  # fmt: skip
COMPONENT = {
    "name": STR, "type": STR, "replicas": REPLICAS, "sharedMemorySize": QUANTITY,
    "podTemplate": {"metadata": META, "spec": POD},
}  # fmt: skip
# v1alpha1 names GPUs "gpu", but a Kubernetes-style "nvidia.com/gpu" is read as GPUs too.
ALPHA_QUANTITIES = {"gpu": GPUS, "nvidia.com/gpu": GPUS, "gpuType": STR,
                    "custom": {"*": QUANTITY}, "*": QUANTITY}  # fmt: skip
SERVICE = {
    "componentType": STR, "subComponentType": STR, "replicas": REPLICAS, "dynamoNamespace": STR,
    "envs": ENV, "envFromSecret": STR,
    "resources": {"requests": ALPHA_QUANTITIES, "limits": ALPHA_QUANTITIES},
    "livenessProbe": MAP, "readinessProbe": MAP, "extraPodMetadata": META,
    "sharedMemory": {"disabled": BOOL, "size": QUANTITY},
    "extraPodSpec": {**POD, "mainContainer": CONTAINER},
}  # fmt: skip
SPEC = {"backendFramework": STR, "labels": STRINGS, "annotations": STRINGS}
DGD = {
    "v1beta1": {"spec": {**SPEC, "env": ENV, "components": [COMPONENT]}},
    "v1alpha1": {"spec": {**SPEC, "envs": ENV, "services": {"*": SERVICE}}},
}
TOP = {"apiVersion": STR, "kind": STR, "metadata": {"name": STR, "namespace": STR, **META}}
CONFIGMAP = {**TOP, "data": {"*": STR}}


def check_types(docs: list[dict[str, Any]], label: str) -> None:
    """Raise ProfileError naming the first field trtl reads that has the wrong type."""
    for doc in docs:
        kind = doc.get("kind")
        if kind == "ConfigMap":
            name = (doc.get("metadata") or {}) if isinstance(doc.get("metadata"), dict) else {}
            shown = name.get("name") if isinstance(name.get("name"), str) else ""
            _check(doc, CONFIGMAP, "", f"{label}: ConfigMap {shown}".rstrip())
        elif kind == KIND:
            version = str(doc.get("apiVersion", "")).rpartition("/")[2]
            _check(doc, {**TOP, **DGD.get(version, {})}, "", label)


def _check(value: Any, rule: Any, path: str, label: str) -> None:
    if isinstance(rule, dict):
        if not isinstance(value, dict):
            _fail(label, path, "a mapping", value)
        for key, item in value.items():
            if not isinstance(key, str):
                _fail(label, path, "string keys", key)
            sub = rule.get(key, rule.get("*"))
            if sub is not None and item is not None:
                _check(item, sub, f"{path}.{key}" if path else key, label)
    elif isinstance(rule, list):
        if not isinstance(value, list):
            _fail(label, path, "a list", value)
        for i, item in enumerate(value):
            if item is None:
                _fail(label, f"{path}[{i}]", _what(rule[0]), item)
            _check(item, rule[0], f"{path}[{i}]", label)
    elif not rule.ok(value):
        _fail(label, path, rule.what, value)
    elif rule.floor is not None and value < rule.floor:
        _fail(label, path, f"{rule.what} of {rule.floor} or more", value)


def _what(rule: Any) -> str:
    if isinstance(rule, dict):
        return "a mapping"
    return "a list" if isinstance(rule, list) else rule.what


def _fail(label: str, path: str, what: str, value: Any) -> None:
    from .kube_vars import is_placeholder

    placeholder = is_placeholder(value)
    if placeholder:  # a template (envsubst, Helm-like) that was never filled in
        raise ProfileError(
            f"{label}: {path} holds {placeholder}, an unfilled template variable where "
            f"{what} belongs.",
            hint=f"Fill the template first, e.g. `envsubst < FILE > filled.yaml` with "
            f"{placeholder[2:-1]} set, then import filled.yaml.",
        )
    raise ProfileError(f"{label}: {path or 'the document'}: expected {what}, got {_shown(value)}.")


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"
