"""Kubernetes names and API versions: how profile names become DNS-1123 labels and back.

A DynamoGraphDeployment's identity is a small typed value (``ApiVersion``). Profile and role
names allow ``_`` and upper case only on import; Kubernetes wants DNS-1123 labels, so the
mapping is fixed and predictable: lower case, ``_`` becomes ``-``, and CamelCase component
names from upstream examples (``TRTLLMDecodeWorker``) split at their humps on import
(``trtllm-decode-worker``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from trtl.profiles.errors import ExportError
from trtl.profiles.names import name_from

GROUP = "nvidia.com"
KIND = "DynamoGraphDeployment"
MAX_COMPONENTS = 25  # the CRD's maxItems on spec.components
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Annotation keys trtl writes on the DGD it exports.
ANNOTATION_PREFIX = "trtl.dev/"


class ApiVersion(NamedTuple):
    """One served version of the DynamoGraphDeployment resource."""

    version: str  # "v1beta1" or "v1alpha1"

    @property
    def api_version(self) -> str:
        return f"{GROUP}/{self.version}"


V1BETA1 = ApiVersion("v1beta1")
V1ALPHA1 = ApiVersion("v1alpha1")
VERSIONS = {v.version: v for v in (V1BETA1, V1ALPHA1)}


def api_version(name: str) -> ApiVersion:
    """``v1beta1``/``nvidia.com/v1beta1`` → ApiVersion; raises ExportError for others."""
    short = name.removeprefix(f"{GROUP}/")
    if short not in VERSIONS:
        raise ExportError(
            f"Unknown API version {name!r}; trtl writes nvidia.com/v1beta1 or nvidia.com/v1alpha1.",
            hint="Use --api-version v1beta1 (the operator's stored version) or v1alpha1.",
        )
    return VERSIONS[short]


def k8s_name(name: str) -> str:
    """A profile or role name as a DNS-1123 label: ``disagg_router`` → ``disagg-router``."""
    return name.lower().replace("_", "-")


def dns_label(name: str, what: str) -> str:
    """``name`` mapped by ``k8s_name``; raises ExportError if it still is no DNS-1123 label."""
    label = k8s_name(name)
    if not DNS_LABEL.fullmatch(label):
        raise ExportError(
            f"{what} {name!r} cannot be a Kubernetes name: use up to 63 lowercase letters, "
            "digits and '-', starting and ending with a letter or digit.",
            hint="Pass --name with a valid name." if what == "deployment name" else None,
        )
    return label


_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def role_name(component: str) -> str:
    """A DGD component name as a role name: ``TRTLLMDecodeWorker`` → ``trtllm-decode-worker``."""
    split = _HUMP.sub("-", component).lower().replace("_", "-")
    cleaned = re.sub(r"[^a-z0-9-]+", "-", split).strip("-")
    if cleaned and not cleaned[0].isalpha():
        cleaned = f"w-{cleaned}"
    return cleaned[:32].rstrip("-") or "worker"


def profile_name(name: str) -> str:
    """A DGD name as a profile name (the profile rule's normalisation), or "imported"."""
    return name_from(name) or "imported"
