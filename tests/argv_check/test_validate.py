"""Prove that the argv validator both accepts what Dynamo 1.6.1 accepts and rejects the rest.

A validator that only ever says "ok" would make every test built on it worthless, so each
rejection below names the reason the parser must give. All cases run in one validator
subprocess (module-scoped fixture); their order is part of the test: a check that fails, or
that sets env, is followed by one that must still pass.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import ArgvCheck, ArgvCheckError, ArgvResult, check_argvs

pytestmark = pytest.mark.dynamo

MODEL = "Qwen/Qwen3-0.6B"
#: Placeholders in argv, replaced by real paths once the fixture has made them.
ENGINE_CONFIG = "<engine-config>"
MODEL_DIR = "<model-dir>"

#: Upstream's decode engine config for Qwen3-0.6B (see docs/DYNAMO_FACTS.md).
DECODE_ENGINE_CONFIG = """\
tensor_parallel_size: 1
moe_expert_parallel_size: 1
enable_attention_dp: false
max_num_tokens: 8192
trust_remote_code: true
backend: pytorch
enable_chunked_prefill: true
disable_overlap_scheduler: false
kv_cache_config:
  free_gpu_memory_fraction: 0.85
cuda_graph_config:
  max_batch_size: 16
cache_transceiver_config:
  backend: DEFAULT
