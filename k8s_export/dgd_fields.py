"""The fields a DGD may have, checked on import before any of them is read.

A field that is not in the CRD (a typo, ``spec.envs`` of v1alpha1 in a v1beta1 file) would
otherwise ride along in the profile's pass-through mappings: the local run would ignore it
and ``trtl export`` refuse it, long after the file it came from. So import names it against
that file, as it names a field of the wrong type (``dgd_types``), and refuses two
components of one name (the operator's Services would clash). The field lists are the
CRD's (``tests/k8s_export/test_import_keeps_cluster.py`` checks them against it).
"""

from __future__ import annotations

import difflib
from typing import Any

from trtl.profiles.errors import ProfileError

from .names import api_version
from .shapes import PASS_THROUGH, SPEC_PASS_THROUGH

SPEC = {
    "v1beta1": {"backendFramework", "labels", "annotations", "env", "components"},
    "v1alpha1": {"backendFramework", "labels", "annotations", "envs", "services"},
}
COMPONENT = {
    "v1beta1": {"name", "type", "replicas", "sharedMemorySize", "podTemplate"},
    "v1alpha1": {
        "componentType", "subComponentType", "replicas", "envs", "envFromSecret", "resources",
        "livenessProbe", "readinessProbe", "extraPodMetadata", "sharedMemory", "extraPodSpec",
    },
}  # fmt: skip
# Kubernetes' Container and PodSpec fields, as the CRD lists them.
CONTAINER = {
    "args", "command", "env", "envFrom", "image", "imagePullPolicy", "lifecycle", "livenessProbe",
    "name", "ports", "readinessProbe", "resizePolicy", "resources", "restartPolicy",
    "restartPolicyRules", "securityContext", "startupProbe", "stdin", "stdinOnce",
    "terminationMessagePath", "terminationMessagePolicy", "tty", "volumeDevices", "volumeMounts",
    "workingDir",
}  # fmt: skip
POD = {
    "activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "containers",
    "dnsConfig", "dnsPolicy", "enableServiceLinks", "ephemeralContainers", "hostAliases",
    "hostIPC", "hostNetwork", "hostPID", "hostUsers", "hostname", "hostnameOverride",
    "imagePullSecrets", "initContainers", "nodeName", "nodeSelector", "os", "overhead",
    "preemptionPolicy", "priority", "priorityClassName", "readinessGates", "resourceClaims",
    "resources", "restartPolicy", "runtimeClassName", "schedulerName", "schedulingGates",
    "schedulingGroup", "securityContext", "serviceAccount", "serviceAccountName",
    "setHostnameAsFQDN", "shareProcessNamespace", "subdomain", "terminationGracePeriodSeconds",
    "tolerations", "topologySpreadConstraints", "volumes",
}  # fmt: skip
CONTAINER_WHAT = "a Kubernetes container"
# The same setting under the other version's name.
RENAMED = {"envs": "env", "env": "envs", "services": "components", "components": "services"}


def check_fields(dgd: dict[str, Any], label: str) -> None:
    """Raise ProfileError for the first field the DGD's version lacks, or a name used twice."""
    version = api_version(str(dgd.get("apiVersion", ""))).version
    spec = dgd.get("spec") or {}
    _known(spec, SPEC[version] | SPEC_PASS_THROUGH[version], "spec", version, label)
    if version == "v1beta1":
        items = [(f"spec.components[{i}]", c) for i, c in enumerate(spec.get("components") or [])]
    else:
        items = [(f"spec.services.{n}", s or {}) for n, s in (spec.get("services") or {}).items()]
    seen: dict[str, str] = {}
    for path, item in items:
        _known(item, COMPONENT[version] | PASS_THROUGH[version], path, version, label)
        name = str(item.get("name") or "") if version == "v1beta1" else path.split(".", 2)[2]
        _unique(name, seen, f"{path}.name" if version == "v1beta1" else path, label)
        if version == "v1beta1":
            template = item.get("podTemplate") or {}
            _pod(template.get("spec") or {}, f"{path}.podTemplate.spec", version, label)
        else:
            pod = item.get("extraPodSpec") or {}
            _pod(pod, f"{path}.extraPodSpec", version, label, main="mainContainer")


def _pod(pod: dict, path: str, version: str, label: str, main: str | None = None) -> None:
    _known(pod, POD | ({main} if main else set()), path, version, label, "a pod spec")
    if main:
        _known(pod.get(main) or {}, CONTAINER, f"{path}.{main}", version, label, CONTAINER_WHAT)
    for i, container in enumerate(pod.get("containers") or []):
        _known(container, CONTAINER, f"{path}.containers[{i}]", version, label, CONTAINER_WHAT)


def _unique(name: str, seen: dict[str, str], path: str, label: str) -> None:
    key = name.lower()  # the operator names each component's Service in lower case
    if key in seen:
        also = "" if seen[key] == name else f" (as {seen[key]!r} too: Services are lower case)"
        raise ProfileError(
            f"{label}: {path}: {name!r} is used twice{also}.",
            hint="Give each component a name of its own.",
        )
    seen[key] = name


def did_you_mean(key: str, known: set[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known field, or nothing."""
    close = difflib.get_close_matches(str(key), sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _known(
    mapping: dict, known: set[str], path: str, version: str, label: str, what: str = ""
) -> None:
    for key in mapping:
        if key in known:
            continue
        other = "v1alpha1" if version == "v1beta1" else "v1beta1"
        if path == "spec" and key in RENAMED:
            raise ProfileError(
                f"{label}: spec.{key} is the nvidia.com/{other} name; a nvidia.com/{version} "
                f"DynamoGraphDeployment calls it spec.{RENAMED[key]}.",
                hint=f"Rename it to {RENAMED[key]}, or change apiVersion to nvidia.com/{other}.",
            )
        guess = did_you_mean(key, known)
        raise ProfileError(
            f"{label}: {path}.{key} is not a field of "
            f"{what or f'a nvidia.com/{version} DynamoGraphDeployment'}{guess}.",
            hint="Remove it or fix its spelling: the cluster would refuse it, and trtl "
            "cannot run or export it.",
        )
