"""The engine table: role → argv/env for trtllm and the mocker, and the seed's legacy flags."""

from __future__ import annotations

import json

import pytest
from trtl.profiles.engines import component_specs
from trtl.profiles.errors import ProfileError
from trtl.profiles.loader import load_profile

CONFIG_DIR = "/run/engine"


def specs(name: str, **kwargs):
    return {s.role: s for s in component_specs(load_profile(name, **kwargs), CONFIG_DIR)}


def test_frontend_args_carry_router_mode_and_migration_limit():
    frontend = specs("disagg_router")["frontend"]
    assert frontend.module == "dynamo.frontend"
    assert frontend.args == ("--router-mode", "kv", "--migration-limit", "3")


def test_frontend_without_migration_leaves_the_flag_out():
    frontend = specs("agg", overrides=["frontend.migration_limit=0"])["frontend"]
    assert frontend.args == ("--router-mode", "round-robin")


def test_trtllm_decode_worker():
    decode = specs("disagg")["decode"]
    assert decode.module == "dynamo.trtllm"
    assert decode.args == (
        "--model", "Qwen/Qwen3-0.6B",
        "--served-model-name", "Qwen/Qwen3-0.6B",
        "--disaggregation-mode", "decode",
        "--extra-engine-args", "/run/engine/decode.yaml",
    )  # fmt: skip
    assert decode.engine_config_path == "/run/engine/decode.yaml"
    # The role's parallelism and KV transfer backend are written into the engine config.
    assert decode.engine_config["tensor_parallel_size"] == 1
    assert decode.engine_config["cache_transceiver_config"] == {"backend": "DEFAULT"}
    assert decode.engine_config["disable_overlap_scheduler"] is False
    assert decode.gpus == 1 and decode.replicas == 1


def test_kv_transfer_backend_keeps_other_transceiver_settings():
    decode = specs(
        "disagg",
        overrides=[
            "workers.decode.kv_transfer_backend=UCX",
            "workers.decode.engine_config.cache_transceiver_config.max_tokens_in_buffer=4096",
        ],
    )["decode"]
    assert decode.engine_config["cache_transceiver_config"] == {
        "max_tokens_in_buffer": 4096,
        "backend": "UCX",
    }


def test_transceiver_config_must_be_a_mapping():
    with pytest.raises(ProfileError) as info:
        specs("disagg", overrides=["workers.decode.engine_config.cache_transceiver_config=5"])
    assert "engine_config.cache_transceiver_config must be a mapping" in str(info.value)


def test_agg_worker_omits_the_mode_flag_like_upstream():
    worker = specs("agg")["worker"]
    assert "--disaggregation-mode" not in worker.args
    assert "cache_transceiver_config" not in worker.engine_config


def test_kv_router_makes_trtllm_workers_publish_kv_events():
    for role in specs("disagg_router").values():
        if role.component == "worker":
            assert role.args[-2:] == ("--publish-kv-events", "--publish-metrics")
    assert "--publish-kv-events" not in specs("disagg")["decode"].args


def test_tensor_parallel_role_needs_more_gpus():
    decode = specs("disagg", overrides=["workers.decode.tensor_parallel_size=2"])["decode"]
    assert decode.gpus == 2
    assert decode.engine_config["tensor_parallel_size"] == 2


def test_engine_config_file_path_is_passed_as_given_with_flags_for_the_rest():
    decode = specs(
        "disagg",
        overrides=[
            "workers.decode.engine_config=engine_configs/decode.yaml",
            "workers.decode.tensor_parallel_size=2",
        ],
    )["decode"]
    assert decode.engine_config is None
    args = list(decode.args)
    assert args[args.index("--extra-engine-args") + 1] == "engine_configs/decode.yaml"
    assert args[args.index("--tensor-parallel-size") + 1] == "2"
    override = json.loads(args[args.index("--override-engine-args") + 1])
    assert override == {"cache_transceiver_config": {"backend": "DEFAULT"}}


def test_env_is_graph_env_under_role_env():
    spec = specs("agg", overrides=["env.DYN_LOG=info", "workers.worker.env.DYN_LOG=debug"])
    assert spec["worker"].env == {"DYN_LOG": "debug"}
    assert spec["frontend"].env == {"DYN_LOG": "info"}


def test_mocker_worker_uses_its_own_flag_names():
    prefill = specs("disagg", engine="mocker", model="/m")["prefill"]
    assert prefill.module == "dynamo.mocker"
    assert prefill.args == (
        "--model-path", "/m",
        "--model-name", "/m",
        "--disaggregation-mode", "prefill",
        "--speedup-ratio", "1",
        "--max-num-batched-tokens", "8192",
        "--enable-chunked-prefill",
    )  # fmt: skip
    assert prefill.gpus == 0
    assert prefill.engine_config is None


def test_mocker_notes_what_it_cannot_imitate():
    decode = specs("disagg", engine="mocker")["decode"]
    (note,) = decode.notes
    assert note.startswith("workers.decode: the mocker cannot imitate kv_transfer_backend=DEFAULT")
    assert "cuda_graph_config.max_batch_size" in note


