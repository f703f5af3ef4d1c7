"""Profiles: the typed description of a Dynamo serving graph, and its engine table.

This room knows nothing of processes or Kubernetes; ``launcher`` and ``k8s_export`` build
on it.
"""

from __future__ import annotations

from .lazy import lazy_exports

# Loaded on first use, so importing profiles.errors does not build the pydantic models.
_HOMES = {
    "ComponentSpec": ".engines",
    "component_specs": ".engines",
    "ExportError": ".errors",
    "PlacementError": ".errors",
    "ProfileError": ".errors",
    "SupervisorError": ".errors",
    "TrtlError": ".errors",
    "list_profiles": ".loader",
    "load_profile": ".loader",
    "Frontend": ".schema",
    "Profile": ".schema",
    "WorkerRole": ".schema",
}

__all__ = sorted(_HOMES)

__getattr__ = lazy_exports(__name__, _HOMES)
