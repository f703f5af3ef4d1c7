"""``trtl export --k8s``: write the graph ``trtl up`` runs as a DynamoGraphDeployment.

The YAML goes to stdout or, with ``-o``, to a file (``write_output``: atomically for a
regular file, so a failure never leaves half a file). Notes and the next kubectl
commands go to stderr.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import click
from trtl.launcher.cli.options import load, profile_options
from trtl.launcher.terminal import note_line


@click.command()
@click.argument("profile_ref", metavar="PROFILE", required=False)
@click.option("--k8s", "k8s", is_flag=True, help="Write a Kubernetes DynamoGraphDeployment.")
@click.option(
    "--api-version",
    "version",
    default="v1beta1",
    show_default=True,
    metavar="v1beta1|v1alpha1",
    help="DGD API version: v1beta1 (stored by the operator) or v1alpha1 (older examples).",
)
@click.option(
    "--image",
    default=None,
    help="Container image (default: the profile's k8s.image, else NVIDIA's runtime image "
    "of the engine for the Dynamo in use).",
)
@click.option("--name", default=None, help="DGD name (default: the profile's name).")
@click.option("--namespace", default=None, help="Kubernetes namespace to write into the YAML.")
@click.option("-o", "--output", default=None, metavar="FILE", help="Write to FILE, not stdout.")
@click.option("--crd", default=None, metavar="FILE", help="Validate against this CRD first.")
@click.option("--explain", is_flag=True, help="List what differs from the local run and exit.")
@profile_options
def export(
    *,
    profile_ref: str | None,
    k8s: bool,
    version: str,
    image: str | None,
    name: str | None,
    namespace: str | None,
    output: str | None,
    crd: str | None,
    explain: bool,
    engine: str | None,
    model: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Write PROFILE as the DynamoGraphDeployment (plus engine-config ConfigMap) it runs.

    PROFILE is a profile name, a profile file or a DGD file. Each role runs the same
    arguments as `trtl plan PROFILE` shows; `--explain` lists the few that differ.
    """
    from trtl.profiles.errors import ExportError

    if explain:
        from trtl.k8s_export import explain as explain_text

        click.echo(explain_text())
        return
    if not k8s:
        raise ExportError("trtl export needs a target: add --k8s (the only one today).")
    if profile_ref is None:
        raise ExportError("trtl export --k8s needs a PROFILE (a name, profile file or DGD file).")
    from trtl import k8s_export

    profile = load(profile_ref, engine, model, overrides)
    if image is None and k8s_export.needs_image(profile):
        image = k8s_export.default_image(profile.engine)
        note_line(f"no --image given: using {image} ({k8s_export.describe(profile.engine)}).")
    docs = k8s_export.render(profile, version=version, image=image, name=name, namespace=namespace)
    if crd:
        k8s_export.check_crd(docs[-1], k8s_export.crd_schema(Path(crd), version), Path(crd))
    text = k8s_export.export_yaml(docs, profile_ref)
    for note in k8s_export.render_notes(profile):
        note_line(note)
    if output:
        write_output(Path(output), text)
    else:
        click.echo(text, nl=False)
    _next_steps(docs[-1], profile.k8s.hf_token_secret, output)


def write_output(path: Path, text: str) -> None:
    """Write ``text`` to ``path``: a regular file atomically, anything else in place.

    A symlink is followed (the link stays, its target gets the text). A device, FIFO or
    /dev/stdout is written directly: renaming a file over it would replace the node.
    A regular file gets a temporary file renamed over it, so a failure leaves no half
    file; it keeps an existing file's mode, else gets 0666 less the umask.
    Raises ExportError (exit 2) naming the file.
    """
    import os
    import stat

    from trtl.profiles.errors import ExportError

    try:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            info = None
        if str(path.absolute()).startswith(("/dev/", "/proc/")) or (
            info is not None and not stat.S_ISREG(info.st_mode)
        ):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            return
        mode = stat.S_IMODE(info.st_mode) if info else 0o666 & ~_umask()
        from trtl.launcher.deployments.files import write_atomic

        write_atomic(os.path.realpath(path), text, mode)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ExportError(f"Cannot write {path}: {reason}.") from exc


def _umask() -> int:
    import os

    # The only portable way to read the umask is to set it; trtl is single-threaded here.
    current = os.umask(0o022)
    os.umask(current)
    return current


def _next_steps(dgd: dict, secret: str | None, output: str | None) -> None:
    metadata = dgd["metadata"]
    ns = f" -n {shlex.quote(metadata['namespace'])}" if metadata.get("namespace") else ""
    steps = []
    if secret:
        steps.append(
            f"kubectl create secret generic {shlex.quote(secret)} "
            f'--from-literal=HF_TOKEN="$HF_TOKEN"{ns}'
        )
    if output:
        steps.append(f"kubectl apply -f {shlex.quote(output)}{ns}")
    else:  # nothing was written: name no file
        steps.append(f"pipe this output into `kubectl apply -f -{ns}` (or write it with -o FILE)")
    frontend = _frontend_component(dgd["spec"])
    if frontend is None:  # a worker-only graph joins a frontend deployed elsewhere
        steps.append("(no frontend in this graph: its workers join one deployed elsewhere)")
    else:  # the operator lower-cases the Service name
        steps.append(
            f"kubectl port-forward svc/{metadata['name']}-{frontend.lower()} 8000:8000{ns}"
        )
    click.echo("next:\n" + "\n".join(f"  {step}" for step in steps), err=True)


def _frontend_component(spec: dict) -> str | None:
    if "components" in spec:
        named = [(c["name"], c.get("type")) for c in spec["components"]]
    else:
        named = [(k, v.get("componentType")) for k, v in spec["services"].items()]
    return next((name for name, kind in named if kind == "frontend"), None)
