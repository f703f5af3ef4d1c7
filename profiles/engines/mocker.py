"""Dynamo's mock engine (``python -m dynamo.mocker``): the graph without a GPU.

The mocker registers, routes and streams like a real worker. Of a role's TensorRT-LLM
engine config it imitates the keys in ``EQUIVALENTS`` and leaves the rest out with a note;
the whole config still travels in the export (mounted, unread), so import and
``--engine trtllm`` get it back. It publishes KV events by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..identity import LOCAL_ONLY_FLAGS
from ..legacy import translate_worker_args
from .argv import config_from_flags, flatten, inverted, refuse_owned_flags, take
from .base import (
    Built,
    ComponentSpec,
    Engine,
    LocalWorker,
    Packages,
    Refusal,
    Replica,
    RoleRead,
    Verdict,
    WorkerCommand,
)
from .trtllm import config_file_content, role_fields

if TYPE_CHECKING:
    from ..schema import Profile, WorkerRole

NAME = "mocker"

# TensorRT-LLM engine config keys that the mocker can imitate, and the flag for each.
EQUIVALENTS: dict[str, Callable[[Any], list[str]]] = {
    "max_batch_size": lambda v: ["--max-num-seqs", str(v)],
    "max_num_tokens": lambda v: ["--max-num-batched-tokens", str(v)],
    "max_seq_len": lambda v: ["--max-model-len", str(v)],
    "enable_chunked_prefill": lambda v: [
        "--enable-chunked-prefill" if v else "--no-enable-chunked-prefill"
    ],
    "kv_cache_config.tokens_per_block": lambda v: ["--block-size", str(v)],
    "kv_cache_config.enable_block_reuse": lambda v: [
        "--enable-prefix-caching" if v else "--no-enable-prefix-caching"
    ],
}
OWNED = {
    **LOCAL_ONLY_FLAGS,
    "--model-path": "model (or --model)",
    "--model-name": "served_model_name",
    "--speedup-ratio": "mocker.speedup_ratio",
    "--disaggregation-mode": "the role's mode",
}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class MockerEngine(Engine):
    name = NAME
    title = "the mocker"
    module = "dynamo.mocker"
    framework = None  # runs in any Dynamo runtime image
    # Every runtime image ships dynamo.mocker; export's hint names TensorRT-LLM's.
    image_repository = "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime"
    uses_gpus = False
    cpu_without_gpu = False
    owned = OWNED
    local_env: Mapping[str, str] = MappingProxyType({})
    local_default_env: Mapping[str, str] = MappingProxyType({})

    def build(self, profile: Profile, name: str, role: WorkerRole, config_dir: str) -> Built:
        args = ["--model-path", profile.model, "--model-name", profile.served_name]
        if role.mode != "agg":
            args += ["--disaggregation-mode", role.mode]
        args += ["--speedup-ratio", _number(profile.mocker.speedup_ratio)]
        notes: list[str] = []
        dropped = (
            [f"kv_transfer_backend={role.kv_transfer_backend}"] if role.kv_transfer_backend else []
        )
        if role.tensor_parallel_size * role.pipeline_parallel_size > 1:
            dropped.append("tensor/pipeline parallelism")
        if isinstance(role.engine_config, dict):
            for key, value in flatten(role.engine_config).items():
                if key in EQUIVALENTS:
                    args += EQUIVALENTS[key](value)
                else:
                    dropped.append(key)
        elif isinstance(role.engine_config, str):
            dropped.append(f"the engine_config file {role.engine_config}")
        if dropped:
            notes.append(
                f"workers.{name}: the mocker cannot imitate {', '.join(dropped)}; left out."
            )
        if role.extra_args:
            notes.append(
                f"workers.{name}: extra_args are TensorRT-LLM flags and are dropped for the "
                "mocker; use mocker.extra_args for mocker flags."
            )
        refuse_owned_flags(profile.mocker.extra_args, OWNED, "mocker.extra_args")
        extra, legacy_notes = translate_worker_args(
            profile.mocker.extra_args, "mocker", publishes_itself="the mocker"
        )
        return Built(args + extra, notes=tuple(notes + legacy_notes))

    def export_config(
        self, profile: Profile, name: str, role: WorkerRole, built: Built, config_dir: str
    ) -> dict[str, Any] | None:
        # The mocker imitates only part of the engine config; the whole TensorRT-LLM
        # config still travels (mounted, unread), so import and --engine trtllm get it.
        return config_file_content(role) if isinstance(role.engine_config, dict) else None

    def extra_ports(self, spec: ComponentSpec) -> int:
        return 0

    def local_worker(self, spec: ComponentSpec, replica: Replica) -> LocalWorker:
        return LocalWorker(list(spec.args))

    def memory_fraction(self, spec: ComponentSpec) -> float | None:
        return None

    def needs(self, disaggregated: bool) -> tuple[str, ...]:
        return (self.module,)

    def distributions(self) -> tuple[str, ...]:
        return ()

    def check_packages(
        self, found: Packages, *, cpu_only: bool, disaggregated: bool
    ) -> Refusal | None:
        return None  # dynamo.mocker comes with ai-dynamo: the generic module check covers it

    def install_hint(self, cpu_only: bool) -> str:
        return "Pass --python with a venv's python that has ai-dynamo 1.6.1."

    def check_model(self, config: dict[str, Any], *, cpu_only: bool, source: str) -> str | None:
        return None

    def check_worker(
        self, name: str, mode: str | None, argv: list[str], read_yaml: Callable[[str], Any]
    ) -> Refusal | None:
        return None

    def doctor(self, found: Packages, *, has_gpus: bool, another_engine: bool) -> Verdict | None:
        return None  # ai-dynamo's own line covers dynamo.mocker

    def read(self, command: WorkerCommand, notes: list[str]) -> RoleRead:
        table = inverted(EQUIVALENTS)
        flags = {"--model-path", "--model-name", "--disaggregation-mode", "--speedup-ratio"}
        values, seen, rest = take(
            command.args, flags | set(table.values) | set(LOCAL_ONLY_FLAGS), table.switches
        )
        config = command.config(None)
        role: dict[str, Any] = {"mode_arg": values.get("--disaggregation-mode")}
        if config is not None:
            role.update(role_fields(config))
        else:
            from_flags = config_from_flags(table, values, seen)
            if from_flags:
                role["engine_config"] = from_flags
        extra = {"speedup": values.get("--speedup-ratio"), "args": rest}
        return RoleRead(NAME, values.get("--model-path"), values.get("--model-name"), role, extra)

    def settings(self, reads: dict[str, RoleRead]) -> dict[str, Any]:
        first = next(iter(reads.values()))
        mocker: dict[str, Any] = {"extra_args": first.extra.get("args", [])}
        if first.extra.get("speedup") is not None:
            mocker["speedup_ratio"] = first.extra["speedup"]
        return {"mocker": mocker}


ENGINE = MockerEngine()
