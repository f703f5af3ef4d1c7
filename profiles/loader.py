"""Find, merge, override and validate profiles.

A profile reference is a file path or a name. Names are looked up, first match wins, in
the project folder ``.trtl/profiles/``, the user folder ``$XDG_CONFIG_HOME/trtl/profiles/``
(``~/.config/trtl/profiles/``) and the built-ins shipped with trtl. A project or user
profile with a built-in's name overrides that built-in wherever the name is used (``trtl
profiles`` shows it as overriding). ``extends: NAME`` starts from another profile and merges
key by key (mappings merge, lists and values replace, ``null`` deletes); a profile that
extends its own name gets the next one down that list, so ``.trtl/profiles/disagg.yaml`` can
tweak the built-in ``disagg``. A built-in's own ``extends`` names built-ins only: a project's
``disagg.yaml`` changes what ``disagg`` means, never what ``disagg_router`` (which extends
the built-in ``disagg``) is. Then ``--set`` and the
``--model``/``--engine`` options apply, in that order, and the result is validated.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import ProfileError
from .names import NAME_RULE, name_from
from .overrides import apply_overrides
from .schema import Profile, nested_model
from .typed_text import refuse_retyped
from .validation_text import describe_errors
from .yaml_source import Sourced, deep_merge, is_stream, load_yaml_file

BUILTIN_DIR = Path(__file__).parent / "builtin"
MAX_EXTENDS_DEPTH = 16


@dataclass(frozen=True)
class ProfileSource:
    """Where a named profile lives."""

    name: str
    path: Path
    origin: str  # "project", "user", "built-in" or "file"


def search_dirs(cwd: Path | None = None) -> list[tuple[str, Path]]:
    """The folders searched for profile names, first match wins."""
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [
        ("project", (cwd or Path.cwd()) / ".trtl" / "profiles"),
        ("user", config_home / "trtl" / "profiles"),
        ("built-in", BUILTIN_DIR),
    ]


def list_profiles(cwd: Path | None = None) -> list[ProfileSource]:
    """Every profile found by name, the one a name resolves to first."""
    found: list[ProfileSource] = []
    for origin, folder in search_dirs(cwd):
        if folder.is_dir():
            for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
                found.append(ProfileSource(path.stem, path, origin))
    return found


def overridden_builtins(cwd: Path | None = None) -> dict[str, ProfileSource]:
    """Built-in name -> the project or user profile that a use of that name gets instead."""
    found = list_profiles(cwd)
    builtins = {p.name for p in found if p.origin == "built-in"}
    first: dict[str, ProfileSource] = {}
    for source in found:
        first.setdefault(source.name, source)
    return {name: first[name] for name in builtins if first[name].origin != "built-in"}


def is_file_reference(ref: str) -> bool:
    return os.sep in ref or ref.endswith((".yaml", ".yml")) or Path(ref).is_file()


def find_profile(
    name: str, cwd: Path | None = None, below: Path | None = None, *, builtin_only: bool = False
) -> ProfileSource:
    """The profile a name resolves to; ``below`` skips search results up to that file and
    ``builtin_only`` looks among the built-ins alone (what a built-in's ``extends`` sees)."""
    candidates = [
        p
        for p in list_profiles(cwd)
        if p.name == name and (p.origin == "built-in" or not builtin_only)
    ]
    if below is not None:
        paths = [p.path.resolve() for p in candidates]
        here = below.resolve()
        candidates = candidates[paths.index(here) + 1 :] if here in paths else candidates
    if candidates:
        return candidates[0]
    known = sorted({p.name for p in list_profiles(cwd)})
    close = difflib.get_close_matches(name, known, n=1)
    guess = f" Did you mean '{close[0]}'?" if close else ""
    raise ProfileError(
        f"No profile named '{name}'; known profiles: {', '.join(known)}.{guess}",
        hint="A file path works too, e.g. ./my-profile.yaml.",
    )


def load_profile(
    ref: str,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    model: str | None = None,
    engine: str | None = None,
    cwd: Path | None = None,
) -> Profile:
    """Resolve ``ref`` with its ``extends`` chain and overrides into a valid Profile.

    Raises ProfileError with file:line for anything wrong.
    """
    sourced = load_raw(ref, cwd=cwd)
    assignments = list(overrides)
    if model is not None:
        assignments.append(f"model={_quoted(model)}")
    if engine is not None:
        assignments.append(f"engine={_quoted(engine)}")
    sourced = apply_overrides(sourced, assignments)
    return validate(sourced)


def _quoted(value: str) -> str:
    # Keep a model such as "1e3" or "yes" a string when it goes through YAML parsing.
    return "'" + value.replace("'", "''") + "'"


def load_raw(ref: str, cwd: Path | None = None) -> Sourced:
    """The merged YAML data of ``ref`` and its ``extends`` chain, not yet validated."""
    if is_file_reference(ref):
        path = Path(ref).expanduser()
        # A pipe (`trtl plan /dev/stdin`, `<(kubectl get dgd x -o yaml)`) is read like a file.
        if not (path.is_file() or is_stream(path)):
            raise ProfileError(
                f"{ref}: no such profile file.",
                hint="Give a path to a YAML profile, or a name from `trtl profiles`.",
            )
        return _load_chain(path, cwd, [])
    return _load_chain(find_profile(ref, cwd).path, cwd, [])


def _load_chain(path: Path, cwd: Path | None, chain: list[Path]) -> Sourced:
    here = path.resolve()
    if here in chain or len(chain) >= MAX_EXTENDS_DEPTH:
        loop = " -> ".join(str(p) for p in [*chain, here])
        raise ProfileError(f"Profiles extend each other in a loop: {loop}.")
    source = load_yaml_file(path)
    _refuse_kubernetes_resource(source, path)
    refuse_retyped(source)
    data = dict(source.data)
    if "name" not in data:
        # A profile's name is its own: a file without `name:` is named after the file.
        data["name"] = _name_of_file(path)
    parent_ref = data.pop("extends", None)
    own = Sourced(data, source.origins, path)
    if parent_ref is None:
        return own
    if not isinstance(parent_ref, str) or not parent_ref:
        raise ProfileError(f"{source.origin(('extends',))}: extends must name a profile.")
    if is_file_reference(parent_ref):
        parent_path = (path.parent / Path(parent_ref).expanduser()).resolve()
        if not parent_path.is_file():
            raise ProfileError(
                f"{source.origin(('extends',))}: extends {parent_ref}, but "
                f"{path.parent / parent_ref} does not exist: a path in extends is relative to "
                "the folder of the profile that names it."
            )
    else:
        below = path if parent_ref == path.stem else None
        builtin = here.parent == BUILTIN_DIR.resolve()
        try:
            parent_path = find_profile(parent_ref, cwd, below=below, builtin_only=builtin).path
        except ProfileError as exc:
            raise ProfileError(f"{source.origin(('extends',))}: {exc.message}", exc.hint) from exc
    parent = _load_chain(parent_path, cwd, [*chain, here])
    # Its name, and where it was written, are the parent's own: an error about this
    # profile's name must never point into the parent.
    parent.data.pop("name", None)
    parent.origins.pop(("name",), None)
    return deep_merge(parent, own)


def _name_of_file(path: Path) -> str:
    """The name of a profile file without ``name:``: its file name, made valid
    (``MyDisagg.yaml`` -> ``mydisagg``); raises ProfileError if nothing valid is left."""
    derived = name_from(path.stem)
    if derived is None:
        raise ProfileError(
            f"{path}: the profile's name comes from the file name {path.stem!r}, which has "
            f"no letter or digit to make one of; add `name: …` to the file ({NAME_RULE})."
        )
    return derived


def _refuse_kubernetes_resource(source: Sourced, path: Path) -> None:
    if "apiVersion" in source.data and "kind" in source.data:
        raise ProfileError(
            f"{path}: this is a Kubernetes {source.data.get('kind')}, not a trtl profile.",
            hint=f"`trtl import {path} -o PROFILE.yaml` turns a DynamoGraphDeployment into a "
            "profile; `trtl plan` and `trtl up` also read the DGD file directly.",
        )


def validate(sourced: Sourced) -> Profile:
    """Validate merged data into a Profile; raises ProfileError naming file:line and field."""
    try:
        return Profile.model_validate(sourced.data)
    except ValidationError as exc:
        lines = describe_errors(exc, sourced, _fields_at)
        raise ProfileError(
            lines[0] if len(lines) == 1 else "Profile is invalid:\n  " + "\n  ".join(lines)
        ) from exc


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model found at ``loc``, for 'did you mean' hints."""
    model: Any = Profile
    keyed = None
    for part in loc:
        if keyed is not None:
            model, keyed = keyed, None
            continue
        if model is None or part not in model.model_fields:
            return []
        model, keyed = nested_model(model.model_fields[part].annotation)
    return list(model.model_fields) if model is not None and keyed is None else []
