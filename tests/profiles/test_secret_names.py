"""One rule says which names hold secrets: env variables, flags and --set keys alike."""

from __future__ import annotations

import pytest
from trtl.profiles.overrides import looks_secret
from trtl.profiles.secret_args import secret_flag, secret_name

SECRET = ["HF_TOKEN", "--hf-token", "--auth-token", "--api-key", "NGC_API_KEY", "apikey",
          "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "--db-passwd", "GCP_CREDENTIALS",
          "k8s.hf_token_secret", "env.GITHUB_TOKEN", "frontend.api_key_x", "TOKEN"]  # fmt: skip
PLAIN = ["--kv-bytes-per-token", "MAX_TOKEN", "--max-tokens", "NUM_TOKEN", "--model",
         "DYN_LOG", "workers.decode.replicas", "--token-budget"]  # fmt: skip


@pytest.mark.parametrize("name", SECRET)
def test_secret_names(name):
    assert secret_name(name)
    assert looks_secret(name, "plain")


@pytest.mark.parametrize("name", PLAIN)
def test_names_that_only_mention_tokens_are_not_secret(name):
    assert not secret_name(name)


def test_flags_follow_the_same_rule():
    assert secret_flag(["--hf-token", "abc"]) == "--hf-token"
    assert secret_flag(["--kv-bytes-per-token", "4", "--seed", "1"]) is None
    assert secret_flag(["--hf-token"]) is None  # no literal value: the cached login is used
