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
@click.option("-p", "--previous", is_flag=True, help="The logs of the run before the current one.")
def logs(*, names: tuple[str, ...], follow: bool, count: int, previous: bool) -> None:
    """Show the logs of deployment NAME, or of one PROCESS or role of it (e.g. decode-0, decode).

    NAME may be left out when one deployment runs. Each `trtl up` keeps the logs of the run
    before it: `--previous` shows those.
    """
    from trtl.launcher.supervision.log_files import pick_logs, show_logs

    if previous and follow:
        raise click.UsageError("--previous shows a finished run: it cannot be followed.")
    deployment, files = pick_logs(names, previous=previous)
    show_logs(files, count=count, follow=follow, deployment=deployment)
