"""Where a deployment keeps its files: ``$XDG_STATE_HOME/trtl/<deployment>/``.

The run directory holds the private discovery directory (``DYN_FILE_KV``), the engine
config files trtl writes, the logs and the supervisor's state. It is private to the user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def state_home() -> Path:
    """``$XDG_STATE_HOME/trtl`` (default ``~/.local/state/trtl``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "trtl"


@dataclass(frozen=True)
class RunDir:
    """The files of one deployment."""

    root: Path

    @classmethod
    def for_deployment(cls, deployment: str) -> RunDir:
        return cls(state_home() / deployment)

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
