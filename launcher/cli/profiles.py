"""``trtl profiles``: list the profiles trtl can find, and show one resolved."""

from __future__ import annotations

import json

import click

from launcher.cli.options import load, profile_options


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
def profiles(ctx: click.Context, *, as_json: bool) -> None:
    """List built-in and user profiles (project .trtl/profiles/, ~/.config/trtl/profiles/)."""
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
        shadow = " (shadowed)" if row["shadowed"] else ""
        table.add_row(
            row["name"],
            row["origin"] + shadow,
            row["engine"] or "-",
            workers or "-",
            row["error"] or row["description"],
        )
    Console(soft_wrap=True).print(table)


def _rows() -> list[dict]:
    from profiles.errors import ProfileError
    from profiles.loader import list_profiles, load_profile

    rows = []
    seen: set[str] = set()
    for source in list_profiles():
        row = {
            "name": source.name,
            "origin": source.origin,
            "path": str(source.path),
            "shadowed": source.name in seen,
            "engine": None,
            "description": "",
            "workers": [],
            "error": None,
        }
        seen.add(source.name)
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


@profiles.command()
@click.argument("profile_ref", metavar="PROFILE")
@profile_options
def show(*, profile_ref: str, engine: str | None, model: str | None, overrides: tuple) -> None:
    """Print PROFILE resolved: extends merged, overrides applied, defaults filled in."""
    import yaml

    profile = load(profile_ref, engine, model, overrides)
    data = profile.model_dump(mode="json", exclude_none=True, exclude={"extends"})
    click.echo(yaml.safe_dump(data, sort_keys=False, width=100), nl=False)
