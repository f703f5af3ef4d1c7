"""The OpenAI-compatible frontend (``python -m dynamo.frontend``): the same for every engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..identity import LOCAL_ONLY_FLAGS
from .argv import refuse_owned_flags, take
from .base import ComponentSpec

if TYPE_CHECKING:
    from ..schema import Profile

MODULE = "dynamo.frontend"
# Flags that profile fields own: setting them in extra_args would contradict the profile.
OWNED = {
    **LOCAL_ONLY_FLAGS,
    "--router-mode": "frontend.router_mode",
    "--migration-limit": "frontend.migration_limit",
    "--http-port": "frontend.http_port (or --port)",
}
READ_FLAGS = {"--router-mode", "--migration-limit", *LOCAL_ONLY_FLAGS}


def frontend_args(profile: Profile) -> list[str]:
    """The frontend's args after ``python -m dynamo.frontend``. Raises ProfileError."""
    fe = profile.frontend
    args = ["--router-mode", fe.router_mode]
    if fe.migration_limit:
        args += ["--migration-limit", str(fe.migration_limit)]
    refuse_owned_flags(fe.extra_args, OWNED, "frontend.extra_args")
    return args + fe.extra_args


def read_frontend(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """(values of the flags profile fields hold, the remaining flags) of a frontend argv."""
    values, _, rest = take(args, READ_FLAGS)
    return values, rest


__all__ = ["MODULE", "OWNED", "ComponentSpec", "frontend_args", "read_frontend"]
