"""``trtl doctor``: check the driver, GPUs, engine packages, ports, HF token and disk."""

from __future__ import annotations

import json

import click
from trtl.launcher.terminal import style
from trtl.profiles.engines import engine_names

_COLOURS = {"ok": "green", "warning": "yellow", "error": "red"}


@click.command()
@click.option(
    "--python",
    "python",
    default=None,
    metavar="PATH",
    help="Python that runs Dynamo (a venv's python); default: trtl's own.",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
    help="Frontend HTTP port to check.",
)  # fmt: skip
@click.option(
    "--engine", type=click.Choice(engine_names()), default=None,
    help="Check what this engine needs (default: the machine in general; without a GPU "
    "that is a warning naming what runs: the mocker, vLLM on CPU).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def doctor(
    ctx: click.Context, *, python: str | None, port: int, engine: str | None, as_json: bool
) -> None:
    """Check this machine for running Dynamo graphs; say what to fix.

    Looks at the NVIDIA driver and GPUs (MIG, NVLink, busy GPUs), the engine packages the
    worker Python can import (ai-dynamo; TensorRT-LLM against the version Dynamo pins, or
    the --engine asked about), free ports, the Hugging Face token (never its value) and free
    disk for the model cache. Exits 1 when any finding is an error.
    """
    from trtl.launcher.checks.doctor import diagnose, to_json, worst_status

    findings = diagnose(python=python, http_port=port, engine=engine)
    if as_json:
        click.echo(json.dumps(to_json(findings), indent=2))
    else:
        width = max(len(finding.check) for finding in findings)
        for finding in findings:
            status = style(finding.status.ljust(7), fg=_COLOURS[finding.status], bold=True)
            click.echo(f"{status}  {finding.check.ljust(width)}  {finding.message}")
            if finding.fix:
                click.echo(f"{'':7}  {'':{width}}  fix: {finding.fix}")
    failed = worst_status(findings) == "error"
    if engine and not as_json:
        verdict = "cannot run" if failed else "can run"
        click.echo(
            f"this machine {verdict} --engine {engine}"
            + (" (fix the errors above)" if failed else "")
        )
    if failed:
        ctx.exit(1)
