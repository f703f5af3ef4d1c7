"""The one reader of command-line flags, with argparse's semantics.

Every place that looks into an argv (the engine table, the local plan, preflight, import)
reads it here, so they agree: ``--flag value`` and ``--flag=value`` are the same setting,
a repeated flag keeps its last value (as argparse does), and a flag at the very end has an
empty value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from ..errors import ProfileError


class Taken(NamedTuple):
    """What ``take`` found in an argv."""

    values: dict[str, str]  # flag -> its (last) value
    switches: set[str]  # switches present
    rest: list[str]  # everything else, in order


def flag_name(arg: str) -> str:
    """``--foo=1`` → ``--foo``; anything else unchanged."""
    return arg.partition("=")[0] if arg.startswith("-") else arg


def take(args: list[str], flags: Iterable[str], switches: Iterable[str] = frozenset()) -> Taken:
    """(values of ``flags``, ``switches`` present, remaining args in order)."""
    flags, switches = set(flags), set(switches)
    values: dict[str, str] = {}
    seen: set[str] = set()
    rest: list[str] = []
    i = 0
    while i < len(args):
        flag, eq, value = args[i].partition("=")
        if flag in flags:
            if not eq:
                value = args[i + 1] if i + 1 < len(args) else ""
                i += 1
            values[flag] = value
        elif args[i] in switches:
            seen.add(args[i])
        else:
            rest.append(args[i])
        i += 1
    return Taken(values, seen, rest)


def value_of(args: list[str], flag: str) -> str | None:
    """The value ``flag`` is given last, or None when it is absent."""
    return take(args, {flag}).values.get(flag)


def with_value(args: list[str], flag: str, value: str) -> list[str]:
    """``args`` with the last ``flag`` set to ``value`` (appended when absent)."""
    out = list(args)
    for i in range(len(out) - 1, -1, -1):
        name, eq, _ = out[i].partition("=")
        if name == flag and eq:
            out[i] = f"{flag}={value}"
            return out
        if out[i] == flag and i + 1 < len(out):
            out[i + 1] = value
            return out
    return [*out, flag, value]


def int_flag(values: dict[str, str], flag: str, component: str, label: str) -> int | None:
    """The whole number a flag was given, None when absent; raises ProfileError otherwise."""
    if flag not in values:
        return None
    try:
        return int(values[flag])
    except ValueError:
        raise ProfileError(
            f"{label}: component {component!r}: {flag} expects a whole number, "
            f"got {values[flag]!r}."
        ) from None


def flag_value(values: dict[str, str], flag: str, component: str, label: str) -> str | None:
    """A flag's value, None when absent; raises ProfileError when the flag has none."""
    value = values.get(flag)
    if value is not None and not value.strip():
        raise ProfileError(f"{label}: component {component!r}: {flag} is given no value.")
    return value


class FlagTable(NamedTuple):
    """An engine's config-key flags, inverted for import."""

    values: dict[str, str]  # value flag -> config key
    switches: dict[str, tuple[str, bool]]  # switch -> (config key, on)


def inverted(table: dict[str, Callable[[Any], list[str]]]) -> FlagTable:
    """A ``key -> flags`` table read backwards: value flag → key, switch → (key, on)."""
    values: dict[str, str] = {}
    switches: dict[str, tuple[str, bool]] = {}
    for key, build in table.items():
        on, off = build(True), build(False)
        if len(on) == 2:
            values[on[0]] = key
        else:
            switches[on[0]] = (key, True)
            switches[off[0]] = (key, False)
    return FlagTable(values, switches)


def config_from_flags(table: FlagTable, values: dict[str, str], seen: set[str]) -> dict[str, Any]:
    """The engine-config keys that ``values``/``seen`` (from ``take``) stand for, nested."""
    flat = {table.values[f]: number(v) for f, v in values.items() if f in table.values}
    flat.update(dict(table.switches[s] for s in seen if s in table.switches))
    return nested(flat)


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def nested(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}``."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def number(text: str) -> Any:
    """A flag value as the engine config would hold it."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def compact(value: Any) -> str:
    """JSON as engines take it on the command line."""
    import json

    return json.dumps(value, separators=(",", ":"))


def switch(flag: str) -> Callable[[Any], list[str]]:
    """A BooleanOptionalAction flag: ``--x`` turns on, ``--no-x`` turns off."""
    return lambda v: [f"--{flag}" if v else f"--no-{flag}"]


def refuse_owned_flags(args: list[str], owned: dict[str, str], where: str) -> None:
    """Raise ProfileError for a flag in ``args`` that a profile field decides."""
    for arg in args:
        flag = flag_name(arg)
        if flag in owned:
            raise ProfileError(
                f"{where}: {flag} is decided by {owned[flag]}; remove it from {where}.",
            )


def dashed(args: list[str]) -> list[str]:
    """Flags as argparse engines (vLLM, SGLang) read them: ``--foo_bar=1`` is ``--foo-bar``."""
    return [flag_name(a).replace("_", "-") if a.startswith("--") else a for a in args]


def with_dashed(args: list[str], known: Iterable[str]) -> list[str]:
    """``args`` with known flags in their dashed form (``--kv_transfer_config=x`` →
    ``--kv-transfer-config=x``), so both spellings become the same profile field."""
    known = set(known)
    out = []
    for arg in args:
        flag, eq, value = arg.partition("=")
        spelled = flag.replace("_", "-")
        out.append(spelled + eq + value if flag.startswith("--") and spelled in known else arg)
    return out
