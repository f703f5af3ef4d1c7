"""The load ``trtl bench`` sends: the same for every graph of one run.

Defaults follow the shape of Dynamo's former ``perf.sh`` (a concurrency sweep at a fixed
synthetic input/output length), scaled to the machine: long prompts and a wide sweep where
the graphs have GPUs, short ones and a narrow sweep on CPU (the mocker, vLLM on CPU).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trtl.launcher.bench.errors import BenchError

# (isl, osl, concurrency levels): GPU graphs as perf.sh ran them; CPU graphs small enough
# that a sweep finishes in a minute or two.
GPU_DEFAULTS = (3000, 150, (1, 2, 4, 8, 16, 32, 64))
CPU_DEFAULTS = (128, 32, (1, 2, 4, 8))
REQUESTS_PER_CONCURRENCY = 10


@dataclass(frozen=True)
class Workload:
    """Synthetic prompts of ``isl`` tokens asking for ``osl`` tokens, or a dataset file."""

    isl: int
    osl: int
    concurrency: tuple[int, ...]
    requests: int | None = None  # per level; None: REQUESTS_PER_CONCURRENCY x concurrency
    warmup: int | None = None  # warm-up requests per level; None: one per concurrent user
    input_file: str | None = None  # a dataset or trace aiperf reads (--input-file)
    dataset_type: str | None = None  # aiperf's --custom-dataset-type for input_file
    seed: int = 0  # the same prompts for every graph

    def requests_at(self, concurrency: int) -> int:
        return self.requests or REQUESTS_PER_CONCURRENCY * concurrency

    def warmup_at(self, concurrency: int) -> int:
        return concurrency if self.warmup is None else self.warmup

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["concurrency"] = list(self.concurrency)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Workload:
        return cls(**{**data, "concurrency": tuple(data["concurrency"])})


def make_workload(
    *,
    has_gpus: bool,
    isl: int | None = None,
    osl: int | None = None,
    concurrency: str | None = None,
    requests: int | None = None,
    warmup: int | None = None,
    input_file: str | None = None,
    dataset_type: str | None = None,
    seed: int = 0,
) -> Workload:
    """The workload from the options, defaults filled in for GPUs or CPU. Raises BenchError."""
    d_isl, d_osl, d_levels = GPU_DEFAULTS if has_gpus else CPU_DEFAULTS
    levels = parse_concurrency(concurrency) if concurrency else d_levels
    if input_file is not None:
        path = Path(input_file).expanduser()
        if not path.exists():
            raise BenchError(
                f"the dataset {input_file} does not exist.",
                hint="Give --input-file a file (or directory) aiperf can read.",
                exit_code=2,
            )
        input_file = str(path.resolve())
    return Workload(
        isl=isl or d_isl,
        osl=osl or d_osl,
        concurrency=levels,
        requests=requests,
        warmup=warmup,
        input_file=input_file,
        dataset_type=dataset_type,
        seed=seed,
    )


def parse_concurrency(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> (1, 2, 4): positive, distinct, in the order given. Raises BenchError."""
    try:
        levels = tuple(int(part) for part in text.split(","))
    except ValueError:
        levels = ()
    if not levels or any(n < 1 for n in levels) or len(set(levels)) != len(levels):
        raise BenchError(
            f"--concurrency {text!r} is not a list of distinct positive numbers.",
            hint="Give concurrency levels like --concurrency 1,2,4,8.",
            exit_code=2,
        )
    return levels


def aiperf_args(
    workload: Workload,
    concurrency: int,
    *,
    url: str,
    model: str,
    tokenizer: str,
    artifact_dir: Path,
) -> list[str]:
    """The ``aiperf profile`` arguments for one level: a streaming chat load at ``url``."""
    args = [
        "profile",
        "--model", model,
        # The model's own tokenizer from a local directory: `builtin` would download one.
        "--tokenizer", tokenizer,
        "--endpoint-type", "chat",
        "--streaming",
        "--url", url,
        "--concurrency", str(concurrency),
        "--request-count", str(workload.requests_at(concurrency)),
        "--random-seed", str(workload.seed),
        "--artifact-dir", str(artifact_dir),
        "--ui-type", "none",
        # trtl samples the graph's own GPUs through NVML; aiperf would look for DCGM.
        "--no-gpu-telemetry",
        # Count the tokens the engine reports (usage), not a re-tokenisation of the text:
        # decoding and encoding again does not give the same count (9 for 8 on vLLM).
        "--use-server-token-count",
    ]  # fmt: skip
    warmup = workload.warmup_at(concurrency)
    if warmup:
        args += ["--warmup-request-count", str(warmup)]
    if workload.input_file:
        args += ["--input-file", workload.input_file]
        if workload.dataset_type:
            args += ["--custom-dataset-type", workload.dataset_type]
    else:
        # Every answer runs to osl tokens, so graphs are compared on the same work.
        args += ["--isl", str(workload.isl), "--osl", str(workload.osl)]
        args += ["--extra-inputs", "ignore_eos:true"]
    return args
