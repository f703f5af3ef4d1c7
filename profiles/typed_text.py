"""Env values and extra_args items are text: YAML's typing must not change them on the way.

YAML 1.1 reads ``yes`` as true, ``0755`` as 493, ``1.10`` as 1.1, ``12:30`` as 750 and
``0x1F`` as 31. A process, and Kubernetes (whose env values are strings), would get the
changed text without a word. In a profile file such a value is refused with the fix (quote
it); a value whose text is exactly what trtl passes on (``PORT: 8000``, ``DEBUG: true``) is
fine. A ``--set`` value for these settings is kept as the text typed
(``--set env.NCCL_VER=2.10`` is ``2.10``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .errors import ProfileError
from .schema import Profile, nested_model, scalar_text
from .yaml_source import KeyPath, Sourced

# Fields that hold text, and how many keys below them the text is: env.NAME,
# extra_args.INDEX, role_extra_args.ROLE.INDEX.
TEXT_FIELDS = {"env": (str,), "extra_args": (int,), "role_extra_args": (str, int)}


def is_text_path(path: KeyPath) -> bool:
    """Whether ``path`` names an env value or an extra_args item of the profile format."""
    model: type[BaseModel] | None = Profile
    depth = 0
    while model is not None and depth < len(path):
        part = path[depth]
        if not isinstance(part, str) or part not in model.model_fields:
            return False
        rest = path[depth + 1 :]
        below = TEXT_FIELDS.get(part)
        if below is not None:
            return len(rest) == len(below) and all(map(isinstance, rest, below))
        model, keyed = nested_model(model.model_fields[part].annotation)
        depth += 1
        if keyed is not None:  # a mapping of worker roles: skip the role's name
            model, depth = keyed, depth + 1
    return False


def refuse_retyped(source: Sourced) -> None:
    """Raise ProfileError for the first env value or extra_args item of a file that YAML
    typing changed (``D: 1.10`` is the number 1.1), naming file:line and the fix."""
    for path, text in source.texts.items():
        value = _at(source.data, path)
        if scalar_text(value) == text or not is_text_path(path):
            continue
        dotted = ".".join(str(part) for part in path)
        quoted = "'" + text.replace("'", "''") + "'"
        fix = f"{path[-1]}: {quoted}" if isinstance(path[-1], str) else quoted
        raise ProfileError(
            f"{source.origin(path)}: {dotted}: {text} is read as {_kind(value)}; quote it: {fix}."
        )


def as_typed(value: Any, texts: dict[KeyPath, str], at: KeyPath) -> Any:
    """A ``--set`` value for ``at``: each scalar that lands on an env value or an extra_args
    item is the text typed (``texts``, by path inside the value), not what YAML made of it."""
    for inner, text in texts.items():
        if is_text_path((*at, *inner)):
            value = _replaced(value, inner, text)
    return value


def _at(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _replaced(value: Any, path: KeyPath, text: str) -> Any:
    if not path:
        return text
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, text)}
    items = list(value)
    items[head] = _replaced(items[head], rest, text)  # type: ignore[index]
    return items


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {scalar_text(value)}"
    return f"the number {value}"
