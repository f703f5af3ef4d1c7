"""trtl as a library: plan, start, watch, stop, export and import from Python.

This is the one code path behind ``import trtl`` and the ``trtl`` command line alike:
the CLI's commands resolve profiles and build plans through ``load`` and ``plan`` here,
and ``up`` starts the very background supervisor that ``trtl up -d`` starts, so a
deployment started from Python is seen by ``trtl status``/``trtl down`` and the reverse
(``attach``).

Errors are the ``TrtlError`` tree of ``profiles.errors`` (``ProfileError`` for a bad
profile, argument or DGD file, ``PlacementError`` for GPUs/ports, ``PreflightError`` before
anything starts, ``SupervisorError`` while running, ``ExportError`` for a profile that
cannot be exported); the CLI turns the same exceptions into its one-line messages.
Arguments are checked first (``api_arguments``), so a wrong type is one of those too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trtl.launcher.deployments.state import DeploymentState, ProcessState
    from trtl.launcher.planning.plan import Plan
    from trtl.profiles.schema import Profile

    # What every function takes as a profile: a built-in or user profile name, a profile
    # or DGD file path, a Profile, or a mapping in the profile format.
    ProfileLike = str | os.PathLike[str] | Profile | Mapping[str, Any]

DEFAULT_TIMEOUT = 1800.0  # real TensorRT-LLM engines load for minutes


def load(
    profile: ProfileLike,
    *,
    engine: str | None = None,
    model: str | os.PathLike[str] | None = None,
    set: Iterable[str] = (),  # the CLI's --set KEY=VALUE overrides, by the same name
    notes: list[str] | None = None,
) -> Profile:
    """Resolve a profile: a built-in or user profile name, a profile file, a
    DynamoGraphDeployment file, a ``Profile`` or a mapping in the profile format.

    ``set`` holds ``KEY=VALUE`` overrides as ``--set`` takes them. Notes about a DGD that
    was read (settings left out) are appended to ``notes``. Raises ProfileError or
    ExportError.
    """
    from trtl.launcher.api_arguments import profile_choices

    model, overrides = profile_choices(profile, engine, model, set)
    if isinstance(profile, Mapping) or _is_profile(profile):
        return _from_data(profile, engine=engine, model=model, overrides=overrides)
    from trtl.profiles.loader import is_file_reference, load_profile
    from trtl.profiles.yaml_source import is_stream

    ref = os.fspath(profile)
    path = Path(ref).expanduser()
    if is_file_reference(ref) and (path.is_file() or is_stream(path)):
        from trtl.k8s_export import is_kubernetes_file

        if is_kubernetes_file(path):
            from trtl.k8s_export import load_dgd

            found: list[str] = []
            loaded = load_dgd(path, overrides=overrides, model=model, engine=engine, notes=found)
            if notes is not None:
                notes.extend(found)
            return loaded
    return load_profile(ref, overrides=overrides, model=model, engine=engine)


def _is_profile(value: object) -> bool:
    from trtl.profiles.schema import Profile

    return isinstance(value, Profile)


def _from_data(
    data: Any, *, engine: str | None, model: str | None, overrides: tuple[str, ...]
) -> Profile:
    """A profile built in code goes through the same overrides and validation as a file."""
    import tempfile

    import yaml
    from trtl.profiles.loader import load_profile

    if _is_profile(data):
        data = data.model_dump(mode="json", exclude_none=True)
    with tempfile.TemporaryDirectory(prefix="trtl-profile-") as tmp:
        path = Path(tmp) / f"{dict(data).get('name') or 'profile'}.yaml"
        path.write_text(yaml.safe_dump(dict(data), sort_keys=False))
        return load_profile(str(path), overrides=overrides, model=model, engine=engine)


def plan(
    profile: ProfileLike,
    *,
    engine: str | None = None,
    model: str | os.PathLike[str] | None = None,
    set: Iterable[str] = (),  # the CLI's --set KEY=VALUE overrides, by the same name
    name: str | None = None,
    port: int | None = None,
    gpus: str | None = None,
    python: str | None = None,
    share_gpus: bool = False,
    host: str = "127.0.0.1",
) -> Plan:
    """The local plan ``trtl plan`` shows: every process, its argv, env, GPUs and ports.

    Raises ProfileError, PlacementError."""
    from trtl.launcher import api_arguments as checks

    model, overrides = checks.profile_choices(profile, engine, model, set)
    python = checks.local_choices(name, port, gpus, python, host)
    resolved = profile if _is_profile(profile) and not overrides else None
    if resolved is None:
        resolved = load(profile, engine=engine, model=model, set=overrides)
    return plan_for(
        resolved, name=name, port=port, gpus=gpus, python=python, share_gpus=share_gpus, host=host
    )


def plan_for(
    profile: Profile,
    *,
    name: str | None,
    port: int | None,
    gpus: str | None,
    python: str | None,
    share_gpus: bool = False,
    host: str = "127.0.0.1",
) -> Plan:
    """Build the local plan of a resolved profile. Raises PlacementError, ProfileError."""
    from trtl.launcher.planning.plan import PlanOptions, build_plan
    from trtl.profiles.errors import PlacementError

    if gpus is not None and not gpus.isprintable():
        # Messages quote --gpus bare; a newline in it would split the one-line error.
        raise PlacementError(
            f"--gpus {gpus!r} is not a list of GPUs; give indices or UUIDs, e.g. --gpus 0,1."
        )
    options = PlanOptions(
        deployment=name,
        http_port=port,
        http_host=host,
        gpus=gpus,
        python=python,
        inherited_cvd=os.environ.get("CUDA_VISIBLE_DEVICES"),
        share_gpus=share_gpus,
    )
    return build_plan(profile, options)


class Deployment:
    """A deployment that runs under a background trtl supervisor.

    As a context manager it stops every process on exit, whatever ended the block
    (an exception or KeyboardInterrupt included). ``attach`` returns one that is not
    stopped on exit unless ``stop_on_exit`` is set.
    """

    def __init__(self, name: str, *, stop_on_exit: bool = True) -> None:
        self.name = name
        self.stop_on_exit = stop_on_exit

    def __repr__(self) -> str:
        return f"Deployment({self.name!r})"

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stop_on_exit:
            self.stop()

    def status(self) -> DeploymentState:
        """The state ``trtl status --json`` prints, as seen now. Raises SupervisorError."""
        from trtl.launcher.deployments.state import find_deployment

        return find_deployment(self.name).effective()

    @property
    def state(self) -> str:
        """``starting``, ``ready``, ``degraded``, ``stopped`` or ``failed``."""
        return str(self.status().state)

    @property
    def url(self) -> str:
        """The OpenAI base URL, e.g. ``http://127.0.0.1:8000/v1``."""
        return self.status().frontend_url.rstrip("/") + "/v1"

    @property
    def served_model_name(self) -> str:
        """The model name to put in OpenAI requests."""
        return self.status().served_model_name

    @property
    def processes(self) -> list[ProcessState]:
        """Every supervised process: name, role, pid, state, restarts, GPUs, ports."""
        return list(self.status().processes)

    def logs(self, process: str, lines: int | None = 200) -> str:
        """The last ``lines`` lines (all with None) of a process's log, by process name
        (``decode-0``) or role (``decode``: every replica, concatenated)."""
        from trtl.launcher.supervision.log_files import read_tail, select_logs

        parts = []
        for path in select_logs(self.status(), process).values():
            tail = read_tail(path, lines)[0]
            parts.append("".join(f"{line}\n" for line in tail))
        return "".join(parts)

    def chat(self, prompt: str, *, max_tokens: int = 64) -> str:
        """One chat request to the deployment; returns the reply's text."""
        from trtl.launcher.deployments.chat import send_chat

        state = self.status()
        reply = send_chat(
            state.frontend_url, prompt, model=state.served_model_name, max_tokens=max_tokens
        )
        return reply.text

    def stop(self, grace: float | None = None) -> list[str]:
        """Stop every process (drain for ``grace`` s, then SIGKILL); what happened, a line
        each. Stopping a deployment that is not running does nothing."""
        from trtl.launcher.deployments.stop import stop_deployment
        from trtl.profiles.errors import SupervisorError

        try:
            return stop_deployment(self.name, grace)
        except SupervisorError:
            if self._runs():
                raise
            return [f"{self.name!r} is not running"]

    def _runs(self) -> bool:
        from trtl.launcher.deployments.lock import DeploymentLock
        from trtl.launcher.deployments.paths import RunDir

        return DeploymentLock(RunDir.for_deployment(self.name)).held_elsewhere()


