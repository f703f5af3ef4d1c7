"""A secret typed into --set is never echoed back in an error message."""

from __future__ import annotations

import pytest
from trtl.profiles.errors import ProfileError
from trtl.profiles.loader import load_profile

TOKEN = "hf_" + "a1B2" * 9


@pytest.mark.parametrize(
    "assignment",
    [
        f"nosuch.key={TOKEN}",  # a token-shaped value under any key
        "env.HF_TOKEN=[broken",  # a secret-named key with a value that is not YAML
        "frontend.api_key_x=plain-value",  # a secret-named key that does not exist
    ],
)
def test_secret_values_are_masked_in_messages(assignment):
    with pytest.raises(ProfileError) as info:
        load_profile("agg", overrides=[assignment])
    shown = str(info.value)
    assert "***" in shown
    assert assignment.partition("=")[2] not in shown


def test_other_values_are_shown_to_help():
    with pytest.raises(ProfileError, match=r"workers\.worker\.replicas=abc"):
        load_profile("agg", overrides=["workers.worker.replicas=abc"])


def test_an_empty_engine_config_path_is_refused():
    with pytest.raises(ProfileError, match="engine_config is an empty path"):
        load_profile("agg", overrides=["workers.worker.engine_config="])
