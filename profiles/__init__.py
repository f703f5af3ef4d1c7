"""Profiles: the typed description of a Dynamo serving graph, and its engine table.

This room knows nothing of processes or Kubernetes; ``launcher`` and ``k8s_export`` build
on it.
"""

from .engines import ComponentSpec, component_specs
from .errors import ExportError, PlacementError, ProfileError, SupervisorError, TrtlError
from .loader import list_profiles, load_profile
from .schema import Frontend, Profile, WorkerRole

__all__ = [
    "ComponentSpec",
    "ExportError",
    "Frontend",
    "PlacementError",
    "Profile",
    "ProfileError",
    "SupervisorError",
    "TrtlError",
    "WorkerRole",
    "component_specs",
    "list_profiles",
    "load_profile",
]