def test_mocker_settings_and_served_name():
    worker = specs(
        "agg",
        engine="mocker",
        overrides=[
            "mocker.speedup_ratio=1000",
            "served_model_name=tiny",
            "mocker.extra_args=[--num-gpu-blocks-override, '512']",
        ],
    )["worker"]
    args = list(worker.args)
    assert args[args.index("--speedup-ratio") + 1] == "1000"
    assert args[args.index("--model-name") + 1] == "tiny"
    assert args[-2:] == ["--num-gpu-blocks-override", "512"]


def test_trtllm_extra_args_are_dropped_for_the_mocker_with_a_note():
    worker = specs(
        "agg", engine="mocker", overrides=["workers.worker.extra_args=[--max-seq-len, '4096']"]
    )["worker"]
    assert "--max-seq-len" not in worker.args
    assert any("use mocker.extra_args" in note for note in worker.notes)


# --- settings the seed shows but Dynamo 1.6.1 no longer accepts ---------------------------


def test_publish_events_and_metrics_is_translated():
    worker = specs("agg", overrides=["workers.worker.extra_args=[--publish-events-and-metrics]"])[
        "worker"
    ]
    assert worker.args[-2:] == ("--publish-kv-events", "--publish-metrics")
    assert "--publish-events-and-metrics" not in worker.args
    assert any("--publish-events-and-metrics is deprecated" in n for n in worker.notes)


def test_migration_limit_on_a_worker_is_refused_with_the_reason():
    with pytest.raises(ProfileError) as info:
        specs("agg", overrides=["workers.worker.extra_args=[--migration-limit, '3']"])
    assert "--migration-limit is a frontend setting in Dynamo 1.6.1" in str(info.value)
    assert "frontend.migration_limit" in str(info.value)


def test_disaggregation_strategy_env_is_dropped_with_the_reason():
    spec = specs("disagg", overrides=["env.DISAGGREGATION_STRATEGY=prefill_first"])
    assert "DISAGGREGATION_STRATEGY" not in spec["decode"].env
    assert any("Dynamo removed DISAGGREGATION_STRATEGY" in n for n in spec["decode"].notes)


def test_prefill_and_decode_mode_is_refused():
    with pytest.raises(ProfileError) as info:
        specs(
            "agg",
            overrides=["workers.worker.extra_args=[--disaggregation-mode, prefill_and_decode]"],
        )
    assert "use mode: agg" in str(info.value)


@pytest.mark.parametrize(
    ("override", "owner"),
    [
        ("workers.worker.extra_args=[--model, x]", "model (or --model)"),
        ("workers.worker.extra_args=[--discovery-backend=etcd]", "trtl (file discovery"),
        ("frontend.extra_args=[--router-mode, kv]", "frontend.router_mode"),
        ("frontend.extra_args=[--http-port, '9']", "frontend.http_port (or --port)"),
    ],
)
def test_flags_owned_by_profile_fields_are_refused(override, owner):
    with pytest.raises(ProfileError) as info:
        specs("agg", overrides=[override])
    assert f"is decided by {owner}" in str(info.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("env.DYN_NAMESPACE=x", "env.DYN_NAMESPACE is set by trtl (one Dynamo namespace"),
        (
            "workers.worker.env.CUDA_VISIBLE_DEVICES=1",
            "workers.worker.env.CUDA_VISIBLE_DEVICES is set",
        ),
        ("frontend.env.DYN_FILE_KV=/tmp", "frontend.env.DYN_FILE_KV is set by trtl"),
    ],
)
def test_env_that_trtl_decides_is_refused(override, message):
    with pytest.raises(ProfileError) as info:
        specs("agg", overrides=[override])
    assert message in str(info.value)


def _worker_args(tmp_path, role: str) -> tuple[list[str], object]:
    path = tmp_path / "p.yaml"
    path.write_text(f"name: p\nworkers:\n  worker: {role}\n")
    spec = {s.role: s for s in component_specs(load_profile(str(path)), CONFIG_DIR)}["worker"]
    return list(spec.args), spec


def test_a_config_file_keeps_its_own_parallelism_unless_the_profile_sets_it(tmp_path):
    # The file (in the image, say) may set tensor_parallel_size: 4; a default flag would win.
    args, spec = _worker_args(tmp_path, "{mode: agg, engine_config: /cfg/agg.yaml, gpus: 4}")
    assert "--tensor-parallel-size" not in args and "--pipeline-parallel-size" not in args
    assert spec.gpus == 4
    args, _ = _worker_args(
        tmp_path, "{mode: agg, engine_config: /cfg/agg.yaml, tensor_parallel_size: 1}"
    )
    assert args[args.index("--tensor-parallel-size") + 1] == "1"  # set on purpose: passed


def test_inline_configs_and_no_config_still_name_the_parallelism(tmp_path):
    _, spec = _worker_args(tmp_path, "{mode: agg, engine_config: {max_batch_size: 8}}")
    assert spec.engine_config == {"max_batch_size": 8, "tensor_parallel_size": 1}
    args, _ = _worker_args(tmp_path, "{mode: agg}")
    assert args[args.index("--tensor-parallel-size") + 1] == "1"
