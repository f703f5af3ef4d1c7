"""What every benchmark shares: machine info, interleaved repetitions, medians and ratios,
and the plumbing to run real trtl and Dynamo processes on loopback without leftovers.

Absolute times depend on the machine and on what else runs on it; a ratio against a
baseline measured in the same run, with the variants interleaved (A B A B ...), is what
carries between machines, because load that comes and goes hits both variants alike.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import platform
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # scripts run as `python scripts/bench_x.py`
    sys.path.insert(0, str(REPO))

PYTHON = sys.executable
# The console script users run; where it is not installed, or with --trtl-tree, the same
# three lines through `python -c`. Not `python -m trtl.launcher`: runpy and importlib.util
# cost every start ~8 ms (measured) that the console script does not pay.
CONSOLE_SCRIPT = "import sys; from trtl.launcher.__main__ import main; sys.exit(main())"
_SCRIPT = Path(sys.executable).with_name("trtl")
TRTL = [str(_SCRIPT)] if _SCRIPT.exists() else [PYTHON, "-c", CONSOLE_SCRIPT]
TINY_MODEL = REPO / ".cache" / "tiny-model"
# The real engine's tier: scripts/setup_vllm_cpu.sh builds both.
TINY_REAL_MODEL = REPO / ".cache" / "tiny-real-model"
VLLM_PYTHON = REPO / ".cache" / "vllm-venv" / "bin" / "python"
BUILTINS = ("agg", "agg_router", "disagg", "disagg_router")
POLL_INTERVAL = 0.005  # the benchmark's own readiness poll, the same for every variant

_GROUPS: set[int] = set()  # process groups this benchmark started and has not reaped
_ROOTS: list[Path] = []  # temporary homes, removed at exit


# --- what the figures were measured on -----------------------------------------------------


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        from importlib.metadata import version

        dynamo = version("ai-dynamo")
    except Exception:
        dynamo = "not installed"
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpu": f"{cpu} ({platform.machine()})",
        "cores": f"{cores} ({usable} usable)",
        "python": f"{platform.python_version()} ({PYTHON})",
        "ai-dynamo": dynamo,
        "trtl commit": commit or "unknown",
        "load average": load,
    }


def print_header(title: str, argv: Sequence[str]) -> dict[str, str]:
    """Print the run's title, command and machine; return the machine's description."""
    print(f"# {title}")
    print(f"run: {shlex.join([Path(argv[0]).name, *argv[1:]])}")
    info = machine_info()
    for key, value in info.items():
        print(f"{key + ':':<14}{value}")
    print()
    return info


def show(argv: Sequence[str]) -> str:
    """A command line as a user would type it (the venv's trtl/python by name)."""
    parts = list(argv)
    if parts[: len(TRTL)] == TRTL:
        parts[: len(TRTL)] = ["trtl"]
    elif parts and parts[0] == PYTHON:
        parts[0] = "python"
    return shlex.join(parts)


# --- repetitions, medians, ratios ----------------------------------------------------------


def interleave(
    variants: Sequence[tuple[str, Callable[[], float]]], repeat: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Run every variant ``repeat`` times, A B A B ...; the first ``warmup`` rounds are dropped
    (they fill the file cache and Dynamo's model-card cache)."""
    results: dict[str, list[float]] = {name: [] for name, _ in variants}
    for round_ in range(warmup + repeat):
        for name, run in variants:
            value = run()
            if round_ >= warmup:
                results[name].append(value)
    return results


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """The median of the per-round ratios a[i]/b[i] and its 90 % bootstrap interval (2000
    resamples of the rounds, fixed seed). Interleaved rounds share the machine's moment,
    so a ratio within a round is not moved by the load drifting between rounds, as the
    ratio of two medians is."""
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    if not ratios:
        return float("nan"), float("nan"), float("nan")
    draw = random.Random(18)
    medians = sorted(statistics.median(draw.choices(ratios, k=len(ratios))) for _ in range(2000))
    return statistics.median(ratios), medians[100], medians[1899]


def paired_cells(paired: tuple[float, float, float]) -> list[str]:
    """``paired_ratio``'s result as two table cells: the ratio and its interval."""
    ratio, low, high = paired
    return [f"{ratio:.3f}", f"{low:.3f}–{high:.3f}"]


def end_run(at_start: dict[str, str], seconds: dict, raw: str | None) -> None:
    """Print the load average at the end and, with ``--raw FILE``, write every launch's
    ``seconds`` with the run's description (``print_header``'s, the argv, the load at the
    end) as JSON, the form ``pool_ready.py`` reads."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average at the end: {load}")
    if raw:
        meta = {**at_start, "argv": sys.argv[1:], "load at the end": load}
        Path(raw).write_text(json.dumps({"run": meta, "seconds": seconds}, indent=1) + "\n")
        print(f"every launch's seconds: {raw}")


def spread(values: Sequence[float]) -> str:
    """min–max, to show how noisy a median is."""
    return f"{min(values):.3f}–{max(values):.3f}" if values else "-"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        cols = zip(row, widths, strict=True)
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(cols)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


# --- which trtl ------------------------------------------------------------------------------

_TREE: str | None = None  # another checkout's source tree to run trtl from


def tree_option(parser) -> None:
    parser.add_argument(
        "--trtl-tree",
        metavar="DIR",
        help="run trtl from this source tree instead (e.g. `git archive REV | tar -x -C DIR`), "
        "to compare two versions on the same machine",
    )


def use_tree(tree: str | None) -> None:
    """Run trtl from ``tree`` (ahead of the installed checkout on sys.path), through the
    console script's lines (``python -c``, whose sys.path starts with the working directory)."""
    global _TREE
    if tree:
        _TREE = str(Path(tree).resolve())
        TRTL[:] = [PYTHON, "-c", CONSOLE_SCRIPT]
        print(f"trtl from:     {_TREE}")


# --- an isolated environment ---------------------------------------------------------------


PYCACHE = REPO / ".cache" / "bench-pycache"
_BYTECODE = {"cache": True}


def bytecode_option(parser) -> None:
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep this environment's PYTHONDONTWRITEBYTECODE: every process then compiles "
        "all its modules from source at each start",
    )


def use_bytecode_cache(wanted: bool) -> None:
    _BYTECODE["cache"] = wanted


def bytecode_note() -> str:
    if not _BYTECODE["cache"]:
        return "as this environment has it" + (
            " (PYTHONDONTWRITEBYTECODE set: no .pyc, every import compiles)"
            if os.environ.get("PYTHONDONTWRITEBYTECODE")
            else ""
        )
    return f"cached in {PYCACHE} (PYTHONPYCACHEPREFIX), as on a normal install"


def bench_env(root: Path | None = None) -> dict[str, str]:
    """trtl's and Dynamo's environment: a private HOME (Dynamo caches model cards there) and
    state dir, no colour, no NATS (Dynamo would wait for it). Python bytecode is cached
    (in PYCACHE) even where PYTHONDONTWRITEBYTECODE is set, as it is on a user's machine:
    compiling every module at every start would dwarf what is measured."""
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="trtl-bench-"))
        _ROOTS.append(root)
    env = {**os.environ, "HOME": str(root), "XDG_STATE_HOME": str(root / "state")}
    env.update(NO_COLOR="1", COLUMNS="200")
    if _TREE:
        env["PYTHONPATH"] = _TREE
    if _BYTECODE["cache"]:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.pop("NATS_SERVER", None)
    env.pop("XDG_CONFIG_HOME", None)
    return env


