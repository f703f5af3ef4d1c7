"""The engine registry: the one place where a profile role becomes a command line.

Each engine is one module (``trtllm``, ``vllm``, ``sglang``, ``mocker``) implementing
``base.Engine``; ``frontend`` holds the frontend's part. ``ENGINES`` maps the profile's
``engine:`` value to its engine; the schema's and the CLI's engine choices come from
``engine_names()``. ``component_specs(profile, engine_config_dir)`` gives, for the frontend
and each worker role, the module to run, its arguments and its environment. The local plan
and the Kubernetes export both start from these specs, so a role runs the same arguments on
a workstation and in the cluster; what each side adds is listed in ``profiles.identity``.

Importing this package loads no pydantic model: the CLI reads ``engine_names()`` cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import identity
from ..errors import ProfileError
from ..legacy import translate_env
from . import frontend, mocker, sglang, trtllm, vllm
from .base import Built, ComponentSpec, Engine

if TYPE_CHECKING:
    from ..schema import Profile, WorkerRole

# In the order the CLI lists them; the first is the profile's default.
ENGINES: dict[str, Engine] = {
    e.name: e for e in (trtllm.ENGINE, mocker.ENGINE, vllm.ENGINE, sglang.ENGINE)
}
FRONTEND_MODULE = frontend.MODULE
# What the local plan sets (the profile may not) and sets where the profile leaves it unset:
# the engine-independent variables of profiles.identity plus every engine's own.
LOCAL_ONLY_ENV: dict[str, str] = {
    **identity.LOCAL_ONLY_ENV,
    **{k: v for e in ENGINES.values() for k, v in e.local_env.items()},
}
LOCAL_DEFAULT_ENV: dict[str, str] = {
    **identity.LOCAL_DEFAULT_ENV,
    **{k: v for e in ENGINES.values() for k, v in e.local_default_env.items()},
}


def engine_names() -> tuple[str, ...]:
    """The names a profile's ``engine:`` takes, the default first."""
    return tuple(ENGINES)


def engine(name: str) -> Engine:
    """The engine called ``name``. Raises ProfileError for a name no engine has."""
    try:
        return ENGINES[name]
    except KeyError:
        raise ProfileError(
            f"engine {name!r} is not one trtl runs; use one of {', '.join(ENGINES)}."
        ) from None


def engine_of_module(module: str) -> Engine | None:
    """The engine a worker running ``python -m module`` runs, or None."""
    return next((e for e in ENGINES.values() if e.module == module), None)


def engine_of(spec: ComponentSpec) -> Engine | None:
    """The engine of a worker spec; None for the frontend."""
    return ENGINES[spec.engine] if spec.engine else None


def engine_config_file(engine_config_dir: str, role: str) -> str:
    return trtllm.engine_config_file(engine_config_dir, role)


def component_specs(profile: Profile, engine_config_dir: str) -> list[ComponentSpec]:
    """The frontend first, then each worker role in profile order. Raises ProfileError."""
    specs = [frontend_spec(profile)]
    for name, role in profile.workers.items():
        specs.append(worker_spec(profile, name, role, engine_config_dir))
    return specs


def frontend_spec(profile: Profile) -> ComponentSpec:
    args = frontend.frontend_args(profile)
    env, notes = _env(profile.env, profile.frontend.env, "frontend.env")
    return ComponentSpec(
        role="frontend",
        component="frontend",
        mode=None,
        replicas=1,
        gpus=0,
        module=FRONTEND_MODULE,
        args=tuple(args),
        env=env,
        notes=tuple(notes),
    )


def worker_spec(
    profile: Profile, name: str, role: WorkerRole, engine_config_dir: str
) -> ComponentSpec:
    eng = engine(profile.engine)
    built = eng.build(profile, name, role, engine_config_dir)
    env, env_notes = _env(profile.env, role.env, f"workers.{name}.env")
    return ComponentSpec(
        role=name,
        component="worker",
        mode=role.mode,
        replicas=role.replicas,
        gpus=role.gpus_per_replica if eng.uses_gpus else 0,
        module=eng.module,
        args=tuple(built.args),
        env=env,
        engine_config=built.engine_config,
        engine_config_path=built.engine_config_path,
        notes=(*built.notes, *env_notes),
        engine=eng.name,
    )


def export_config(profile: Profile, name: str, config_dir: str) -> dict | None:
    """The engine config that travels in the export's ConfigMap for role ``name``."""
    eng, role = engine(profile.engine), profile.workers[name]
    built = eng.build(profile, name, role.model_copy(update={"extra_args": []}), config_dir)
    return eng.export_config(profile, name, role, built, config_dir)


def settings_block(profile: Profile, name: str | None = None) -> object | None:
    """The profile's settings block of engine ``name`` (default: its own engine), if the
    schema has one: each block is the profile field named after its engine."""
    return getattr(profile, name or profile.engine, None)


def settings_args(profile: Profile) -> list[tuple[str, list[str]]]:
    """Every flag list the engines' settings blocks hold, by field path (for secret checks)."""
    found: list[tuple[str, list[str]]] = []
    for name in ENGINES:
        block = settings_block(profile, name)
        if block is None:
            continue
        found.append((f"{name}.extra_args", list(getattr(block, "extra_args", []))))
        for role, args in (getattr(block, "role_extra_args", None) or {}).items():
            found.append((f"{name}.role_extra_args.{role}", list(args)))
    return found


def _env(graph: dict[str, str], own: dict[str, str], where: str) -> tuple[dict, list[str]]:
    """Graph-wide env under the component's own, minus what trtl decides or Dynamo removed."""
    for key in (*graph, *own):
        if key in LOCAL_ONLY_ENV:
            place = where if key in own else "env"
            raise ProfileError(
                f"{place}.{key} is set by trtl ({LOCAL_ONLY_ENV[key]}); remove it.",
                hint="Use --gpus to choose GPUs." if key.startswith("CUDA_") else None,
            )
    return translate_env({**graph, **own}, where)


__all__ = [
    "ENGINES",
    "FRONTEND_MODULE",
    "LOCAL_DEFAULT_ENV",
    "LOCAL_ONLY_ENV",
    "Built",
    "ComponentSpec",
    "Engine",
    "component_specs",
    "engine",
    "engine_config_file",
    "engine_names",
    "engine_of",
    "engine_of_module",
    "export_config",
    "frontend_spec",
    "settings_args",
    "settings_block",
    "worker_spec",
]
