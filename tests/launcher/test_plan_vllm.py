"""The local plan of a vLLM graph: loopback settings, ports, and CPU mode without GPUs.

GPUs come from fake inventories (CI has none); CPU cores from PlanOptions.cpu_cores, so
the assignments do not depend on the machine running the tests.
"""

from __future__ import annotations

import json

import pytest
from trtl.launcher.gpus.inventory import Gpu, Inventory
from trtl.launcher.planning.cpu_mode import cpu_binds
from trtl.launcher.planning.plan import PlanOptions, build_plan
from trtl.profiles.engines import LOCAL_DEFAULT_ENV, LOCAL_ONLY_ENV
from trtl.profiles.errors import PlacementError, ProfileError
from trtl.profiles.loader import load_profile

NO_GPU = Inventory((), "NVML Shared Library Not Found")
TWO_CORES = (0, 1)


def gpus(count: int, used_mib: int = 0) -> Inventory:
    return Inventory(tuple(Gpu(i, f"GPU-{i:08x}", "H100", 81559, used_mib) for i in range(count)))


def plan(name: str = "disagg", *sets: str, inventory=NO_GPU, cores=TWO_CORES, **options):
    profile = load_profile(name, engine="vllm", overrides=list(sets))
    return build_plan(profile, PlanOptions(cpu_cores=cores, **options), inventory)


def procs(result) -> dict:
    return {p.name: p for p in result.processes}


def test_disagg_on_two_cores_runs_both_engines_on_core_1(isolated_dirs):
    # Core 0 is left to the frontend and the rest: the pair busy-polls (docs/vllm-cpu.md).
    result = plan("disagg")
    assert result.cpu_only and result.to_json()["gpu_placement"]["cpu_only"] is True
    prefill, decode = procs(result)["prefill-0"], procs(result)["decode-0"]
    for proc, core in ((prefill, "1"), (decode, "1")):
        assert proc.gpus == []
        assert proc.gpu_reason == f"no GPU: vLLM runs on CPU, cores {core}"
        env = proc.env
        assert env["VLLM_CPU_OMP_THREADS_BIND"] == core
        assert env["VLLM_CPU_KVCACHE_SPACE"] == "1"
        assert env["VLLM_HOST_IP"] == env["VLLM_NIXL_SIDE_CHANNEL_HOST"] == "127.0.0.1"
        assert env["UCX_TLS"] == "tcp,self,sm" and env["UCX_NET_DEVICES"] == "lo"
        assert env["VLLM_NIXL_SIDE_CHANNEL_PORT"] == str(proc.ports["nixl"])
        assert "CUDA_VISIBLE_DEVICES" not in env
    assert result.notes[0].startswith("no GPU: vLLM runs on CPU, 1 GiB of KV cache per worker")
    assert "scripts/setup_vllm_cpu.sh" in result.notes[0]


def test_every_port_of_the_plan_is_distinct(isolated_dirs):
    result = plan("disagg_router")
    ports = [port for proc in result.processes for port in proc.ports.values()]
    assert len(ports) == len(set(ports)) == 1 + 3 * 3  # frontend; system, nixl, kv_events each
    for proc in result.processes[1:]:
        assert set(proc.ports) == {"system", "nixl", "kv_events"}


def test_kv_events_are_published_on_a_loopback_port_per_replica(isolated_dirs):
    for proc in plan("agg_router", cores=(0, 1, 2, 3)).processes[1:]:
        argv = proc.argv
        config = json.loads(argv[argv.index("--kv-events-config") + 1])
        assert config["endpoint"] == f"tcp://127.0.0.1:{proc.ports['kv_events']}"
        assert "nixl" not in proc.ports  # aggregated workers move no KV blocks
        assert "VLLM_NIXL_SIDE_CHANNEL_PORT" not in proc.env and "UCX_TLS" not in proc.env


