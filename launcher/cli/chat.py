"""``trtl chat``: send one chat to a running deployment and print the answer as it arrives."""

from __future__ import annotations

import sys

import click
from trtl.launcher.terminal import style


@click.command()
@click.argument("prompt")
@click.option(
    "--name",
    default=None,
    metavar="NAME",
    help="Deployment to ask (default: the only running one).",
)
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="Frontend URL, e.g. http://127.0.0.1:8000; skips the deployment lookup.",
)
@click.option(
    "--model",
    default=None,
    help="Served model name (default: the deployment's, or the first listed).",
)
@click.option(
    "--max-tokens", type=click.IntRange(1), default=64, show_default=True, help="Answer length cap."
)
@click.option("--system", default=None, metavar="TEXT", help="A system message to send first.")
@click.option("--no-stream", is_flag=True, help="Wait for the whole answer instead of streaming.")
def chat(
    *,
    prompt: str,
    name: str | None,
    url: str | None,
    model: str | None,
    max_tokens: int,
    system: str | None,
    no_stream: bool,
) -> None:
    """Send PROMPT as a chat to a running deployment and print the answer as it streams.

    PROMPT "-" reads the prompt from stdin.
    """
    from trtl.launcher.deployments.chat import send_chat

    if name and url:
        raise click.UsageError("--name and --url both say where to send the chat; give one.")
    if prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise click.UsageError("PROMPT is empty; say something, e.g. trtl chat 'Hello!'.")
    if url is None:
        url, model = _deployment_target(name, model)
    reply = send_chat(
        url,
        prompt,
        model=model,
        max_tokens=max_tokens,
        system=system,
        stream=not no_stream,
        on_text=_write,
    )
    click.echo("")
    stats = [f"{reply.seconds:.2f} s", f"model {reply.model}"]
    if reply.completion_tokens is not None:
        stats.insert(0, f"{reply.completion_tokens} tokens")
    if reply.finish_reason:
        stats.append(f"finish {reply.finish_reason}")
    click.echo(style(f"[{', '.join(stats)}]", sys.stderr, dim=True), err=True)


def _deployment_target(name: str | None, model: str | None) -> tuple[str, str | None]:
    """The frontend URL and served model of the named (or only running) deployment."""
    from trtl.launcher.deployments.state import find_deployment
    from trtl.profiles.errors import SupervisorError

    state = find_deployment(name)
    if not state.active:
        why = f": {state.message}" if state.message else ""
        raise SupervisorError(
            f"deployment {state.deployment} is {state.state}{why}.",
            hint=f"Start it with `trtl up`; `trtl logs {state.deployment}` shows what happened.",
        )
    return state.frontend_url, model or state.served_model_name or None


def _write(text: str) -> None:
    # Flush every piece: the point of streaming is to see the answer as it is generated.
    click.echo(text, nl=False)
    sys.stdout.flush()
