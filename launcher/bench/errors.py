"""The errors ``trtl bench`` adds to trtl's tree (see ``profiles.errors``).

TrtlError
└── BenchError   aiperf is missing, the target cannot be benchmarked, a level failed

KeyboardInterrupt
└── Interrupted  SIGINT, SIGTERM or SIGHUP ended the bench (not a TrtlError: nothing failed)
"""

from __future__ import annotations

import signal

from trtl.profiles.errors import TrtlError


class BenchError(TrtlError):
    """A benchmark could not start or a level of it failed."""

    exit_code = 1


class Interrupted(KeyboardInterrupt):
    """A stop signal ended the bench; ``exit_code`` is 128 + the signal (130, 143, 129)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
