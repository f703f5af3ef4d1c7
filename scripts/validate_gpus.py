#!/usr/bin/env python3
"""Prove trtl's GPU promises against a real NVIDIA driver (run it on a machine with GPUs).

Usage (from the repository root): python3 scripts/validate_gpus.py [--out DIR]

1. inventory  - what NVML reports: driver, GPUs, compute capability, MIG, NVLink, processes.
2. cli        - `trtl doctor` and `trtl plan` of the four built-ins with --engine trtllm (and
                --share-gpus where whole GPUs run short, --gpus UUID, CUDA_VISIBLE_DEVICES).
3. e2e        - for each plan, one real CUDA process per planned worker, started with exactly
                the env trtl planned; each allocates the KV-cache fraction of free memory
                its engine would take. The CUDA process is the child of a non-CUDA parent,
                as an engine under a worker is, and ``launcher.gpus.usage`` must find it
                through the parent's process tree. Checks: CUDA sees exactly the planned
                GPUs (by UUID), and NVML lists the tree on its planned GPUs and no other.
4. busy       - a process holding 70% of GPU 0 first; trtl must skip GPU 0 or refuse,
                naming that process.

Prints one line per check and exits 1 if any fails. Full command outputs go to --out.
CI has no GPU; docs/gpu-validation.md records the runs on lent GPU machines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trtl.launcher.gpus.inventory import read_inventory  # noqa: E402
from trtl.launcher.gpus.usage import gpu_usage  # noqa: E402
from trtl.launcher.planning.plan import PlanOptions, build_plan, memory_fraction  # noqa: E402
from trtl.profiles.engines import component_specs  # noqa: E402
from trtl.profiles.errors import TrtlError  # noqa: E402
from trtl.profiles.loader import load_profile  # noqa: E402

BUILTINS = ("agg", "agg_router", "disagg", "disagg_router")
# The CUDA process: takes FRACTION of the free memory of every GPU it sees, says what it
# sees, and holds the memory until its stdin closes.
CUDA_CHILD = """
import json, os, sys, torch
fraction, held, seen = float(sys.argv[1]), [], []
for i in range(torch.cuda.device_count()):
    free, total = torch.cuda.mem_get_info(i)
    held.append(torch.empty(int(free * fraction), dtype=torch.uint8, device=f"cuda:{i}"))
    seen.append({"uuid": "GPU-" + str(torch.cuda.get_device_properties(i).uuid),
                 "mib": int(free * fraction) >> 20})
print(json.dumps({"pid": os.getpid(), "seen": seen}), flush=True)
sys.stdin.read()
"""
# The root trtl would supervise: starts the CUDA process as its child and waits.
PARENT = "import subprocess, sys; sys.exit(subprocess.call([sys.executable, '-c'] + sys.argv[1:]))"


class Report:
    def __init__(self) -> None:
        self.checks = self.failures = 0

    def check(self, ok: bool, line: str) -> None:
        self.checks += 1
        self.failures += not ok
        print(f"{'OK  ' if ok else 'FAIL'} {line}", flush=True)


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def show_inventory() -> None:
    inventory = read_inventory()
    section("inventory")
    print(f"driver {inventory.driver_version}, CUDA {inventory.cuda_driver_version}, "
          f"{len(inventory.gpus)} GPUs, reason={inventory.reason}")  # fmt: skip
    for gpu in inventory.gpus:
        print(
            f"GPU {gpu.index} {gpu.uuid} {gpu.name} cc={gpu.compute_capability} "
            f"mem {gpu.memory_used_mib}/{gpu.memory_total_mib} MiB util={gpu.utilization_percent}% "
            f"MIG={'on' if gpu.mig_enabled else 'off'} NVLink peers={sorted(gpu.nvlink_peers)} "
            f"processes={[p.describe() for p in gpu.processes]}"
        )


def trtl(args: list[str], out: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `trtl ARGS` (python -m trtl.launcher); keep the full output, print the GPU lines."""
    done = subprocess.run(
        [sys.executable, "-m", "trtl.launcher", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )
    prefix = " ".join(f"{k}={v}" for k, v in (env or {}).items())
    shown = f"$ {prefix + ' ' if prefix else ''}trtl {' '.join(args)}   # exit {done.returncode}"
    with (out / "cli.log").open("a") as log:
        log.write(f"{shown}\n{done.stdout}{done.stderr}\n")
    keep = ("gpus ", "skipped", "why ", "error:", "note: --share", "Run it", "Stop the")
    lines = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if args[0] == "doctor" or line.strip().startswith(keep) or " role " in line
    ]
    print(shown, *lines, sep="\n", flush=True)
    return done.returncode, done.stdout + done.stderr


