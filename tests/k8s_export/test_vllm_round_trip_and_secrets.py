"""vLLM graphs: a byte-stable export/import round trip, underscore flags, secret flag values."""

from __future__ import annotations

import pytest
import yaml
from k8s_helpers import BUILTINS, VERSIONS, builtin
from trtl.k8s_export import parse, render
from trtl.k8s_export.yamlio import dump_all, parse_documents
from trtl.profiles.engines import component_specs
from trtl.profiles.errors import ExportError
from trtl.profiles.loader import load_profile

VLLM_IMAGE = "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", BUILTINS)
def test_vllm_export_import_export_is_byte_for_byte_stable(name, version):
    # The annotation used to store the profile's engine_config with sorted keys; a vLLM
    # role's flags follow those keys, so the second export listed them in another order.
    profile = builtin(name, "vllm")
    first = dump_all(render(profile, version=version))
    again = parse(parse_documents(first, "export"))
    assert dump_all(render(again, version=version)) == first


DGD = """
apiVersion: nvidia.com/v1beta1
kind: DynamoGraphDeployment
metadata: {name: vd}
spec:
  backendFramework: vllm
  components:
  - name: Frontend
    type: frontend
    podTemplate: {spec: {containers: [{name: main, image: "img:1",
      command: [python3, -m, dynamo.frontend]}]}}
  - name: VllmPrefillWorker
    type: prefill
    podTemplate: {spec: {containers: [{name: main, image: "img:1",
      command: [python3, -m, dynamo.vllm],
      args: ["--model=org/m", "--disaggregation_mode=prefill",
             '--kv_transfer_config={"kv_connector":"NixlConnector","kv_role":"kv_producer"}',
             "--enforce_eager", "--tensor_parallel_size", "2"]}]}}
  - name: VllmDecodeWorker
    type: decode
    podTemplate: {spec: {containers: [{name: main, image: "img:1",
      command: [python3, -m, dynamo.vllm],
      args: ["--model", "org/m", "--disaggregation-mode", "decode",
             "--kv-transfer-config", '{"kv_connector":"NixlConnector","kv_role":"kv_consumer"}',
             "--max_num_seqs", "8", "--enforce-eager"]}]}}
"""


def test_vllm_flags_written_with_underscores_import_as_the_same_fields():
    # vLLM reads --foo_bar as --foo-bar. Before the fix, import left the underscore forms of
    # the flags trtl owns in vllm.role_extra_args and wrote a profile that plan and export
    # then refused ("--disaggregation-mode is decided by the role's mode").
    profile = parse(list(yaml.safe_load_all(DGD)))
    prefill = profile.workers["vllm-prefill-worker"]
    decode = profile.workers["vllm-decode-worker"]
    assert prefill.mode == "prefill" and prefill.tensor_parallel_size == 2
    assert decode.engine_config == {"max_batch_size": 8}
    assert profile.vllm.enforce_eager is True
    assert profile.vllm.role_extra_args == {}
    specs = component_specs(profile, "/tmp/engine")  # usable: the engine table takes it
    args = next(s.args for s in specs if s.role == "vllm-prefill-worker")
    assert args.count("--kv-transfer-config") == 1 and "--kv_transfer_config" not in str(args)


@pytest.mark.parametrize(
    "setting",
    [
        "vllm.extra_args=[--hf-token, my-plain-token]",
        "vllm.role_extra_args.worker=[--hf-token=my-plain-token]",
        "vllm.extra_args=[--api-key, k3y]",
    ],
)
def test_export_refuses_a_literal_value_of_vllms_secret_flags(setting):
    # vLLM takes --hf-token with any token string; only hf_-shaped values were refused,
    # so `--hf-token my-plain-token` was written into the DGD as it was.
    profile = load_profile("agg", engine="vllm", overrides=[f"k8s.image={VLLM_IMAGE}", setting])
    with pytest.raises(ExportError, match="a literal value, and an export never contains"):
        render(profile)


def test_export_keeps_flags_that_only_mention_tokens():
    sets = [f"k8s.image={VLLM_IMAGE}", "vllm.extra_args=[--kv-bytes-per-token, '4', --hf-token]"]
    render(load_profile("agg", engine="vllm", overrides=sets))  # no secret value: exported


def test_import_leaves_out_literal_values_of_secret_flags():
    text = DGD.replace('"--max_num_seqs", "8"', '"--max_num_seqs", "8", "--hf-token", "s3cr3t"')
    notes: list[str] = []
    profile = parse(list(yaml.safe_load_all(text)), notes=notes)
    assert "s3cr3t" not in profile.model_dump_json()
    assert any("left out --hf-token: its value is a secret" in n for n in notes)
