"""What import reads, export writes back (found by an adversarial test of import/export).

GPU limits the cluster had (a MIG slice, ``nvidia.com/gpu: 0``, none), replicas of 0,
fields the CRD lacks, duplicate component names and Kubernetes quantities: each either
comes back exactly as it was or is refused at import, naming the field in the DGD file.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_helpers import CRD

WORKER: dict[str, Any] = {
    "name": "VllmWorker",
    "type": "worker",
    "podTemplate": {
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1",
                    "command": ["python3", "-m", "dynamo.vllm"],
                    "args": ["--model", "Qwen/Qwen3-0.6B"],
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ]
        }
    },
}
DGD: dict[str, Any] = {
    "apiVersion": "nvidia.com/v1beta1",
    "kind": "DynamoGraphDeployment",
    "metadata": {"name": "g0"},
    "spec": {
        "backendFramework": "vllm",
        "components": [{"name": "Frontend", "type": "frontend", "replicas": 1}, WORKER],
    },
}


def _dgd(**changes: Any) -> dict[str, Any]:
    dgd = copy.deepcopy(DGD)
    worker = dgd["spec"]["components"][1]
    for key, value in changes.items():
        if key == "limits":
            worker["podTemplate"]["spec"]["containers"][0]["resources"] = (
                {"limits": value} if value is not None else None
            )
            if value is None:
                del worker["podTemplate"]["spec"]["containers"][0]["resources"]
        else:
            worker[key] = value
    return dgd


def _round_trip(run_trtl, dgd: dict[str, Any], crd_validators) -> tuple[str, dict[str, Any]]:
    """(import's stderr, the DGD that export writes from the imported profile)."""
    with open("dgd.yaml", "w") as f:
        yaml.safe_dump(dgd, f)
    imported = run_trtl("import", "dgd.yaml", "-o", "mine.yaml")
    assert imported.exit_code == 0, imported.output
    exported = run_trtl("export", "--k8s", "mine.yaml", "--crd", str(CRD), "-o", "out.yaml")
    assert exported.exit_code == 0, exported.output
    with open("out.yaml") as f:
        out = [d for d in yaml.safe_load_all(f) if d][-1]
    assert not list(crd_validators["v1beta1"].iter_errors(out))
    return imported.stderr, out


def _limits(out: dict[str, Any]) -> dict[str, Any] | None:
    container = out["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]
    return (container.get("resources") or {}).get("limits")


@pytest.mark.parametrize(
    ("limits", "note"),
    [
        ({"nvidia.com/mig-1g.18gb": "1"}, "nvidia.com/mig-1g.18gb: 1 rather than whole GPUs"),
        ({"nvidia.com/gpu": "0"}, "no GPU (nvidia.com/gpu: 0)"),
        ({"cpu": "2"}, "no GPU (no nvidia.com/gpu limit)"),
        (None, "no GPU (no nvidia.com/gpu limit)"),
    ],
)
def test_import_then_export_keeps_the_gpu_limits_the_cluster_had(
    run_trtl, isolated_dirs, crd_validators, limits, note
):
    notes, out = _round_trip(run_trtl, _dgd(limits=limits), crd_validators)
    assert _limits(out) == limits  # no nvidia.com/gpu: '1' added
    assert f"component VllmWorker: the cluster gives it {note}; locally it runs on 1 GPU" in notes
    plan = run_trtl("plan", "mine.yaml", "--engine", "mocker")
    assert plan.exit_code == 0, plan.output


def test_whole_gpus_still_come_back_as_the_role_gpus(run_trtl, isolated_dirs, crd_validators):
    notes, out = _round_trip(run_trtl, _dgd(limits={"nvidia.com/gpu": "2"}), crd_validators)
    assert _limits(out) == {"nvidia.com/gpu": "2"}
    assert "gpus: 2" in Path("mine.yaml").read_text()
    assert "rather than whole GPUs" not in notes


def test_replicas_0_is_run_once_locally_and_exported_as_0(run_trtl, isolated_dirs, crd_validators):
    dgd = _dgd(replicas=0)
    dgd["spec"]["components"][0]["replicas"] = 0
    notes, out = _round_trip(run_trtl, dgd, crd_validators)
    assert [c["replicas"] for c in out["spec"]["components"]] == [0, 0]
    assert "replicas 0 (scaled to zero in the cluster); trtl runs 1 locally" in notes
    assert "component Frontend: replicas 0; trtl runs one frontend locally" in notes
    plan = run_trtl("plan", "mine.yaml", "--engine", "mocker")
    assert plan.exit_code == 0 and "vllm-worker-0" in plan.output, plan.output


def test_replicas_set_after_importing_0_are_the_ones_exported(run_trtl, isolated_dirs):
    with open("dgd.yaml", "w") as f:
        yaml.safe_dump(_dgd(replicas=0), f)
    assert run_trtl("import", "dgd.yaml", "-o", "mine.yaml").exit_code == 0
    exported = run_trtl(
        "export", "--k8s", "mine.yaml", "--set", "workers.vllm-worker.replicas=3", "-o", "out.yaml"
    )
    assert exported.exit_code == 0, exported.output
    with open("out.yaml") as f:
        out = [d for d in yaml.safe_load_all(f) if d][-1]
    assert out["spec"]["components"][1]["replicas"] == 3  # not the 0 kept by import


def test_a_frontend_of_two_replicas_is_exported_with_two(run_trtl, isolated_dirs, crd_validators):
    dgd = _dgd()
    dgd["spec"]["components"][0]["replicas"] = 2
    _, out = _round_trip(run_trtl, dgd, crd_validators)
    assert out["spec"]["components"][0]["replicas"] == 2


def _refused(run_trtl, dgd: dict[str, Any]) -> str:
    with open("dgd.yaml", "w") as f:
        yaml.safe_dump(dgd, f)
    for args in (["import", "dgd.yaml", "-o", "mine.yaml"], ["plan", "dgd.yaml"]):
        result = run_trtl(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == ""
        assert "Traceback" not in result.output
    assert not Path("mine.yaml").exists()  # nothing half-written
    return result.stderr.splitlines()[0]


def test_negative_replicas_are_a_malformed_dgd(run_trtl, isolated_dirs):
    first = _refused(run_trtl, _dgd(replicas=-1))
    assert first == (
        "error: dgd.yaml: spec.components[1].replicas: expected an integer of 0 or more, got -1."
    )


def _with(path: tuple, value: Any) -> dict[str, Any]:
    dgd = _dgd()
    node: Any = dgd
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return dgd


CONTAINER = ("spec", "components", 1, "podTemplate", "spec", "containers", 0)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("spec", "envs"), "spec.envs is the nvidia.com/v1alpha1 name; a nvidia.com/v1beta1 "
         "DynamoGraphDeployment calls it spec.env."),
        (("spec", "fooBar"), "spec.fooBar is not a field of a nvidia.com/v1beta1 "
         "DynamoGraphDeployment."),
        (("spec", "components", 1, "replica"), "spec.components[1].replica is not a field of a "
         "nvidia.com/v1beta1 DynamoGraphDeployment (did you mean 'replicas'?)."),
        ((*CONTAINER, "frobnicate"), "spec.components[1].podTemplate.spec.containers[0]."
         "frobnicate is not a field of a Kubernetes container."),
        (("spec", "components", 1, "podTemplate", "spec", "nodeSelektor"),
         "spec.components[1].podTemplate.spec.nodeSelektor is not a field of a pod spec "
         "(did you mean 'nodeSelector'?)."),
    ],
)  # fmt: skip
def test_a_field_the_crd_lacks_is_refused_at_import(run_trtl, isolated_dirs, path, message):
    value = [{"name": "DYN_LOG", "value": "debug"}] if path[-1] == "envs" else 1
    assert _refused(run_trtl, _with(path, value)) == f"error: dgd.yaml: {message}"


