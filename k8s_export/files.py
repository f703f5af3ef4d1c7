"""The file side of export and import: YAML text in and out, and DGD files as profiles.

Pure except for reading the file it is given; writing is the command line's job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profiles.schema import Profile

from .names import KIND
from .yamlio import dump, dump_all, is_kubernetes_text, load_documents


def is_kubernetes_file(path: Path) -> bool:
    """Whether ``path`` holds Kubernetes objects rather than a trtl profile (cheap check)."""
    try:
        return is_kubernetes_text(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False


def read_dgd(path: Path, notes: list[str] | None = None) -> Profile:
    """The profile a DGD file (with its ConfigMaps) describes. Raises ProfileError."""
    from .from_dgd import parse

    return parse(load_documents(path), label=str(path), notes=notes)


def load_dgd(
    path: Path,
    *,
    overrides: tuple[str, ...] | list[str] = (),
    model: str | None = None,
    engine: str | None = None,
    notes: list[str] | None = None,
) -> Profile:
    """A DGD file as a profile with ``--set``/``--model``/``--engine`` applied, as for a profile."""
    from profiles.loader import validate
    from profiles.overrides import apply_overrides
    from profiles.yaml_source import Sourced

    profile = read_dgd(path, notes)
    assignments = list(overrides)
    for key, value in (("model", model), ("engine", engine)):
        if value is not None:
            assignments.append(f"{key}='{value.replace(chr(39), chr(39) * 2)}'")
    if not assignments:
        return profile
    data = profile.model_dump(mode="json", exclude={"extends"})
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
    lines = [f"# trtl profile imported from {source} by `trtl import`."]
    lines += [f"# note: {note}" for note in notes]
    return "\n".join(lines) + "\n" + dump(data)
