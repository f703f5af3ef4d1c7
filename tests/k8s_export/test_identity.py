"""The identity promise: a role runs the same arguments locally and in the cluster.

Compared against `trtl plan --json` for every built-in profile and both engines: the
only differences are the ones `profiles.identity` lists.
"""

from __future__ import annotations

import json

import pytest
from k8s_helpers import BUILTINS, ENGINES, IMAGE, VERSIONS
from trtl.k8s_export import render
from trtl.k8s_export.configmaps import MOUNT_DIR
from trtl.launcher.gpus.inventory import Gpu, Inventory
from trtl.profiles.engines import LOCAL_DEFAULT_ENV, LOCAL_ONLY_ENV
from trtl.profiles.engines.vllm import KV_EVENTS_ENDPOINT, KV_EVENTS_FLAG
from trtl.profiles.identity import (
    CLUSTER_ONLY,
    LOCAL_ONLY_FLAGS,
    SAME_ARGS_ELSEWHERE,
)

# What the local plan may add to a worker's environment (LOCAL_DEFAULT_ENV only where the
# profile leaves the variable unset, which the built-ins all do).
LOCAL_ENV = {*LOCAL_ONLY_ENV, *LOCAL_DEFAULT_ENV}


@pytest.fixture
def eight_gpus(monkeypatch):
    gpus = tuple(Gpu(i, f"GPU-{i:08x}-0-0-0-0", "H100", 81559, 0) for i in range(8))
    monkeypatch.setattr("trtl.launcher.gpus.inventory.read_inventory", lambda: Inventory(gpus))


@pytest.fixture
def no_gpu(monkeypatch):
    """A workstation without GPU, whatever this machine has."""
    monkeypatch.setattr(
        "trtl.launcher.gpus.inventory.read_inventory", lambda: Inventory((), "no NVIDIA driver")
    )
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def same_kv_events_setting(local: list[str], exported: list[str]) -> list[str]:
    """``local`` with its KV events endpoint checked and put back to the cluster's.

    The one argument whose value differs (SAME_ARGS_ELSEWHERE): replicas on one machine
    each publish on a loopback port of their own; each pod uses vLLM's default.
    """
    if KV_EVENTS_FLAG not in local:
        return local
    assert KV_EVENTS_FLAG in SAME_ARGS_ELSEWHERE
    at = local.index(KV_EVENTS_FLAG) + 1
    mine, theirs = json.loads(local[at]), json.loads(exported[at])
    assert mine.pop("endpoint").startswith("tcp://127.0.0.1:")
    assert theirs.pop("endpoint") == KV_EVENTS_ENDPOINT
    assert mine == theirs
    return [*local[:at], exported[at], *local[at + 1 :]]


