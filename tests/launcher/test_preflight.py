"""Preflight: busy ports, missing engines and missing models each stop ``trtl up`` early.

Everything here is real (sockets, interpreters, the HF cache layout) except the network:
the Hugging Face Hub is not reachable from CI, so downloads point HF_ENDPOINT at a closed
loopback port and fail the way an unplugged network does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

# huggingface_hub reads HF_HUB_OFFLINE and HF_ENDPOINT once, at import; import it before any
# test sets them, so one test's environment never leaks into the next through its constants.
import huggingface_hub
import psutil
import pytest
from trtl.launcher.checks.model_fetch import ensure_model, hf_cache_dir, is_local_path
from trtl.launcher.checks.preflight import run_preflight
from trtl.launcher.deployments.paths import state_home
from trtl.launcher.gpus.inventory import Gpu, Inventory
from trtl.launcher.planning.plan import Plan, PlanOptions, build_plan
from trtl.launcher.planning.ports import free_ports
from trtl.profiles.errors import PreflightError
from trtl.profiles.loader import load_profile

PY_VERSION = ".".join(map(str, sys.version_info[:3]))


def plan_for(tiny_model: Path | str, name: str = "agg", engine: str = "mocker", **options) -> Plan:
    overrides = options.pop("overrides", ())
    profile = load_profile(name, engine=engine, model=str(tiny_model), overrides=overrides)
    gpus = Inventory(tuple(Gpu(i, f"GPU-{i}", "H100", 81559, 0) for i in range(8)))
    return build_plan(profile, PlanOptions(**options), gpus)


def failure(plan: Plan, **kwargs) -> PreflightError:
    with pytest.raises(PreflightError) as info:
        run_preflight(plan, **kwargs)
    assert info.value.exit_code == 2
    return info.value


@pytest.fixture
def listener() -> Iterator:
    """Listen on a port, as another program would; closed after the test."""
    socks = []

    def listen(port: int, host: str = "127.0.0.1") -> socket.socket:
        sock = socket.socket()
        sock.bind((host, port))
        sock.listen()
        socks.append(sock)
        return sock

    yield listen
    for sock in socks:
        sock.close()


# --- all good ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["agg", "disagg_router"])
def test_the_tiny_model_on_the_mocker_passes(tiny_model, name):
    port = free_ports(1, exclude=set())[0]
    plan = plan_for(tiny_model, name, http_port=port)
    assert run_preflight(plan, echo=pytest.fail) == []


# --- ports -------------------------------------------------------------------------------


def test_a_busy_frontend_port_names_the_holder_and_the_fix(tiny_model, listener):
    port = free_ports(1, exclude=set())[0]
    listener(port)
    error = failure(plan_for(tiny_model, http_port=port))
    assert error.message.startswith(f"the frontend HTTP port 127.0.0.1:{port} is in use")
    if _can_list_sockets():
        assert f"(pid {os.getpid()})" in error.message
    assert "--port" in error.hint


def test_a_listener_on_all_interfaces_blocks_the_loopback_port(tiny_model, listener):
    port = free_ports(1, exclude=set())[0]
    listener(port, "0.0.0.0")
    assert "is in use" in failure(plan_for(tiny_model, http_port=port)).message


def test_a_busy_status_port_names_the_worker(tiny_model, listener):
    plan = plan_for(tiny_model, "disagg")
    decode = next(p for p in plan.processes if p.name == "decode-0")
    listener(decode.ports["system"])
    error = failure(plan)
    assert f"decode-0 status port 127.0.0.1:{decode.ports['system']} is in use" in error.message
    assert "new status ports" in error.hint


def test_a_port_held_by_another_trtl_deployment_says_trtl_down(tiny_model, tmp_path):
    if not _can_list_sockets():
        pytest.skip("psutil cannot list sockets here (needs privileges)")
    port = free_ports(1, exclude=set())[0]
    # A stand-in for another deployment's frontend: its DYN_FILE_KV is in trtl's state dir.
    discovery = state_home() / "other" / "discovery"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys, time; s = socket.socket();"
            " s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen();"
            " print('up', flush=True); time.sleep(60)",
            str(port),
        ],
        env={"DYN_FILE_KV": str(discovery), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"up\n"
        error = failure(plan_for(tiny_model, http_port=port))
        assert f"(pid {holder.pid})" in error.message
        assert "`trtl down other`" in error.hint
    finally:
        holder.kill()
        holder.wait()


# --- engines -----------------------------------------------------------------------------


def test_a_python_without_dynamo_is_refused(tiny_model, tmp_path):
    # -S drops site-packages: the same interpreter, without Dynamo, on any machine.
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    python.chmod(0o755)
    error = failure(plan_for(tiny_model, python=str(python)))
    assert error.message == (
        f"dynamo.frontend is not importable by --python {python} (Python {PY_VERSION})."
    )
    assert "uv sync --extra dynamo" in error.hint
    assert "--python" in error.hint


def test_a_missing_python_is_refused(tiny_model, tmp_path):
    missing = tmp_path / "venv" / "bin" / "python"
    error = failure(plan_for(tiny_model, python=str(missing)))
    assert error.message == f"the Python that runs Dynamo (--python {missing}) does not exist."


def test_the_profiles_python_is_named_as_such(tiny_model, tmp_path):
    plan = plan_for(tiny_model, overrides=[f"python={tmp_path}"])
    error = failure(plan)
    assert f"(the profile's python: {tmp_path}) is a directory" in error.message
    assert f"{tmp_path}/bin/python" in error.message


def test_trtllm_needs_tensorrt_llm(tiny_model):
    # The dev venv has Dynamo (so dynamo.trtllm is found) but TensorRT-LLM cannot be installed.
    error = failure(plan_for(tiny_model, engine="trtllm"))
    assert error.message.startswith("TensorRT-LLM (tensorrt_llm) is not importable by ")
    assert 'pip install "ai-dynamo[trtllm]==1.6.1"' in error.hint
    assert "--engine mocker" in error.hint


# --- local models ------------------------------------------------------------------------


def test_a_missing_model_directory(tmp_path):
    error = failure(plan_for(tmp_path / "nope"))
    assert error.message == f"model directory {tmp_path / 'nope'} does not exist."
    assert "--model" in error.hint


def test_a_model_directory_without_config_json(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{}")
    error = failure(plan_for(tmp_path))
    assert error.message == f"model directory {tmp_path} has no config.json, " + (
        "which the workers need to load it."
    )


def test_a_model_that_is_a_file(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert "is a file" in failure(plan_for(tmp_path / "config.json")).message


@pytest.mark.parametrize(
    ("model", "local"),
    [
        ("Qwen/Qwen3-0.6B", True),
        ("gpt2", False),
        ("/models/x", True),
        ("./x", True),
        ("../x", True),
        ("~/x", True),
        ("a/b/c", True),
        ("meta-llama/Llama-3.1-8B-Instruct", False),
    ],
)
def test_local_paths_and_hub_ids(model, local, tmp_path, monkeypatch):
    (tmp_path / "Qwen" / "Qwen3-0.6B").mkdir(parents=True)  # an existing dir wins over an id
    monkeypatch.chdir(tmp_path)
    assert is_local_path(model) is local


# --- Hugging Face models -----------------------------------------------------------------


@pytest.fixture
def hf_home(tmp_path, monkeypatch) -> Path:
    """A private, empty HF cache; HF_ENDPOINT is a closed loopback port (no network here)."""
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_ports(1, exclude=set())[0]}")
    return home


def cache_entry(hub: Path, repo_id: str, files: dict[str, str]) -> Path:
    """The layout huggingface_hub writes: refs/main names a snapshot folder of files."""
    repo = hub / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    for name, text in files.items():
        (snapshot / name).write_text(text)
    return snapshot


def test_offline_and_not_cached(hf_home):
    error = failure(plan_for("acme/tiny-chat"), offline=True)
    assert error.message == (
        f"model acme/tiny-chat is not in the Hugging Face cache ({hf_home / 'hub'}) "
        "and trtl is offline."
    )
    assert "`hf download acme/tiny-chat`" in error.hint


def test_hf_hub_offline_in_the_environment_means_offline(hf_home, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "trtl is offline" in failure(plan_for("acme/tiny-chat")).message


def test_hf_hub_offline_in_the_profile_env_means_offline(hf_home):
    plan = plan_for("acme/tiny-chat", overrides=["env.HF_HUB_OFFLINE=1"])
    assert "trtl is offline" in failure(plan).message


def test_not_cached_and_no_network_is_one_sentence(hf_home):
    said: list[str] = []
    error = failure(plan_for("acme/tiny-chat"), echo=said.append)
    assert said == [
        f"downloading the config, tokenizer and chat template of acme/tiny-chat into "
        f"{hf_home / 'hub'} (no weights: the mocker needs none)"
    ]
    assert error.message.startswith("could not download acme/tiny-chat from the Hugging Face Hub: ")
    assert "Connect" in error.message and "\n" not in error.message
    assert "hf download acme/tiny-chat" in error.hint


def test_a_cached_model_needs_no_network(hf_home):
    cache_entry(hf_home / "hub", "acme/tiny-chat", {"config.json": "{}"})
    plan = plan_for("acme/tiny-chat")
    assert run_preflight(plan, offline=True, echo=pytest.fail) == []
    assert run_preflight(plan, echo=pytest.fail) == []


def test_a_cached_snapshot_without_config_json_is_fetched_again(hf_home):
    # An interrupted download leaves a snapshot folder without config.json.
    cache_entry(hf_home / "hub", "acme/tiny-chat", {"tokenizer.json": "{}"})
    assert "trtl is offline" in failure(plan_for("acme/tiny-chat"), offline=True).message


def test_the_mocker_fetches_config_tokenizer_and_template_only(hf_home, monkeypatch):
    import fnmatch

    asked: dict = {}

    def snapshot_download(repo_id, **kwargs):
        if kwargs.get("local_files_only"):
            raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")
        asked.update(kwargs)
        return str(cache_entry(hf_home / "hub", repo_id, {"config.json": "{}"}))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    assert run_preflight(plan_for("acme/tiny-chat"), echo=lambda _: None)

    def fetched(name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in asked["allow_patterns"])

    for needed in ("config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        assert fetched(needed), needed
    for weights in ("model.safetensors", "model-00001-of-00002.safetensors", "pytorch_model.bin"):
        assert not fetched(weights), weights


def test_what_the_mocker_fetched_is_not_enough_for_a_real_engine(hf_home):
    files = {"config.json": "{}", "tokenizer.json": "{}", "tokenizer_config.json": "{}"}
    snapshot = cache_entry(hf_home / "hub", "acme/tiny-chat", files)
    with pytest.raises(PreflightError) as info:
        ensure_model("acme/tiny-chat", offline=True, weights=True)
    assert "acme/tiny-chat has no weights (only a mocker's files) in the Hugging" in str(
        info.value.message
    )
    assert ensure_model("acme/tiny-chat", offline=True, weights=False).path == snapshot
    (snapshot / "model.safetensors").write_bytes(b"")
    assert ensure_model("acme/tiny-chat", offline=True).source == "cache"


def test_the_workers_hf_home_decides_the_cache(hf_home, tmp_path):
    theirs = tmp_path / "their-hf"
    cache_entry(theirs / "hub", "acme/tiny-chat", {"config.json": "{}"})
    plan = plan_for("acme/tiny-chat", overrides=[f"env.HF_HOME={theirs}"])
    assert run_preflight(plan, offline=True, echo=pytest.fail) == []


def test_hf_cache_dir_follows_huggingface_hub(tmp_path):
    assert hf_cache_dir({"HF_HUB_CACHE": "/c", "HF_HOME": "/h"}) == Path("/c")
    assert hf_cache_dir({"HF_HOME": "/h"}) == Path("/h/hub")
    assert hf_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/huggingface/hub")


# --- helpers -----------------------------------------------------------------------------


def _can_list_sockets() -> bool:
    try:
        psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return False
    return True
