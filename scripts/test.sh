#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then lint and tests.
# Extra arguments go to pytest, e.g. scripts/test.sh -k plan
source "$(dirname "$0")/_bootstrap.sh"
uv run --locked ruff check .
uv run --locked ruff format --check .
uv run --locked pytest -n 2 "$@"