def cli_section(out: Path, count: int, uuids: list[str]) -> None:
    section("trtl doctor / trtl plan --engine trtllm")
    trtl(["doctor"], out)
    for name in BUILTINS:
        code, _ = trtl(["plan", name, "--engine", "trtllm"], out)
        if code == 2:
            trtl(["plan", name, "--engine", "trtllm", "--share-gpus"], out)
    trtl(["plan", "agg", "--engine", "trtllm", "--gpus", uuids[-1][:12]], out)
    if count > 1:
        trtl(["plan", "disagg", "--engine", "trtllm"], out, {"CUDA_VISIBLE_DEVICES": "1"})
        trtl(["plan", "disagg", "--engine", "trtllm", "--gpus", "1", "--share-gpus"], out)


def cases(count: int, uuids: list[str]) -> list[tuple[str, str, PlanOptions]]:
    """(label, profile, options): every built-in, shared where whole GPUs run short."""
    found = []
    for name in BUILTINS:
        need = sum(s.replicas for s in load_profile(name).workers.values())
        share = need > count
        label = f"{name}{' --share-gpus' if share else ''}"
        found.append((label, name, PlanOptions(share_gpus=share)))
    found.append((f"agg --gpus {uuids[-1]}", "agg", PlanOptions(gpus=uuids[-1])))
    if count > 1:
        options = PlanOptions(inherited_cvd="1,0")
        found.append(("disagg CUDA_VISIBLE_DEVICES=1,0", "disagg", options))
    return found


def fraction_of(plan, proc) -> float:
    if proc.gpu_memory_fraction is not None:
        return proc.gpu_memory_fraction
    specs = {s.role: s for s in component_specs(plan.profile, str(plan.run_dir.engine_configs))}
    return memory_fraction(specs[proc.role])


