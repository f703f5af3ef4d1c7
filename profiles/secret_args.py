"""Command-line flags whose value is a secret, for plans (masked) and exports (refused).

vLLM's ``--hf-token`` takes any token string (or none: then the cached login is used), and
``--auth-token``/``--api-key`` and ``*-secret``/``*-password`` flags are secrets wherever
they appear. Not every "-token" flag is one: vLLM's ``--kv-bytes-per-token`` is a number.
"""

from __future__ import annotations

import re

SECRET_FLAG = re.compile(
    r"^--(hf-token|auth-token|api-key|[a-z0-9-]*-(secret|password|passwd|access-key|credentials?))$",
    re.I,
)


def secret_flag_value(args: list[str], i: int) -> bool:
    """Whether ``args[i]`` is the literal value of a secret flag: ``X`` in ``--hf-token X``,
    or ``--hf-token=X`` itself."""
    flag, eq, value = args[i].partition("=")
    if eq and SECRET_FLAG.match(flag):
        return bool(value)
    return i > 0 and bool(SECRET_FLAG.match(args[i - 1])) and not args[i].startswith("-")


def secret_flag(args: list[str]) -> str | None:
    """The first secret flag in ``args`` that is given a literal value, or None."""
    for i in range(len(args)):
        if secret_flag_value(args, i):
            return args[i].partition("=")[0] if "=" in args[i] else args[i - 1]
    return None
