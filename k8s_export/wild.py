"""DGD commands as they are written in the wild, read into ``python -m MODULE ARGS``.

A component's command may be ``python3 -m dynamo.X`` plus args, a shell wrapper around a
script (``shell_script``), args alone (the image's entrypoint runs them; the engine then
follows from ``backendFramework``), with ``$(VAR)`` references the kubelet expands
(``kube_vars``). ``read_launch`` gives the plain module and expanded arguments the local
run needs, plus the ``k8s.launch`` record that lets the export write the command back the
way it was written. ``render_launch`` is the way back: command and args for the export.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from trtl.profiles.engines import ENGINES, FRONTEND_MODULE
from trtl.profiles.errors import ProfileError

from .kube_vars import env_values, kubelet_expand
from .written_words import lookup, record

SHELLS = {"sh", "bash", "dash", "zsh", "ash"}


@dataclass
class LaunchRead:
    """What one component runs, expanded, and how it was written."""

    module: str
    args: list[str]
    launch: dict[str, Any] = field(default_factory=dict)  # k8s.launch data; {} when plain
    env: dict[str, str] = field(default_factory=dict)  # what the script adds to the env
    files: dict[str, str] = field(default_factory=dict)  # heredoc path -> text


def read_launch(
    container: dict[str, Any],
    graph_env: list[Any],
    backend: str | None,
    component: tuple[str, str | None],
    label: str,
) -> LaunchRead | None:
    """The launch of ``container``; None when it sets neither command nor args.

    ``component`` is (name, type). Raises ProfileError naming the component and, in a
    script, the line trtl cannot read.
    """
    name, kind = component
    command = [str(a) for a in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    if not command and not args:
        return None
    env = env_values([*graph_env, *(container.get("env") or [])])
    if command and posixpath.basename(command[0]) in SHELLS:
        return _shell(command, args, env, name, label)
    argv = [kubelet_expand(raw, env) for raw in [*command, *args]]
    raws = [
        raw if raw != value else None for raw, value in zip([*command, *args], argv, strict=True)
    ]
    written = record(argv, raws)
    launch: dict[str, Any] = {"written": written} if written else {}
    if argv[0] == "exec":
        argv = argv[1:]
        launch["use_exec"] = True
    if not command and not _is_python(argv):
        module = _module_of(backend) if kind != "frontend" else FRONTEND_MODULE
        if module is None:
            raise _args_only(name, backend, label)
        return LaunchRead(module, argv, {**launch, "no_command": True})
    if len(argv) >= 3 and _is_python(argv):
        if argv[0] != "python3":
            launch["python"] = argv[0]
        return LaunchRead(argv[2], argv[3:], launch)
    raise _unrecognised(name, argv, label)


def _module_of(backend: str | None) -> str | None:
    """The engine module of a DGD's ``backendFramework`` (or an engine's own name)."""
    found = (e for e in ENGINES.values() if str(backend) in (e.framework, e.name))
    return next((e.module for e in found), None)


def _is_python(argv: list[str]) -> bool:
    return (
        len(argv) >= 3
        and posixpath.basename(argv[0]).startswith("python")
        and argv[1] == "-m"
        and argv[2].startswith("dynamo.")
    )


def _shell(
    command: list[str], args: list[str], env: dict[str, str], name: str, label: str
) -> LaunchRead:
    import shlex

    whole = [*command, *args]
    at = next((i for i, a in enumerate(whole[1:], 1) if not a.startswith("-")), None)
    flags = whole[1:at] if at else whole[1:]
    if at is None or not any("c" in f.lstrip("-") for f in flags) or at != len(whole) - 1:
        raise ProfileError(
            f"{label}: component {name!r} runs `{shlex.join(whole[:3])} …`, and trtl reads "
            "a shell only as SHELL -c 'SCRIPT' with the script as the last argument."
        )
    from .shell_script import ScriptError, read_script  # only scripts need the lexer

    script = kubelet_expand(whole[at], env)
    try:
        read = read_script(script, env)
    except ScriptError as exc:
        where = f"script line {exc.line} `{exc.text}`" if exc.line else "its script"
        raise ProfileError(
            f"{label}: component {name!r}: {where}: trtl expected {exc.expected}.",
            hint="trtl reads straight-line scripts that end in `exec python3 -m dynamo.…`; "
            "see docs/import-coverage.md.",
        ) from None
    if len(read.argv) < 3:
        raise _unrecognised(name, read.argv, label)
    written = dict(read.written)
    # $(VAR) the kubelet expanded inside the script: written back as the reference.
    for var, value in env.items():
        if f"$({var})" in whole[at] and value in read.argv:
            written[value] = f"$({var})"
    launch: dict[str, Any] = {
        "shell": whole[:at],
        "script_in_command": at < len(command),
        "command_items": len(command) if len(command) < at else None,
        "preamble": [s.text + (" &&" if s.chained else "") for s in read.preamble],
        "files": read.files,
        "use_exec": read.exec_,
        "prefix": read.prefix,
        "exported": read.exported,
        "written": written,
        "line": read.line or None,
    }
    if read.argv[0] != "python3":
        launch["python"] = read.argv[0]
    return LaunchRead(read.argv[2], read.argv[3:], launch, read.env, read.files)


def _unrecognised(name: str, argv: list[str], label: str) -> ProfileError:
    import shlex

    shown = shlex.join(argv[:4]) + (" …" if len(argv) > 4 else "")
    modules = "|".join(["frontend", *(e.module.removeprefix("dynamo.") for e in ENGINES.values())])
    return ProfileError(
        f"{label}: component {name!r} runs `{shown}`, a command trtl does not recognise.",
        hint=f"trtl reads `python3 -m dynamo.<{modules}> …` commands, plain or in a shell script.",
    )


def _args_only(name: str, backend: str | None, label: str) -> ProfileError:
    """A worker with args and no command: the image's entrypoint runs its backendFramework."""
    frameworks = ", ".join(e.framework for e in ENGINES.values() if e.framework)
    said = f"is {backend!r}" if backend is not None else "is not set"
    return ProfileError(
        f"{label}: component {name!r} gives only args, so spec.backendFramework names its "
        f"engine, but spec.backendFramework {said}.",
        hint=f"Set spec.backendFramework to one of {frameworks}, or give the component "
        "`command: [python3, -m, dynamo.<engine>]`.",
    )


