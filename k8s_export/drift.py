"""What the local run adds that the imported DGD did not have: left out again on export.

The engine table writes a complete command line for each role: the served model name,
the parallel sizes, the KV router's publish flags, the default router mode. A DGD from
elsewhere often leaves them to the defaults. Locally trtl keeps passing them (the local
run may need them: the KV router needs KV events), but the export must not add a flag the
original did not have. ``settle`` compares, for each imported role, the arguments the
engine table writes with the ones the DGD wrote, and records the flags (and engine config
keys) to leave out in the role's ``k8s.launch``. Flags are compared by name, aliases
(``--model``/``--model-path``, ``-tp``) and vLLM's ``--foo_bar`` spelling included.
"""

from __future__ import annotations

from typing import Any

from trtl.profiles.engines import frontend_spec, worker_spec
from trtl.profiles.loader import validate
from trtl.profiles.yaml_source import Sourced

from .configmaps import MOUNT_DIR

ALIASES = [
    {"--model", "--model-path"},
    {"--tensor-parallel-size", "-tp", "--tp", "--tp-size"},
    {"--pipeline-parallel-size", "-pp"},
    {"--publish-kv-events", "--publish-events-and-metrics"},
    {"--publish-metrics", "--publish-events-and-metrics"},
    {"--disaggregation-mode", "--is-prefill-worker", "--is-decode-worker"},
]


def flag_names(args: list[str] | tuple[str, ...]) -> list[str]:
    """The flags of an argument list, in order, as ``--dashed-names``."""
    out: list[str] = []
    for arg in args:
        if not arg.startswith("-") or _number(arg):
            continue
        flag = arg.split("=", 1)[0]
        if flag.startswith("--"):
            flag = "--" + flag[2:].replace("_", "-")
        if flag not in out:
            out.append(flag)
    return out


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def missing(generated: list[str] | tuple[str, ...], original: list[str]) -> list[str]:
    """Flags of ``generated`` that ``original`` has under no name."""
    have = set(flag_names(original))
    out = []
    for flag in flag_names(generated):
        names = next((group for group in ALIASES if flag in group), {flag})
        if not names & have:
            out.append(flag)
    return out


def settle(
    data: dict[str, Any], originals: dict[str, list[str]], configs: dict[str, dict]
) -> dict[str, Any]:
    """``data`` with each role's ``k8s.launch.omit``/``omit_config`` filled in.

    ``originals`` holds each role's arguments as the DGD wrote them (after
    ``python -m MODULE``), ``configs`` the engine configs as a heredoc wrote them.
    """
    profile = validate(Sourced(data))
    if "frontend" in originals:
        omit = missing(frontend_spec(profile).args, originals["frontend"])
        env_router = profile.frontend.env.get("DYN_ROUTER_MODE", "round-robin")
        if profile.frontend.router_mode != env_router:
            omit = [f for f in omit if f != "--router-mode"]  # the flag is the only source
        _record(data["frontend"], omit, [])
    for name, role in profile.workers.items():
        if name not in originals:
            continue
        spec = worker_spec(profile, name, role, MOUNT_DIR)
        omit = missing(spec.args, originals[name])
        keys: list[str] = []
        if name in configs and spec.engine_config is not None:
            keys = [k for k in spec.engine_config if k not in configs[name]]
        _record(data["workers"][name], omit, keys)
    return data


def _record(role: dict[str, Any], omit: list[str], keys: list[str]) -> None:
    if not omit and not keys:
        return
    k8s = role.setdefault("k8s", {})
    launch = k8s.setdefault("launch", {})
    if omit:
        launch["omit"] = omit
    if keys:
        launch["omit_config"] = keys


def strip(args: tuple[str, ...] | list[str], omit: list[str]) -> list[str]:
    """``args`` without the flags in ``omit`` (and the value each was given)."""
    out: list[str] = []
    skip_value = False
    for arg in args:
        if skip_value:
            skip_value = False
            if not arg.startswith("-") or _number(arg):
                continue
        names = flag_names([arg])
        if names and names[0] in omit:
            skip_value = "=" not in arg
            continue
        out.append(arg)
    return out
