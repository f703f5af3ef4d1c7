#!/usr/bin/env bash
# The main job on a CPU machine: build the tiny offline model, then run the disaggregated
# KV-router graph (frontend, 2 prefill and 1 decode worker) on Dynamo's mock engine in the
# foreground until Ctrl-C. Extra arguments go to `trtl up` (e.g. --quiet, --port 8100, -d).
source "$(dirname "$0")/_bootstrap.sh"
uv run --locked python scripts/make_tiny_model.py .cache/tiny-model
exec uv run --locked trtl up disagg_router --engine mocker --model .cache/tiny-model "$@"
