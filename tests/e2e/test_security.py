"""What a running deployment exposes: its sockets, its files, and the user's HF token.

A real ``disagg_router`` deployment (frontend with the KV router, two prefill and one
decode mocker) is checked the way a careful user would: the listening sockets of every
process in the supervised trees (psutil, as ``ss -ltnp`` shows them), the permissions of
the run directory, and a search for the token's value in everything trtl prints or writes.

Dynamo's mocker binds its ZMQ event-plane publishers (KV events, KV metrics, forward-pass
metrics, active sequences) on 0.0.0.0 whatever ``DYN_EVENT_PLANE_HOST`` says
(DYNAMO_FACTS.md), while it advertises them as ``tcp://127.0.0.1:PORT`` in discovery. Those
sockets, and only those, are allowed off loopback: each is matched to its ZMQ event
channel in the deployment's discovery directory.
"""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import psutil
import pytest

from tests.e2e.up_helpers import chat, kill_groups, status, trtl, up_args

LOOPBACK = {"127.0.0.1", "::1"}
TOKEN = "hf_trtlTestSecret0123456789abcdefXYZ"  # shaped like a real token


@pytest.fixture
def deployment(home: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch):
    """A running disagg_router, started with an HF token in trtl's environment."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    name = "t-private"
    result = trtl(*up_args("disagg_router", tiny_model, name, "-d"), home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    state = status(name, home)
    yield state
    trtl("down", name, "--grace", "2", home=home)
    kill_groups([p["pid"] for p in state["processes"] if p["pid"]] + [state["supervisor_pid"]])


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _bound_sockets(pid: int, tree: bool = True) -> list[tuple[int, str, int]]:
    """(pid, ip, port) of every listening TCP and bound UDP socket in ``pid``'s tree."""
    found = []
    for proc in _tree(pid) if tree else [psutil.Process(pid)]:
        for conn in proc.net_connections(kind="inet"):
            listening = conn.status == psutil.CONN_LISTEN
            if (listening or conn.type == socket.SOCK_DGRAM) and conn.laddr:
                found.append((proc.pid, conn.laddr.ip, conn.laddr.port))
    return found


def _zmq_publisher_ports(run_dir: Path) -> set[int]:
    """Ports of the ZMQ event channels the workers advertised in discovery."""
    ports = set()
    for path in (run_dir / "discovery").rglob("*"):
        if not path.is_file() or "event_channels" not in path.parts:
            continue
        transport = json.loads(path.read_text()).get("transport", {})
        if transport.get("kind") == "Zmq":
            ports.add(int(transport["config"]["endpoint"].rsplit(":", 1)[1]))
    return ports


def _other_addresses() -> list[str]:
    """This machine's IPv4 addresses that are not loopback (where a neighbour connects)."""
    return [
        addr.address
        for addrs in psutil.net_if_addrs().values()
        for addr in addrs
        if addr.family == socket.AF_INET and not addr.address.startswith("127.")
    ]


def test_every_listening_socket_is_on_loopback_but_dynamos_zmq_publishers(deployment):
    state = deployment
    by_name = {p["name"]: _bound_sockets(p["pid"]) for p in state["processes"]}
    # trtl itself serves nothing.
    assert _bound_sockets(state["supervisor_pid"], tree=False) == []
    zmq_ports = _zmq_publisher_ports(Path(state["run_dir"]))
    assert zmq_ports, "no ZMQ event channel in discovery: the exception below is untested"

    open_to_all = []
    for name, sockets in by_name.items():
        for pid, ip, port in sockets:
            if ip in LOOPBACK:
                continue
            # Only a worker's advertised ZMQ publisher may be off loopback, and only as
            # Dynamo binds it; the frontend has none.
            if name == "frontend" or port not in zmq_ports or ip != "0.0.0.0":
                open_to_all.append((name, pid, ip, port))
    assert open_to_all == [], f"sockets beyond loopback: {open_to_all}"

    # The ports a user reaches, each bound on loopback only.
    wanted = {
        (p["name"], kind, port) for p in state["processes"] for kind, port in p["ports"].items()
    }
    for name, kind, port in wanted:
        ips = {ip for _, ip, bound in by_name[name] if bound == port}
        assert ips == {"127.0.0.1"}, f"{name} {kind} port {port} is bound on {ips}"
    assert {kind for _, kind, _ in wanted} == {"http", "system"}

    # And from outside loopback, nothing answers on them.
    for address in _other_addresses():
        for name, kind, port in wanted:
            with socket.socket() as probe:
                probe.settimeout(2)
                assert probe.connect_ex((address, port)) != 0, f"{name} {kind} on {address}"


