"""``trtl profiles``: list the profiles trtl can find, and show one resolved."""

from __future__ import annotations

import json

import click
from trtl.launcher.cli.options import load, profile_options


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
def profiles(ctx: click.Context, *, as_json: bool) -> None:
    """List built-in and user profiles (project .trtl/profiles/, ~/.config/trtl/profiles/).

    ORIGIN says where each one came from: a project or user profile with a built-in's name
    overrides it (the name means that file everywhere but in built-ins' own extends).
    """
    if ctx.invoked_subcommand is not None:
        return
    rows = _rows()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("NAME", "ORIGIN", "ENGINE", "WORKERS", "DESCRIPTION"):
        table.add_column(column)
    for row in rows:
        workers = ", ".join(f"{w['role']} x{w['replicas']}" for w in row["workers"])
        origin = _origin_text(row)
        table.add_row(
            row["name"],
            origin,
            row["engine"] or "-",
            workers or "-",
            row["error"] or row["description"],
        )
    Console(soft_wrap=True).print(table)


def _rows() -> list[dict]:
    from trtl.profiles.errors import ProfileError
    from trtl.profiles.loader import list_profiles, load_profile

    rows = []
    sources = list_profiles()
    first: dict[str, str] = {}
    for source in sources:
        first.setdefault(source.name, source.origin)
    for source in sources:
        winner = first[source.name]
        shadowed = winner != source.origin
        below = [s.origin for s in sources if s.name == source.name and s.origin != winner]
        row = {
            "name": source.name,
            "origin": source.origin,
            "path": str(source.path),
            "shadowed": shadowed,
            # A project or user profile named like a built-in (or a user profile) replaces it.
            "overrides": below[0] if below and not shadowed else None,
            "overridden_by": winner if shadowed else None,
            "engine": None,
            "description": "",
            "workers": [],
            "error": None,
        }
        try:
            profile = load_profile(str(source.path))
        except ProfileError as exc:
            # One broken user profile must not hide the others.
            row["error"] = f"invalid: {exc.message}"
        else:
            row["engine"] = profile.engine
            row["description"] = profile.description
            row["workers"] = [
                {"role": name, "mode": role.mode, "replicas": role.replicas}
                for name, role in profile.workers.items()
            ]
        rows.append(row)
    return rows


def _origin_text(row: dict) -> str:
    """Where a profile came from, as the table says it: "project: .trtl/profiles/x.yaml
    (overrides built-in)", "built-in (overridden by project)", "built-in"."""
    if row["overridden_by"]:
        return f"{row['origin']} (overridden by {row['overridden_by']})"
    text = row["origin"]
    if row["origin"] != "built-in":
        text += f": {_shown_path(row['path'])}"
    if row["overrides"]:
        text += f" (overrides {row['overrides']})"
    return text


def _shown_path(path: str) -> str:
    """A profile's file, relative to the current folder when it is below it."""
    from pathlib import Path

    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@profiles.command()
@click.argument("profile_ref", metavar="PROFILE")
@profile_options
def show(*, profile_ref: str, engine: str | None, model: str | None, overrides: tuple) -> None:
    """Print PROFILE resolved: extends merged, overrides applied, defaults filled in."""
    import yaml

    profile = load(profile_ref, engine, model, overrides)
    data = profile.model_dump(mode="json", exclude_none=True, exclude={"extends"})
    click.echo(yaml.safe_dump(data, sort_keys=False, width=100), nl=False)
