"""Turn pydantic's validation errors into sentences that name file, line and field."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from .errors import brief
from .names import NAME_PATTERN, name_problem
from .overrides import looks_secret
from .schema import ENV_NAME_PATTERN
from .yaml_source import Sourced

MAX_LINES = 5


def describe_errors(
    exc: ValidationError, sourced: Sourced, fields_at: Callable[[tuple[Any, ...]], list[str]]
) -> list[str]:
    """One line per problem: ``file:line: dotted.field: what is wrong.``"""
    lines = []
    for error in exc.errors(include_url=False)[:MAX_LINES]:
        loc = _clean_loc(error["loc"])
        where = sourced.origin(loc) or (str(sourced.origin_file) if sourced.origin_file else "")
        field = ".".join(_shown(p) for p in loc)
        if looks_secret(field, repr(error.get("input"))):
            error = {**error, "input": "***"}  # a token in the wrong place is still a token
        text = _sentence(error, loc, fields_at)
        prefix = f"{where}: " if where else ""
        lines.append(f"{prefix}{field}: {text}" if field else f"{prefix}{text}")
    hidden = len(exc.errors()) - MAX_LINES
    if hidden > 0:
        lines.append(f"... and {hidden} more problems.")
    return lines


def _shown(part: Any) -> str:
    # A key is user input: a raw carriage return or escape sequence would garble the line.
    text = str(part)
    return text if text.isprintable() else repr(text)


# Parts pydantic adds to a location: union branch names and the marker for a dict key.
_PYDANTIC_TAGS = {"[key]", "str", "dict[str,any]"}


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        part
        for part in loc
        if not (isinstance(part, str) and (part in _PYDANTIC_TAGS or part.startswith("function-")))
    )


def _sentence(error: dict[str, Any], loc: tuple[Any, ...], fields_at: Callable) -> str:
    kind = error["type"]
    value = error.get("input")
    quoted = brief(repr(value))
    if kind == "extra_forbidden":
        known = fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        guess = f"; did you mean '{close[0]}'?" if close else "."
        listed = f" Known fields: {', '.join(known)}." if known else ""
        return f"unknown field{guess}{listed}"
    if kind == "too_short" and loc == ("workers",):
        return (
            "no worker role is left; a profile needs at least one "
            "(e.g. workers: {worker: {mode: agg}})."
        )
    if kind == "missing":
        return "required, but missing."
    if kind == "literal_error":
        choices = error.get("ctx", {}).get("expected", "")
        return f"must be one of {choices.replace(' or ', ', ')}, not {quoted}."
    if (
        kind == "string_pattern_mismatch"
        and error.get("ctx", {}).get("pattern") == ENV_NAME_PATTERN
    ):
        return f"{quoted} is not a valid environment variable name."
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == NAME_PATTERN:
        return name_problem(str(value)) + "."
    if kind == "string_pattern_mismatch" and "[key]" in map(str, error["loc"]):
        return (
            f"{quoted} is not a valid name: use lowercase letters, digits, '-' and '_', "
            "starting with a letter."
        )
    if kind == "string_pattern_mismatch":
        return f"{quoted} is not valid: use lowercase letters, digits, '-' and '_'."
    message = error["msg"].removeprefix("Value error, ")
    if kind in {"value_error", "assertion_error"}:
        return message.rstrip(".") + "."
    return f"{message.rstrip('.')} (got {quoted})."
