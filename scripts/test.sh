#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then lint and tests.
# Two tiers: the fast suite (real Dynamo frontend + mocker) on 2 workers, then the
# real-engine tier (real vLLM on CPU; scripts/setup_vllm_cpu.sh builds its venv and model),
# one test at a time because each deployment wants both cores.
# Extra arguments go to both pytest runs, e.g. scripts/test.sh -k plan; a tier they select
# nothing from is fine then. TRTL_REAL_ENGINE=0 skips the real-engine tier and its set-up.
source "$(dirname "$0")/_bootstrap.sh"
uv run --locked ruff check .
uv run --locked ruff format --check .

pytest_tier() {
    local rc=0
    uv run --locked pytest "$@" || rc=$?
    # 5 = no test selected: expected when the caller's arguments pick tests of one tier.
    if [[ $rc -eq 5 && $user_args -gt 0 ]]; then rc=0; fi
    return $rc
}
user_args=$#
pytest_tier -n 2 -m "not real_engine" "$@"
if [[ ${TRTL_REAL_ENGINE:-1} != 0 ]]; then
    bash scripts/setup_vllm_cpu.sh
    pytest_tier -m real_engine "$@"
fi
