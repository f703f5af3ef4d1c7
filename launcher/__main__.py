"""``python -m trtl.launcher`` is ``trtl``, and ``main`` is the ``trtl`` console script.

A foreground ``trtl up`` repeated unchanged starts from its cached plan
(``launcher.deployments.cached_up``) before click or pydantic is imported; everything else,
and any doubt about the cache, goes to the click CLI.
"""

from __future__ import annotations

import os
import sys

NO_CACHE_ENV = "TRTL_NO_PLAN_CACHE"  # set to anything: always validate (and never keep)


def main() -> None:
    """Console-script entry point."""
    try:
        _main()
    except KeyboardInterrupt:
        # A Ctrl-C while trtl imports, before the command line handles it: one line, not
        # a traceback through click's imports.
        print("interrupted (Ctrl-C)", file=sys.stderr, flush=True)
        sys.exit(130)


def _main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["up"] and not os.environ.get(NO_CACHE_ENV):
        from trtl.launcher.deployments.cached_up import cached_up

        code = cached_up(args[1:])
        if code is not None:
            sys.exit(code)
        from trtl.launcher.planning import plan_cache  # after: it imports pathlib, dataclasses

        plan_cache.ENTRY_ARGS = args[1:]
    from trtl.launcher.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
