"""``trtl doctor``: is this machine ready to run Dynamo graphs, and what to fix if not.

``diagnose`` looks at the NVIDIA driver and GPUs (through ``read_inventory``), what the
worker Python can import (ai-dynamo, and TensorRT-LLM against the version that ai-dynamo
pins), the frontend's port and free worker ports, whether a Hugging Face token is set
(never its value) and the free disk where the Hugging Face cache lives. Each answer is a
``Finding``: ok, warning or error, with the fix. Every outside fact comes through a
parameter, so the tests run it on fake machines; it never raises.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from trtl.launcher.checks.python_env import PythonProbe, probe_python
from trtl.launcher.gpus.inventory import Gpu, Inventory
from trtl.launcher.gpus.placement import DEFAULT_MEMORY_FRACTION, unusable
from trtl.profiles.engines import ENGINES, FRONTEND_MODULE

Status = Literal["ok", "warning", "error"]

DYNAMO_VERSION = "1.6.1"  # the ai-dynamo release trtl is built and tested against
# ai-dynamo ships the frontend and every engine's module (an engine may need more: below).
DYNAMO_MODULES = (FRONTEND_MODULE, *(e.module for e in ENGINES.values()))
DISTRIBUTIONS = ("ai-dynamo", "ai-dynamo-runtime")
GIB = 1024**3
DISK_WARNING_GIB = 20  # a few small models; an 8B model alone takes 16 GiB
DISK_ERROR_GIB = 2
WORKER_PORTS = 8  # free worker status ports to find, as a graph of 8 workers needs


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
    env: Mapping[str, str] | None = None,
    inventory: Inventory | None = None,
    probe: Callable[..., PythonProbe] = probe_python,
    port_free: Callable[[int], bool] | None = None,
    disk_free: Callable[[Path], int] | None = None,
    engine: str | None = None,
) -> list[Finding]:
    """Every finding, in the order a user would fix them: about ``engine`` where one is
    asked about (``trtl doctor --engine``), else about the machine in general. Raises
    nothing."""
    from trtl.launcher.planning.ports import port_is_free

    env = os.environ if env is None else env
    if inventory is None:
        from trtl.launcher.gpus.inventory import read_inventory

        inventory = read_inventory()
    python = python or sys.executable
    modules = dict.fromkeys(DYNAMO_MODULES)
    distributions = dict.fromkeys(DISTRIBUTIONS)
    for eng in ENGINES.values():
        modules.update(dict.fromkeys(eng.needs(disaggregated=True)))
        distributions.update(dict.fromkeys(eng.distributions()))
    answer = probe(python, modules=tuple(modules), distributions=tuple(distributions))
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
    particular, it is a warning that names what runs without one."""
    if not inventory.gpus:
        reason = inventory.reason or "NVML found none"
        way = f"Without a GPU, run graphs with {_without_gpus()}."
        if engine is None:
            needing = [n for n, e in ENGINES.items() if _needs_gpu(e)]
            cannot = ", ".join(f"--engine {n}" for n in needing)
            return [
                Finding("driver", "warning", f"no GPU ({reason}): {cannot} cannot run here", way)
            ]
        eng = ENGINES[engine]
        if _needs_gpu(eng):
            fix = f"Install the NVIDIA driver (nvidia-smi must list the GPUs). {way}"
            return [Finding("driver", "error", f"no GPU for {eng.title} ({reason})", fix)]
        runs = f"{eng.title} runs on CPU cores" if eng.uses_gpus else f"{eng.title} needs none"
        return [Finding("driver", "ok", f"no GPU ({reason}): {runs}")]
    cuda = f", CUDA {inventory.cuda_driver_version}" if inventory.cuda_driver_version else ""
    driver = inventory.driver_version or "version unknown"
    count = f"{len(inventory.gpus)} GPU{'s' if len(inventory.gpus) > 1 else ''}"
    found = [Finding("driver", "ok", f"NVIDIA driver {driver}{cuda}; {count}")]
    found.extend(_gpu_finding(gpu) for gpu in inventory.gpus)
    return found


def _needs_gpu(eng: Any) -> bool:
    return eng.uses_gpus and not eng.cpu_without_gpu


