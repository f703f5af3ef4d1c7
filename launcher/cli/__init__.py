"""The ``trtl`` command line: one group, one module per command.

This is the one place that talks to users about failures: a ``TrtlError`` becomes one
red line plus its hint on stderr and the error's exit code. Anything else is a bug; it
shows a traceback only with ``TRTL_DEBUG=1`` and never exits 0.
"""

from __future__ import annotations

import os

import click

from profiles.errors import TrtlError

from .output import error_line

__all__ = ["cli", "main"]


class TrtlGroup(click.Group):
    """The root group: turns errors into one line and an exit code, for every command."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TrtlError as exc:
            error_line(exc.message, exc.hint)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
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


def _register() -> None:
    from . import chat, doctor, down, export, import_, logs, plan, profiles, ps, schema, status, up

    for command in (
        plan.plan,
        up.up,
        status.status,
        logs.logs,
        chat.chat,
        down.down,
        ps.ps,
        export.export,
        import_.import_,
        doctor.doctor,
        profiles.profiles,
        schema.schema,
    ):
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="trtl")
