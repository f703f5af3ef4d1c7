"""What ``trtl bench`` measures: a running deployment, a bare URL, or a profile to start.

A ``Target`` carries what the load needs (URL, served model, a local tokenizer directory)
and what the figures need (the GPUs trtl placed the workers on, or the number of worker
processes where there are none). A target built from a plan also carries the choices
``trtl up -d`` needs to start it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trtl.launcher.bench.errors import BenchError
from trtl.launcher.deployments.chat import base_url, served_models
from trtl.launcher.deployments.state import ACTIVE_STATES, DeploymentState

if TYPE_CHECKING:
    from trtl.launcher.planning.plan import Plan


ENDPOINT_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/models")


@dataclass(frozen=True)
class StartOptions:
    """The ``trtl up`` choices a profile target is started with (see running.detached_args)."""

    engine: str | None = None
    model: str | None = None
    overrides: tuple[str, ...] = ()
    gpus: str | None = None
    python: str | None = None
    share_gpus: bool = False
    timeout: float = 1800.0
    grace: float | None = None  # None: the profile's stop_grace
    offline: bool = False


@dataclass
class Target:
    """One graph to benchmark."""

    label: str
    url: str
    model: str  # the served model name requests carry
    tokenizer: str  # a local directory with the model's tokenizer
    engine: str = ""
    deployment: str = ""
    gpus: list[int] = field(default_factory=list)
    workers: int = 0
    state: DeploymentState | None = None  # a running deployment, as found
    plan: Plan | None = None  # a profile bench starts, and stops
    profile_ref: str = ""
    start: StartOptions | None = None
    checked: bool = False  # trtl up's preflight passed before the first graph started


def running_deployment(name: str) -> DeploymentState | None:
    """The deployment named ``name`` if it runs now, else None (never raises)."""
    from trtl.launcher.deployments.paths import RunDir
    from trtl.launcher.deployments.state import read_state
    from trtl.profiles.errors import SupervisorError

    if not name or "/" in name or name.startswith("."):
        return None
    try:
        state = read_state(RunDir.for_deployment(name))
    except SupervisorError:
        return None
    return state if state is not None and state.state in ACTIVE_STATES else None


def from_state(state: DeploymentState, tokenizer: str | None = None) -> Target:
    """A running deployment as a target. Raises BenchError when it is not ready."""
    if state.state == "starting":
        raise BenchError(
            f"deployment {state.deployment!r} is not ready yet (starting).",
            hint=f"Wait until `trtl status {state.deployment}` says ready, then run again.",
        )
    workers = [p for p in state.processes if p.role != "frontend"]
    return Target(
        label=state.deployment,
        url=base_url(state.frontend_url),
        model=state.served_model_name or state.model,
        tokenizer=tokenizer or tokenizer_dir(state.model),
        engine=state.engine,
        deployment=state.deployment,
        gpus=sorted({gpu for p in workers for gpu in p.gpus}),
        workers=len(workers),
        state=state,
    )


def from_plan(plan: Plan, profile_ref: str, start: StartOptions, tokenizer: str | None) -> Target:
    """A profile to start (as ``trtl up -d``), benchmark and stop."""
    profile = plan.profile
    workers = [p for p in plan.processes if p.role != "frontend"]
    return Target(
        label=profile.name,
        url=base_url(plan.frontend_url),
        model=profile.served_name,
        tokenizer=tokenizer or tokenizer_dir(profile.model, must_exist=False),
        engine=profile.engine,
        deployment=plan.deployment,
        gpus=sorted({gpu for p in workers for gpu in p.gpus}),
        workers=len(workers),
        plan=plan,
        profile_ref=profile_ref,
        start=start,
    )


def from_url(url: str, model: str | None, tokenizer: str | None) -> Target:
    """A frontend trtl did not start: no placement known. Raises TrtlError subclasses."""
    url = base_url(url)
    if url.endswith(ENDPOINT_PATHS):
        raise BenchError(
            f"--url {url} names an endpoint; give the frontend's base URL "
            f"({url.rsplit('/v1/', 1)[0]}): aiperf adds the path itself.",
            exit_code=2,
        )
    listed = served_models(url)  # one sentence if nothing listens there
    if not listed:
        raise BenchError(f"the frontend at {url} serves no model yet.", hint="Wait until it does.")
    model = model or listed[0]
    target = Target(label=url.split("://", 1)[-1], url=url, model=model, tokenizer="")
    check_serving(target, listed)  # a model it does not serve is named before its tokenizer
    target.tokenizer = tokenizer or tokenizer_dir(model)
    return target


# What Hugging Face's AutoTokenizer loads a tokenizer from (one of them is enough).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
TOKENIZER_FIX = "give the directory that holds the model's tokenizer.json or tokenizer_config.json"


def given_tokenizer(path: str) -> str:
    """``--tokenizer DIR`` checked as aiperf will load it, before anything starts: a
    directory holding a tokenizer. Raises BenchError (exit 2)."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise BenchError(f"--tokenizer {path} {what}; {TOKENIZER_FIX}.", exit_code=2)
    if not has_tokenizer(folder):
        raise BenchError(f"--tokenizer {path} holds no tokenizer; {TOKENIZER_FIX}.", exit_code=2)
    return str(folder.resolve())


def has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in TOKENIZER_FILES)


def tokenizer_dir(model: str, *, must_exist: bool = True) -> str:
    """A local directory holding ``model``'s tokenizer: the model directory itself, or its
    snapshot in the Hugging Face cache. Raises BenchError when there is none.

    A profile's model that is not downloaded yet (``must_exist=False``) resolves again after
    trtl up fetched it (``resolve_tokenizer``).
    """
    from trtl.launcher.checks.model_fetch import cached_snapshot, hf_cache_dir, is_local_path

    found: Path | None = None
    if is_local_path(model):
        path = Path(model).expanduser()
        found = path.resolve() if path.is_dir() else None
    else:
        found = cached_snapshot(model, hf_cache_dir(os.environ))
    if found is not None:
        if not has_tokenizer(found):
            raise BenchError(
                f"the model directory {found} holds no tokenizer for aiperf.",
                hint="Give --tokenizer DIR, a directory with the model's tokenizer.json.",
                exit_code=2,
            )
        return str(found)
    if not must_exist:
        return model
    raise BenchError(
        f"no local tokenizer for model {model!r}: it is neither a directory here nor in the "
        "Hugging Face cache.",
        hint="Give --tokenizer DIR (the model's directory); aiperf must not download one.",
        exit_code=2,
    )


def check_serving(target: Target, listed: list[str] | None = None) -> None:
    """The frontend answers (``listed``: what it answered already) and lists the target's
    model. Raises TrtlError subclasses."""
    listed = served_models(target.url) if listed is None else listed
    if target.model not in listed:
        shown = ", ".join(repr(m) for m in listed) or "nothing"
        raise BenchError(
            f"the frontend at {target.url} does not serve model {target.model!r} "
            f"(it serves {shown}).",
            hint="Give --model with one of the served names.",
            exit_code=2,
        )
