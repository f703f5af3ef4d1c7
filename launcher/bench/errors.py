"""The one error ``trtl bench`` adds to trtl's tree (see ``profiles.errors``).

TrtlError
└── BenchError   aiperf is missing, the target cannot be benchmarked, a level failed
"""

from __future__ import annotations

from trtl.profiles.errors import TrtlError


class BenchError(TrtlError):
    """A benchmark could not start or a level of it failed."""

    exit_code = 1
