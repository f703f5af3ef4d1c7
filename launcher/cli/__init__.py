"""The ``trtl`` command line: one group, one module per command.

This is the one place that talks to users about failures: a ``TrtlError`` becomes one
red line plus its hint on stderr and the error's exit code. Anything else is a bug; it
shows a traceback only with ``TRTL_DEBUG=1`` and never exits 0.

A closed pipe (``trtl logs NAME | head -1``, ``trtl ps | grep -q x``) is not an error: the
reader has what it wanted, so trtl exits quietly, as Python's documentation recommends
(stdout pointed at /dev/null so the final flush cannot fail again).

A command's module is imported only when that command runs (or ``--help`` lists them all):
every command pays for its own imports, not for its neighbours'.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import NoReturn

import click
from trtl.launcher.terminal import error_line
from trtl.profiles.errors import TrtlError

__all__ = ["cli", "main"]


# Command name -> the module under launcher.cli defining it (as a function of that name).
COMMANDS = {
    "plan": "plan",
    "up": "up",
    "status": "status",
    "logs": "logs",
    "chat": "chat",
    "down": "down",
    "ps": "ps",
    "rm": "rm",
    "top": "top",
    "apply": "apply",
    "scale": "scale",
    "restart": "restart",
    "export": "export",
    "import": "import_",
    "doctor": "doctor",
    "profiles": "profiles",
    "bench": "bench",
    "schema": "schema",
}


class TrtlGroup(click.Group):
    """The root group: turns errors into one line and an exit code, for every command."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            command = getattr(importlib.import_module(f".{module}", __name__), module)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TrtlError as exc:
            error_line(exc.message, exc.hint)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            # Before: click's bare "Aborted!" and exit 1. A command that stops processes on
            # Ctrl-C (up, bench) handles it itself and says so; this is a Ctrl-C before or
            # outside that.
            interrupted()
        except BrokenPipeError:
            closed_pipe_exit()
        except Exception as exc:
            if os.environ.get("TRTL_DEBUG"):
                raise
            error_line(
                f"internal error: {type(exc).__name__}: {exc}",
                "This is a trtl bug; run again with TRTL_DEBUG=1 for the traceback.",
            )
            ctx.exit(1)


@click.group(
    cls=TrtlGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="trtl", prog_name="trtl")
def cli() -> None:
    """Run NVIDIA Dynamo serving graphs locally, and export the same graph to Kubernetes."""


def interrupted() -> NoReturn:
    """Exit on a Ctrl-C no command handled: one line and 130, the shell's convention."""
    print("interrupted (Ctrl-C)", file=sys.stderr, flush=True)
    sys.exit(130)


def closed_pipe_exit() -> None:
    """Exit quietly because whoever read our output has gone (a closed pipe)."""
    # Python flushes stdout at exit; pointing it at /dev/null keeps that flush from raising
    # BrokenPipeError again and printing "Exception ignored ...".
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(1)  # what Python and click do on EPIPE: the output was cut short


def main() -> None:
    """Console-script entry point."""
    try:
        try:
            cli(prog_name="trtl")
        finally:
            sys.stdout.flush()  # a closed pipe shows here for output still in the buffer
    except BrokenPipeError:
        closed_pipe_exit()