def test_an_aggregated_worker_gets_every_core_and_its_own_kv_cache_size(isolated_dirs):
    worker = procs(plan("agg", "vllm.cpu_kv_cache_gib=3", cores=(0, 1, 2, 3)))["worker-0"]
    assert worker.env["VLLM_CPU_OMP_THREADS_BIND"] == "0-3"
    assert worker.env["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert worker.env["VLLM_HOST_IP"] == "127.0.0.1"


def binds_of(result) -> dict[str, str]:
    return {n: p.env["VLLM_CPU_OMP_THREADS_BIND"] for n, p in procs(result).items() if p.mode}


def test_more_engines_than_cores_share_them_and_say_so(isolated_dirs):
    # 2 prefill + 1 decode on 2 cores, the first kept for the rest (they busy-poll).
    result = plan("disagg_router")
    assert binds_of(result) == {"prefill-0": "1", "prefill-1": "1", "decode-0": "1"}
    assert any(note.startswith("3 vLLM engines share 1 CPU core,") for note in result.notes)
    result = plan("disagg_router", cores=(0, 1, 2))
    assert binds_of(result) == {"prefill-0": "1", "prefill-1": "2", "decode-0": "1"}
    assert any(note.startswith("3 vLLM engines share 2 CPU cores") for note in result.notes)


@pytest.mark.parametrize(
    ("replicas", "cores", "binds", "shared"),
    [
        ([("a-0", 1), ("b-0", 1)], [0, 1, 2, 3, 4], {"a-0": "0-2", "b-0": "3-4"}, False),
        ([("a-0", 2)], [4, 5, 6, 7], {"a-0": "4-5|6-7"}, False),  # one core list per TP rank
        ([("a-0", 1)], [0, 2, 3, 5], {"a-0": "0,2-3,5"}, False),
        ([("a-0", 2), ("b-0", 1)], [0, 1], {"a-0": "0|1", "b-0": "0"}, True),
    ],
)
def test_cpu_binds(replicas, cores, binds, shared):
    assert cpu_binds(replicas, cores) == (binds, shared)


def test_with_gpus_vllm_is_placed_like_tensorrt_llm(isolated_dirs):
    result = plan("disagg", inventory=gpus(2))
    assert not result.cpu_only
    prefill, decode = procs(result)["prefill-0"], procs(result)["decode-0"]
    assert (prefill.gpus, decode.gpus) == ([0], [1])
    assert prefill.env["CUDA_VISIBLE_DEVICES"] == "0"
    for env in (prefill.env, decode.env):
        assert not {"VLLM_CPU_OMP_THREADS_BIND", "VLLM_CPU_KVCACHE_SPACE", "UCX_TLS"} & set(env)
        assert env["UCX_NET_DEVICES"] == "lo"  # GPU-to-GPU transports stay UCX's choice
    assert not any(note.startswith("no GPU") for note in result.notes)


def test_too_few_gpus_is_still_refused_for_vllm(isolated_dirs):
    with pytest.raises(PlacementError, match="disagg needs 2 GPUs, this machine has 1"):
        plan("disagg", inventory=gpus(1))


def test_tensorrt_llm_without_gpus_is_still_refused(isolated_dirs):
    profile = load_profile("disagg")
    with pytest.raises(PlacementError, match="this machine has no GPU"):
        build_plan(profile, PlanOptions(), NO_GPU)


def test_an_empty_cuda_visible_devices_runs_vllm_on_cpu(isolated_dirs):
    result = plan("agg", inventory=gpus(2), inherited_cvd="")
    assert result.cpu_only and procs(result)["worker-0"].gpus == []


def test_gpus_named_on_a_machine_without_any_are_refused(isolated_dirs):
    with pytest.raises(PlacementError, match="--gpus 0 names GPU 0"):
        plan("agg", gpus="0")


def test_sharing_a_gpu_splits_gpu_memory_utilization(isolated_dirs):
    result = plan("disagg", inventory=gpus(1), share_gpus=True)
    for proc in result.processes[1:]:
        argv = proc.argv
        assert argv[argv.index("--gpu-memory-utilization") + 1] == "0.42"  # 0.85 / 2
        assert argv.count("--gpu-memory-utilization") == 1


def test_a_gpu_is_busy_by_vllms_own_memory_share(isolated_dirs):
    # 0.85 of 81559 MiB leaves 12233 MiB for others; 20000 MiB in use is too much.
    with pytest.raises(PlacementError, match=r"free_gpu_memory_fraction 0\.85"):
        plan("agg", inventory=gpus(1, used_mib=20000))
    # At 0.7 the same GPU leaves 24467 MiB to others: usable.
    fits = plan(
        "agg",
        "workers.worker.engine_config.kv_cache_config.free_gpu_memory_fraction=0.7",
        inventory=gpus(1, used_mib=20000),
    )
    assert procs(fits)["worker-0"].gpus == [0]


def test_the_profile_may_tune_ucx_but_not_what_trtl_decides(isolated_dirs):
    prefill = procs(plan("disagg", "workers.prefill.env.UCX_NET_DEVICES=mlx5_0:1"))["prefill-0"]
    assert prefill.env["UCX_NET_DEVICES"] == "mlx5_0:1"
    assert "UCX_NET_DEVICES" in LOCAL_DEFAULT_ENV
    with pytest.raises(ProfileError) as info:
        plan("disagg", "env.VLLM_CPU_KVCACHE_SPACE=4")
    assert info.value.message.startswith("env.VLLM_CPU_KVCACHE_SPACE is set by trtl (")
    assert "vllm.cpu_kv_cache_gib" in LOCAL_ONLY_ENV["VLLM_CPU_KVCACHE_SPACE"]


def test_every_variable_trtl_adds_to_a_vllm_worker_is_listed(isolated_dirs):
    listed = {*LOCAL_ONLY_ENV, *LOCAL_DEFAULT_ENV}
    for inventory in (NO_GPU, gpus(8)):
        for proc in plan("disagg_router", inventory=inventory).processes[1:]:
            assert set(proc.env) <= listed, set(proc.env) - listed


BUSY = "vLLM prefill/decode workers on CPU busy-poll about a core each"


def test_a_prefill_decode_pair_on_cpu_leaves_the_first_core_to_the_rest(isolated_dirs):
    # Measured (docs/vllm-cpu.md): with the pair on both of 2 cores, a 0.5 s CPU loop beside
    # it took 146 s; with the pair on one core the other stays free.
    result = plan("disagg", cores=(0, 1, 2, 3))
    assert binds_of(result) == {"prefill-0": "1-2", "decode-0": "3"}
    note = next(note for note in result.notes if note.startswith(BUSY))
    assert note.endswith("core 0 is kept out of their binds for the frontend, trtl and your "
                         "shell, the engines run on cores 1-3.")  # fmt: skip
    assert not any(note.startswith("2 vLLM engines share") for note in result.notes)
    # Aggregated workers idle quietly: every core is theirs, and nothing is said.
    agg = plan("agg", cores=(0, 1, 2, 3))
    assert binds_of(agg) == {"worker-0": "0-3"}
    assert not any(note.startswith(BUSY) for note in agg.notes)


def test_a_prefill_decode_pair_on_one_core_is_said_to_crawl(isolated_dirs):
    result = plan("disagg", cores=(5,))
    assert binds_of(result) == {"prefill-0": "5", "decode-0": "5"}
    note = next(note for note in result.notes if note.startswith(BUSY))
    assert "on one core everything else, `trtl status` included, slows to a crawl" in note


def test_trtl_plan_shows_the_cpu_run(run_trtl, isolated_dirs, monkeypatch):
    monkeypatch.setattr("trtl.launcher.gpus.inventory.read_inventory", lambda: NO_GPU)
    result = run_trtl("plan", "disagg", "--engine", "vllm")
    assert result.exit_code == 0, result.output
    assert "note: no GPU: vLLM runs on CPU" in result.stderr
    assert f"note: {BUSY}" in result.stderr
    out = result.stdout
    assert "python -m dynamo.vllm" in out or "-m dynamo.vllm" in out
    assert "why   no GPU: vLLM runs on CPU, cores" in out
    assert "env   VLLM_CPU_OMP_THREADS_BIND=" in out
    assert "kv_role" in out and "nixl=" in out
