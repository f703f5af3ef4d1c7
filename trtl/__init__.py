"""trtl: run NVIDIA Dynamo serving graphs locally from one profile, and export the same graph
to Kubernetes — from Python.

    import trtl

    with trtl.up("agg", engine="mocker", model="path/to/model", port=8123) as d:
        print(d.url, d.served_model_name)      # http://127.0.0.1:8123/v1 …
        print(d.chat("Hello!"))
    # every process is stopped here, whatever ended the block; and should this Python
    # end abruptly (os._exit, SIGKILL), the graph's supervisor stops it by itself

``trtl.plan`` shows what would run, ``trtl.attach`` reaches a deployment that the CLI
started, ``trtl.export_k8s``/``trtl.import_dgd`` convert to and from DynamoGraphDeployment
YAML. Errors are ``trtl.TrtlError`` and its subclasses, the same the CLI reports.
"""

from __future__ import annotations

import os

# In a source checkout the rooms (launcher/, profiles/, k8s_export/) sit beside this
# folder; an installed wheel carries them inside it (pyproject's force-include). Either
# way they import as trtl.launcher, trtl.profiles, trtl.k8s_export, so no generic
# top-level name is installed into the user's environment.
# os.path, not pathlib: `trtl up` imports this first, and pathlib would cost every start
# a few milliseconds before its first process is spawned.
_HERE = os.path.dirname(os.path.realpath(__file__))
_ROOT = os.path.dirname(_HERE)
if not os.path.isdir(os.path.join(_HERE, "launcher")) and os.path.isdir(
    os.path.join(_ROOT, "launcher")
):
    __path__.append(_ROOT)

from trtl.profiles.lazy import lazy_exports  # noqa: E402 - needs the __path__ above

_HOMES = {
    "Deployment": "trtl.launcher.api",
    "ExportError": "trtl.profiles.errors",
    "PlacementError": "trtl.profiles.errors",
    "PreflightError": "trtl.profiles.errors",
    "Profile": "trtl.profiles.schema",
    "ProfileError": "trtl.profiles.errors",
    "SupervisorError": "trtl.profiles.errors",
    "TrtlError": "trtl.profiles.errors",
    "attach": "trtl.launcher.api",
    "export_k8s": "trtl.launcher.api",
    "import_dgd": "trtl.launcher.api",
    "load": "trtl.launcher.api",
    "plan": "trtl.launcher.api",
    "up": "trtl.launcher.api",
}

__all__ = sorted(_HOMES)


# Loaded on first use: `import trtl` stays as cheap as `trtl --help`.
__getattr__ = lazy_exports(__name__, _HOMES)
