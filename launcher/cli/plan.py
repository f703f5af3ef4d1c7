"""``trtl plan``: show every process of a deployment without starting any."""

from __future__ import annotations

import json
import shlex

import click
from trtl.launcher.cli.options import load, plan_for, plan_options, profile_options
from trtl.launcher.terminal import note_line, style


@click.command()
@click.argument("profile_ref", metavar="PROFILE")
@profile_options
@plan_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(
    *,
    profile_ref: str,
    engine: str | None,
    model: str | None,
    overrides: tuple[str, ...],
    name: str | None,
    port: int | None,
    host: str,
    gpus: str | None,
    python: str | None,
    share_gpus: bool,
    as_json: bool,
) -> None:
    """Show the processes PROFILE runs: argv, env, GPUs (and why), ports and run directory.

    PROFILE is a built-in or user profile name (see `trtl profiles`) or a YAML file.
    """
    profile = load(profile_ref, engine, model, overrides)
    result = plan_for(
        profile, name=name, port=port, gpus=gpus, python=python, share_gpus=share_gpus, host=host
    )
    for note in result.notes:
        note_line(note)
    if as_json:
        data = result.to_json()
        for key in ("model", "served_model_name"):
            data[key] = masked(data[key])
        for proc in data["processes"]:
            proc["env"] = masked_env(proc["env"])
            proc["argv"] = masked_argv(proc["argv"])
        click.echo(json.dumps(data, indent=2))
        return
    _print_plan(result)


def masked(value: str) -> str:
    """A value as a plan shows it: ``***`` when it is shaped like a token (a --model that
    is one, pasted by mistake); the processes still get the value."""
    from trtl.profiles.overrides import looks_secret

    return "***" if looks_secret("", value) else value


def masked_env(env: dict[str, str]) -> dict[str, str]:
    """The env as a plan shows it: secret-looking values (a token's name, an hf_ token's
    shape) read ``***``. Plans get pasted into issues; the processes still get the value."""
    from trtl.profiles.overrides import shown

    return {key: shown(f"{key}={value}").partition("=")[2] for key, value in env.items()}


def masked_argv(argv: list[str]) -> list[str]:
    """The argv as a plan shows it: a secret flag's value (vllm.extra_args may carry
    --hf-token) and token-shaped values read ``***``; the processes still get the value."""
    from trtl.profiles.overrides import looks_secret
    from trtl.profiles.secret_args import secret_flag_value

    out: list[str] = []
    for i, arg in enumerate(argv):
        if secret_flag_value(argv, i) and "=" in arg:
            out.append(f"{arg.partition('=')[0]}=***")
        elif secret_flag_value(argv, i) or looks_secret("", arg):
            out.append("***")
        else:
            out.append(arg)
    return out


def _print_plan(result) -> None:
    p = result.profile
    bold = {"bold": True}
    out = [
        f"{style('deployment', **bold)}  {result.deployment}  "
        f"(profile {p.name}, engine {p.engine}, model {masked(p.model)})",
        f"{style('frontend', **bold)}    {result.frontend_url}/v1  "
        f"serving {masked(p.served_name)!r}, namespace {result.namespace}",
        f"{style('run dir', **bold)}     {result.run_dir.root}",
    ]
    if result.gpu_source:
        shared = ", shared (--share-gpus)" if result.gpu_shared else ""
        out.append(f"{style('gpus', **bold)}        from {result.gpu_source}{shared}")
        out.extend(f"            skipped: {reason}" for reason in result.gpu_skipped.values())
    width = max(len(proc.name) for proc in result.processes)
    for proc in result.processes:
        where = f"GPU {','.join(map(str, proc.gpus))}" if proc.gpus else "no GPU"
        ports = " ".join(f"{k}={v}" for k, v in proc.ports.items())
        out.append("")
        out.append(
            f"{style(proc.name.ljust(width), fg='green', bold=True)}  "
            f"role {proc.role}{f' ({proc.mode})' if proc.mode else ''}, {where}, ports {ports}"
        )
        if proc.gpu_reason:
            out.append(f"  why   {proc.gpu_reason}")
        out.append(f"  argv  {shlex.join(masked_argv(proc.argv))}")
        for key, value in masked_env(proc.env).items():
            out.append(f"  env   {key}={shlex.quote(value)}")
    if result.files:
        out.append("")
        out.append(style("engine configs written at start", **bold))
        out.extend(f"  {path}" for path in result.files)
    click.echo("\n".join(out))
