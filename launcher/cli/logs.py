"""``trtl logs``: the processes' log files, prefixed like ``trtl up`` shows them."""

from __future__ import annotations

import click


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME] [PROCESS]")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C ends).")
@click.option(
    "-n",
    "--lines",
    "count",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Lines to show from the end of each log.",
)
def logs(*, names: tuple[str, ...], follow: bool, count: int) -> None:
    """Show the logs of deployment NAME, or of one PROCESS or role of it (e.g. decode-0, decode).

    NAME may be left out when one deployment runs.
    """
    from launcher.supervision.log_files import pick_logs, show_logs

    deployment, files = pick_logs(names)
    show_logs(files, count=count, follow=follow, deployment=deployment)
