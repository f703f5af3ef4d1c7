"""A ConfigMap key that two workers read their engine config from: an edit of one role's
engine config in the imported profile is never lost silently on export."""

from __future__ import annotations

from pathlib import Path

import yaml

_DGD = """
apiVersion: v1
kind: ConfigMap
metadata: {name: shared-cfg}
binaryData: {blob.bin: AAECAwQ=}
data:
  engine.yaml: |
    max_batch_size: 8
---
apiVersion: nvidia.com/v1beta1
kind: DynamoGraphDeployment
metadata: {name: shared}
spec:
  backendFramework: trtllm
  components:
    - name: Frontend
      type: frontend
      podTemplate:
        spec:
          containers:
            - {name: main, image: img:1, command: [python3, -m, dynamo.frontend]}
"""
_WORKER = """
    - name: {role}
      type: {role}
      podTemplate:
        spec:
          volumes: [{{name: cfg, configMap: {{name: shared-cfg}}}}]
          containers:
            - name: main
              image: img:1
              volumeMounts: [{{name: cfg, mountPath: /cfg}}]
              command: [python3, -m, dynamo.trtllm]
              args: [--model-path, Qwen/Qwen3-0.6B, --disaggregation-mode, {role},
                     --extra-engine-args, /cfg/engine.yaml]
              resources: {{limits: {{nvidia.com/gpu: "1"}}}}
"""


def _imported(tmp_path: Path, run_trtl) -> dict:
    dgd = tmp_path / "shared.yaml"
    dgd.write_text(_DGD + _WORKER.format(role="prefill") + _WORKER.format(role="decode"))
    result = run_trtl("import", str(dgd), "-o", str(tmp_path / "p.yaml"))
    assert result.exit_code == 0, result.output
    return yaml.safe_load((tmp_path / "p.yaml").read_text())


def test_unchanged_it_comes_back_whole(tmp_path, run_trtl):
    _imported(tmp_path, run_trtl)
    out = tmp_path / "out.yaml"
    result = run_trtl("export", "--k8s", str(tmp_path / "p.yaml"), "-o", str(out))
    assert result.exit_code == 0, result.output
    config_map = next(yaml.safe_load_all(out.read_text()))
    assert config_map["data"] == {"engine.yaml": "max_batch_size: 8\n"}
    assert config_map["binaryData"] == {"blob.bin": "AAECAwQ="}


def test_one_roles_edit_of_a_shared_key_is_refused_not_dropped(tmp_path, run_trtl):
    # Before: the export wrote each role's config into the shared key in turn, so the last
    # role's (unchanged) config won and prefill's max_batch_size 16 vanished without a word.
    profile = _imported(tmp_path, run_trtl)
    profile["workers"]["prefill"]["engine_config"]["max_batch_size"] = 16
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(profile, sort_keys=False))
    out = tmp_path / "out.yaml"
    result = run_trtl("export", "--k8s", str(edited), "-o", str(out))
    assert result.exit_code == 2, result.output
    assert "shared-cfg" in result.output and "prefill" in result.output, result.output
    assert "decode" in result.output and "Traceback" not in result.output
    assert not out.exists()
