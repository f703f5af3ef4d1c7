"""Profile → DynamoGraphDeployment export and import (``trtl export --k8s``, ``trtl import``).

    names      DNS-1123 names and the API versions
    shapes     both DGD API versions ↔ one neutral Graph/Component shape
    to_dgd     Profile → [ConfigMap,] DGD dicts, from the engine table
    from_dgd   DGD (+ ConfigMaps) → Profile;  roles/commands read worker commands back
    pods       the profile's k8s sections ↔ container and pod fields
    configmaps engine configs as a mounted ConfigMap, both ways
    residual   the trtl.dev/profile annotation: what the graph cannot say
    validate   trtl's structural rules, and a CRD converted to JSON Schema
    yamlio     YAML that Kubernetes reads back unchanged
    files, explanation   what the command line needs

Modules load on first use, so ``trtl plan`` never pays for them.
"""

from __future__ import annotations

from trtl.profiles.lazy import lazy_exports

_HOMES = {
    "check_crd": ".validate",
    "check_structure": ".validate",
    "crd_schema": ".validate",
    "default_image": ".images",
    "describe": ".images",
    "explain": ".explanation",
    "export_yaml": ".files",
    "is_kubernetes_file": ".files",
    "load_dgd": ".files",
    "needs_image": ".images",
    "parse": ".from_dgd",
    "profile_yaml": ".files",
    "read_dgd": ".files",
    "render": ".to_dgd",
    "render_notes": ".to_dgd",
}

__all__ = sorted(_HOMES)

__getattr__ = lazy_exports(__name__, _HOMES)
