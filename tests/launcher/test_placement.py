"""Tests for ``launcher.gpus.placement``: which GPUs trtl may use, and which replica gets which.

Inventories are built as data, so these tests need no GPU. Messages are asserted whole,
because they are what the user reads.
"""

from __future__ import annotations

import pytest
from trtl.launcher.gpus.inventory import Gpu, GpuProcess, Inventory
from trtl.launcher.gpus.placement import (
    Demand,
    Placement,
    cuda_visible_devices,
    place,
    select_gpus,
    unusable,
)
from trtl.profiles.errors import PlacementError

NO_DRIVER = "no NVIDIA driver: libnvidia-ml.so.1 not found"
HINT = (
    "Run it with --engine mocker to try the graph without GPUs, or choose other GPUs with --gpus."
)
# Where the GPUs there are could hold the graph if shared, the hint names --share-gpus first.
SHARE_HINT = (
    "Run it with --share-gpus to pack the workers onto fewer GPUs (development only), "
    "with --engine mocker to try the graph without GPUs, or choose other GPUs with --gpus."
)


def uuid(index: int) -> str:
    # All share the prefix "GPU-0", so "GPU-0" is ambiguous and "GPU-01" names GPU 1.
    return f"GPU-{index:02d}ab12cd-0000-4000-8000-{index:012d}"


def inventory(count: int, reason: str | None = None) -> Inventory:
    gpus = tuple(Gpu(i, uuid(i), "NVIDIA H200", 143771, 0) for i in range(count))
    return Inventory(gpus, reason if count == 0 else None)


def indices(gpus: tuple[Gpu, ...]) -> list[int]:
    return [gpu.index for gpu in gpus]


def replicas(*names: str, gpus: int = 1) -> list[Demand]:
    return [Demand(name, gpus) for name in names]


def placed(result: Placement) -> dict[str, list[int]]:
    return {name: indices(gpus) for name, gpus in result.assignments.items()}


# --- place: fitting graphs --------------------------------------------------------------


def test_agg_takes_the_first_gpu() -> None:
    result = place(replicas("worker-0"), inventory(2).gpus, profile="agg", source="all GPUs")

    assert placed(result) == {"worker-0": [0]}
    assert result.available == inventory(2).gpus
    assert result.source == "all GPUs"


def test_disagg_puts_prefill_and_decode_on_different_gpus() -> None:
    result = place(
        replicas("prefill-0", "decode-0"), inventory(2).gpus, profile="disagg", source="all GPUs"
    )

    assert placed(result) == {"prefill-0": [0], "decode-0": [1]}


def test_disagg_router_uses_three_gpus_in_order() -> None:
    demands = replicas("prefill-0", "decode-0", "decode-1")

    result = place(demands, inventory(8).gpus, profile="disagg_router", source="all GPUs")

    assert placed(result) == {"prefill-0": [0], "decode-0": [1], "decode-1": [2]}


def test_tensor_parallel_replica_picks_first_then_one_gpu_replicas() -> None:
    """Larger replicas choose first, so a one-GPU replica never splits a set they need."""
    demands = [Demand("prefill-0", 1), Demand("decode-0", 2)]

    result = place(demands, inventory(8).gpus, profile="disagg_tp2", source="all GPUs")

    assert placed(result) == {"prefill-0": [2], "decode-0": [0, 1]}
    assert list(result.assignments) == ["prefill-0", "decode-0"]  # profile order kept
    assert result.reasons == {
        "decode-0": "no 2 GPUs joined by NVLink are left; GPUs 0,1 talk over PCIe",
        "prefill-0": "a GPU of its own",
    }


def test_eight_gpus_hold_four_replicas_of_two() -> None:
    demands = replicas("decode-0", "decode-1", "decode-2", "decode-3", gpus=2)

    result = place(demands, inventory(8).gpus, profile="agg_tp2", source="all GPUs")

    assert placed(result) == {
        "decode-0": [0, 1],
        "decode-1": [2, 3],
        "decode-2": [4, 5],
        "decode-3": [6, 7],
    }


def test_assignment_follows_the_selected_order() -> None:
    gpus, source = select_gpus(inventory(8), "5,3", None)

    result = place(replicas("prefill-0", "decode-0"), gpus, profile="disagg", source=source)

    assert placed(result) == {"prefill-0": [5], "decode-0": [3]}
    assert result.source == "--gpus 5,3"


