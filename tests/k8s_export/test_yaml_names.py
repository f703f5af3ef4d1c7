"""YAML that Kubernetes reads back unchanged, DNS-1123 names, limits and secrets."""

from __future__ import annotations

import re

import pytest
import yaml
from k8s_helpers import builtin
from trtl.k8s_export import parse, render
from trtl.k8s_export.names import dns_label, k8s_name, profile_name, role_name
from trtl.k8s_export.yamlio import dump, dump_all, is_kubernetes_text, parse_documents
from trtl.profiles.errors import ExportError

AMBIGUOUS = ["y", "Y", "n", "N", "yes", "no", "on", "off", "true", "NO", "null", "~", "",
             "0755", "1e3", "0x1f", "1:30", "-1", "+3", ".5", ".inf", "1_000", "3.0",
             "08"]  # fmt: skip


class Yaml11Loader(yaml.SafeLoader):
    """A reader as eager as Go's YAML 1.1: y/n are booleans, 1e3 is a number."""


Yaml11Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN")
)
Yaml11Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"), list("-+0123456789")
)


@pytest.mark.parametrize("value", AMBIGUOUS)
def test_ambiguous_strings_are_quoted(value):
    text = dump({"value": value})
    assert text != f"value: {value}\n"
    assert yaml.load(text, Loader=Yaml11Loader) == {"value": value}


def test_plain_strings_stay_plain_and_multiline_is_a_block():
    assert dump({"a": "Qwen/Qwen3-0.6B", "b": "kv"}) == "a: Qwen/Qwen3-0.6B\nb: kv\n"
    assert dump({"c": "x: 1\ny: 2\n"}) == "c: |\n  x: 1\n  y: 2\n"


def test_env_values_survive_a_yaml_1_1_reader(isolated_dirs):
    profile = builtin("agg").model_copy(
        update={
            "env": {
                k: v
                for k, v in zip("ABCDEFG", ["y", "no", "on", "0755", "1e3", "08", ""], strict=True)
            }
        }
    )
    text = dump_all(render(profile))
    docs = list(yaml.load_all(text, Loader=Yaml11Loader))
    env = {e["name"]: e["value"] for e in docs[-1]["spec"]["env"]}
    assert env == profile.env
    assert all(isinstance(v, str) for v in env.values())
    configmap = yaml.load(docs[0]["data"]["worker.yaml"], Loader=Yaml11Loader)
    assert configmap["backend"] == "pytorch"


@pytest.mark.parametrize(
    ("name", "label"),
    [("disagg_router", "disagg-router"), ("Frontend", "frontend"), ("agg", "agg")],
)
def test_names_map_predictably(name, label):
    assert k8s_name(name) == label
    assert dns_label(name, "deployment name") == label


@pytest.mark.parametrize(
    ("component", "role"),
    [
        ("TRTLLMDecodeWorker", "trtllm-decode-worker"),
        ("Frontend", "frontend"),
        ("VllmPrefillWorker", "vllm-prefill-worker"),
        ("decode_1", "decode-1"),
        ("2nd", "w-2nd"),
    ],
)
def test_component_names_become_role_names(component, role):
    assert role_name(component) == role


def test_profile_names_from_dgd_names():
    assert profile_name("Trtllm.Disagg") == "trtllm-disagg"
    assert len(profile_name("x" * 80)) == 40


def test_export_names_are_dns_labels():
    dgd = render(builtin("disagg_router").model_copy(update={"name": "disagg_router"}))[-1]
    assert dgd["metadata"]["name"] == "disagg-router"
    assert [c["name"] for c in dgd["spec"]["components"]] == ["frontend", "prefill", "decode"]


def test_bad_deployment_name_and_too_long_service_name():
    with pytest.raises(ExportError, match="cannot be a Kubernetes name"):
        render(builtin("agg"), name="bad name!")
    with pytest.raises(ExportError, match="longer than 63"):
        render(builtin("agg"), name="d" * 60)


def test_roles_that_collide_as_kubernetes_names():
    base = builtin("agg_router")
    worker = base.workers["worker"]
    profile = base.model_copy(update={"workers": {"a_b": worker, "a-b": worker}})
    with pytest.raises(ExportError, match="both become the Kubernetes name 'a-b'"):
        render(profile)


def test_at_most_25_components():
    base = builtin("agg")
    worker = base.workers["worker"]
    workers = {f"w{i}": worker for i in range(25)}
    with pytest.raises(
        ExportError, match="26 components; a DynamoGraphDeployment holds at most 25"
    ):
        render(base.model_copy(update={"workers": workers}))
    render(base.model_copy(update={"workers": dict(list(workers.items())[:24])}))


def test_no_secret_value_ever_appears(isolated_dirs):
    profile = builtin("disagg").model_copy(update={"env": {"HF_TOKEN": "hf_secret123"}})
    with pytest.raises(ExportError, match=r"env\.HF_TOKEN holds a secret value") as info:
        render(profile)
    assert "hf_secret123" not in str(info.value)
    text = dump_all(render(builtin("disagg")))
    assert "HF_TOKEN" not in text and "secretRef" in text


def test_import_leaves_literal_secrets_out():
    docs = render(builtin("agg"))
    main = docs[-1]["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]
    main["env"] = [{"name": "HF_TOKEN", "value": "hf_abc"}, {"name": "DYN_LOG", "value": "info"}]
    notes: list[str] = []
    profile = parse(docs, notes=notes)
    assert profile.workers["worker"].env == {"DYN_LOG": "info"}
    assert any("HF_TOKEN" in n and "secret" in n for n in notes)
    assert "hf_abc" not in " ".join(notes)


def test_kubernetes_text_detection():
    assert is_kubernetes_text("apiVersion: v1\nkind: ConfigMap\n")
    assert not is_kubernetes_text("name: x\nworkers: {}\n")
    assert (
        len(parse_documents("---\n---\napiVersion: v1\nkind: List\nitems: [{kind: A}]\n", "x")) == 1
    )
