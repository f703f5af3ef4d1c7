"""Profile names: the rule they follow, and how other text becomes one.

A profile's name is also the default deployment name, so it is short and plain:
``NAME_PATTERN`` (lowercase letters, digits, ``-`` and ``_``, at most ``MAX_NAME_LENGTH``).
Text that names a profile without being written as one (a file name such as
``qwen3.5-disagg.yaml``, a DGD's ``metadata.name``) is normalised by ``name_from``.
"""

from __future__ import annotations

import re

from .errors import brief

MAX_NAME_LENGTH = 40
NAME_PATTERN = rf"^[a-z0-9]([a-z0-9_-]{{0,{MAX_NAME_LENGTH - 2}}}[a-z0-9])?$"
NAME_RULE = (
    f"use up to {MAX_NAME_LENGTH} lowercase letters, digits, '-' and '_', "
    "starting and ending with a letter or digit"
)


def name_from(text: str) -> str | None:
    """``text`` as a valid profile name: lower case, other characters become ``-``, cut to
    ``MAX_NAME_LENGTH`` (``qwen3.5-disagg`` → ``qwen3-5-disagg``); None if nothing is left."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return cleaned[:MAX_NAME_LENGTH].rstrip("-_") or None


def name_problem(name: str) -> str:
    """Why ``name`` (which breaks NAME_PATTERN) is no profile name: its length or its
    characters."""
    if len(name) > MAX_NAME_LENGTH and re.fullmatch(r"[a-z0-9]([a-z0-9_-]*[a-z0-9])?", name):
        return (
            f"{brief(repr(name))} is {len(name)} characters long; a profile name has at "
            f"most {MAX_NAME_LENGTH}"
        )
    return f"{brief(repr(name))} is not valid: {NAME_RULE}"
