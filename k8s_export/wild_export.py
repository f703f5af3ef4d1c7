"""The export side of ``k8s.launch``: write a role's command the way the imported DGD did.

A role imported from a shell-wrapped, variable-using or partly defaulted command keeps a
``k8s.launch`` record. Here the engine table's arguments (the same the local run uses)
lose the flags the original lacked, the engine config goes back into the script's heredoc
instead of trtl's ConfigMap, and the command is written in the original's shape.
"""

from __future__ import annotations

import copy
from functools import partial
from typing import Any

from trtl.profiles.engines import ComponentSpec
from trtl.profiles.errors import ExportError
from trtl.profiles.schema import Launch, Profile

from .drift import ordered, respell, restore, strip, strip_config
from .wild import render_launch
from .yamlio import dump

PYTHON = "python3"  # the interpreter of Dynamo's runtime images


def command_args(
    spec: ComponentSpec, launch: Launch | None
) -> tuple[list[str] | None, list[str] | None]:
    """(command, args) of the main container; either may be None (left out)."""
    if launch is None:
        return [PYTHON, "-m", spec.module], list(spec.args)
    config_text = None
    heredoc = launch.engine_config_file and not launch.config_map  # the script writes it
    if heredoc and spec.engine_config is not None:
        config = strip_config(spec.engine_config, launch.omit_config)
        config_text = dump(config)
    data: dict[str, Any] = launch.model_dump()
    return render_launch(data, spec.module, _args(spec, launch), spec.env, config_text)


def _args(spec: ComponentSpec, launch: Launch) -> list[str]:
    """The arguments the cluster command passes: the engine table's, as the original had them."""
    args = restore(respell(strip(spec.args, launch.omit), launch.spelling), launch.keep)
    args = ordered(args, launch.order) if launch.order else args
    if launch.engine_config_file and spec.engine_config is not None:
        path = launch.engine_config_file
        args = [path if a == spec.engine_config_path else a for a in args]
    return args


def settle_layout(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with each script's launch line and arrays written as the export writes them.

    Import reads them as the original wrote them; where the export writes a flag another
    way (a deprecated one in its current form), the profile holds what the export writes,
    so that export → import gives this profile back.
    """
    from trtl.profiles.engines import component_specs
    from trtl.profiles.loader import validate
    from trtl.profiles.yaml_source import Sourced

    from .configmaps import MOUNT_DIR
    from .script_layout import arrange
    from .wild import quoted

    profile = validate(Sourced(data))
    for spec in component_specs(profile, MOUNT_DIR):
        worker = spec.component == "worker"
        launch = (profile.workers[spec.role] if worker else profile.frontend).k8s.launch
        if launch is None or not launch.shell:
            continue
        word = partial(quoted, written=launch.written)
        preamble, line = arrange(launch.preamble, launch.line, _args(spec, launch), word)
        role = data["workers"][spec.role] if worker else data["frontend"]
        record = role["k8s"]["launch"]
        record["preamble"] = preamble
        record["line"] = line[1:] or None  # as launch_text writes it: no leading space
    return data


def script_env(launch: Launch | None) -> set[str]:
    """Env names the script itself sets (a VAR=value prefix, an export): not in env too."""
    return set(launch.prefix) | set(launch.exported) if launch else set()


def in_cluster(profile: Profile, spec: ComponentSpec) -> bool:
    """Whether the export writes this component (a worker-only DGD had no frontend)."""
    if spec.component != "frontend":
        return True
    launch = profile.frontend.k8s.launch
    return launch is None or launch.in_cluster


def heredoc_role(profile: Profile, role: str) -> bool:
    """Whether the role's script writes its engine config itself (no ConfigMap then)."""
    worker = profile.workers.get(role)
    launch = worker.k8s.launch if worker else None
    return bool(launch and launch.engine_config_file)


def component_type(profile: Profile, spec: ComponentSpec, default: str) -> str:
    """The DGD component type: the imported label where it differs from the mode's."""
    if spec.component == "frontend":
        return "frontend"
    launch = profile.workers[spec.role].k8s.launch
    return (launch.component_type if launch else None) or default


def user_configmaps(profile: Profile, specs: list[ComponentSpec]) -> list[dict[str, Any]]:
    """The user's own ConfigMaps as imported, each role's engine config at its key."""
    docs = {
        str(d.get("metadata", {}).get("name")): copy.deepcopy(d)
        for d in profile.k8s.config_maps or []
    }
    written: dict[tuple[str, str], tuple[str, str]] = {}  # (name, key) -> (role, text)
    for spec in specs:
        launch = profile.workers[spec.role].k8s.launch if spec.component == "worker" else None
        if launch is None or not launch.config_map or spec.engine_config is None:
            continue
        config = strip_config(spec.engine_config, launch.omit_config)
        name, key = launch.config_map["name"], launch.config_map["key"]
        text = dump(config)
        first = written.setdefault((name, key), (spec.role, text))
        if first[1] != text:
            # Roles that share one key read one file: writing each in turn kept the last
            # role's and dropped the other's edit without a word.
            raise ExportError(
                f"workers {first[0]!r} and {spec.role!r} read their engine config from "
                f"ConfigMap {name!r} key {key!r}, but their engine_config now differ.",
                hint="Both pods read that one file: give both roles the same engine_config.",
            )
        doc = docs.setdefault(name, {"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": name}})  # fmt: skip
        doc.setdefault("data", {})[key] = text
    for doc in docs.values():
        # Pods mount ConfigMaps of their own namespace only: it follows the graph's.
        if profile.k8s.namespace:
            metadata = {k: v for k, v in doc["metadata"].items() if k != "namespace"}
            doc["metadata"] = {"name": metadata.pop("name", None),
                               "namespace": profile.k8s.namespace, **metadata}  # fmt: skip
    return list(docs.values())