# --- place: too few GPUs ----------------------------------------------------------------


def too_few(
    demands: list[Demand],
    gpus: tuple[Gpu, ...],
    *,
    source: str,
    why_empty: str | None = None,
    hint: str = SHARE_HINT,
) -> PlacementError:
    """Place a "disagg" graph that cannot fit; check the hint and return the error."""
    with pytest.raises(PlacementError) as caught:
        place(demands, gpus, profile="disagg", source=source, why_empty=why_empty)
    assert caught.value.hint == hint
    assert caught.value.exit_code == 2
    return caught.value


def test_too_few_hint_names_the_role_with_replicas_to_lower() -> None:
    demands = replicas("prefill-0", "prefill-1", "decode-0")
    with pytest.raises(PlacementError) as caught:
        place(demands, inventory(2).gpus, profile="disagg_router", source="all GPUs")
    assert caught.value.hint == (
        "Run it with --share-gpus to pack the workers onto fewer GPUs (development only), "
        "with --engine mocker to try the graph without GPUs, choose other GPUs with --gpus, "
        "or fewer replicas with --set workers.prefill.replicas=1."
    )


def test_too_few_gpus_on_the_machine() -> None:
    error = too_few(replicas("prefill-0", "decode-0"), inventory(1).gpus, source="all GPUs")

    assert error.message == (
        "disagg needs 2 GPUs, this machine has 1: prefill-0 needs 1, decode-0 needs 1."
    )


def test_too_few_gpus_selected_by_the_gpus_option() -> None:
    gpus, source = select_gpus(inventory(2), "0", None)

    error = too_few(replicas("prefill-0", "decode-0"), gpus, source=source)

    assert error.message == (
        "disagg needs 2 GPUs, but only 1 is selected by --gpus 0: "
        "prefill-0 needs 1, decode-0 needs 1."
    )


def test_too_few_gpus_selected_by_cuda_visible_devices() -> None:
    gpus, source = select_gpus(inventory(8), None, "0")

    error = too_few(replicas("prefill-0", "decode-0"), gpus, source=source)

    assert error.message == (
        "disagg needs 2 GPUs, but only 1 is selected by CUDA_VISIBLE_DEVICES=0: "
        "prefill-0 needs 1, decode-0 needs 1."
    )


def test_no_gpu_selected_by_empty_cuda_visible_devices() -> None:
    gpus, source = select_gpus(inventory(2), None, "")

    error = too_few(replicas("prefill-0", "decode-0"), gpus, source=source, hint=HINT)

    assert error.message == (
        'disagg needs 2 GPUs, but none is selected by CUDA_VISIBLE_DEVICES="": '
        "prefill-0 needs 1, decode-0 needs 1."
    )


def test_no_gpu_on_the_machine_quotes_the_reason() -> None:
    machine = inventory(0, NO_DRIVER)
    gpus, source = select_gpus(machine, None, None)

    error = too_few(replicas("worker-0"), gpus, source=source, why_empty=machine.reason, hint=HINT)

    assert error.message == (
        "disagg needs 1 GPU, this machine has no GPU "
        "(no NVIDIA driver: libnvidia-ml.so.1 not found): worker-0 needs 1."
    )


def test_no_gpu_without_a_reason() -> None:
    error = too_few(replicas("worker-0"), (), source="all GPUs", hint=HINT)

    assert error.message == "disagg needs 1 GPU, this machine has no GPU: worker-0 needs 1."


def test_tensor_parallel_counts_every_gpu() -> None:
    demands = [Demand("prefill-0", 1), Demand("decode-0", 2)]

    error = too_few(demands, inventory(2).gpus, source="all GPUs")

    assert error.message == (
        "disagg needs 3 GPUs, this machine has 2: prefill-0 needs 1, decode-0 needs 2."
    )


def test_demands_the_profile_should_have_rejected_are_bugs() -> None:
    with pytest.raises(ValueError, match="the least is 1"):
        place([Demand("worker-0", 0)], inventory(1).gpus, profile="agg", source="all GPUs")
    with pytest.raises(ValueError, match="unique"):
        place(replicas("w", "w"), inventory(2).gpus, profile="agg", source="all GPUs")


# --- select_gpus ------------------------------------------------------------------------

LISTING_2 = "GPU 0 (NVIDIA H200, GPU-00ab12cd) and GPU 1 (NVIDIA H200, GPU-01ab12cd)"


