"""``trtl schema``: the JSON Schema of the profile format, for editors."""

from __future__ import annotations

import json

import click


@click.command()
def schema() -> None:
    """Print the JSON Schema of the profile format."""
    from profiles.schema import Profile

    document = Profile.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "trtl profile"
    click.echo(json.dumps(document, indent=2))
