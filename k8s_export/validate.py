"""Checks before an export is written: trtl's own structural rules, and a CRD if given.

``check_structure`` always runs and needs nothing but the documents. ``check_crd`` turns
the CRD's ``openAPIV3Schema`` into JSON Schema (strict about unknown fields, honouring
``x-kubernetes-int-or-string`` and ``x-kubernetes-preserve-unknown-fields``) and validates
with jsonschema, imported only then. Both raise ExportError naming the exact field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from trtl.profiles.errors import ExportError, ProfileError
from trtl.profiles.schema import COMPONENT_NAME_PATTERN, QUANTITY_PATTERN, quantity_problem

from .names import DNS_LABEL, KIND, MAX_COMPONENTS, api_version

CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
COMPONENT_NAME = re.compile(COMPONENT_NAME_PATTERN)  # the CRD's rule; Services lower-case it
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
# What the API server checks of metadata itself (the CRD leaves it open).
OBJECT_META = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": DNS_SUBDOMAIN, "maxLength": 253},
        "namespace": {"type": "string", "pattern": DNS_LABEL.pattern},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
    "required": ["name"],
    "additionalProperties": False,
}


def check_structure(docs: list[dict[str, Any]]) -> None:
    """trtl's own rules for what it writes; raises ExportError."""
    for doc in docs:
        if doc.get("kind") == "ConfigMap":
            bad = [k for k in doc.get("data", {}) if not CONFIG_KEY.fullmatch(k)]
            if bad:
                raise ExportError(f"ConfigMap key {bad[0]!r} is not a valid key.")
    dgd = docs[-1]
    name = dgd["metadata"]["name"]
    if not DNS_LABEL.fullmatch(name):
        raise ExportError(f"metadata.name {name!r} is not a DNS-1123 label.")
    spec = dgd["spec"]
    if "components" in spec:
        items = spec["components"]
    else:
        items = [{"name": k, **v} for k, v in spec.get("services", {}).items()]
    if len(items) > MAX_COMPONENTS:
        raise ExportError(f"{len(items)} components; at most {MAX_COMPONENTS} are allowed.")
    seen: set[str] = set()
    for item in items:
        if not COMPONENT_NAME.fullmatch(item["name"]) or item["name"].lower() in seen:
            raise ExportError(
                f"component name {item['name']!r} is not unique, or not letters, digits and '-'."
            )
        seen.add(item["name"].lower())
        pod = (item.get("podTemplate") or {}).get("spec") or item.get("extraPodSpec") or {}
        _check_volumes(item["name"], pod)


def _check_volumes(component: str, pod: dict[str, Any]) -> None:
    names = [v.get("name") for v in pod.get("volumes") or []]
    if len(names) != len(set(names)):
        raise ExportError(f"component {component}: two pod volumes share a name ({names}).")
    containers = pod.get("containers") or [pod.get("mainContainer") or {}]
    for container in containers:
        for m in container.get("volumeMounts") or []:
            if m.get("name") not in names:
                raise ExportError(
                    f"component {component}: volume mount {m.get('name')!r} names no pod volume.",
                    hint="Add the volume to k8s.volumes (or the role's k8s.volumes).",
                )


def crd_schema(crd_path: Path, version: str) -> dict[str, Any]:
    """The JSON Schema of ``version`` in a DGD CRD file; raises ExportError."""
    from trtl.profiles.yaml_source import MAX_CRD_BYTES

    from .yamlio import load_documents

    try:
        docs = load_documents(crd_path, limit=MAX_CRD_BYTES)
    except ProfileError as exc:
        raise ExportError(f"--crd: {exc.message}") from exc
    crds = [
        d for d in docs
        if d.get("kind") == "CustomResourceDefinition"
        and ((d.get("spec") or {}).get("names") or {}).get("kind") == KIND
    ]  # fmt: skip
    if not crds:
        raise ExportError(f"--crd {crd_path}: not a CustomResourceDefinition of {KIND}.")
    short = api_version(version).version
    for entry in crds[0]["spec"].get("versions") or []:
        if entry.get("name") == short:
            schema = to_json_schema(entry["schema"]["openAPIV3Schema"])
            schema["properties"]["metadata"] = OBJECT_META
            return schema
    raise ExportError(f"--crd {crd_path}: the CRD does not serve {short}.")


def to_json_schema(node: Any) -> Any:
    """An OpenAPI v3 schema of a CRD as JSON Schema, strict about unknown fields."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_json_schema(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [to_json_schema(sub) for sub in value]
        elif key.startswith("x-kubernetes-") or key in ("description", "format", "default"):
            continue
        elif key != "nullable":
            out[key] = value
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    open_fields = node.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in out
    if out.get("type") == "object" and "properties" in out and not open_fields:
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def check_crd(doc: dict[str, Any], schema: dict[str, Any], crd_path: Path) -> None:
    """Validate the DGD against ``schema``; raises ExportError naming the first wrong field."""
    try:
        import jsonschema
    except ImportError as exc:
        raise ExportError(
            "--crd needs the jsonschema package.", hint="Install it: pip install jsonschema"
        ) from exc
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise ExportError(f"The export does not match {crd_path}: {describe(errors[0])}{more}.")


def describe(error: Any) -> str:
    """``spec.components[0].foo: unknown field`` from a jsonschema error."""
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    if error.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message)
        field = extra[0] if extra else "?"
        return f"{path + '.' if path else ''}{field}: unknown field"
    if error.validator == "pattern" and error.validator_value == QUANTITY_PATTERN.pattern:
        # The CRD's quantity regex means nothing to a reader; say what the value is not.
        return f"{path}: {quantity_problem(str(error.instance))}"
    return f"{path or '(document)'}: {error.message}"
