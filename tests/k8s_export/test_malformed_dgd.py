"""A DGD with a field of the wrong type: one sentence naming the field, exit 2, never a crash."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from k8s_helpers import DATA, UPSTREAM
from trtl.k8s_export.files import READ_ERRORS
from trtl.profiles.errors import ProfileError

DISAGG = DATA / "upstream_v1beta1_disagg.yaml"
WORKER = ("spec", "components", 1)
MAIN = (*WORKER, "podTemplate", "spec", "containers", 0)
# What the reviewer's fuzzer put in place of every node of every fixture.
OTHER_TYPES: list[Any] = [None, "x", 5, [], {}]


def mutated(source, path: tuple, value: Any, out) -> None:
    """Write ``source``'s documents to ``out`` with the node at ``path`` replaced."""
    docs = list(yaml.safe_load_all(source.read_text()))
    node = docs if isinstance(path[0], int) else docs[-1]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    out.write_text(yaml.safe_dump_all(docs))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("metadata", "annotations"), "oops",
         "metadata.annotations: expected a mapping, got 'oops'"),
        ((*WORKER, "replicas"), "two",
         "spec.components[1].replicas: expected an integer, got 'two'"),
        ((*MAIN, "resources", "limits", "nvidia.com/gpu"), "1.5",
         "resources.limits.nvidia.com/gpu: expected a whole number of GPUs, got '1.5'"),
        ((*WORKER, "podTemplate", "spec", "containers", 0), None,
         "spec.components[1].podTemplate.spec.containers[0]: expected a mapping, got null"),
        ((*MAIN, "workingDir"), 5, "containers[0].workingDir: expected a string, got 5"),
        ((*WORKER, "name"), ["a"], "spec.components[1].name: expected a string, got a list"),
        ((*WORKER, "name"), {"a": 1}, "spec.components[1].name: expected a string, got a mapping"),
        ((*MAIN, "args"), 5, "containers[0].args: expected a list, got 5"),
        ((*MAIN, "env"), "X=1", "containers[0].env: expected a list, got 'X=1'"),
        ((*WORKER, "type"), ["prefill"], "spec.components[1].type: expected a string, got a list"),
    ],
)  # fmt: skip
def test_a_wrong_type_names_its_field(run_trtl, isolated_dirs, path, value, message):
    dgd = isolated_dirs / "dgd.yaml"
    mutated(DISAGG, path, value, dgd)
    for args in (["import", "dgd.yaml"], ["plan", "dgd.yaml"], ["export", "--k8s", "dgd.yaml"]):
        result = run_trtl(*args)
        assert result.exit_code == 2, (args, result.output)
        first = result.stderr.splitlines()[0]
        assert first.startswith("error: dgd.yaml: ") and first.endswith(f"{message}."), first
        assert result.stdout == ""


def test_v1alpha1_service_fields_are_checked_too(run_trtl, isolated_dirs):
    dgd = isolated_dirs / "dgd.yaml"
    source = DATA / "upstream_v1alpha1_agg.yaml"
    mutated(source, ("spec", "services", "TRTLLMWorker", "resources", "limits", "gpu"), "two", dgd)
    result = run_trtl("import", "dgd.yaml")
    assert result.exit_code == 2
    assert "spec.services.TRTLLMWorker.resources.limits.gpu: expected a whole number of GPUs" in (
        result.stderr
    )


def test_a_configmap_of_the_wrong_shape_is_named(run_trtl, isolated_dirs):
    dgd = isolated_dirs / "dgd.yaml"
    mutated(DATA / "agg_with_config_v1beta1.yaml", (0, "data", "agg.yaml"), 5, dgd)
    result = run_trtl("import", "dgd.yaml")
    assert result.exit_code == 2
    assert "error: dgd.yaml: ConfigMap llm-config: data.agg.yaml: expected a string, got 5." in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--tensor-parallel-size", "two",
         "--tensor-parallel-size expects a whole number, got 'two'"),
        ("--extra-engine-args", None, "--extra-engine-args is given no value"),
    ],
)  # fmt: skip
def test_flag_values_trtl_reads_are_checked(run_trtl, isolated_dirs, flag, value, message):
    docs = list(yaml.safe_load_all(DISAGG.read_text()))
    args = docs[-1]["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]["args"]
    args[args.index("--extra-engine-args") : args.index("--extra-engine-args") + 2] = []
    args += [flag] if value is None else [flag, value]
    (isolated_dirs / "dgd.yaml").write_text(yaml.safe_dump_all(docs))
    result = run_trtl("import", "dgd.yaml")
    assert result.exit_code == 2
    assert f"component 'TRTLLMPrefillWorker': {message}." in result.stderr


def test_what_the_type_check_misses_is_still_one_sentence(run_trtl, isolated_dirs, monkeypatch):
    """The net at the file boundary: every error a reader of odd data raises is wrapped."""
    import trtl.k8s_export.from_dgd as from_dgd

    assert set(READ_ERRORS) == {AttributeError, TypeError, ValueError, KeyError, IndexError}
    for error in READ_ERRORS:

        def broken(*_args, error=error, **_kwargs):
            raise error("boom")

        monkeypatch.setattr(from_dgd, "graph_data", broken)
        result = run_trtl("import", str(DISAGG), "-o", "p.yaml")
        assert result.exit_code == 2, result.output
        assert f"{DISAGG}: trtl cannot read this DynamoGraphDeployment" in result.stderr
        assert "internal error" not in result.output and "Traceback" not in result.output
        assert not (isolated_dirs / "p.yaml").exists()


def nodes(node: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every path into ``node``, parents before children."""
    if path:
        yield path
    if isinstance(node, (dict, list)):
        for key, value in node.items() if isinstance(node, dict) else enumerate(node):
            yield from nodes(value, (*path, key))


@pytest.mark.parametrize("fixture", UPSTREAM)
def test_no_mutation_of_a_fixture_crashes_import(run_trtl, isolated_dirs, fixture):
    """Each node of each fixture replaced in turn by a value of every other type."""
    docs = list(yaml.safe_load_all((DATA / fixture).read_text()))
    out = isolated_dirs / "m.yaml"
    crashes = []
    for path in nodes(docs):
        if len(path) < 2:
            continue  # a whole document: not a DGD any more, another test's case
        for value in OTHER_TYPES:
            changed = copy.deepcopy(docs)
            node = changed
            for part in path[:-1]:
                node = node[part]
            if type(node[path[-1]]) is type(value):
                continue
            node[path[-1]] = value
            out.write_text(yaml.safe_dump_all(changed))
            result = run_trtl("import", str(out))
            if (
                result.exit_code not in (0, 2)
                or "Traceback" in result.output
                or "internal error" in result.output
            ):
                crashes.append((path, value, result.exit_code, result.output[-200:]))
    assert not crashes, f"{len(crashes)} crashes, e.g. {crashes[:3]}"


def test_profile_error_is_the_type_of_the_check():
    from trtl.k8s_export.dgd_types import check_types

    with pytest.raises(ProfileError, match=r"^f: spec\.components: expected a list, got 5\.$"):
        check_types([{"apiVersion": "nvidia.com/v1beta1", "kind": "DynamoGraphDeployment",
                      "spec": {"components": 5}}], "f")  # fmt: skip