def test_all_gpus_when_nothing_is_requested() -> None:
    assert select_gpus(inventory(2), None, None) == (inventory(2).gpus, "all GPUs")


@pytest.mark.parametrize(
    ("requested", "expected", "source"),
    [
        ("0,1", [0, 1], "--gpus 0,1"),
        (" 1 , 0 ", [1, 0], "--gpus 1,0"),  # spaces tolerated, order kept
        (uuid(1), [1], f"--gpus {uuid(1)}"),
        ("GPU-01", [1], "--gpus GPU-01"),  # unambiguous prefix
        ("gpu-01AB", [1], "--gpus gpu-01AB"),  # case does not matter, as in CUDA
        (f"0,{uuid(1)}", [0, 1], f"--gpus 0,{uuid(1)}"),
    ],
)
def test_gpus_option_selects(requested: str, expected: list[int], source: str) -> None:
    gpus, got_source = select_gpus(inventory(2), requested, None)

    assert indices(gpus) == expected
    assert got_source == source


def test_gpus_option_wins_over_cuda_visible_devices() -> None:
    gpus, source = select_gpus(inventory(2), "1", "0")

    assert (indices(gpus), source) == ([1], "--gpus 1")


@pytest.mark.parametrize(
    ("cvd", "expected", "source"),
    [
        ("1", [1], "CUDA_VISIBLE_DEVICES=1"),
        ("1,0", [1, 0], "CUDA_VISIBLE_DEVICES=1,0"),
        ("GPU-00", [0], "CUDA_VISIBLE_DEVICES=GPU-00"),
        ("", [], 'CUDA_VISIBLE_DEVICES=""'),
        ("-1", [], "CUDA_VISIBLE_DEVICES=-1"),
        ("none", [], "CUDA_VISIBLE_DEVICES=none"),
    ],
)
def test_inherited_cuda_visible_devices_selects(cvd: str, expected: list[int], source: str) -> None:
    gpus, got_source = select_gpus(inventory(2), None, cvd)

    assert indices(gpus) == expected
    assert got_source == source


def bad_selection(machine: Inventory, requested: str | None, cvd: str | None = None) -> str:
    with pytest.raises(PlacementError) as caught:
        select_gpus(machine, requested, cvd)
    assert caught.value.exit_code == 2
    return caught.value.message


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        (
            "0,5",
            f"--gpus 0,5 names GPU 5, which this machine does not have; choose from {LISTING_2}.",
        ),
        (
            "GPU-ff",
            "--gpus GPU-ff names GPU-ff, which matches no GPU on this machine; "
            f"choose from {LISTING_2}.",
        ),
        (
            "GPU-0",
            f"--gpus GPU-0 names GPU-0, which could be GPU 0 or GPU 1; choose from {LISTING_2}.",
        ),
        (
            f"0,{uuid(0)}",
            f"--gpus 0,{uuid(0)} names GPU 0 twice (0 and {uuid(0)}); choose from {LISTING_2}.",
        ),
        ("1,1", f"--gpus 1,1 names GPU 1 twice (1 and 1); choose from {LISTING_2}."),
        (
            "0,,1",
            f"--gpus 0,,1 has an empty entry between commas; choose from {LISTING_2}.",
        ),
        ("", f'--gpus "" names no GPU; choose from {LISTING_2}.'),
        ("  ", f'--gpus "" names no GPU; choose from {LISTING_2}.'),
        ("0,", f"--gpus 0, has an empty entry between commas; choose from {LISTING_2}."),
        (
            "MIG-4b1e6c3a-5d2f-5a9b-8c7d-0e1f2a3b4c5d",
            "--gpus MIG-4b1e6c3a-5d2f-5a9b-8c7d-0e1f2a3b4c5d names MIG instance "
            "MIG-4b1e6c3a-5d2f-5a9b-8c7d-0e1f2a3b4c5d, but MIG instances are not supported "
            f"yet; choose from {LISTING_2}.",
        ),
        (
            "²",
            '--gpus ² names "²", which is neither a GPU index nor a UUID; '
            f"choose from {LISTING_2}.",
        ),
        (
            "-1",
            '--gpus -1 names "-1", which is neither a GPU index nor a UUID; '
            f"choose from {LISTING_2}.",
        ),
    ],
)
def test_bad_gpus_option(requested: str, message: str) -> None:
    assert bad_selection(inventory(2), requested) == message


