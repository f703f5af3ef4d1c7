"""The one rule for what is a secret: a setting's name, and a value's shape.

A name (an environment variable, a command-line flag, a dotted ``--set`` key) is a secret's
when one of its words says so: ``SECRET``, ``PASSWORD``/``PASSWD``, ``CREDENTIAL(S)``,
``API_KEY``/``APIKEY``, ``ACCESS_KEY``, or ``TOKEN`` not counted by a word beside it
(``HF_TOKEN``, ``--hf-token``, ``--auth-token``, ``NGC_API_KEY_FILE``; not vLLM's
``--kv-bytes-per-token`` nor ``MAX_TOKEN``, which are numbers). Erring towards "secret" is
cheap: a masked value or a refused literal, never a leaked one. A value is a secret when
it is shaped like a Hugging Face token (``hf_`` and 30+ letters or digits), whatever holds
it. Plans mask secret values, exports refuse them, imports drop them.
"""

from __future__ import annotations

import re

from .errors import HF_TOKEN_PATTERN

_SECRET_WORDS = {"secret", "secrets", "password", "passwd", "credential", "credentials", "apikey"}
_SECRET_PAIRS = {("api", "key"), ("access", "key")}
# "TOKEN" next to these is a count or a size, not a credential.
_COUNTING = {"per", "max", "min", "num", "bytes", "size", "limit", "budget"}

__all__ = ["HF_TOKEN_PATTERN", "secret_flag", "secret_flag_value", "secret_name"]


def secret_name(name: object) -> bool:
    """Whether a setting called ``name`` holds a secret (see the module docstring)."""
    words = [w.lower() for w in re.split(r"[^A-Za-z0-9]+", str(name)) if w]
    for i, word in enumerate(words):
        if word in _SECRET_WORDS or tuple(words[i : i + 2]) in _SECRET_PAIRS:
            return True
        counted = {*words[max(i - 1, 0) : i], *words[i + 1 : i + 2]} & _COUNTING
        if word == "token" and not counted:
            return True
    return False


def _secret_flag(flag: str) -> bool:
    return flag.startswith("--") and secret_name(flag)


def secret_flag_value(args: list[str], i: int) -> bool:
    """Whether ``args[i]`` is the literal value of a secret flag: ``X`` in ``--hf-token X``,
    or ``--hf-token=X`` itself."""
    flag, eq, value = args[i].partition("=")
    if eq and _secret_flag(flag):
        return bool(value)
    return i > 0 and _secret_flag(args[i - 1]) and not args[i].startswith("-")


def secret_flag(args: list[str]) -> str | None:
    """The first secret flag in ``args`` that is given a literal value, or None."""
    for i in range(len(args)):
        if secret_flag_value(args, i):
            return args[i].partition("=")[0] if "=" in args[i] else args[i - 1]
    return None