def plan_json(run_trtl, name, engine, *extra):
    result = run_trtl("plan", name, "--engine", engine, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def without_local_flags(args: list[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in LOCAL_ONLY_FLAGS:
            skip = True
        else:
            out.append(arg)
    return out


def exported_components(name, engine, version):
    """{component name: (module, args, env, replicas, gpus, container keys)} of the export."""
    docs = render(
        __import__("trtl.profiles.loader").profiles.loader.load_profile(name, engine=engine),
        version=version,
        image=IMAGE,
    )
    dgd = docs[-1]
    out = {}
    if version == "v1beta1":
        graph_env = {e["name"]: e["value"] for e in dgd["spec"].get("env", [])}
        for c in dgd["spec"]["components"]:
            main = c["podTemplate"]["spec"]["containers"][0]
            gpus = main.get("resources", {}).get("limits", {}).get("nvidia.com/gpu")
            env = {**graph_env, **{e["name"]: e["value"] for e in main.get("env", [])}}
            out[c["name"]] = (main["command"], main["args"], env, c["replicas"], gpus, main)
    else:
        graph_env = {e["name"]: e["value"] for e in dgd["spec"].get("envs", [])}
        for key, s in dgd["spec"]["services"].items():
            main = s["extraPodSpec"]["mainContainer"]
            gpus = s.get("resources", {}).get("limits", {}).get("gpu")
            env = {**graph_env, **{e["name"]: e["value"] for e in s.get("envs", [])}}
            out[key] = (main["command"], main["args"], env, s["replicas"], gpus, main)
    return out


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", BUILTINS)
def test_export_runs_what_plan_runs(run_trtl, eight_gpus, name, engine, version):
    plan = plan_json(run_trtl, name, engine)
    exported = exported_components(name, engine, version)
    local_config_dir = None
    replicas: dict[str, int] = {}
    for proc in plan["processes"]:
        replicas[proc["role"]] = replicas.get(proc["role"], 0) + 1
        component = "frontend" if proc["role"] == "frontend" else proc["role"].replace("_", "-")
        command, args, env, _, gpus, _ = exported[component]
        # python -m MODULE: the module is the same; the interpreter is python3 in the image.
        assert command == ["python3", "-m", proc["argv"][2]]
        local = without_local_flags(proc["argv"][3:])
        if "--extra-engine-args" in local:
            i = local.index("--extra-engine-args")
            local_config_dir = local[i + 1].rsplit("/", 1)[0]
            assert args[i + 1] == f"{MOUNT_DIR}/{local[i + 1].rsplit('/', 1)[1]}"
            local[i + 1] = args[i + 1]
        assert args == same_kv_events_setting(local, args)
        assert env == {k: v for k, v in proc["env"].items() if k not in LOCAL_ENV}
        assert int(gpus or 0) == len(proc["gpus"])
    for component, (_, _, _, count, _, _) in exported.items():
        role = "frontend" if component == "frontend" else component
        assert count == replicas[role]
    if local_config_dir:
        assert local_config_dir.endswith("/engine")
        assert all(path.startswith(local_config_dir) for path in plan["files"])


@pytest.mark.parametrize("engine", ENGINES)
def test_cluster_only_additions_are_the_listed_ones(engine):
    exported = exported_components("disagg", engine, "v1beta1")
    listed = {"image", "workingDir", "envFrom", "resources", "volumeMounts"}
    for component, (*_, main) in exported.items():
        assert set(main) - {"name", "command", "args", "env"} <= listed, component
    assert {"image", "resources", "envFrom", "workingDir", "engine config mount"} <= set(
        CLUSTER_ONLY
    )
    worker = exported["decode"][5]
    assert worker["envFrom"] == [{"secretRef": {"name": "hf-token-secret"}}]
    assert worker["workingDir"] == "/workspace"
    gpu = worker["resources"]["limits"].get("nvidia.com/gpu")
    assert gpu == (None if engine == "mocker" else "1")  # the mocker needs no GPU


def test_router_mode_and_migration_limit_are_on_the_frontend():
    exported = exported_components("disagg_router", "trtllm", "v1beta1")
    _, args, *_ = exported["frontend"]
    assert args == ["--router-mode", "kv", "--migration-limit", "3"]
    for role in ("prefill", "decode"):
        assert "--migration-limit" not in exported[role][1]
        assert exported[role][1][-2:] == ["--publish-kv-events", "--publish-metrics"]


@pytest.mark.parametrize("engine", ENGINES)
def test_no_local_only_setting_reaches_the_export(engine):
    for name in BUILTINS:
        text = json.dumps(exported_components(name, engine, "v1beta1"))
        for key in [*LOCAL_ONLY_FLAGS, *LOCAL_ENV]:
            assert key not in text, (name, key)
        assert "127.0.0.1" not in text


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", BUILTINS)
def test_vllm_on_a_machine_without_gpu_runs_what_the_gpu_cluster_runs(
    run_trtl, no_gpu, name, version
):
    """The CPU-only workstation and the GPU cluster differ only in the listed env."""
    plan = plan_json(run_trtl, name, "vllm", "--python", "/venv/bin/python")
    assert plan["gpu_placement"]["cpu_only"] is True
    exported = exported_components(name, "vllm", version)
    for proc in plan["processes"]:
        component = "frontend" if proc["role"] == "frontend" else proc["role"]
        _, args, env, _, gpus, _ = exported[component]
        assert args == same_kv_events_setting(without_local_flags(proc["argv"][3:]), args)
        assert env == {k: v for k, v in proc["env"].items() if k not in LOCAL_ENV}
        if component != "frontend":
            assert proc["gpus"] == [] and gpus == "1"  # the cluster still gives it a GPU
            assert {"VLLM_CPU_KVCACHE_SPACE", "VLLM_CPU_OMP_THREADS_BIND"} <= set(proc["env"])