"""

TRTLLM_DECODE = [
    "--model", MODEL,
    "--served-model-name", MODEL,
    "--disaggregation-mode", "decode",
    "--extra-engine-args", ENGINE_CONFIG,
    "--publish-kv-events",
    "--publish-metrics",
    "--discovery-backend", "file",
]  # fmt: skip
MOCKER_PREFILL = [
    "--model-path", MODEL_DIR,
    "--model-name", "tiny",
    "--disaggregation-mode", "prefill",
    "--speedup-ratio", "1000",
    "--discovery-backend", "file",
    "--max-num-seqs", "16",
    "--max-num-batched-tokens", "8192",
    "--enable-chunked-prefill",
]  # fmt: skip
FRONTEND_KV = [
    "--http-host", "127.0.0.1",
    "--http-port", "8123",
    "--router-mode", "kv",
    "--migration-limit", "3",
    "--namespace", "trtl-x",
    "--discovery-backend", "file",
]  # fmt: skip


@dataclass(frozen=True)
class Case:
    check: ArgvCheck
    ok: bool
    #: Text the error must contain when rejected, or a warning must contain when accepted.
    says: str = ""


CASES: dict[str, Case] = {
    # trtllm worker
    "trtllm_decode_worker": Case({"program": "trtllm", "argv": TRTLLM_DECODE}, ok=True),
    "trtllm_unknown_flag": Case(
        {"program": "trtllm", "argv": [*TRTLLM_DECODE, "--no-such-flag"]},
        ok=False,
        says="Unrecognized argument: --no-such-flag",
    ),
    "trtllm_migration_limit_is_frontend_only": Case(
        {"program": "trtllm", "argv": [*TRTLLM_DECODE, "--migration-limit", "3"]},
        ok=False,
        says="--migration-limit",
    ),
    "trtllm_prefill_and_decode_removed": Case(
        {
            "program": "trtllm",
            "argv": ["--model", MODEL, "--disaggregation-mode", "prefill_and_decode"],
        },
        ok=False,
        says="invalid choice: 'prefill_and_decode'",
    ),
    "trtllm_bad_int": Case(
        {"program": "trtllm", "argv": ["--model", MODEL, "--max-batch-size", "lots"]},
        ok=False,
        says="--max-batch-size: invalid int value",
    ),
    # An env twin reaches Config.validate(), which rejects the old mode the CLI choices hide.
    "trtllm_env_twin_prefill_and_decode": Case(
        {
            "program": "trtllm",
            "argv": ["--model", MODEL],
            "env": {"DYN_TRTLLM_DISAGGREGATION_MODE": "prefill_and_decode"},
        },
        ok=False,
        says="prefill_and_decode is no longer supported",
    ),
    # Passes only if the previous check's env was taken away again.
    "trtllm_after_env_check": Case({"program": "trtllm", "argv": ["--model", MODEL]}, ok=True),
    "trtllm_abbreviated_flag": Case(
        {"program": "trtllm", "argv": ["--model", MODEL, "--served-model", MODEL]},
        ok=False,
        says="--served-model",
    ),
    "trtllm_model_path_alias": Case(
        {"program": "trtllm", "argv": ["--model-path", MODEL]}, ok=True
    ),
    "trtllm_publish_events_and_metrics_deprecated": Case(
        {"program": "trtllm", "argv": ["--model", MODEL, "--publish-events-and-metrics"]},
        ok=True,
        says="--publish-events-and-metrics is deprecated",
    ),
    "trtllm_help_does_not_start": Case(
        {"program": "trtllm", "argv": ["--help"]}, ok=False, says="status 0"
    ),
    # Characterisation: the parser never opens the engine config, so trtl must check it.
    "trtllm_missing_engine_config_not_checked": Case(
        {
            "program": "trtllm",
            "argv": ["--model", MODEL, "--extra-engine-args", "/nonexistent/engine.yaml"],
        },
        ok=True,
    ),
    # mocker
    "mocker_prefill_worker": Case({"program": "mocker", "argv": MOCKER_PREFILL}, ok=True),
    "mocker_bad_disaggregation_mode": Case(
        {
            "program": "mocker",
            "argv": ["--model-path", MODEL_DIR, "--disaggregation-mode", "prefill_and_decode"],
        },
        ok=False,
        says="invalid choice: 'prefill_and_decode'",
    ),
    "mocker_served_model_name_is_not_a_mocker_flag": Case(
        {"program": "mocker", "argv": ["--model-path", MODEL_DIR, "--served-model-name", "x"]},
        ok=False,
        says="unrecognized arguments: --served-model-name",
    ),
    # Characterisation: the parser does not look at the model directory either.
    "mocker_missing_model_dir_not_checked": Case(
        {"program": "mocker", "argv": ["--model-path", "/nonexistent/model"]}, ok=True
    ),
    # frontend
    "frontend_kv_router": Case({"program": "frontend", "argv": FRONTEND_KV}, ok=True),
    "frontend_typo": Case(
        {"program": "frontend", "argv": ["--router-mod", "kv"]},
        ok=False,
        says="unrecognized arguments: --router-mod",
    ),
    "frontend_bad_choice": Case(
        {"program": "frontend", "argv": ["--router-mode", "fastest"]},
        ok=False,
        says="invalid choice: 'fastest'",
    ),
    "frontend_unknown_flag": Case(
        {"program": "frontend", "argv": [*FRONTEND_KV, "--no-such-flag"]},
        ok=False,
        says="unrecognized arguments: --no-such-flag",
    ),
}


def _with_paths(check: ArgvCheck, paths: dict[str, str]) -> ArgvCheck:
    resolved: ArgvCheck = {**check, "argv": [paths.get(arg, arg) for arg in check["argv"]]}
    return resolved


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ArgvResult]:
    """Run every case in a single validator subprocess."""
    root = tmp_path_factory.mktemp("argv_check")
    engine_config = root / "decode.yaml"
    engine_config.write_text(DECODE_ENGINE_CONFIG)
    # The mocker's parser does not read the directory (only its startup does), so an empty
    # one is enough; it must merely be a plausible local path.
    model_dir = root / "model"
    model_dir.mkdir()
    paths = {ENGINE_CONFIG: str(engine_config), MODEL_DIR: str(model_dir)}
    checks = [_with_paths(case.check, paths) for case in CASES.values()]
    return dict(zip(CASES, check_argvs(checks), strict=True))


@pytest.mark.parametrize("name", list(CASES))
def test_case(name: str, results: dict[str, ArgvResult]) -> None:
    case, result = CASES[name], results[name]
    assert result["ok"] is case.ok, result
    if case.ok:
        assert result["error"] == ""
        if case.says:
            assert any(case.says in warning for warning in result["warnings"]), result
    else:
        assert case.says in result["error"], result
        assert "\n" not in result["error"]
        assert result["parsed"] == {}


def test_model_path_is_an_alias_of_model(results: dict[str, ArgvResult]) -> None:
    assert results["trtllm_model_path_alias"]["parsed"]["model"] == MODEL


def test_deprecated_alias_sets_both_flags(results: dict[str, ArgvResult]) -> None:
    parsed = results["trtllm_publish_events_and_metrics_deprecated"]["parsed"]
    assert parsed["publish_kv_events"] is True
    assert parsed["publish_metrics"] is True


def test_trtllm_defaults_come_from_the_stand_in(results: dict[str, ArgvResult]) -> None:
    parsed = results["trtllm_after_env_check"]["parsed"]
    assert (parsed["max_batch_size"], parsed["max_num_tokens"]) == (2048, 8192)
    assert (parsed["max_seq_len"], parsed["max_beam_width"]) == (None, 1)


def test_valid_worker_argv_parses_as_intended(results: dict[str, ArgvResult]) -> None:
    parsed = results["trtllm_decode_worker"]["parsed"]
    assert parsed["disaggregation_mode"] == "decode"
    assert parsed["extra_engine_args"].endswith("decode.yaml")
    assert results["trtllm_decode_worker"]["warnings"] == []


def test_empty_batch_needs_no_subprocess() -> None:
    assert check_argvs([]) == []


def test_malformed_request_is_an_error_not_a_result() -> None:
    bad: ArgvCheck = {"program": "tgi", "argv": []}  # type: ignore[typeddict-item]
    with pytest.raises(ArgvCheckError, match="program must be one of"):
        check_argvs([bad])


def test_inherited_dynamo_env_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's shell must not change the verdict: DYN_* twins are dropped.
    monkeypatch.setenv("DYN_TRTLLM_DISAGGREGATION_MODE", "prefill_and_decode")
    [result] = check_argvs([{"program": "trtllm", "argv": ["--model", MODEL]}])
    assert result["ok"], result


def test_stand_in_is_not_importable_here() -> None:
    # The stand-in must stay inside the validator's subprocess.
    stubs = str(Path(__file__).resolve().parent / "stubs")
    assert stubs not in sys.path
    assert "tensorrt_llm" not in sys.modules
