"""What a DGD component really runs, found without trtl's own reader: the test oracle.

``launch_of`` gives (argv, env, files) of a component's main container:

- ``$(VAR)`` in command/args: the kubelet's rule, written out here independently
  (``$$`` is one ``$``, defined names expand, others stay).
- a shell-wrapped command: the script runs under real ``bash`` (``-c``, never a login
  shell, so PATH stays ours) with a stand-in ``python3`` first on PATH that records its
  arguments and environment and exits; files the script writes under ``/workspace`` land in
  a temporary directory (the script's ``/workspace`` is rewritten to it, and back in the
  file names reported).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

STUB = """#!/bin/sh
"$TRTL_ORACLE_PY" -c 'import json, os, sys
out = open(os.environ["TRTL_ORACLE_OUT"], "w")
json.dump({"argv": sys.argv[1:], "env": dict(os.environ)}, out)' "$@"
"""
REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def kubelet(text: str, env: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return REF.sub(one, text)


def container_env(graph_env: list[dict], container: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in [*graph_env, *(container.get("env") or [])]:
        if "value" in entry:
            env[entry["name"]] = kubelet(str(entry["value"]), env)
    return env


def launch_of(
    container: dict[str, Any], graph_env: list[dict], python: str
) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """(argv after the interpreter, env the process gets, files the script wrote)."""
    env = container_env(graph_env, container)
    written = [*container.get("command", []), *container.get("args", [])]
    words = [kubelet(str(w), env) for w in written]
    if not words or os.path.basename(words[0]) not in ("sh", "bash"):
        return words, env, {}
    script = words[-1]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "bin").mkdir()
        (root / "workspace").mkdir()  # the runtime images have it
        stub = root / "bin" / "python3"
        stub.write_text(STUB)
        stub.chmod(0o755)
        out = root / "out.json"
        run_env = {**env, "PATH": f"{root / 'bin'}:/usr/bin:/bin", "TRTL_ORACLE_OUT": str(out),
                   "TRTL_ORACLE_PY": python}  # fmt: skip
        script = script.replace("/workspace", str(root / "workspace"))
        subprocess.run(["bash", "-c", script], env=run_env, check=True, timeout=30,
                       cwd=root)  # fmt: skip
        seen = json.loads(out.read_text())
        files = {
            "/workspace/" + str(p.relative_to(root / "workspace")): p.read_text()
            for p in (root / "workspace").rglob("*") if p.is_file()
        } if (root / "workspace").exists() else {}  # fmt: skip
    proc_env = {k: v for k, v in seen["env"].items() if not k.startswith("TRTL_ORACLE")}
    for key in ("PATH", "PWD", "SHLVL", "_", "OLDPWD", "LC_CTYPE"):
        proc_env.pop(key, None)
    argv = [a.replace(str(root / "workspace"), "/workspace") for a in seen["argv"]]
    return ["python3", *argv], proc_env, files