def heredoc_config(path: str, launch: dict[str, Any], working_dir: str | None) -> str | None:
    """The text a heredoc of the script wrote to ``path`` (relative to ``working_dir``)."""
    files = launch.get("files") or {}
    full = posixpath.normpath(posixpath.join(working_dir or "/", path))
    for written, text in files.items():
        if posixpath.normpath(posixpath.join(working_dir or "/", written)) == full:
            launch["engine_config_file"] = written
            del files[written]
            return text
    return None


def render_launch(
    launch: dict[str, Any], module: str, args: list[str], env: dict[str, str], config: str | None
) -> tuple[list[str] | None, list[str] | None]:
    """(command, args) of the export, written the way the imported DGD wrote them.

    ``config`` is the engine config text the script writes to ``engine_config_file``.
    """
    python = launch.get("python") or "python3"
    written = launch.get("written") or {}
    if not launch.get("shell"):
        argv = [lookup(written, a, args[i - 1] if i else None) or a for i, a in enumerate(args)]
        if launch.get("no_command"):
            return None, argv
        head = ["exec"] if launch.get("use_exec") else []
        return [*head, written.get(python, python), "-m", module], argv

    from .script_layout import arrange
    from .shell_script import quote

    # Each argument back in the statement (array or launch line) that held it.
    preamble, line = arrange(launch.get("preamble") or [], launch.get("line"), args,
                             partial(quoted, written=written))  # fmt: skip
    lines = _preamble_lines({**launch, "preamble": preamble}, config)
    prefix = [f"{k}={quote(env[k])}" for k in launch.get("prefix") or [] if k in env]
    # VAR=value exec python3 …: bash applies the assignments to what exec runs.
    words = [*prefix, *(["exec"] if launch.get("use_exec") else []), python, "-m", module]
    lines.append(" ".join(words) + line)
    script = "\n".join(lines) + "\n"
    shell = list(launch["shell"])
    if launch.get("script_in_command"):
        return [*shell, script], None
    n = launch.get("command_items") or len(shell)
    return shell[:n], [*shell[n:], script]


def quoted(value: str, flag: str | None = None, *, written: dict[str, str]) -> str:
    """``value`` (after ``flag``) as shell text, written as the original wrote it."""
    import shlex

    from .shell_script import quote

    raw = lookup(written, value, flag)
    if raw is not None:
        return quote(raw)  # a variable: double quotes keep it one
    return shlex.quote(value)


def _preamble_lines(launch: dict[str, Any], config: str | None) -> list[str]:
    import shlex

    files = dict(launch.get("files") or {})
    if launch.get("engine_config_file") and config is not None:
        files[launch["engine_config_file"]] = config
    lines: list[str] = []
    for statement in launch.get("preamble") or []:
        if lines and lines[-1].endswith(" &&") and "<<" not in lines[-1]:
            lines[-1] += " " + statement  # `ulimit -l unlimited && mkdir -p …`: one line
            continue
        lines.append(statement)
        if statement.startswith("cat > ") and "<<'" in statement:
            # A heredoc (written as `cat > FILE <<'DELIM'` on import): its body follows.
            target = shlex.split(statement.split("<<", 1)[0])[2]
            delim = statement.rsplit("<<'", 1)[1].rstrip("&").strip().rstrip("'")
            lines += [files.get(target, "").rstrip("\n"), delim]
    return lines