def test_a_component_name_used_twice_is_refused(run_trtl, isolated_dirs):
    dgd = _dgd()
    dgd["spec"]["components"].append(copy.deepcopy(WORKER))
    first = _refused(run_trtl, dgd)
    assert first == "error: dgd.yaml: spec.components[2].name: 'VllmWorker' is used twice."


def test_the_field_lists_are_the_crds():
    from trtl.k8s_export import dgd_fields

    crd = yaml.safe_load(CRD.read_text())
    for entry in crd["spec"]["versions"]:
        version = entry["name"]
        spec = entry["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        known = dgd_fields.SPEC[version] | dgd_fields.SPEC_PASS_THROUGH[version]
        assert set(spec) == known, version
        if version == "v1beta1":
            component = spec["components"]["items"]["properties"]
            pod = component["podTemplate"]["properties"]["spec"]["properties"]
            assert set(pod) == dgd_fields.POD
            assert set(pod["containers"]["items"]["properties"]) == dgd_fields.CONTAINER
        else:
            component = spec["services"]["additionalProperties"]["properties"]
        assert set(component) == dgd_fields.COMPONENT[version] | dgd_fields.PASS_THROUGH[version]


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        ("k8s.shared_memory=16GB", "k8s.shared_memory: '16GB' is not a Kubernetes quantity; "
         "use 16Gi."),
        ("k8s.worker_resources.requests.cpu=2 cores",
         "k8s.worker_resources.requests.cpu: '2 cores' is not a Kubernetes quantity; use 2."),
        ("workers.worker.k8s.resources.limits.memory=20 GiB",
         "workers.worker.k8s.resources.limits.memory: '20 GiB' is not a Kubernetes quantity; "
         "use 20Gi."),
    ],
)  # fmt: skip
def test_a_k8s_quantity_the_crd_rejects_is_refused_without_crd(
    run_trtl, isolated_dirs, setting, line
):
    result = run_trtl("export", "--k8s", "agg", "--set", setting, "-o", "out.yaml")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0].endswith(line), result.stderr
    assert not (isolated_dirs / "out.yaml").exists()


