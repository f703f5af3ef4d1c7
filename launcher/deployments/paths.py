"""Where a deployment keeps its files: ``$XDG_STATE_HOME/trtl/<deployment>/``.

The run directory holds the private discovery directory (``DYN_FILE_KV``), the engine
config files trtl writes, the logs and the supervisor's state. It is private to the user,
and so is the state root (other users could otherwise list the deployments' names).

A deployment name becomes a directory, a Dynamo namespace and, through ``trtl export``,
a Kubernetes name: ``check_name`` is the one rule every command applies to it, and
``RunDir.for_deployment`` applies it again, so no name ever reaches the file system
unchecked (``../x`` or a trailing newline included).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from trtl.profiles.errors import ProfileError

TYPE_CHECKING = False  # not typing's: the cached start imports this module
if TYPE_CHECKING:
    from collections.abc import Mapping

# Like a profile name (profiles.schema.NAME_PATTERN), matched whole: `$` of re.match would
# accept a trailing newline. With '_' as '-' it is a DNS-1123 label (Kubernetes' rule).
DEPLOYMENT_NAME = re.compile(r"[a-z0-9]([a-z0-9_-]{0,38}[a-z0-9])?")
NAME_RULE = (
    "use up to 40 lowercase letters, digits, '-' and '_', starting and ending with a letter "
    "or digit"
)


def check_name(name: object, flag: str = "deployment name") -> str:
    """``name`` if it is a valid deployment name; raises ProfileError (exit 2) otherwise."""
    if not isinstance(name, str) or not DEPLOYMENT_NAME.fullmatch(name):
        raise ProfileError(f"{flag} {name!r} is not a valid deployment name: {NAME_RULE}.")
    return name


def state_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/trtl`` (default ``~/.local/state/trtl``), as a process with
    ``environ`` (default: this one's) computes it."""
    env = os.environ if environ is None else environ
    if env.get("XDG_STATE_HOME"):
        return Path(env["XDG_STATE_HOME"]) / "trtl"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".local" / "state" / "trtl"


@dataclass(frozen=True)
class RunDir:
    """The files of one deployment."""

    root: Path

    @classmethod
    def for_deployment(cls, deployment: str) -> RunDir:
        """The run dir of ``deployment``; raises ProfileError for an invalid name."""
        return cls(state_home() / check_name(deployment))

    @property
    def discovery(self) -> Path:
        return self.root / "discovery"

    @property
    def engine_configs(self) -> Path:
        return self.root / "engine"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def previous_logs(self) -> Path:
        """The logs of the run before the current one (``trtl logs --previous``)."""
        return self.root / "logs.previous"
