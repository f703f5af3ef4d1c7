"""``--set dotted.key=value`` overrides, checked against the profile format.

A path must name a setting the format has (``workers.decode.replicas``), or a new key
inside a free-form mapping (``env.DYN_LOG``, ``workers.decode.engine_config.max_batch_size``).
Values are read as YAML scalars, so ``2`` is a number, ``true`` a boolean and
``[a, b]`` a list; env values and extra_args items keep the text typed (``2.10``, ``on``).
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel

from .errors import HF_TOKEN_PATTERN, ProfileError, brief
from .schema import Profile, nested_model
from .secret_args import secret_name
from .typed_text import as_typed
from .yaml_source import KeyPath, Sourced, deep_merge, load_yaml_value


def looks_secret(key: str, value: str) -> bool:
    """Whether a setting named ``key`` holding ``value`` may be a secret, never to be shown
    (error messages and origins show ``***``); the rule is ``secret_args``'s."""
    return secret_name(key) or bool(HF_TOKEN_PATTERN.search(value))


def shown(text: str) -> str:
    """``--set`` text as messages may show it: secret-looking values masked."""
    key, sep, raw = text.partition("=")
    if sep and looks_secret(key, raw):
        return f"{key}=***"
    return text


def _printable(text: str) -> str:
    # Shown bare in messages, so a newline or escape typed into --set must not be raw.
    return text if text.isprintable() else repr(text)


def _label(text: str) -> str:
    """A ``--set`` assignment as messages name it: masked, printable and brief."""
    return brief(_printable(shown(text)))


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its path and YAML value; raises ProfileError."""
    key, sep, raw = text.partition("=")
    path = key.strip().split(".")
    if not sep or not key.strip() or any(not part for part in path):
        raise ProfileError(
            f"--set {brief(shown(text))!r}: expected dotted.key=value, "
            "e.g. --set workers.decode.replicas=2."
        )
    try:
        # As strict as a profile file: no timestamps, binary, deep nesting or alias bombs.
        texts: dict[KeyPath, str] = {}
        value = load_yaml_value(raw, "the value", texts) if raw.strip() else ""
    except ProfileError as exc:
        # The reason may quote the value: only where the value itself may be shown.
        reason = exc.message.split(": ", 1)[-1].rstrip(".")  # without "the value:1"
        why = f" ({reason})" if shown(text) == text else ""
        raise ProfileError(
            f"--set {brief(shown(text))!r}: the value is not valid YAML{why}."
        ) from exc
    # env values and extra_args items are text: `env.V=2.10` is 2.10, not the number 2.1.
    return path, as_typed(value, texts, tuple(path))


def apply_overrides(base: Sourced, assignments: list[str]) -> Sourced:
    """Apply ``--set`` assignments in order; raises ProfileError for unknown paths."""
    for text in assignments:
        path, value = parse_assignment(text)
        if path[0] == "extends":
            # The chain is merged before --set applies: a new base would be silently ignored.
            base_name = value if isinstance(value, str) and value else "NAME"
            raise ProfileError(
                "--set extends: the base of a profile cannot be overridden; write a profile "
                f"file with `extends: {brief(_printable(base_name))}`."
            )
        _check_path(path, base.data, text)
        nested: Any = value
        for part in reversed(path):
            nested = {part: nested}
        label = f"--set {_label(text)}"
        top = Sourced(nested, {tuple(path[:i]): label for i in range(1, len(path) + 1)})
        base = deep_merge(base, top)
    return base


def _check_path(path: list[str], data: dict[str, Any], text: str) -> None:
    """Walk the schema alongside the data so a typo is named, not silently added."""
    model: type[BaseModel] | None = Profile
    node: Any = data
    depth = 0
    while model is not None and depth < len(path):
        part = path[depth]
        fields = model.model_fields
        if part not in fields:
            where = ".".join(path[: depth + 1])
            raise ProfileError(
                f"--set {_label(text)}: the profile has no setting {where!r}."
                f"{_suggest(part, fields)}"
            )
        node = node.get(part) if isinstance(node, dict) else None
        model, keyed = nested_model(fields[part].annotation)
        depth += 1
        if keyed is not None and depth < len(path):
            # A mapping of worker roles: the role must exist; its fields are checked next.
            role = path[depth]
            if not isinstance(node, dict) or role not in node:
                known = ", ".join(sorted(node)) if isinstance(node, dict) and node else "none"
                raise ProfileError(
                    f"--set {_label(text)}: there is no worker role {role!r} "
                    f"(roles: {known}); "
                    "add it in a profile file."
                )
            model, node = keyed, node[role]
            depth += 1
    # Ran out of typed fields: inside a free-form mapping (env, engine_config) any key is fine.


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""