def test_the_crd_names_a_bad_quantity_in_words(run_trtl, isolated_dirs):
    # A pass-through field the profile schema does not look into: only --crd can check it.
    bad = "k8s.pod={overhead: {cpu: 2 cores}}"
    result = run_trtl("export", "--k8s", "agg", "--set", bad, "--crd", str(CRD))
    assert result.exit_code == 2, result.output
    assert "spec.components[0].podTemplate.spec.overhead.cpu: '2 cores' is not a Kubernetes " in (
        result.stderr
    )
    assert "does not match '^(" not in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: nvidia.com/v1beta1\nkind: DynamoGraphDeployment\nmetadata: {name: x}\n"
         "spec: {components: []}\n",
         "the DynamoGraphDeployment 'x' has no components, so nothing would serve the model."),
        ("kind: DynamoGraphDeployment\nmetadata: {name: x}\nspec: {components: []}\n",
         "the DynamoGraphDeployment has no apiVersion."),
        ("apiVersion: nvidia.com/v1beta1\nkind: DynamoGraphDeployment\nmetadata: {name: x}\n"
         "spec:\n  components:\n  - {name: W, type: worker, podTemplate: {spec: {containers: "
         "[{name: main, args: [--model, q]}]}}}\n",
         "component 'W' gives only args, so spec.backendFramework names its engine, but "
         "spec.backendFramework is not set."),
    ],
)  # fmt: skip
def test_import_nits_read_as_sentences(run_trtl, isolated_dirs, text, message):
    (isolated_dirs / "dgd.yaml").write_text(text)
    result = run_trtl("import", "dgd.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == f"error: dgd.yaml: {message}"
    assert "None" not in result.stderr


def test_two_dgds_in_one_file_say_to_split_it(run_trtl, isolated_dirs):
    with open("dgd.yaml", "w") as f:
        yaml.safe_dump_all([DGD, DGD], f)
    result = run_trtl("import", "dgd.yaml")
    assert result.exit_code == 2
    assert "holds 2 DynamoGraphDeployments; trtl reads one per file." in result.stderr
    assert "Split the file" in result.stderr
