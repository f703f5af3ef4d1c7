#!/usr/bin/env bash
# The main job on a CPU machine: build the tiny offline model, then show the plan of the
# disaggregated graph running on Dynamo's mock engine. Extra arguments go to `trtl plan`.
source "$(dirname "$0")/_bootstrap.sh"
uv run --locked python scripts/make_tiny_model.py .cache/tiny-model
uv run --locked trtl plan disagg --engine mocker --model .cache/tiny-model "$@"
