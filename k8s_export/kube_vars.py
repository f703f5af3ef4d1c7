"""Variable references in a container's command line, expanded as the cluster expands them.

Two expansions happen, in this order, before a DGD worker runs:

- the kubelet's: ``$(VAR)`` in ``command``/``args`` becomes the value of ``VAR`` from the
  container's ``env``; ``$$`` is an escaped ``$`` (``$$(VAR)`` stays the text ``$(VAR)``);
  a reference to a variable the kubelet does not know (undefined, or set through
  ``valueFrom``) stays as written. ``kubelet_expand`` follows the kubelet's own algorithm
  (``third_party/forked/golang/expansion`` in Kubernetes) character by character.
- the shell's, inside a shell-wrapped script: ``$VAR`` and ``${VAR}`` (with ``${VAR:-x}``
  and ``${VAR-x}`` defaults) from the shell's variables, which start as the container's
  env. ``shell_expand`` does that for one word whose quotes the lexer already removed.

Locally trtl runs the expanded value; the export writes the text as it was written.
"""

from __future__ import annotations

import re
from typing import Any

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}
SHELL_REF = re.compile(
    r"\$(?:(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\})"
)
# What an envsubst-style template leaves where a value belongs.
PLACEHOLDER = re.compile(r"^\s*\$\{[A-Za-z_][A-Za-z0-9_]*\}\s*$")


class Undefined(ValueError):
    """A shell reference to a variable nothing sets."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def env_values(entries: list[Any]) -> dict[str, str]:
    """The plain values of a container's ``env`` list, each expanded by the ones before it."""
    values: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, dict) or "valueFrom" in entry or "name" not in entry:
            continue
        raw = "" if entry.get("value") is None else str(entry["value"])
        values[str(entry["name"])] = kubelet_expand(raw, values)
    return values


def kubelet_expand(text: str, env: dict[str, str]) -> str:
    """``text`` with ``$(VAR)`` references expanded the way the kubelet does."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$" or i + 1 >= len(text):
            out.append(text[i])
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":  # escaped: one literal $
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end < 0:  # unterminated: the kubelet keeps it as written
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            out.append(env[name] if name in env else text[i : end + 1])
            i = end + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def has_kubelet_ref(text: str) -> bool:
    """Whether ``text`` holds a ``$(VAR)`` reference or a ``$$`` escape."""
    return "$(" in text or "$$" in text


def shell_expand(word: str, variables: dict[str, str]) -> str:
    """One word with ``$VAR``/``${VAR}`` expanded; raises Undefined for an unset variable.

    ``${VAR:-x}`` gives ``x`` when VAR is unset or empty, ``${VAR-x}`` when it is unset.
    """

    def one(match: re.Match[str]) -> str:
        name = match.group("bare") or match.group("name")
        op, default = match.group("op"), match.group("default")
        value = variables.get(name)
        if op == ":-" and not value:
            return shell_expand(default or "", variables)
        if op == "-" and value is None:
            return shell_expand(default or "", variables)
        if value is None:
            raise Undefined(name)
        return value

    return SHELL_REF.sub(one, word)


def has_shell_ref(word: str) -> bool:
    return SHELL_REF.search(word) is not None


def is_placeholder(value: Any) -> str | None:
    """The ``${NAME}`` an envsubst-style template left in ``value``, or None."""
    if isinstance(value, str) and PLACEHOLDER.match(value):
        return value.strip()
    return None
