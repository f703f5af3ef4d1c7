"""The file side of export and import: YAML text in and out, and DGD files as profiles.

Pure except for reading the file it is given; writing is the command line's job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trtl.profiles.errors import ProfileError
from trtl.profiles.schema import Profile

from .names import KIND
from .yamlio import dump, dump_all, is_kubernetes_text, load_documents


def is_kubernetes_file(path: Path) -> bool:
    """Whether ``path`` holds Kubernetes objects rather than a trtl profile (cheap check)."""
    from trtl.profiles.yaml_source import read_text_file

    try:
        return is_kubernetes_text(read_text_file(path))
    except ProfileError:  # unreadable or oversized: the profile loader says so
        return False


# What a reader of malformed data raises; READ_ERRORS never reach the user as a traceback.
READ_ERRORS = (AttributeError, TypeError, ValueError, KeyError, IndexError)


def read_dgd(path: Path, notes: list[str] | None = None) -> Profile:
    """The profile a DGD file (with its ConfigMaps) describes. Raises ProfileError."""
    from .from_dgd import parse

    docs = load_documents(path)
    try:
        return parse(docs, label=str(path), notes=notes)
    except READ_ERRORS as exc:
        # dgd_types checks the fields trtl reads; this is the net for what it misses.
        raise ProfileError(
            f"{path}: trtl cannot read this DynamoGraphDeployment: a field has an unexpected "
            f"shape ({type(exc).__name__}: {exc}).",
            hint="Check the file against `kubectl explain dynamographdeployment.spec`.",
        ) from exc


def load_dgd(
    path: Path,
    *,
    overrides: tuple[str, ...] | list[str] = (),
    model: str | None = None,
    engine: str | None = None,
    notes: list[str] | None = None,
) -> Profile:
    """A DGD file as a profile with ``--set``/``--model``/``--engine`` applied, as for a profile."""
    from trtl.profiles.loader import validate
    from trtl.profiles.overrides import apply_overrides
    from trtl.profiles.yaml_source import Sourced

    profile = read_dgd(path, notes)
    assignments = list(overrides)
    for key, value in (("model", model), ("engine", engine)):
        if value is not None:
            assignments.append(f"{key}='{value.replace(chr(39), chr(39) * 2)}'")
    if not assignments:
        return profile
    # Only what was set: the engine table tells a set parallelism from a default one.
    data = profile.model_dump(mode="json", exclude_unset=True, exclude={"extends"})
    return validate(apply_overrides(Sourced(data, {}, path), assignments))


def export_yaml(docs: list[dict[str, Any]], source: str) -> str:
    """The YAML stream to apply, with a short comment saying where it came from."""
    dgd = docs[-1]
    header = (
        f"# {KIND} {dgd['metadata']['name']} ({dgd['apiVersion']}), written by "
        f"`trtl export --k8s` from {source}.\n"
        "# Each role runs the arguments `trtl plan` shows; `trtl export --explain` lists "
        "what differs.\n"
    )
    return header + dump_all(docs)


def profile_yaml(profile: Profile, source: str, notes: list[str]) -> str:
    """A profile file: only what differs from the defaults, notes as comments on top."""
    data = profile.model_dump(mode="json", exclude_defaults=True, exclude={"extends"})
    for name, role in profile.workers.items():
        # Set to the default is still set: the engine table then passes the flag.
        for key in ("tensor_parallel_size", "pipeline_parallel_size"):
            if key in role.model_fields_set and key not in data["workers"][name]:
                data["workers"][name][key] = getattr(role, key)
    lines = [f"# trtl profile imported from {source} by `trtl import`."]
    lines += [f"# note: {note}" for note in notes]
    return "\n".join(lines) + "\n" + dump(data)
