"""``trtl import``: turn a DynamoGraphDeployment file into a trtl profile.

The profile goes to stdout or, with ``-o``, to a file written atomically. Notes (a
framework trtl cannot run yet, settings left out) go to stderr and into the file's
header comment.
"""

from __future__ import annotations

from pathlib import Path

import click
from trtl.launcher.terminal import note_line


@click.command(name="import")
@click.argument("dgd_file", metavar="FILE")
@click.option("-o", "--output", default=None, metavar="PROFILE.yaml", help="Write to a file.")
def import_(*, dgd_file: str, output: str | None) -> None:
    """Read a DynamoGraphDeployment (either API version, ConfigMaps in the same file) as a profile.

    `trtl plan FILE` and `trtl up FILE` also accept the DGD file directly.
    """
    from trtl.launcher.cli.export import write_output

    from trtl import k8s_export

    notes: list[str] = []
    profile = k8s_export.read_dgd(Path(dgd_file), notes)
    text = k8s_export.profile_yaml(profile, dgd_file, notes)
    for note in notes:
        note_line(note)
    if output:
        write_output(Path(output), text)
        click.echo(f"next:\n  trtl plan {output}\n  trtl up {output}", err=True)
    else:
        click.echo(text, nl=False)
