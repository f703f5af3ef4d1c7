"""Terminal output: data to stdout, everything else to stderr, colour only when wanted."""

from __future__ import annotations

import os
import re
import sys

from trtl.profiles.errors import HF_TOKEN_PATTERN


def use_colour(stream) -> bool:
    """Colour on a terminal unless NO_COLOR is set (https://no-color.org)."""
    return not os.environ.get("NO_COLOR") and stream.isatty()


def style(text: str, stream=None, **styles) -> str:
    if not use_colour(stream or sys.stdout):
        return text
    import click  # here: the supervisor imports this module and never styles

    return click.style(text, **styles)


# Control characters other than newline: C0, DEL and C1.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\r``, ``\\x1b``) and tokens masked.

    Messages quote what the user typed or wrote in a file; a raw carriage return or
    escape sequence there would overwrite or recolour the line the user reads, and an
    HF token typed into the wrong option must not end up in a terminal log.
    """
    text = HF_TOKEN_PATTERN.sub("hf_***", text)
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def error_line(message: str, hint: str | None = None) -> None:
    """``error: message`` in red on stderr, the hint on the next line."""
    import click

    click.echo(style(f"error: {printable(message)}", sys.stderr, fg="red", bold=True), err=True)
    if hint:
        click.echo(style(printable(hint), sys.stderr, fg="yellow"), err=True)


def note_line(message: str) -> None:
    import click

    click.echo(style(f"note: {printable(message)}", sys.stderr, fg="cyan"), err=True)


def table_console(stream=None):
    """A rich Console for tables: terminal width on a terminal, never cut short in a pipe."""
    import shutil

    from rich.console import Console

    stream = stream or sys.stdout
    width = None if stream.isatty() else max(shutil.get_terminal_size((200, 24)).columns, 200)
    return Console(file=stream, width=width, highlight=False, no_color=not use_colour(stream))