def test_bad_cuda_visible_devices_says_to_unset_it() -> None:
    assert bad_selection(inventory(2), None, "3") == (
        "CUDA_VISIBLE_DEVICES=3 names GPU 3, which this machine does not have; "
        f"unset it or pass --gpus, choosing from {LISTING_2}."
    )


def test_mig_in_cuda_visible_devices_is_not_supported_yet() -> None:
    assert bad_selection(inventory(1), None, "MIG-GPU-00ab12cd/1/0") == (
        "CUDA_VISIBLE_DEVICES=MIG-GPU-00ab12cd/1/0 names MIG instance MIG-GPU-00ab12cd/1/0, "
        "but MIG instances are not supported yet; unset it or pass --gpus, choosing from "
        "GPU 0 (NVIDIA H200, GPU-00ab12cd)."
    )


def test_bad_selection_on_a_machine_without_gpus_quotes_the_reason() -> None:
    assert bad_selection(inventory(0, NO_DRIVER), "0") == (
        "--gpus 0 names GPU 0, which this machine does not have; "
        "this machine has no GPU (no NVIDIA driver: libnvidia-ml.so.1 not found)."
    )


def test_listing_names_every_gpu_of_a_larger_machine() -> None:
    message = bad_selection(inventory(8), "8")

    assert message.endswith(
        "choose from GPU 0 (NVIDIA H200, GPU-00ab12cd), GPU 1 (NVIDIA H200, GPU-01ab12cd), "
        "GPU 2 (NVIDIA H200, GPU-02ab12cd), GPU 3 (NVIDIA H200, GPU-03ab12cd), "
        "GPU 4 (NVIDIA H200, GPU-04ab12cd), GPU 5 (NVIDIA H200, GPU-05ab12cd), "
        "GPU 6 (NVIDIA H200, GPU-06ab12cd) and GPU 7 (NVIDIA H200, GPU-07ab12cd)."
    )


# --- cuda_visible_devices ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [((0,), "0"), ((0, 1), "0,1"), ((6, 7), "6,7"), ((5, 3), "5,3"), ((), "")],
)
def test_cuda_visible_devices_lists_nvml_indices(chosen: tuple[int, ...], expected: str) -> None:
    gpus = tuple(inventory(8).gpus[i] for i in chosen)

    assert cuda_visible_devices(gpus) == expected


def test_each_replica_gets_its_own_cuda_visible_devices() -> None:
    demands = replicas("decode-0", "decode-1", gpus=2)

    result = place(demands, inventory(4).gpus, profile="agg_tp2", source="all GPUs")

    assert {name: cuda_visible_devices(g) for name, g in result.assignments.items()} == {
        "decode-0": "0,1",
        "decode-1": "2,3",
    }


# --- NVLink topology ----------------------------------------------------------------------


def islands(*groups: range, busy: dict[int, int] | None = None) -> tuple[Gpu, ...]:
    """GPUs whose NVLink peers are the other GPUs of their group (an NVLink island)."""
    busy = busy or {}
    gpus = []
    for group in groups:
        for i in group:
            gpus.append(
                Gpu(
                    i, uuid(i), "NVIDIA H100 80GB HBM3", 81559, busy.get(i, 0),
                    nvlink_peers=frozenset(set(group) - {i}),
                )
            )  # fmt: skip
    return tuple(sorted(gpus, key=lambda gpu: gpu.index))


TWO_ISLANDS = (range(0, 4), range(4, 8))  # 8 GPUs: NVLink within 0-3 and within 4-7


def test_tensor_parallel_replicas_stay_inside_an_nvlink_island() -> None:
    demands = [Demand("prefill-0", 1), *replicas("decode-0", "decode-1", gpus=4)]

    with_room = place(demands[1:], islands(*TWO_ISLANDS), profile="agg_tp4", source=ALL)
    assert placed(with_room) == {"decode-0": [0, 1, 2, 3], "decode-1": [4, 5, 6, 7]}
    assert with_room.reasons["decode-1"] == "GPUs 4,5,6,7 are joined by NVLink"

    # A one-GPU replica first in the profile would split island 0-3 if it picked first.
    gpus = islands(*TWO_ISLANDS)
    result = place([Demand("prefill-0", 1), Demand("decode-0", 4)], gpus, profile="x", source=ALL)
    assert placed(result) == {"prefill-0": [4], "decode-0": [0, 1, 2, 3]}