def up(
    profile: ProfileLike,
    *,
    engine: str | None = None,
    model: str | os.PathLike[str] | None = None,
    set: Iterable[str] = (),  # the CLI's --set KEY=VALUE overrides, by the same name
    name: str | None = None,
    port: int | None = None,
    gpus: str | None = None,
    python: str | os.PathLike[str] | None = None,
    share_gpus: bool = False,
    host: str = "127.0.0.1",
    timeout: float = DEFAULT_TIMEOUT,
    grace: float | None = None,
    offline: bool = False,
) -> Deployment:
    """Start a profile in the background, as ``trtl up -d`` does, and return once servable.

    Use it as a context manager so that everything stops on exit::

        with trtl.up("agg", engine="mocker", model=path, port=8123) as d:
            openai.OpenAI(base_url=d.url, api_key="-").chat.completions.create(...)

    The graph belongs to the calling process: its supervisor stops it (as ``trtl down``
    does) once this process is gone, however it ended (``os._exit``, SIGKILL, SIGTERM), so
    an abrupt end leaves nothing running; ``trtl up -d`` starts one that outlives its
    shell. ``up`` may be called from any thread; only in the main thread does Ctrl-C
    reach it.

    Raises the TrtlError that ``trtl up`` reports (ProfileError or PlacementError for a
    wrong argument, before anything starts); nothing is left running then. A stop signal
    while it waits (Ctrl-C, SIGTERM) stops the start first, then goes on to the handler it
    interrupted: Ctrl-C raises KeyboardInterrupt.
    """
    from trtl.launcher import api_arguments as checks
    from trtl.launcher.deployments import detached
    from trtl.profiles.errors import SupervisorError

    model, overrides = checks.profile_choices(profile, engine, model, set)
    python = checks.local_choices(name, port, gpus, python, host)
    timeout = checks.seconds("timeout", timeout, checks.TIMEOUT_RANGE)
    if grace is not None:
        grace = checks.seconds("grace", grace, checks.GRACE_RANGE)
    resolved = load(profile, engine=engine, model=model, set=overrides)
    the_plan = plan_for(
        resolved, name=name, port=port, gpus=gpus, python=python, share_gpus=share_gpus, host=host
    )
    grace = resolved.stop_grace if grace is None else grace
    child_args = detached.detached_args(
        profile, the_plan, engine, model, overrides, gpus, python, timeout, grace, offline,
        share_gpus=share_gpus,
    )  # fmt: skip
    deployment = Deployment(the_plan.deployment)
    spawned: list[bool] = []
    try:
        detached.start_detached(
            the_plan,
            child_args,
            timeout=timeout,
            overrides=overrides,
            offline=offline,
            announce=False,
            owned=True,
            on_spawned=lambda: spawned.append(True),
        )
    except (SupervisorError, KeyboardInterrupt) as exc:
        # A start that failed once the supervisor ran leaves nothing behind; one refused
        # before (the name taken, a failed check) started nothing, and the name may be
        # another start's now.
        if spawned:
            deployment.stop(grace=2.0)
        if isinstance(exc, detached.StartStopped):
            _pass_on(exc.signum)
        raise
    return deployment


