"""Where the local run's command line and the imported DGD's differ: undone on export.

The engine table writes a complete command line for each role: the served model name,
the parallel sizes, the KV router's publish flags, the default router mode. A DGD from
elsewhere often leaves them to the defaults. Locally trtl keeps passing them (the local
run may need them: the KV router needs KV events), but the export must not add a flag the
original did not have. The other way round, the original may have flags the engine table
does not write: a size given its default (``--tp 1``), a flag trtl leaves out locally
(SGLang's ``--disaggregation-bootstrap-port``, a frontend's ``--http-port``), and the
export must not lose them. ``settle`` compares, for each imported role, the arguments
the engine table writes with the ones the DGD wrote, and records in the role's
``k8s.launch`` the flags (and engine config keys) to leave out, the original's arguments
to keep, and the original's spelling of a flag. Flags are compared by name, aliases
(``--model``/``--model-path``, ``-tp``) and vLLM's ``--foo_bar`` spelling included.
"""

from __future__ import annotations

import json
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
# A flag whose default is another flag's value: left out while it has that value.
FOLLOWS = {"--served-model-name": "--model"}
# Aliases Dynamo reads alike today: written back the way the original spelled them. (The
# publish and mode aliases are gone from Dynamo 1.6.1: they are written the current way.)
SPELLINGS = ALIASES[:3]


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
    return [flag for flag in flag_names(generated) if not aliases_of(flag) & have]


def aliases_of(flag: str) -> set[str]:
    """Every name of ``flag`` (itself where it has no alias)."""
    return next((group for group in ALIASES if flag in group), {flag})


def groups(args: list[str] | tuple[str, ...]) -> list[list[str]]:
    """``args`` cut into [flag, its values…] groups (leading values form a group of their own)."""
    out: list[list[str]] = []
    for arg in args:
        if (arg.startswith("-") and not _number(arg)) or not out:
            out.append([arg])
        else:
            out[-1].append(arg)
    return out


def kept(generated: list[str] | tuple[str, ...], original: list[str]) -> list[str]:
    """Arguments of ``original`` whose flag ``generated`` has under no name, with values."""
    have = set(flag_names(generated))
    out: list[str] = []
    for group in groups(original):
        names = flag_names(group[:1])
        if names and not aliases_of(names[0]) & have:
            out += group
    return out


def spellings(generated: list[str] | tuple[str, ...], original: list[str]) -> dict[str, str]:
    """{flag as ``generated`` writes it: as ``original`` wrote it} where the two differ."""
    written = {name: raw for raw in original if raw.startswith("-")
               for name in flag_names([raw])}  # fmt: skip
    out: dict[str, str] = {}
    for raw in generated:
        if not raw.startswith("-") or _number(raw):
            continue
        flag = raw.split("=", 1)[0]
        name = flag_names([flag])[0]
        same = next((g for g in SPELLINGS if name in g), {name})
        theirs = next((written[n] for n in sorted(same) if n in written), None)
        if theirs is None:
            continue
        # FLAG= where the original joined flag and value in one word (--max-model-len=4096).
        target = theirs.split("=", 1)[0] + ("=" if "=" in theirs and "=" not in raw else "")
        if target != flag:
            out[flag] = target
    return out


def respell(args: list[str], spelling: dict[str, str]) -> list[str]:
    """``args`` with each flag in ``spelling`` written the original's way (``FLAG=``: joined
    to its one value)."""
    out: list[str] = []
    for group in groups(args):
        flag, eq, value = group[0].partition("=")
        to = spelling.get(flag)
        if to is None:
            out += group
        elif to.endswith("=") and not eq and len(group) == 2:
            out.append(to + group[1])
        else:
            out += [to.removesuffix("=") + eq + value, *group[1:]]
    return out


def restore(args: list[str], keep: list[str]) -> list[str]:
    """``args`` plus the kept arguments whose flag ``args`` does not set (by now) itself."""
    have = set(flag_names(args))
    extra = [g for g in groups(keep) if not aliases_of(flag_names(g[:1])[0]) & have]
    return args + [a for g in extra for a in g]


