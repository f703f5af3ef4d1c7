"""Stand-in for ``tensorrt_llm.llmapi.llm_args`` (see the package docstring).

``dynamo.trtllm.backend_args`` only evaluates ``BaseLlmArgs.model_fields[name].default`` for the
four names below, as defaults of ``--max-batch-size``, ``--max-num-tokens``, ``--max-seq-len``
and ``--max-beam-width``. The values are TensorRT-LLM's own defaults for those fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class _Field:
    """The one attribute of a pydantic ``FieldInfo`` that Dynamo reads."""

    default: int | None


class BaseLlmArgs:
    """Carries only the field defaults that Dynamo's TRT-LLM argument parser reads."""

    model_fields: ClassVar[dict[str, _Field]] = {
        "max_batch_size": _Field(2048),
        "max_num_tokens": _Field(8192),
        "max_seq_len": _Field(None),  # None: TensorRT-LLM deduces it from the model config.
        "max_beam_width": _Field(1),
    }