def _pass_on(signum: int) -> None:
    """The stop signal that ended a start, to the handler the start held it from: Python's
    own SIGINT handler raises KeyboardInterrupt here, SIGTERM's default ends the process.
    A handler that returns leaves the StartStopped error to be raised."""
    import signal

    signal.raise_signal(signum)


def attach(name: str, *, stop_on_exit: bool = False) -> Deployment:
    """A deployment that is already running (``trtl up -d``, another ``trtl.up``).

    Raises SupervisorError when no deployment of that name has run here."""
    deployment = Deployment(name, stop_on_exit=stop_on_exit)
    deployment.status()
    return deployment


def export_k8s(
    profile: ProfileLike,
    *,
    engine: str | None = None,
    model: str | os.PathLike[str] | None = None,
    set: Iterable[str] = (),  # the CLI's --set KEY=VALUE overrides, by the same name
    version: str = "v1beta1",
    image: str | None = None,
    name: str | None = None,
    namespace: str | None = None,
) -> str:
    """The DynamoGraphDeployment (and engine-config ConfigMap) YAML ``trtl export --k8s``
    writes. Raises ProfileError, ExportError."""
    from trtl import k8s_export

    resolved = load(profile, engine=engine, model=model, set=set)
    docs = k8s_export.render(resolved, version=version, image=image, name=name, namespace=namespace)
    source = os.fspath(profile) if isinstance(profile, (str, os.PathLike)) else resolved.name
    return k8s_export.export_yaml(docs, source)


def import_dgd(source: str | os.PathLike[str], *, notes: list[str] | None = None) -> Profile:
    """A DynamoGraphDeployment as a profile: ``source`` is a file path or the YAML text.

    A path (a PathLike, or one line that is no YAML mapping, names a file or ends in
    .yaml/.yml/.json) that does not exist is ``PATH: no such file``. Raises ProfileError
    for a file or text trtl cannot read (the CLI's one-line message)."""
    import tempfile

    from trtl import k8s_export

    found: list[str] = []
    path = _dgd_path(source)
    if path is not None:
        profile = k8s_export.read_dgd(path, found)
    else:
        with tempfile.TemporaryDirectory(prefix="trtl-dgd-") as tmp:
            text_file = Path(tmp) / "dgd.yaml"
            text_file.write_text(os.fspath(source))
            profile = k8s_export.read_dgd(text_file, found)
    if notes is not None:
        notes.extend(found)
    return profile


def _dgd_path(source: object) -> Path | None:
    """The file ``import_dgd`` reads, or None when ``source`` is the YAML text itself."""
    from trtl.profiles.errors import ProfileError

    if isinstance(source, os.PathLike):
        return Path(source).expanduser()
    if not isinstance(source, str):
        raise ProfileError(f"source={source!r} is not a DGD file path or YAML text.")
    if "\n" in source or not source.strip():
        return None
    path = Path(source.strip()).expanduser()
    # One line of YAML that could be a DGD is a mapping: a flow one or `key: value`.
    mapping = source.lstrip().startswith("{") or ": " in source
    if path.exists() or path.suffix.lower() in (".yaml", ".yml", ".json") or not mapping:
        return path
    return None
