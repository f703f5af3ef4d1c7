"""Review of issue 7 (vLLM, supervision): regressions for what the review found."""

from __future__ import annotations

import io
import signal

from launcher.deployments.run_setup import prepare_run_dir
from launcher.planning.plan import PlanOptions, build_plan
from launcher.supervision.component import Exited
from launcher.supervision.logmux import LogMux
from launcher.supervision.probe import Silent
from launcher.supervision.supervisor import Supervisor
from profiles.loader import load_profile


class _FakeComponent:
    """Stands in for a started process: records signals, never spawns anything."""

    def __init__(self, name: str):
        self.name = name
        self.generation = 1
        self.started_at = 0.0
        self.alive = True
        self.tail: list[str] = []
        self.signals: list[int] = []
        self.pid = None

    def signal_group(self, sig: int) -> None:
        self.signals.append(sig)

    def start(self) -> None:
        self.generation += 1


def _supervisor(clock: list[float]) -> Supervisor:
    profile = load_profile("agg", engine="mocker")
    plan = build_plan(profile, PlanOptions(deployment="review-hang"))
    prepare_run_dir(plan)
    out = io.StringIO()
    sup = Supervisor(
        plan, LogMux([p.name for p in plan.processes], stream=out), timeout=600, grace=1,
        clock=lambda: clock[0],
    )  # fmt: skip
    sup.components = {name: _FakeComponent(name) for name in sup.components}
    return sup


def test_a_process_killed_as_hung_before_it_was_up_is_restarted_not_a_start_failure():
    # README: a hung process "is killed (SIGKILL to its group) and restarted like a crash".
    # Before the fix, one that hung before it was ever up (a loaded machine while engines
    # compile, a stopped process) ended the whole run with "exited with code -9 before it
    # was up", blaming a configuration error that trtl's own SIGKILL had caused.
    clock = [100.0]
    sup = _supervisor(clock)
    sup.started = clock[0]
    name = "worker-0"
    sup._silent(Silent(name, True))
    clock[0] += sup.trackers[name].policy.hang_timeout + 0.1
    sup._timers()
    assert sup.components[name].signals == [signal.SIGKILL]
    sup._exited(Exited(name, generation=1, returncode=-9))
    assert sup.outcome is None, sup.outcome
    assert name in sup.restarts_due
    assert sup.procs[name].state == "backoff"


def test_a_process_that_exits_by_itself_before_it_was_up_still_ends_the_run():
    clock = [100.0]
    sup = _supervisor(clock)
    sup.started = clock[0]
    sup._exited(Exited("worker-0", generation=1, returncode=3))
    assert sup.outcome is not None and sup.outcome.exit_code == 3
    assert "worker-0 exited with code 3 before it was up" in (sup.outcome.message or "")


TOKEN = "hf_" + "abcdefghijklmnopqrstuvwxyz0123"


def test_plan_masks_secrets_in_vllm_argv(run_trtl):
    # vLLM takes --hf-token; a plan printed it in the worker's argv (text and --json),
    # where the env was already masked. Plans get pasted into issues.
    sets = [
        "--set", f"vllm.extra_args=[--hf-token, {TOKEN}, --api-key=k3y, --tokenizer, /t]",
        "--set", "vllm.role_extra_args.worker=[--max-num-batched-tokens, '9']",
    ]  # fmt: skip
    text = run_trtl("plan", "agg", "--engine", "vllm", "--model", "/m", *sets)
    assert text.exit_code == 0, text.output
    assert TOKEN not in text.output and "k3y" not in text.output
    assert "--hf-token '***'" in text.output and "'--api-key=***'" in text.output
    # Flags that merely mention tokens keep their values.
    assert "--tokenizer /t" in text.output and "--max-num-batched-tokens 9" in text.output
    as_json = run_trtl("plan", "agg", "--engine", "vllm", "--model", "/m", "--json", *sets)
    assert as_json.exit_code == 0, as_json.output
    assert TOKEN not in as_json.output and "k3y" not in as_json.output