def settle(
    data: dict[str, Any], originals: dict[str, list[str]], configs: dict[str, dict]
) -> dict[str, Any]:
    """``data`` with each role's ``k8s.launch`` omit, omit_config, keep, spelling filled in.

    ``originals`` holds each role's arguments as the DGD wrote them (after
    ``python -m MODULE``), ``configs`` the engine configs as a heredoc wrote them.
    """
    profile = validate(Sourced(data))
    if "frontend" in originals:
        generated, original = frontend_spec(profile).args, originals["frontend"]
        omit = missing(generated, original)
        env_router = profile.frontend.env.get("DYN_ROUTER_MODE", "round-robin")
        if profile.frontend.router_mode != env_router:
            omit = [f for f in omit if f != "--router-mode"]  # the flag is the only source
        _record(data["frontend"], omitted(generated, omit), [], generated, original)
    for name, role in profile.workers.items():
        if name not in originals:
            continue
        spec = worker_spec(profile, name, role, MOUNT_DIR)
        omit = missing(spec.args, originals[name])
        keys: list[str] = []
        if name in configs and spec.engine_config is not None:
            missing_keys = [k for k in spec.engine_config if k not in configs[name]]
            keys = omitted_config(spec.engine_config, missing_keys)
        omit = omitted(spec.args, omit)
        _record(data["workers"][name], omit, keys, spec.args, originals[name])
    return data


def _record(role: dict[str, Any], omit: list[str], keys: list[str], generated, original) -> None:
    found: dict[str, Any] = {"omit": omit, "omit_config": keys, "keep": kept(generated, original),
                             "spelling": spellings(generated, original)}  # fmt: skip
    shell = ((role.get("k8s") or {}).get("launch") or {}).get("shell")
    exported = restore(respell(strip(generated, omit), found["spelling"]), found["keep"])
    if not shell and flag_names(exported) != flag_names(original):  # a script keeps its line
        found["order"] = flag_names(original)
    found = {k: v for k, v in found.items() if v}
    if found:
        role.setdefault("k8s", {}).setdefault("launch", {}).update(found)


def ordered(args: list[str], order: list[str]) -> list[str]:
    """``args`` with its flags in ``order`` (the original's) first, then the others as they
    came (flags the original did not have)."""
    rank = {name: i for i, name in enumerate(order)}

    def key(item: tuple[int, list[str]]) -> tuple[int, int]:
        names = flag_names(item[1][:1])
        found = [rank[n] for n in aliases_of(names[0]) if n in rank] if names else [-1]
        return (min(found) if found else len(order), item[0])

    return [a for _, g in sorted(enumerate(groups(args)), key=key) for a in g]


def _split(group: list[str]) -> tuple[str, list[str]]:
    """(flag, values) of one [flag, values…] group, ``--flag=value`` included."""
    flag, eq, value = group[0].partition("=")
    if eq and flag.startswith("--"):
        return flag, [value, *group[1:]]
    return group[0], group[1:]


def omitted(generated: list[str] | tuple[str, ...], names: list[str]) -> list[str]:
    """``k8s.launch.omit`` entries: each flag of ``names`` with the value it has now
    (``--tensor-parallel-size=1``); a switch alone."""
    out = []
    for group in groups(generated):
        flag, values = _split(group)
        if flag_names([flag])[:1] and flag_names([flag])[0] in names:
            out.append(flag + ("=" + " ".join(values) if values else ""))
    return out


def strip(args: tuple[str, ...] | list[str], omit: list[str]) -> list[str]:
    """``args`` without the flags ``omit`` names, each while it has the value it was left
    out with (a flag the profile now sets otherwise is the user's: it stays)."""
    rules: dict[str, str | None] = {}
    for entry in omit:
        flag, eq, value = entry.partition("=")
        rules[flag_names([flag])[0]] = value if eq else None
    found = {flag_names([f])[0]: " ".join(v) for f, v in map(_split, groups(args))
             if f.startswith("-")}  # fmt: skip
    out: list[str] = []
    for group in groups(args):
        flag, values = _split(group)
        names = flag_names([flag]) if flag.startswith("-") else []
        value = " ".join(values)
        if names and names[0] in rules:
            same = rules[names[0]] in (None, value)
            # Dynamo's default for it (the served name is the model's): still nothing to add.
            default = FOLLOWS.get(names[0])
            if same or any(found.get(n) == value for n in aliases_of(default or "")):
                continue
        out += group
    return out


def omitted_config(config: dict[str, Any], keys: list[str]) -> list[str]:
    """``k8s.launch.omit_config`` entries: each key with its value now, as JSON."""
    return [f"{k}={json.dumps(config[k], separators=(',', ':'))}" for k in keys]


def strip_config(config: dict[str, Any], omit: list[str]) -> dict[str, Any]:
    """``config`` without the keys ``omit`` names, each while it has the value it had."""
    rules: dict[str, str | None] = {}
    for entry in omit:
        key, eq, value = entry.partition("=")
        rules[key] = value if eq else None
    out = {}
    for key, value in config.items():
        if key not in rules or rules[key] not in (None, json.dumps(value, separators=(",", ":"))):
            out[key] = value
    return out