def test_nvlink_set_is_found_across_the_selection_order() -> None:
    """--gpus 0,4,1,5 interleaves two islands; each TP-2 replica still gets an NVLink pair."""
    machine = Inventory(islands(*TWO_ISLANDS))
    gpus, source = select_gpus(machine, "0,4,1,5", None)

    result = place(replicas("decode-0", "decode-1", gpus=2), gpus, profile="x", source=source)

    assert placed(result) == {"decode-0": [0, 1], "decode-1": [4, 5]}


def test_no_nvlink_set_left_falls_back_to_pcie_and_says_so() -> None:
    gpus = islands(range(0, 2), range(2, 3), range(3, 4))  # NVLink only between 0 and 1

    result = place(replicas("decode-0", "decode-1", gpus=2), gpus, profile="x", source=ALL)

    assert placed(result) == {"decode-0": [0, 1], "decode-1": [2, 3]}
    assert result.reasons["decode-1"] == (
        "no 2 GPUs joined by NVLink are left; GPUs 2,3 talk over PCIe"
    )


# --- busy GPUs and MIG -------------------------------------------------------------------

ALL = "all GPUs"


def busy_gpu(index: int, used_mib: int, *users: GpuProcess, mig: bool = False) -> Gpu:
    return Gpu(
        index, uuid(index), "NVIDIA H100 80GB HBM3", 81559, used_mib,
        mig_enabled=mig, processes=users,
    )  # fmt: skip


def test_busy_gpu_is_skipped_and_the_plan_says_why() -> None:
    gpus = (busy_gpu(0, 40960, GpuProcess(4242, 40448, "python3")), busy_gpu(1, 0), busy_gpu(2, 0))
    demands = [Demand("prefill-0", 1, 0.85), Demand("decode-0", 1, 0.85)]

    result = place(demands, gpus, profile="disagg", source=ALL)

    assert placed(result) == {"prefill-0": [1], "decode-0": [2]}
    assert result.skipped == {
        0: "GPU 0 is busy: python3 (pid 4242, 40448 MiB) uses 40960 of its 81559 MiB, "
        "more than the 12233 MiB (15%) that free_gpu_memory_fraction 0.85 leaves free"
    }


def test_memory_within_what_the_engine_leaves_free_is_not_busy() -> None:
    # 0.85 leaves 12233 MiB of 81559 free: a 600 MiB driver context or a small job fits.
    gpus = (busy_gpu(0, 12233, GpuProcess(7, 11000, "jupyter")),)

    result = place([Demand("worker-0", 1, 0.85)], gpus, profile="agg", source=ALL)

    assert placed(result) == {"worker-0": [0]}
    assert result.skipped == {}


def test_busy_gpu_leaving_too_few_is_refused_naming_the_process() -> None:
    gpus = (busy_gpu(0, 70000, GpuProcess(4242, 69000, "python3")), busy_gpu(1, 0))
    demands = [Demand("prefill-0", 1, 0.85), Demand("decode-0", 1, 0.85)]

    with pytest.raises(PlacementError) as caught:
        place(demands, gpus, profile="disagg", source="--gpus 0,1")

    assert caught.value.message == (
        "disagg needs 2 GPUs, but only 1 of the 2 GPUs selected by --gpus 0,1 is usable: "
        "GPU 0 is busy: python3 (pid 4242, 69000 MiB) uses 70000 of its 81559 MiB, more than "
        "the 12233 MiB (15%) that free_gpu_memory_fraction 0.85 leaves free."
    )
    assert caught.value.hint == (
        "Stop the process using the busy GPU, run it with --share-gpus to pack the workers "
        "onto fewer GPUs (development only), with --engine mocker to try the graph without "
        "GPUs, or choose other GPUs with --gpus."
    )


def test_busy_without_listed_processes_still_says_how_much() -> None:
    gpus = (busy_gpu(0, 80000),)

    with pytest.raises(PlacementError) as caught:
        place([Demand("worker-0", 1, 0.9)], gpus, profile="agg", source=ALL)

    assert caught.value.message == (
        "agg needs 1 GPU, but no GPU on this machine is usable: GPU 0 is busy: "
        "processes NVML does not list use 80000 of its 81559 MiB, more than the 8155 MiB "
        "(10%) that free_gpu_memory_fraction 0.9 leaves free."
    )