def _without_gpus() -> str:
    """The engines that run on a machine without GPU, as --engine choices."""
    choices = [
        f"--engine {n}" + (f" ({e.title} on CPU)" if e.cpu_without_gpu else "")
        for n, e in ENGINES.items()
        if e.cpu_without_gpu or not e.uses_gpus
    ]
    return " or ".join(choices)


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
    """The worker Python, ai-dynamo and its modules, then the engines: the one asked about
    (an error when it cannot run), or each one's verdict and which of them can run here."""
    from trtl.launcher.checks.preflight_engines import DYNAMO_FIX

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
    wanted = (FRONTEND_MODULE, ENGINES[engine].module) if engine else DYNAMO_MODULES
    missing = [name for name in wanted if not answer.modules.get(name)]
    if dynamo is None or missing:
        what = "ai-dynamo is not installed" if dynamo is None else f"ai-dynamo {dynamo} lacks"
        if dynamo is not None:
            what += " " + ", ".join(missing)
        found.append(Finding("ai-dynamo", "error", f"{what} in {answer.python}", DYNAMO_FIX))
    else:
        runtime = answer.distributions.get("ai-dynamo-runtime")
        status: Status = "ok" if dynamo == DYNAMO_VERSION else "warning"
        fix = None if status == "ok" else f"trtl is tested with ai-dynamo {DYNAMO_VERSION}."
        found.append(
            Finding(
                "ai-dynamo",
                status,
                f"ai-dynamo {dynamo} (runtime {runtime or '?'}): {', '.join(wanted)} importable",
                fix,
            )
        )
    if engine is not None:
        verdict = engine_verdict(engine, answer, has_gpus=has_gpus)
        return found + ([verdict] if verdict else [])
    found.extend(engine_verdicts(answer, has_gpus=has_gpus))
    found.append(runnable_finding(answer, has_gpus=has_gpus))
    return found


def _packages(answer: PythonProbe) -> Any:
    from trtl.profiles.engines.base import Packages

    return Packages(
        answer.python, answer.version, answer.modules, answer.distributions, answer.requires
    )


def can_run(name: str, answer: PythonProbe, *, has_gpus: bool) -> bool:
    """Whether the worker Python (and the GPUs, or their absence) let engine ``name`` run."""
    eng = ENGINES[name]
    modules = (FRONTEND_MODULE, eng.module, *eng.needs(disaggregated=False))
    if not answer.ok or not all(answer.modules.get(m) for m in modules):
        return False
    if has_gpus or not eng.uses_gpus:
        return True
    if not eng.cpu_without_gpu:
        return False
    return eng.check_packages(_packages(answer), cpu_only=True, disaggregated=False) is None


def runnable_finding(answer: PythonProbe, *, has_gpus: bool) -> Finding:
    """The engines this machine can run as it is: what `--engine` may say here."""
    names = [n for n in ENGINES if can_run(n, answer, has_gpus=has_gpus)]
    if not names:
        return Finding(
            "engines", "error", "no engine can run here", f"Run graphs with {_without_gpus()}."
        )
    return Finding(
        "engines", "ok", f"this machine can run {', '.join(f'--engine {n}' for n in names)}"
    )


def engine_verdict(name: str, answer: PythonProbe, *, has_gpus: bool) -> Finding | None:
    """``trtl doctor --engine NAME``: an error with the fix when the engine's packages are
    missing (or cannot run without a GPU), else its registry verdict."""
    eng = ENGINES[name]
    found = _packages(answer)
    cpu_only = not has_gpus
    refusal = eng.check_packages(found, cpu_only=cpu_only, disaggregated=True)
    if refusal is not None:
        fix = refusal.hint or eng.install_hint(cpu_only)
        return Finding(name, "error", refusal.message, fix)
    verdict = eng.doctor(found, has_gpus=has_gpus, another_engine=True)
    return Finding(*verdict) if verdict is not None else None


def engine_verdicts(answer: PythonProbe, *, has_gpus: bool) -> list[Finding]:
    """One line per engine, as its registry module judges what the Python has."""
    from trtl.profiles.engines.base import Packages

    found = Packages(
        answer.python, answer.version, answer.modules, answer.distributions, answer.requires
    )
    runs = {n for n, e in ENGINES.items() if all(found.modules.get(m) for m in e.needs(False))}
    verdicts = []
    for name, eng in ENGINES.items():
        # A missing engine matters less where another real (GPU-capable) engine runs.
        another = any(ENGINES[n].uses_gpus for n in runs - {name})
        verdict = eng.doctor(found, has_gpus=has_gpus, another_engine=another)
        if verdict is not None:
            verdicts.append(Finding(*verdict))
    return verdicts


def port_findings(http_port: int, port_free: Callable[[int], bool]) -> list[Finding]:
    from trtl.launcher.planning.ports import PORT_RANGE

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
    from trtl.launcher.checks.model_fetch import hf_cache_dir

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