def test_run_directory_is_private_and_the_hf_token_is_never_written(deployment, home, tiny_model):
    state = deployment
    run_dir = Path(state["run_dir"])
    assert chat(state["frontend_url"], state["served_model_name"])  # something in the logs

    # Private: the run directory and the directories trtl makes in it are the user's
    # alone (what Dynamo creates below discovery/ sits behind them); trtl's files too.
    for path in (run_dir, run_dir / "discovery", run_dir / "logs", run_dir / "engine"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o700, f"{path} has mode {mode:o}"
    written = [
        run_dir / "state.json",
        run_dir / "supervisor.lock",
        run_dir / "supervisor.log",
        *(run_dir / "logs").glob("*.log"),
    ]
    assert len(written) == 3 + len(state["processes"])
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600, f"{path} has mode {mode:o}"

    # The token did reach the workers, through their environment only...
    decode = next(p for p in state["processes"] if p["name"] == "decode-0")
    assert psutil.Process(decode["pid"]).environ().get("HF_TOKEN") == TOKEN
    # ...and is nowhere in what trtl wrote or prints.
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"the token is in {path}"
    name = state["deployment"]
    model = ["--engine", "mocker", "--model", str(tiny_model)]
    outputs = {
        "plan": trtl("plan", "disagg_router", *model, home=home),
        "plan --json": trtl("plan", "disagg_router", *model, "--json", home=home),
        "status": trtl("status", name, home=home),
        "status --json": trtl("status", name, "--json", home=home),
        "ps": trtl("ps", home=home),
        "ps --json": trtl("ps", "--json", home=home),
        "logs": trtl("logs", name, "-n", "200", home=home),
        "export --k8s": trtl(
            "export", "--k8s", "disagg_router", "--image", "example.com/dynamo:1", home=home
        ),
    }
    for command, result in outputs.items():
        assert result.returncode == 0, f"trtl {command}: {result.stderr}"
        assert TOKEN not in result.stdout + result.stderr, f"trtl {command} shows the token"
    # The export references the Secret instead.
    assert "hf-token-secret" in outputs["export --k8s"].stdout
    supervisor = psutil.Process(state["supervisor_pid"])
    assert TOKEN not in " ".join(supervisor.cmdline())


def test_a_token_written_into_the_profile_is_masked_or_refused(home, tiny_model):
    """A literal token in a profile's env (here through --set) is shown as *** by plan,
    and refused by export, which must never carry a secret value."""
    base = ["--engine", "mocker", "--model", str(tiny_model), "--set", f"env.HF_TOKEN={TOKEN}"]
    text = trtl("plan", "agg", *base, home=home)
    assert text.returncode == 0, text.stderr
    assert "HF_TOKEN='***'" in text.stdout
    plan = trtl("plan", "agg", *base, "--json", home=home)
    assert plan.returncode == 0, plan.stderr
    envs = [p["env"] for p in json.loads(plan.stdout)["processes"]]
    assert all(env["HF_TOKEN"] == "***" for env in envs)
    export = trtl("export", "--k8s", "agg", *base, "--image", "example.com/dynamo:1", home=home)
    assert export.returncode == 2, export.stdout
    assert "env.HF_TOKEN holds a secret value" in export.stderr
    for result in (text, plan, export):
        assert TOKEN not in result.stdout + result.stderr
    # Same rule when the token is only shaped like one, under an innocent name.
    other = trtl("plan", "agg", "--engine", "mocker", "--model", str(tiny_model),
                 "--set", f"env.MY_SETTING={TOKEN}", home=home)  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert TOKEN not in other.stdout + other.stderr


def test_a_token_given_to_a_detached_up_stays_out_of_the_supervisors_command_line(
    home, tiny_model, deployments
):
    """/proc/PID/cmdline is readable by every local user, /proc/PID/environ only by the owner."""
    name = "t-token-argv"
    deployments.append(name)
    args = up_args("agg", tiny_model, name, "-d", "--set", f"env.HF_TOKEN={TOKEN}")
    result = trtl(*args, home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    state = status(name, home)
    supervisor = psutil.Process(state["supervisor_pid"])
    assert "--supervise" in supervisor.cmdline()
    assert TOKEN not in " ".join(supervisor.cmdline())
    # The value still reached the workers, as the profile asked.
    worker = next(p for p in state["processes"] if p["name"] == "worker-0")
    assert psutil.Process(worker["pid"]).environ()["HF_TOKEN"] == TOKEN
    assert TOKEN not in result.stdout + result.stderr


def test_host_opens_the_frontend_to_the_network_and_only_the_frontend(
    home, tiny_model, deployments
):
    addresses = _other_addresses()
    assert addresses, "this test needs a non-loopback IPv4 address"
    name = "t-open"
    deployments.append(name)
    result = trtl(*up_args("agg", tiny_model, name, "-d", "--host", "0.0.0.0"), home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    state = status(name, home)
    frontend = next(p for p in state["processes"] if p["name"] == "frontend")
    port = frontend["ports"]["http"]
    assert {ip for _, ip, bound in _bound_sockets(frontend["pid"]) if bound == port} == {"0.0.0.0"}
    # A neighbour reaches the model through the machine's own address...
    url = f"http://{addresses[0]}:{port}"
    assert chat(url, state["served_model_name"])
    # ...but never a worker's status server.
    worker = next(p for p in state["processes"] if p["name"] == "worker-0")
    with socket.socket() as probe:
        probe.settimeout(2)
        assert probe.connect_ex((addresses[0], worker["ports"]["system"])) != 0
    assert trtl("down", name, home=home).returncode == 0


def test_host_this_machine_does_not_have_is_refused_before_anything_starts(home, tiny_model):
    result = trtl(*up_args("agg", tiny_model, "t-nohost", "--host", "10.255.255.1"), home=home)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot listen on 10.255.255.1: no network interface" in result.stderr
    assert "Pass --host with one of this machine's addresses" in result.stderr
    assert "Traceback" not in result.stderr
    assert trtl("status", "t-nohost", home=home).returncode != 0  # never started
