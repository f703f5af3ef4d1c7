"""`trtl export --k8s` and `trtl import` as a user meets them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from k8s_helpers import CRD, DATA, IMAGE, ROOT
from trtl.profiles.loader import load_profile

GOLDEN = DATA / "golden"
BAD = sorted((DATA / "bad").glob("*.yaml"))


def test_export_to_stdout_with_next_steps(run_trtl):
    result = run_trtl("export", "--k8s", "disagg", "--image", IMAGE)
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs] == ["ConfigMap", "DynamoGraphDeployment"]
    assert docs[1]["apiVersion"] == "nvidia.com/v1beta1"
    assert result.stderr.splitlines()[-4:] == [
        "next:",
        '  kubectl create secret generic hf-token-secret --from-literal=HF_TOKEN="$HF_TOKEN"',
        "  pipe this output into `kubectl apply -f -` (or write it with -o FILE)",
        "  kubectl port-forward svc/disagg-frontend 8000:8000",
    ]


@pytest.mark.parametrize(
    ("name", "version"), [("disagg", "v1beta1"), ("disagg_router", "v1alpha1")]
)
def test_golden_yaml(run_trtl, name, version):
    result = run_trtl("export", "--k8s", name, "--image", IMAGE, "--api-version", version)
    assert result.exit_code == 0, result.output
    golden = GOLDEN / f"{name}.{version}.yaml"
    if os.environ.get("TRTL_REGEN_GOLDEN"):
        golden.write_text(result.stdout)
    assert result.stdout == golden.read_text()


def test_output_file_namespace_and_crd(run_trtl, isolated_dirs):
    out = isolated_dirs / "out.yaml"
    result = run_trtl(
        "export", "--k8s", "agg_router", "--image", IMAGE, "--namespace", "llm", "--name", "prod",
        "-o", str(out), "--crd", str(CRD), "--engine", "mocker",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    dgd = list(yaml.safe_load_all(out.read_text()))[-1]
    assert dgd["metadata"] == {
        "name": "prod",
        "namespace": "llm",
        "annotations": dgd["metadata"]["annotations"],
    }
    assert f"kubectl apply -f {out} -n llm" in result.stderr
    assert "svc/prod-frontend" in result.stderr
    assert [p.name for p in isolated_dirs.iterdir()] == ["out.yaml"]  # no temporary left


def test_crd_errors_name_the_field_and_write_nothing(run_trtl, isolated_dirs):
    out = isolated_dirs / "out.yaml"
    result = run_trtl(
        "export", "--k8s", "agg", "--image", IMAGE, "--crd", str(CRD), "-o", str(out),
        "--set", "workers.worker.k8s.container.stdin=maybe",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "spec.components[1].podTemplate.spec.containers[0].stdin: 'maybe' is not of type" in (
        result.stderr
    )
    assert not out.exists()


def test_a_pass_through_typo_is_named_in_the_profile_without_crd(run_trtl, isolated_dirs):
    out = isolated_dirs / "out.yaml"
    result = run_trtl(
        "export", "--k8s", "agg", "--image", IMAGE, "-o", str(out),
        "--set", "workers.worker.k8s.container.imagePullPolcy=x",
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: workers.worker.k8s.container.imagePullPolcy is not a field of a Kubernetes "
        "container (did you mean 'imagePullPolicy'?)."
    ), result.stderr
    assert not out.exists()


def test_failures_leave_an_existing_file_alone(run_trtl, isolated_dirs):
    out = isolated_dirs / "out.yaml"
    out.write_text("keep me\n")
    result = run_trtl("export", "--k8s", "agg", "--image", "x", "--namespace", "Bad_NS",
                      "-o", str(out))  # fmt: skip
    assert result.exit_code == 2
    assert "is not a Kubernetes namespace name" in result.stderr
    assert out.read_text() == "keep me\n"


@pytest.mark.parametrize("engine", ["trtllm", "vllm", "mocker"])
def test_without_image_nvidias_runtime_image_is_used_and_said(run_trtl, engine):
    result = run_trtl("export", "--k8s", "disagg", "--engine", engine)
    assert result.exit_code == 0, result.output
    runtime = {"vllm": "vllm-runtime"}.get(engine, "tensorrtllm-runtime")
    image = f"nvcr.io/nvidia/ai-dynamo/{runtime}:1.6.1"
    images = {line.split()[-1] for line in result.stdout.splitlines() if "image:" in line}
    assert images == {image}
    assert f"no --image given: using {image} (NVIDIA's" in result.stderr
    assert "for Dynamo 1.6.1" in result.stderr


def test_without_output_the_hint_names_no_file(run_trtl, isolated_dirs):
    result = run_trtl("export", "--k8s", "agg", "--image", "x")
    assert result.exit_code == 0, result.output
    assert "kubectl apply -f agg.yaml" not in result.stderr
    assert "kubectl apply -f -" in result.stderr
    written = run_trtl("export", "--k8s", "agg", "--image", "x", "-o", "agg.yaml")
    assert "kubectl apply -f agg.yaml" in written.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "disagg", "--image", "x"], "trtl export needs a target: add --k8s"),
        (["export", "--k8s", "disagg", "--image", "x", "--api-version", "v2"],
         "Unknown API version 'v2'"),
        (["export", "--k8s", "nope"], "No profile named 'nope'"),
        (["export", "--k8s", "disagg", "--image", "x", "--crd", "missing.yaml"],
         "--crd: missing.yaml: no such file."),
        (["export", "--k8s", "disagg", "--image", "x", "--set", "env.HF_TOKEN=hf_x"],
         "env.HF_TOKEN holds a secret value"),
    ],
)  # fmt: skip
def test_export_bad_input(run_trtl, args, message):
    result = run_trtl(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_explain_lists_the_identity_table(run_trtl):
    result = run_trtl("export", "--explain")
    assert result.exit_code == 0
    for key in ("CUDA_VISIBLE_DEVICES", "--discovery-backend", "DYN_NAMESPACE", "image",
                "resources", "workingDir", "frontend.restart", "stop_grace"):  # fmt: skip
        assert key in result.stdout, key


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_import_bad_input_is_one_sentence_and_writes_nothing(run_trtl, isolated_dirs, path):
    out = isolated_dirs / "p.yaml"
    result = run_trtl("import", str(path), "-o", str(out))
    assert result.exit_code == 2, result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ") and first.endswith(".")
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("stem", "message"),
    [
        ("not_a_dgd", "is not a DynamoGraphDeployment (it holds Deployment)"),
        ("unknown_version", "unknown DynamoGraphDeployment API version 'nvidia.com/v2'"),
        ("no_workers", "has no worker components"),
        ("unknown_command", "runs `/app/server --port 8000`, a command trtl does not recognise"),
        ("shell_pipeline", "component 'Worker': script line 1 `python3 -m dynamo.trtllm"),
        (
            "template_placeholder",
            "spec.components[1].podTemplate.spec.nodeSelector holds "
            "${HW_NODE_SELECTOR}, an unfilled template variable where a mapping belongs",
        ),
        (
            "script_loop",
            "component 'worker': script line 2 `until curl -sf "
            "http://etcd:2379/health; do sleep 1; done`: trtl expected straight-line statements",
        ),
        (
            "script_unset_var",
            "component 'worker': script line 1 `exec python3 -m dynamo.trtllm "
            '--model-path "${MODEL_PATH}"`: trtl expected $MODEL_PATH to be set',
        ),
    ],
)
def test_import_bad_input_messages(run_trtl, stem, message):
    result = run_trtl("import", str(DATA / "bad" / f"{stem}.yaml"))
    assert message in result.stderr


def test_import_writes_a_profile_that_loads(run_trtl, isolated_dirs):
    out = isolated_dirs / "imported.yaml"
    result = run_trtl("import", str(DATA / "upstream_v1alpha1_disagg_router.yaml"), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "left out dynamoNamespace" in result.stderr
    assert f"trtl plan {out}" in result.stderr
    profile = load_profile(str(out))
    assert profile.frontend.router_mode == "kv"
    assert [(n, r.mode, r.replicas) for n, r in profile.workers.items()] == [
        ("trtllm-prefill-worker", "prefill", 2),
        ("trtllm-decode-worker", "decode", 2),
    ]
    assert out.read_text().startswith("# trtl profile imported from")


@pytest.mark.parametrize("engine", ["trtllm", "mocker"])
def test_export_import_through_files_gives_the_profile_back(run_trtl, isolated_dirs, engine):
    for version in ("v1beta1", "v1alpha1"):
        dgd, prof = isolated_dirs / f"{version}.yaml", isolated_dirs / f"{version}.profile.yaml"
        args = ["disagg_router", "--engine", engine, "--set", "python=/opt/py", "--image", IMAGE]
        assert (
            run_trtl("export", "--k8s", *args, "--api-version", version, "-o", str(dgd)).exit_code
            == 0
        )
        assert run_trtl("import", str(dgd), "-o", str(prof)).exit_code == 0
        want = load_profile(
            "disagg_router", engine=engine, overrides=["python=/opt/py", f"k8s.image={IMAGE}"]
        )
        assert load_profile(str(prof)) == want


def test_plan_and_export_accept_a_dgd_file(run_trtl):
    path = str(DATA / "upstream_v1beta1_disagg.yaml")
    result = run_trtl(
        "plan",
        path,
        "--engine",
        "mocker",
        "--set",
        "workers.trtllm-decode-worker.replicas=3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    names = [p["name"] for p in json.loads(result.stdout)["processes"]]
    assert names == [
        "frontend",
        "trtllm-prefill-worker-0",
        *[f"trtllm-decode-worker-{i}" for i in range(3)],
    ]
    again = run_trtl("export", "--k8s", path, "--api-version", "v1alpha1")
    assert again.exit_code == 0, again.output
    services = list(yaml.safe_load_all(again.stdout))[-1]["spec"]["services"]
    # Roles get profile names, but the components keep theirs, so their Services do too.
    assert list(services) == ["Frontend", "TRTLLMPrefillWorker", "TRTLLMDecodeWorker"]
    assert "svc/trtllm-disagg-frontend" in again.stderr


def test_a_dgd_in_extends_points_to_import(run_trtl, isolated_dirs):
    (isolated_dirs / "mine.yaml").write_text(f"extends: {DATA / 'upstream_v1beta1_disagg.yaml'}\n")
    result = run_trtl("plan", "mine.yaml", "--engine", "mocker")
    assert result.exit_code == 2
    assert "this is a Kubernetes DynamoGraphDeployment, not a trtl profile" in result.stderr
    assert "trtl import" in result.stderr


def test_plan_never_loads_the_exporter_and_export_skips_jsonschema():
    code = (
        "import sys\n"
        "from trtl.launcher.cli import cli\n"
        "cli(sys.argv[1:], standalone_mode=False)\n"
        "mods = sorted(m for m in sys.modules\n"
        "              if m.startswith(('trtl.k8s_export.', 'jsonschema')))\n"
        "print('LOADED', mods, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def loaded(*args):
        proc = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return next(line for line in proc.stderr.splitlines() if line.startswith("LOADED"))

    assert loaded("plan", "disagg", "--engine", "mocker", "--json") == "LOADED []"
    export = loaded("export", "--k8s", "disagg", "--image", "x")
    assert "jsonschema" not in export and "trtl.k8s_export.to_dgd" in export


def test_the_export_loads_nothing_heavy():
    """Rendering and writing YAML load neither the launcher, NVML, HTTP clients nor the
    JSON-schema validator: the export stays a fast, pure step (timed in docs/benchmarks.md,
    not here, where a loaded machine would make a time limit flaky)."""
    code = (
        "import sys\n"
        "from trtl import k8s_export\n"
        "from trtl.profiles.loader import load_profile\n"
        "p = load_profile('disagg_router')\n"
        "k8s_export.export_yaml(k8s_export.render(p, image='x'), 'disagg_router')\n"
        "heavy = ('trtl.launcher', 'pynvml', 'httpx', 'jsonschema', 'torch')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
