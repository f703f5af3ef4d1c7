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
env_s=$SECONDS # installing the locked environment
set +e # from here on every step runs, and its result is collected
# Ctrl-C means stop everything, not "go on with the next tier".
tier_pid=
on_interrupt() {
    if [[ -n $tier_pid ]]; then
        kill -INT -- "-$tier_pid" 2>/dev/null
        wait "$tier_pid"
    fi
    echo "test.sh: interrupted" >&2
    exit 130
}
trap on_interrupt INT
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

# CI stops the whole run at 90 minutes and then shows nothing of it; these bounds make a hang
# a failure with a report instead. A test that runs past its limit fails with its stack
# (pytest-timeout); a tier that runs past its limit is stopped (normal runs on 2 cores: fast
# tier ~14 min, real-engine tier ~14 min).
FAST_TEST_LIMIT_S=${TRTL_FAST_TEST_LIMIT_S:-600}
REAL_TEST_LIMIT_S=${TRTL_REAL_TEST_LIMIT_S:-1500}
FAST_TIER_LIMIT_S=${TRTL_FAST_TIER_LIMIT_S:-1800}
REAL_TIER_LIMIT_S=${TRTL_REAL_TIER_LIMIT_S:-2400}
# CI's own limit for the whole run: a step never runs past what is left of it (less a margin
# for the summary), so a slow run still ends with its report instead of being cut off.
BUDGET_S=${TRTL_CI_BUDGET_S:-5400}
MARGIN_S=120

# LIMIT, or what is left of the budget if that is less (at least 60 s).
capped() {
    local left=$((BUDGET_S - MARGIN_S - SECONDS))
    ((left < 60)) && left=60
    echo $(($1 < left ? $1 : left))
}

# Runs one pytest tier within LIMIT seconds and records
# "<tier>: N passed, N failed, N skipped in T".
pytest_tier() {
    local tier=$1 limit=$2 xml="$RESULTS/${1// /-}.xml" rc=0 start=$SECONDS
    shift 2
    rm -f "$xml"
    # timeout runs pytest in a process group of its own; the INT trap passes Ctrl-C on to it.
    # --instafail prints a failure's report when it happens: the end-of-run report never comes
    # when the tier is stopped at its limit.
    timeout --kill-after=60 "$limit" uv run --locked pytest --instafail --junitxml="$xml" "$@" &
    tier_pid=$!
    wait "$tier_pid"
    rc=$?
    tier_pid=
    local counts
    counts=$(uv run --locked python scripts/_junit_counts.py "$xml" $((SECONDS - start)))
    # 5 = no test selected: expected when the caller's arguments pick tests of one tier.
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
        summaries+=("$tier: FAILED (stopped after its limit of ${limit}s): $counts")
        failed=1
    elif [[ $rc -eq 5 && $user_args -gt 0 ]]; then
        summaries+=("$tier: no test selected by the arguments")
    elif [[ $rc -eq 0 ]]; then
        summaries+=("$tier: $counts")
    else
        summaries+=("$tier: FAILED (pytest exit $rc): $counts")
        failed=1
    fi
}

lint
pytest_tier "fast tier" "$(capped "$FAST_TIER_LIMIT_S")" -n 2 -m "not real_engine" --timeout="$FAST_TEST_LIMIT_S" "$@"
if [[ ${TRTL_REAL_ENGINE:-1} == 0 ]]; then
    summaries+=("real-engine tier: not run (TRTL_REAL_ENGINE=0)")
else
    # --foreground: the set-up stays in this terminal's process group, so Ctrl-C reaches it.
    setup_start=$SECONDS
    timeout --foreground --kill-after=30 "$(capped "${TRTL_SETUP_LIMIT_S:-1200}")" \
        bash scripts/setup_vllm_cpu.sh
    setup_rc=$?
    setup_s=$((SECONDS - setup_start))
    if [[ $setup_rc -eq 0 ]]; then
        # -v names each test as it starts: a slow one is seen while it runs.
        pytest_tier "real-engine tier" "$(capped "$REAL_TIER_LIMIT_S")" -m real_engine -v --timeout="$REAL_TEST_LIMIT_S" "$@"
    else
        summaries+=("real-engine tier: not run (scripts/setup_vllm_cpu.sh failed with exit $setup_rc; its reason is above)")
        failed=1
    fi
fi

took="took ${SECONDS}s of the ${BUDGET_S}s CI allows: the locked environment ${env_s}s"
summaries+=("$took${setup_s:+, the vLLM venv ${setup_s}s}")
echo
for line in "${summaries[@]}"; do echo "test.sh | $line"; done
exit $failed
