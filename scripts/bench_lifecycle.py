"""Figures for docs/reliability.md, section "Lifecycle and state": real frontend + mocker.

Run: .venv/bin/python scripts/bench_lifecycle.py (about 90 s; a private state directory in
/tmp/trtl-bench-lifecycle; leaves nothing running). Prints one JSON object.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path("/tmp/trtl-bench-lifecycle")
PY = [sys.executable, "-m", "trtl.launcher"]


def trtl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PY, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def start(name: str, *extra: str) -> subprocess.Popen[str]:
    from trtl.launcher.planning.ports import free_ports

    model = str(ROOT / ".cache" / "tiny-model")
    port = str(free_ports(1, set())[0])
    args = ["up", "agg", "--engine", "mocker", "--model", model, "--name", name, "--port", port]
    return subprocess.Popen(
        [*PY, *args, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )


def down_after_claim(delay: float, slow: Path) -> dict:
    from trtl.launcher.deployments.lock import DeploymentLock
    from trtl.launcher.deployments.paths import RunDir

    from tests.e2e.up_helpers import deployment_pids

    name = f"m-early-{int(delay * 10)}"
    up = start(name, "-d", "--python", str(slow))
    while DeploymentLock(RunDir.for_deployment(name)).holder() is None:
        time.sleep(0.01)
    time.sleep(delay)
    began = time.monotonic()
    down = trtl("down", name)
    took = time.monotonic() - began
    up.communicate(timeout=60)
    time.sleep(2)  # had the start gone on, its worker would be up now
    return {
        "down_s": round(took, 2),
        "down_rc": down.returncode,
        "up_rc": up.returncode,
        "left": deployment_pids(name),
    }


def ctrl_c(slow: Path) -> dict:
    from tests.e2e.up_helpers import deployment_pids

    up = start("m-ctrlc", "-d", "--python", str(slow))
    assert up.stderr is not None
    while "background" not in up.stderr.readline():
        pass
    began = time.monotonic()
    up.send_signal(signal.SIGINT)
    up.communicate(timeout=60)
    return {
        "stopped_s": round(time.monotonic() - began, 2),
        "rc": up.returncode,
        "left": deployment_pids("m-ctrlc"),
    }


def deleted_state() -> dict:
    from tests.e2e.up_helpers import chat, deployment_pids

    up = start("m-nostate", "-d")
    assert up.wait(timeout=120) == 0
    state = json.loads(trtl("status", "m-nostate", "--json").stdout)
    Path(state["run_dir"], "state.json").unlink()
    model = str(ROOT / ".cache" / "tiny-model")
    served = sum(1 for _ in range(20) if chat(state["frontend_url"], model))
    shown = trtl("status", "m-nostate")
    began = time.monotonic()
    down = trtl("down", "m-nostate")
    return {
        "requests_served_without_state_file": f"{served}/20",
        "status_shows_unknown": "unknown" in shown.stdout,
        "down_s": round(time.monotonic() - began, 2),
        "down_rc": down.returncode,
        "left": deployment_pids("m-nostate"),
    }


class _Impostor(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the standard library names it so
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def impostor(slow: Path) -> dict:
    from trtl.launcher.deployments.paths import RunDir

    from tests.e2e.up_helpers import deployment_pids

    up = start("m-impostor", "-d", "--python", str(slow))
    state_file = RunDir.for_deployment("m-impostor").root / "state.json"
    while not state_file.exists():
        time.sleep(0.01)
    procs = json.loads(state_file.read_text())["processes"]
    port = next(p for p in procs if p["name"] == "worker-0")["ports"]["system"]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Impostor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    began = time.monotonic()
    _, err = up.communicate(timeout=90)
    server.shutdown()
    return {
        "up_rc": up.returncode,
        "failed_after_s": round(time.monotonic() - began, 2),
        "message": [line for line in err.splitlines() if "status port" in line][:1],
        "left": deployment_pids("m-impostor"),
    }


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    home = WORK / "home"
    home.mkdir(parents=True)
    os.environ.update(XDG_STATE_HOME=str(home / "state"), HOME=str(home))
    sys.path.insert(0, str(ROOT))
    from tests.e2e.up_helpers import slow_python

    (WORK / "late3").mkdir()
    (WORK / "late5").mkdir()
    slow3, slow5 = slow_python(WORK / "late3", 3), slow_python(WORK / "late5", 5)
    out = {f"down_after_claim_{d}": down_after_claim(d, slow3) for d in (0.0, 1.0, 4.0)}
    out["ctrl_c_up_d"] = ctrl_c(slow3)
    out["deleted_state"] = deleted_state()
    out["impostor"] = impostor(slow5)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
