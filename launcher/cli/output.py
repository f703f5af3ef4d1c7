"""Terminal output: data to stdout, everything else to stderr, colour only when wanted."""

from __future__ import annotations

import os
import sys

import click


def use_colour(stream) -> bool:
    """Colour on a terminal unless NO_COLOR is set (https://no-color.org)."""
    return not os.environ.get("NO_COLOR") and stream.isatty()


def style(text: str, stream=None, **styles) -> str:
    return click.style(text, **styles) if use_colour(stream or sys.stdout) else text


def error_line(message: str, hint: str | None = None) -> None:
    """``error: message`` in red on stderr, the hint on the next line."""
    click.echo(style(f"error: {message}", sys.stderr, fg="red", bold=True), err=True)
    if hint:
        click.echo(style(hint, sys.stderr, fg="yellow"), err=True)


def note_line(message: str) -> None:
    click.echo(style(f"note: {message}", sys.stderr, fg="cyan"), err=True)


def table_console(stream=None):
    """A rich Console for tables: terminal width on a terminal, never cut short in a pipe."""
    import shutil

    from rich.console import Console

    stream = stream or sys.stdout
    width = None if stream.isatty() else max(shutil.get_terminal_size((200, 24)).columns, 200)
    return Console(file=stream, width=width, highlight=False, no_color=not use_colour(stream))
