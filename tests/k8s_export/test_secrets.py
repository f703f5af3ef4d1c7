"""No secret value ever appears in an export, wherever a profile puts it; import drops them."""

from __future__ import annotations

import json

import pytest
import yaml
from k8s_helpers import DATA, IMAGE
from trtl.k8s_export import parse
from trtl.k8s_export.yamlio import load_documents

TOKEN = "hf_" + "aBcD3fGh1jKlMn0pQrStUvWxYz12345678"
INIT_ENV = [{"name": "HF_TOKEN", "value": "abc"}]
POD = {"initContainers": [{"name": "fetch", "image": "x", "env": INIT_ENV}]}
SHELL = {"lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", f"echo {TOKEN}"]}}}}


@pytest.mark.parametrize(
    ("override", "where"),
    [
        (f'k8s.env_refs=[{{"name": "HF_TOKEN", "value": "{TOKEN}"}}]',
         "k8s.env_refs: entry 0 must be {name, valueFrom}"),
        ('workers.worker.k8s.env_refs=[{"name": "X", "value": "plain"}]',
         "never a literal value"),
        (f"k8s.pod={json.dumps(POD)}",
         "spec.components[0].podTemplate.spec.initContainers[0].env[0] (HF_TOKEN)"),
        (f"env.MY_VAR={TOKEN}", "env.MY_VAR holds a secret value"),
        (f"workers.worker.env.DOWNLOAD={TOKEN}", "workers.worker.env.DOWNLOAD holds a secret"),
        (f"workers.worker.extra_args=[--hf-token, {TOKEN}]",
         "workers.worker.extra_args holds a Hugging Face token"),
        (f"workers.worker.k8s.container={json.dumps(SHELL)}",
         "containers[0].lifecycle.postStart.exec.command[2]"),
        (f"workers.worker.engine_config.note={TOKEN}", "ConfigMap data.worker.yaml"),
        (f"k8s.annotations.token={TOKEN}", "DynamoGraphDeployment spec.annotations.token,"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("engine", ["trtllm", "mocker"])
def test_export_refuses_a_secret_anywhere(run_trtl, isolated_dirs, override, where, engine):
    out = isolated_dirs / "out.yaml"
    result = run_trtl(
        "export", "--k8s", "agg", "--image", IMAGE, "--engine", engine, "--set", override,
        "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert where in result.stderr
    assert TOKEN not in result.stderr.replace(override, "")  # only the echo of --set itself
    assert not out.exists()


def test_the_mocker_annotation_cannot_smuggle_a_token(run_trtl):
    # The mocker drops TensorRT-LLM extra_args from the command; the annotation keeps them.
    result = run_trtl(
        "export", "--k8s", "agg", "--image", IMAGE, "--engine", "mocker",
        "--set", f"workers.worker.extra_args=[--token={TOKEN}]",
    )  # fmt: skip
    assert result.exit_code == 2
    assert TOKEN not in result.stdout


def dgd_with_secrets(isolated_dirs):
    docs = list(yaml.safe_load_all((DATA / "upstream_v1beta1_disagg.yaml").read_text()))
    worker = docs[-1]["spec"]["components"][1]
    pod = worker["podTemplate"]["spec"]
    main = pod["containers"][0]
    main["env"] = [
        {"name": "MY_VAR", "value": TOKEN},
        {"name": "API_KEY", "value": "k", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "DYN_LOG", "value": "debug"},
    ]
    main["args"] += ["--hf-token", TOKEN, f"--other={TOKEN}"]
    pod["initContainers"] = [
        {"name": "fetch", "image": "x", "env": POD["initContainers"][0]["env"]}
    ]
    path = isolated_dirs / "dgd.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_import_drops_secret_literals_with_a_note(run_trtl, isolated_dirs):
    path = dgd_with_secrets(isolated_dirs)
    result = run_trtl("import", str(path), "-o", "p.yaml")
    assert result.exit_code == 0, result.output
    text = (isolated_dirs / "p.yaml").read_text()
    assert TOKEN not in text and TOKEN not in result.stderr
    assert "'abc'" not in text and ": abc" not in text
    notes = [
        "left out MY_VAR",
        "left out --hf-token",
        "left out --other",
        "initContainers[0].env: left out HF_TOKEN",
        "left out the literal value of API_KEY",
    ]
    for note in notes:
        assert note in result.stderr, note
    profile = yaml.safe_load(text)
    role = profile["workers"]["trtllm-prefill-worker"]
    assert role["env"] == {"DYN_LOG": "debug"}
    assert role["k8s"]["env_refs"] == [
        {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    ]
    # What is left exports cleanly again.
    again = run_trtl("export", "--k8s", "p.yaml")
    assert again.exit_code == 0, again.output
    assert TOKEN not in again.stdout


def test_a_token_in_a_shell_line_is_dropped_from_the_line(run_trtl, isolated_dirs):
    docs = list(yaml.safe_load_all((DATA / "upstream_v1alpha1_disagg_router.yaml").read_text()))
    main = docs[-1]["spec"]["services"]["TRTLLMDecodeWorker"]["extraPodSpec"]["mainContainer"]
    main["args"][0] += f" --hf-token {TOKEN}"
    (isolated_dirs / "dgd.yaml").write_text(yaml.safe_dump_all(docs))
    result = run_trtl("import", "dgd.yaml")
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    assert "left out --hf-token: its value is a secret" in result.stderr


def test_a_secret_in_a_users_configmap_is_not_kept_by_import():
    """The user's ConfigMaps travel with the profile; a key holding a token does not."""
    docs = load_documents(DATA / "agg_with_config_v1beta1.yaml")
    token = "hf_" + "b" * 34
    docs[0]["data"]["HF_TOKEN"] = token
    notes: list[str] = []
    profile = parse(docs, notes=notes)
    assert "ConfigMap llm-config: left out key HF_TOKEN: its value is a secret." in notes
    assert token not in json.dumps(profile.model_dump(mode="json"))
    assert "README" in profile.k8s.config_maps[0]["data"]
