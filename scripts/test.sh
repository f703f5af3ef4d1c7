#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then lint and tests.
# Two tiers: the fast suite (real Dynamo frontend + mocker) on 2 workers, then the
# real-engine tier (real vLLM on CPU; scripts/setup_vllm_cpu.sh builds its venv and model),
# one test at a time because each deployment wants both cores. Both tiers always run (a
# failure in the first does not hide the second); the last lines are one summary per step,
# and the exit code is non-zero if any step failed.
# Extra arguments go to both pytest runs, e.g. scripts/test.sh -k plan; a tier they select
# nothing from is fine then. TRTL_REAL_ENGINE=0 skips the real-engine tier and its set-up.
# HYPOTHESIS_PROFILE=deep runs the property tests with many more examples (tests/conftest.py).
source "$(dirname "$0")/_bootstrap.sh"
set +e # from here on every step runs, and its result is collected
# Ctrl-C means stop everything, not "go on with the next tier".
trap 'echo "test.sh: interrupted" >&2; exit 130' INT
RESULTS=${TRTL_TEST_RESULTS:-.cache/test-results} # JUnit reports, read for the summary
mkdir -p "$RESULTS"
summaries=()
failed=0
user_args=$#

lint() {
    local rc=0
    uv run --locked ruff check . || rc=1
    uv run --locked ruff format --check . || rc=1
    if [[ $rc -eq 0 ]]; then
        summaries+=("lint: passed (ruff check, ruff format)")
    else
        summaries+=("lint: FAILED (ruff's findings above)")
        failed=1
    fi
}

# Runs one pytest tier and records "<tier>: N passed, N failed, N skipped in T".
pytest_tier() {
    local tier=$1 xml="$RESULTS/${1// /-}.xml" rc=0 start=$SECONDS
    shift
    rm -f "$xml"
    uv run --locked pytest --junitxml="$xml" "$@"
    rc=$?
    local counts
    counts=$(uv run --locked python scripts/_junit_counts.py "$xml" $((SECONDS - start)))
    # 5 = no test selected: expected when the caller's arguments pick tests of one tier.
    if [[ $rc -eq 5 && $user_args -gt 0 ]]; then
        summaries+=("$tier: no test selected by the arguments")
    elif [[ $rc -eq 0 ]]; then
        summaries+=("$tier: $counts")
    else
        summaries+=("$tier: FAILED (pytest exit $rc): $counts")
        failed=1
    fi
}

lint
pytest_tier "fast tier" -n 2 -m "not real_engine" "$@"
if [[ ${TRTL_REAL_ENGINE:-1} == 0 ]]; then
    summaries+=("real-engine tier: not run (TRTL_REAL_ENGINE=0)")
else
    bash scripts/setup_vllm_cpu.sh
    setup_rc=$?
    if [[ $setup_rc -eq 0 ]]; then
        pytest_tier "real-engine tier" -m real_engine "$@"
    else
        summaries+=("real-engine tier: not run (scripts/setup_vllm_cpu.sh failed with exit $setup_rc; its reason is above)")
        failed=1
    fi
fi

echo
for line in "${summaries[@]}"; do echo "test.sh | $line"; done
exit $failed
