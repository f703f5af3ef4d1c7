"""Every export validates against the operator's CRD, converted to strict JSON Schema."""

from __future__ import annotations

import pytest
from k8s_helpers import BUILTINS, CRD, DATA, ENGINES, UPSTREAM, VERSIONS, builtin
from trtl.k8s_export import render
from trtl.k8s_export.validate import describe, to_json_schema
from trtl.k8s_export.yamlio import load_documents


def errors(validator, doc) -> list[str]:
    return [describe(e) for e in validator.iter_errors(doc)]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_validates_against_the_crd(crd_validators, name, engine, version):
    docs = render(builtin(name, engine), version=version)
    assert docs[-1]["apiVersion"] == f"nvidia.com/{version}"
    assert errors(crd_validators[version], docs[-1]) == []


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("fixture", UPSTREAM)
def test_upstream_fixtures_and_their_reexport_validate(crd_validators, fixture, version):
    from trtl.k8s_export import parse

    docs = load_documents(DATA / fixture)
    assert errors(crd_validators[docs[-1]["apiVersion"].split("/")[1]], docs[-1]) == []
    profile = parse(docs, notes=[])
    again = render(profile, version=version)
    assert errors(crd_validators[version], again[-1]) == []


def test_unknown_fields_are_caught_with_their_path(crd_validators):
    doc = render(builtin("disagg"))[-1]
    doc["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]["imagePullPolcy"] = "x"
    doc["spec"]["components"][0]["replica"] = 2
    found = errors(crd_validators["v1beta1"], doc)
    assert "spec.components[0].replica: unknown field" in found
    assert "spec.components[1].podTemplate.spec.containers[0].imagePullPolcy: unknown field" in (
        found
    )


def test_types_enums_and_limits_are_checked(crd_validators):
    doc = render(builtin("agg"))[-1]
    doc["spec"]["components"][1]["type"] = "router"
    doc["spec"]["components"][1]["replicas"] = "2"
    doc["spec"]["components"] *= 13  # 26 components
    found = " | ".join(errors(crd_validators["v1beta1"], doc))
    assert "spec.components[1].type: 'router' is not one of" in found
    assert "spec.components[1].replicas: '2' is not of type 'integer'" in found
    assert "spec.components: " in found and "is too long" in found


def test_int_or_string_and_preserve_unknown_fields(crd_validators):
    doc = render(builtin("agg"))[-1]
    worker = doc["spec"]["components"][1]
    for size in ("16Gi", 17179869184):
        worker["sharedMemorySize"] = size
        assert errors(crd_validators["v1beta1"], doc) == []
    worker["sharedMemorySize"] = 1.5
    assert errors(crd_validators["v1beta1"], doc)
    del worker["sharedMemorySize"]
    # providerOverride.value keeps any fields: the CRD says x-kubernetes-preserve-unknown-fields.
    doc["spec"]["providerOverride"] = {"apiVersion": "grove.io/v1", "value": {"any": {"x": 1}}}
    assert errors(crd_validators["v1beta1"], doc) == []


def test_metadata_names_are_checked(crd_validators):
    doc = render(builtin("agg"))[-1]
    doc["metadata"]["name"] = "Agg_1"
    assert any(e.startswith("metadata.name:") for e in errors(crd_validators["v1beta1"], doc))


def test_conversion_rules():
    node = {
        "type": "object",
        "description": "x",
        "properties": {
            "q": {"x-kubernetes-int-or-string": True},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                     "properties": {"a": {"type": "string"}}},
            "n": {"type": "string", "nullable": True},
        },
    }  # fmt: skip
    schema = to_json_schema(node)
    assert schema["additionalProperties"] is False
    assert schema["properties"]["q"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert "additionalProperties" not in schema["properties"]["free"]
    assert schema["properties"]["n"]["type"] == ["string", "null"]
    assert "description" not in schema


def test_the_copied_crd_serves_both_versions():
    import yaml

    crd = yaml.load(CRD.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert crd["spec"]["names"]["kind"] == "DynamoGraphDeployment"
    served = {v["name"] for v in crd["spec"]["versions"] if v["served"]}
    assert served == set(VERSIONS)