def prepare(args) -> tuple[Path, dict[str, str]]:
    """What every benchmark does after parsing its options: pick the trtl tree and the
    bytecode cache, make sure the tiny model exists, and take the private environment
    (the state and plan APIs read XDG_STATE_HOME from os.environ). Returns (model, env)."""
    use_tree(args.trtl_tree)
    use_bytecode_cache(not args.no_bytecode_cache)
    print(f"bytecode:     {bytecode_note()}")
    model = ensure_tiny_model()
    env = bench_env()
    # Exactly env, not env on top: what bench_env removed (PYTHONDONTWRITEBYTECODE, say)
    # would otherwise stay here, and reach the bare launches (child_env reads os.environ)
    # but not trtl's processes.
    os.environ.clear()
    os.environ.update(env)
    return model, env


def fresh_run_dir(plan) -> None:
    """A bare launch's set-up, as a user's before a hand-written launch: the run directory
    prepared as trtl prepares it (an empty discovery dir, fresh logs), and what that set
    aside deleted at once (trtl's supervisor deletes it once ready, off the clock too)."""
    from trtl.launcher.deployments.run_setup import prepare_run_dir
    from trtl.launcher.deployments.set_aside import remove_set_aside

    prepare_run_dir(plan)
    remove_set_aside(str(plan.run_dir.root))