def start(env: dict[str, str], fraction: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", PARENT, CUDA_CHILD, str(fraction)],
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def stop(procs: list[subprocess.Popen]) -> None:
    """Close each root's stdin (its CUDA child then exits) and wait until GPUs are idle."""
    for proc in procs:
        if proc.stdin:
            proc.stdin.close()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # The driver frees memory just after the exit; the next plan must not see it as busy.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        gpus = read_inventory().gpus
        if all(gpu.memory_used_mib < gpu.memory_total_mib * 0.05 for gpu in gpus):
            return
        time.sleep(0.2)


def e2e_case(
    report: Report,
    label: str,
    name: str,
    options: PlanOptions,
    uuids: list[str],
    engine: str = "trtllm",
) -> None:
    try:
        plan = build_plan(load_profile(name, engine=engine), options)
    except TrtlError as exc:
        report.check(False, f"{label}: plan refused: {exc}")
        return
    workers = [p for p in plan.processes if p.gpus]
    if engine == "vllm":
        # With GPUs, vLLM runs on them: none of the CPU-only settings may be planned.
        cpu_env = sorted({k for p in plan.processes for k in p.env if k.startswith("VLLM_CPU")})
        report.check(
            len(workers) == len(plan.processes) - 1 and not cpu_env and not plan.cpu_only,
            f"{label}: every vLLM worker placed on GPUs, no CPU-mode env ({cpu_env or 'none'})",
        )
    started = {p.name: start(p.env, fraction_of(plan, p)) for p in workers}
    try:
        answers = {n: json.loads(proc.stdout.readline() or "{}") for n, proc in started.items()}
        usage = gpu_usage({n: proc.pid for n, proc in started.items()})
        for proc in workers:
            answer, used = answers[proc.name], usage.processes.get(proc.name)
            want = [uuids[i] for i in proc.gpus]
            seen = [d["uuid"] for d in answer.get("seen", [])]
            on = sorted(used.per_gpu_mib) if used else None
            found = bool(used) and answer.get("pid") in used.pids
            ok = seen == want and on == sorted(proc.gpus) and found
            shared = f" fraction={proc.gpu_memory_fraction}" if proc.gpu_memory_fraction else ""
            report.check(
                ok,
                f"{label}/{proc.name}: CUDA_VISIBLE_DEVICES={proc.env['CUDA_VISIBLE_DEVICES']}"
                f"{shared} plan={proc.gpus} cuda_sees={[u[:12] for u in seen]} "
                f"nvml: root pid {started[proc.name].pid} -> cuda pid {answer.get('pid')} on "
                f"GPUs {on} using {used.memory_mib if used else None} MiB "
                f"(allocated {sum(d['mib'] for d in answer.get('seen', []))} MiB)",
            )
        if usage.reason:
            report.check(False, f"{label}: gpu_usage: {usage.reason}")
        status_check(report, label, plan, started)
    finally:
        stop(list(started.values()))


def status_check(report: Report, label: str, plan, started: dict) -> None:
    """`trtl status` of these processes, as if trtl supervised them: GPU memory per tree."""
    import psutil
    from trtl.launcher.deployments.state import (
        DeploymentState,
        ProcessState,
        make_private_dir,
        write_state,
    )

    me = psutil.Process()
    state = DeploymentState(
        deployment=plan.deployment, state="ready", frontend_url=plan.frontend_url,
        run_dir=str(plan.run_dir.root), served_model_name=plan.profile.served_name,
        supervisor_pid=me.pid, supervisor_create_time=me.create_time(),
        processes=[
            ProcessState(name=p.name, role=p.role, mode=p.mode, pid=started[p.name].pid,
                         state="running", gpus=p.gpus, ports=p.ports)
            for p in plan.processes if p.name in started
        ],
    )  # fmt: skip
    make_private_dir(plan.run_dir.root)
    write_state(plan.run_dir, state)
    done = subprocess.run(
        [sys.executable, "-m", "trtl.launcher", "status", plan.deployment, "--json"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    try:
        data = json.loads(done.stdout)
    except ValueError:
        report.check(False, f"{label}: trtl status --json: {done.stderr.strip()}")
        return
    held = {p["name"]: p.get("gpu_memory_mib") for p in data["processes"]}
    report.check(
        all(held.values()) and bool(data.get("gpu_usage", {}).get("gpus")),
        f"{label}: trtl status --json gpu_memory_mib={held}",
    )
    table = subprocess.run(
        [sys.executable, "-m", "trtl.launcher", "status", plan.deployment],
        cwd=ROOT, capture_output=True, text=True,
    ).stdout  # fmt: skip
    print(table, flush=True)


def busy_section(report: Report, out: Path, count: int) -> None:
    section("busy GPU: a process holds 70% of GPU 0 first")
    hog = start({"CUDA_VISIBLE_DEVICES": "0", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}, 0.7)
    try:
        pid = json.loads(hog.stdout.readline())["pid"]
        print(f"hog: root pid {hog.pid}, CUDA pid {pid}")
        usage = gpu_usage({"hog": hog.pid})
        hogged = usage.processes.get("hog")
        report.check(bool(hogged) and hogged.gpus == (0,), f"gpu_usage(hog) = {hogged}")
        code, text = trtl(["plan", "agg", "--engine", "trtllm"], out)
        if count > 1:
            report.check(code == 0 and "worker-0  role worker (agg), GPU 1" in text,
                         "agg avoids busy GPU 0")  # fmt: skip
            code, text = trtl(["plan", "disagg", "--engine", "trtllm"], out)
            report.check(code == 2 and f"pid {pid}" in text, "disagg refused, naming the pid")
            code, text = trtl(["plan", "disagg", "--engine", "trtllm", "--share-gpus"], out)
            both = code == 0 and text.count("GPU 1, ports") == 2
            report.check(both, "disagg --share-gpus puts prefill and decode on GPU 1")
        else:
            report.check(code == 2 and f"pid {pid}" in text, "agg refused, naming the pid")
        trtl(["doctor"], out)
    finally:
        stop([hog])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-validation-out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_STATE_HOME", str(args.out / "state"))
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    inventory = read_inventory()
    show_inventory()
    if not inventory.gpus:
        print(f"no GPU: {inventory.reason}")
        return 1
    uuids = [gpu.uuid for gpu in inventory.gpus]
    report = Report()
    cli_section(args.out, len(uuids), uuids)
    section("end to end: one real CUDA process per planned worker, with the planned env")
    for label, name, options in cases(len(uuids), uuids):
        e2e_case(report, label, name, options, uuids)
    section("--engine vllm: the same placement and GPU checks")
    for name in BUILTINS:
        code, _ = trtl(["plan", name, "--engine", "vllm"], args.out)
        if code == 2:
            trtl(["plan", name, "--engine", "vllm", "--share-gpus"], args.out)
    for label, name, options in cases(len(uuids), uuids):
        e2e_case(report, f"vllm {label}", name, options, uuids, engine="vllm")
    busy_section(report, args.out, len(uuids))
    print(f"\n{report.checks} checks, {report.failures} failed")
    return 1 if report.failures or not report.checks else 0


if __name__ == "__main__":
    sys.exit(main())
