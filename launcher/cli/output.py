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