def ensure_tiny_model() -> Path:
    if not (TINY_MODEL / "config.json").exists():
        builder = REPO / "scripts" / "make_tiny_model.py"
        subprocess.run([PYTHON, str(builder), str(TINY_MODEL)], check=True)
    return TINY_MODEL


def free_port() -> int:
    from trtl.launcher.planning.ports import free_ports

    return free_ports(1, exclude=set())[0]


# --- processes -----------------------------------------------------------------------------


def spawn(argv: Sequence[str], env: dict[str, str], out, **kwargs) -> subprocess.Popen:
    """Start ``argv`` in its own process group, remembered for cleanup. In this script's
    session: trtl, its processes and a bare launch's all share the one autogroup (the
    kernel's sched_autogroup: CPU is shared between sessions first), as a user's terminal
    holds trtl or a hand-written launch script with its processes."""
    if _TREE and list(argv[: len(TRTL)]) == TRTL:
        kwargs.setdefault("cwd", _TREE)  # `python -c` puts the working directory first
    proc = subprocess.Popen(
        list(argv), env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        process_group=0, **kwargs,
    )  # fmt: skip
    _GROUPS.add(proc.pid)
    return proc


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def reap(procs: Sequence[subprocess.Popen], timeout: float = 30.0) -> None:
    """Wait for ``procs``; SIGKILL their groups when they outstay ``timeout``."""
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            proc.wait()
    for proc in procs:
        # Whatever the leader left in its group (there should be nothing) goes too.
        kill_group(proc.pid)
        _GROUPS.discard(proc.pid)


@atexit.register
def _cleanup() -> None:
    for pgid in list(_GROUPS):
        kill_group(pgid)
    for root in _ROOTS:
        shutil.rmtree(root, ignore_errors=True)


def _on_term(signum, _frame) -> None:
    _cleanup()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_term)


# --- HTTP on loopback, cheap enough to poll every 5 ms ------------------------------------


def get_json_any(port: int, path: str, timeout: float = 1.0) -> tuple[int, object] | None:
    """GET as (status, JSON body or None), whatever the status; None when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        try:
            return response.status, json.loads(body)
        except ValueError:
            return response.status, None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def get_json(port: int, path: str, timeout: float = 1.0) -> object | None:
    """GET ``http://127.0.0.1:port/path`` as JSON; None unless it answers 200."""
    answer = get_json_any(port, path, timeout)
    return answer[1] if answer and answer[0] == 200 else None


def model_listed(port: int, model: str) -> bool:
    body = get_json(port, "/v1/models")
    data = body.get("data") if isinstance(body, dict) else None
    return any(isinstance(m, dict) and m.get("id") == model for m in data or [])


def wait_listed(
    port: int, model: str, timeout: float, alive: Callable[[], bool] = lambda: True
) -> float:
    """Poll every 5 ms until ``/v1/models`` lists ``model``; return the perf_counter time.
    Raises RuntimeError on timeout or when ``alive()`` turns false."""
    deadline = time.perf_counter() + timeout
    while True:
        if model_listed(port, model):
            return time.perf_counter()
        now = time.perf_counter()
        if now > deadline:
            raise RuntimeError(f"{model!r} not listed on port {port} within {timeout:g} s")
        if not alive():
            raise RuntimeError("the launch ended before the model was listed")
        time.sleep(POLL_INTERVAL)