def test_the_strictest_fraction_of_the_graph_decides_busy() -> None:
    gpus = (busy_gpu(0, 10000), busy_gpu(1, 0))
    lenient = [Demand("prefill-0", 1, 0.5), Demand("decode-0", 1, 0.5)]
    strict = [Demand("prefill-0", 1, 0.5), Demand("decode-0", 1, 0.95)]

    assert place(lenient, gpus, profile="d", source=ALL).skipped == {}
    with pytest.raises(PlacementError):
        place(strict, gpus, profile="d", source=ALL)


def test_mig_gpu_is_skipped() -> None:
    gpus = (busy_gpu(0, 0, mig=True), busy_gpu(1, 0))

    result = place(replicas("worker-0"), gpus, profile="agg", source=ALL)

    assert placed(result) == {"worker-0": [1]}
    assert result.skipped == {
        0: "GPU 0 has MIG mode on, and trtl places whole GPUs only "
        "(turn it off with: sudo nvidia-smi -i 0 -mig 0)"
    }


def test_mig_everywhere_is_refused() -> None:
    gpus = (busy_gpu(0, 0, mig=True),)

    with pytest.raises(PlacementError) as caught:
        place(replicas("worker-0"), gpus, profile="agg", source=ALL, share=True)

    assert caught.value.message.startswith(
        "agg needs 1 GPU, but no GPU on this machine is usable: GPU 0 has MIG mode on"
    )
    assert "--share-gpus" not in str(caught.value)  # sharing cannot help: nothing is usable


def test_unusable_is_none_for_memory_the_gpu_does_not_report() -> None:
    assert unusable(Gpu(0, uuid(0), "NVIDIA GB10", 0, 0), 0.9) is None


# --- sharing GPUs (--share-gpus) ----------------------------------------------------------


def test_share_packs_disagg_onto_one_gpu_and_splits_the_fraction() -> None:
    demands = [Demand("prefill-0", 1, 0.85), Demand("decode-0", 1, 0.85)]

    result = place(demands, inventory(1).gpus, profile="disagg", source=ALL, share=True)

    assert placed(result) == {"prefill-0": [0], "decode-0": [0]}
    assert result.shared
    assert result.fractions == {"prefill-0": 0.42, "decode-0": 0.42}
    assert result.reasons["prefill-0"] == (
        "shares GPU 0 with decode-0; KV-cache memory fraction 0.85 / 2 = 0.42"
    )


def test_share_spreads_by_load_and_leaves_lone_replicas_alone() -> None:
    demands = [Demand(name, 1, 0.9) for name in ("prefill-0", "prefill-1", "decode-0")]

    result = place(demands, inventory(2).gpus, profile="disagg_router", source=ALL, share=True)

    assert placed(result) == {"prefill-0": [0], "prefill-1": [1], "decode-0": [0]}
    # prefill-1 has GPU 1 alone: it keeps its own fraction, so only one replica of the
    # prefill role changes; the plan then writes per-replica engine configs.
    assert result.fractions == {"prefill-0": 0.45, "decode-0": 0.45}


def test_share_is_not_used_when_whole_gpus_suffice() -> None:
    demands = replicas("prefill-0", "decode-0")

    result = place(demands, inventory(2).gpus, profile="disagg", source=ALL, share=True)

    assert placed(result) == {"prefill-0": [0], "decode-0": [1]}
    assert not result.shared


def test_share_cannot_fit_a_replica_wider_than_the_machine() -> None:
    demands = [Demand("prefill-0", 1), Demand("decode-0", 2)]

    with pytest.raises(PlacementError) as caught:
        place(demands, inventory(1).gpus, profile="disagg", source=ALL, share=True)

    assert caught.value.message == (
        "disagg needs 2 GPUs even with --share-gpus, because decode-0 spans 2 GPUs, "
        "but only 1 usable GPU is."
    )
    assert caught.value.hint == HINT


def test_share_skips_busy_gpus_too() -> None:
    gpus = (busy_gpu(0, 70000, GpuProcess(1, 69000, "python3")), busy_gpu(1, 0))
    demands = [Demand("prefill-0", 1, 0.85), Demand("decode-0", 1, 0.85)]

    result = place(demands, gpus, profile="disagg", source=ALL, share=True)

    assert placed(result) == {"prefill-0": [1], "decode-0": [1]}
    assert list(result.skipped) == [0]
