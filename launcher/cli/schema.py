"""``trtl schema``: the JSON Schema of the profile file format, for editors."""

from __future__ import annotations

import json
from typing import Any

import click


@click.command()
def schema() -> None:
    """Print the JSON Schema of profile files (for editor completion and checks)."""
    from trtl.profiles.schema import Profile

    document = _optional_keys(Profile.model_json_schema())
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "trtl profile"
    click.echo(json.dumps(document, indent=2))


def _optional_keys(node: Any) -> Any:
    # In a file every key may come from `extends` (and `name` from the file name), so
    # editors check names and values; trtl checks completeness when it loads the profile.
    if isinstance(node, dict):
        return {k: _optional_keys(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_optional_keys(v) for v in node]
    return node
