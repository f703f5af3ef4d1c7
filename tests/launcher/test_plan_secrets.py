"""What `trtl plan` prints never shows a secret: argv flags and token-shaped values are masked."""

from __future__ import annotations

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


def test_a_model_shaped_like_a_token_is_masked_in_the_plan_header(run_trtl):
    # A token pasted as --model: the argv was masked, the header printed it as it was.
    text = run_trtl("plan", "agg", "--engine", "mocker", "--model", TOKEN)
    assert text.exit_code == 0, text.output
    assert TOKEN not in text.output
    assert "model ***)" in text.output and "serving '***'" in text.output
    as_json = run_trtl("plan", "agg", "--engine", "mocker", "--model", TOKEN, "--json")
    assert as_json.exit_code == 0, as_json.output
    assert TOKEN not in as_json.output
