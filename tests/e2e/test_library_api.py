"""trtl used as a library, the way a downstream project would: ``import trtl``.

Real frontend and mocker processes; every test checks that nothing is left running.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import psutil
import pytest
from trtl.launcher.planning.ports import free_ports

import trtl

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def private_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The frontend caches model cards under $HOME/.cache/dynamo.
    monkeypatch.setenv("HOME", str(home))


def _pids(deployment: trtl.Deployment) -> list[int]:
    state = deployment.status()
    return [p.pid for p in state.processes if p.pid] + [state.supervisor_pid]


def _none_alive(pids: list[int]) -> bool:
    return not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


def _port() -> int:
    return free_ports(1, exclude=set())[0]


def test_context_manager_serves_a_chat_and_leaves_nothing_running(tiny_model: Path):
    port = _port()
    with trtl.up("agg", engine="mocker", model=str(tiny_model), port=port, name="lib") as d:
        assert d.url == f"http://127.0.0.1:{port}/v1"
        assert d.state == "ready"
        assert d.served_model_name == str(tiny_model)
        reply = httpx.post(
            f"{d.url}/chat/completions",
            json={
                "model": d.served_model_name,
                "messages": [{"role": "user", "content": "Hello"}],
                "max_tokens": 8,
            },
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"]
        assert {p.role for p in d.processes} == {"frontend", "worker"}
        assert "starting frontend" in d.logs("frontend", lines=None)
        pids = _pids(d)
    assert _none_alive(pids)
    assert trtl.attach("lib").state == "stopped"


def test_an_exception_in_the_block_stops_everything(tiny_model: Path):
    pids: list[int] = []
    with (
        pytest.raises(RuntimeError, match="boom"),
        trtl.up("agg", engine="mocker", model=str(tiny_model), port=_port(), name="boom") as d,
    ):
        pids = _pids(d)
        raise RuntimeError("boom")
    assert pids and _none_alive(pids)


def test_keyboard_interrupt_in_the_block_stops_everything(tiny_model: Path):
    pids: list[int] = []
    with (
        pytest.raises(KeyboardInterrupt),
        trtl.up("agg", engine="mocker", model=str(tiny_model), port=_port(), name="ctrl-c") as d,
    ):
        pids = _pids(d)
        raise KeyboardInterrupt
    assert pids and _none_alive(pids)


def test_a_profile_built_in_code_runs_and_attach_reaches_it(tiny_model: Path):
    profile = trtl.load("agg", engine="mocker", model=str(tiny_model)).model_dump(mode="json")
    profile["name"] = "from-code"
    profile["workers"]["worker"]["replicas"] = 2
    with trtl.up(profile, port=_port()) as d:
        attached = trtl.attach("from-code")
        assert attached.url == d.url
        assert [p.name for p in attached.processes] == ["frontend", "worker-0", "worker-1"]
        assert attached.chat("Hi", max_tokens=4)
    assert trtl.attach("from-code").state == "stopped"


def test_a_failed_start_raises_the_cli_error_and_leaves_nothing(tiny_model: Path):
    with pytest.raises(trtl.ProfileError, match="replicas"):
        trtl.up("agg", engine="mocker", model=str(tiny_model), set=["workers.worker.replicas=0"])
    with pytest.raises(trtl.SupervisorError):
        trtl.attach("never-started")


def test_plan_export_and_import_round_trip(tiny_model: Path):
    plan = trtl.plan("disagg", engine="mocker", model=str(tiny_model), port=9123)
    assert [p.name for p in plan.processes] == ["frontend", "prefill-0", "decode-0"]
    text = trtl.export_k8s("disagg", image="nvcr.io/example:1")
    assert "kind: DynamoGraphDeployment" in text
    profile = trtl.import_dgd(text)
    assert set(profile.workers) == {"prefill", "decode"}


@pytest.mark.parametrize("enabled_by", ["import", "--trtl"])
def test_the_pytest_fixture_works_when_enabled(
    enabled_by: str, tiny_model: Path, tmp_path: Path, home: Path
):
    """From a test file that only imports it, or through the installed plugin's --trtl."""
    tests = tmp_path / "downstream"
    tests.mkdir()
    (tests / "test_downstream.py").write_text(
        textwrap.dedent(
            """
            import httpx
            IMPORT_LINE

            def test_models_are_listed(trtl_deployment):
                listed = httpx.get(trtl_deployment.url + "/models", timeout=10).json()
                assert [m["id"] for m in listed["data"]] == [trtl_deployment.served_model_name]

            def test_same_deployment_for_the_session(trtl_deployment):
                assert trtl_deployment.state == "ready"
            """
        ).replace(
            "IMPORT_LINE",
            "from trtl.testing import trtl_deployment" if enabled_by == "import" else "",
        )
    )
    flags = ["--trtl"] if enabled_by == "--trtl" else []
    env = {
        **__import__("os").environ,
        "TRTL_MODEL": str(tiny_model),
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
    }
    done = downstream_pytest(tests, env, *flags)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    states = sorted((Path(env["XDG_STATE_HOME"]) / "trtl").glob("*/state.json"))
    assert states, "the fixture's deployment left no state"
    for path in states:
        assert '"state": "stopped"' in path.read_text()


def downstream_pytest(tests: Path, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess:
    """A downstream project's pytest run over ``tests`` (its own folder), as its user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *flags, str(tests)],
        cwd=tests,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
