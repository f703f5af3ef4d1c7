"""The errors trtl shows to users.

Every user mistake and every runtime failure that trtl can explain is raised as a
``TrtlError``; the command line catches it once, prints one red sentence plus a hint,
and exits with ``exit_code``. Anything else is a bug and gets a traceback.

    TrtlError                 message, hint, exit_code
    ├── ProfileError          a profile, override or DGD file is wrong      (exit 2)
    ├── PlacementError        too few GPUs, busy GPUs, bad --gpus           (exit 2)
    ├── PreflightError        a port is busy, an engine or model is missing (exit 2)
    ├── SupervisorError       a process could not start or keep running     (exit 1)
    └── ExportError           a profile cannot become a DynamoGraphDeployment (exit 2)
"""

from __future__ import annotations

import re

# A Hugging Face access token: never shown in a message, wherever the user typed it.
HF_TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{30,}")


# A message is one line: a value the user typed thousands of characters long is shown by
# its start.
MAX_SHOWN = 80


def brief(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters, ``…`` marking the cut (for messages)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TrtlError(Exception):
    """A failure trtl can explain in one sentence, with an optional hint on the fix."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"


class ProfileError(TrtlError):
    """A profile, a --set override or a DGD file is invalid."""

    exit_code = 2


class PlacementError(TrtlError):
    """The plan cannot be placed on the GPUs of this machine."""

    exit_code = 2


class PreflightError(TrtlError):
    """Something ``trtl up`` checks before starting anything is not there: nothing started."""

    exit_code = 2


class SupervisorError(TrtlError):
    """A supervised process could not be started or kept running."""

    exit_code = 1


class ExportError(TrtlError):
    """A profile cannot be written as a DynamoGraphDeployment."""

    exit_code = 2
