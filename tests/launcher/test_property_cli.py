"""Random ``--set`` assignments and junk option values on ``trtl plan`` and ``trtl export``.

Whatever the user types, trtl either works or names the problem in one sentence and
exits 2; never a traceback, and never a secret echoed back.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import (
    assert_clean,
    dotted_paths,
    eight_idle_gpus,
    fuzz_settings,
    invoke,
    set_values,
    texts,
)

TOKEN = "hf_" + "Zq9" * 12
BUILTINS = ["agg", "agg_router", "disagg", "disagg_router"]
ROLES = {"agg": "worker", "agg_router": "worker", "disagg": "prefill", "disagg_router": "decode"}


@pytest.fixture(autouse=True)
def fake_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trtl.launcher.gpus.inventory.read_inventory", eight_idle_gpus)


def commands(profile: str, *extra: str) -> list[tuple[str, ...]]:
    return [
        ("plan", profile, "--engine", "mocker", *extra),
        ("plan", profile, "--engine", "trtllm", "--json", *extra),
        ("export", "--k8s", profile, "--image", "x", *extra),
    ]


@fuzz_settings(max_examples=250)
@given(
    profile=st.sampled_from(BUILTINS),
    data=st.data(),
    value=set_values,
)
def test_one_set_assignment(profile, data, value):
    path = data.draw(dotted_paths(roles=(ROLES[profile], "nosuch")), label="path")
    assignment = f"{path}={value}"
    for args in commands(profile, "--set", assignment):
        assert_clean(invoke(*args), args)


@fuzz_settings(max_examples=100)
@given(
    assignments=st.lists(
        st.one_of(
            st.tuples(dotted_paths(roles=("prefill", "decode")), set_values).map("=".join),
            texts,  # no '=' at all, or a bare '=', or nothing
        ),
        min_size=1,
        max_size=4,
    )
)
def test_several_set_assignments(assignments):
    extra = [part for a in assignments for part in ("--set", a)]
    for args in commands("disagg_router", *extra):
        assert_clean(invoke(*args), args)


@fuzz_settings(max_examples=100)
@given(path=dotted_paths(), secret=st.sampled_from([TOKEN, f"[{TOKEN}", f"{{a: {TOKEN}}}"]))
def test_a_token_is_never_echoed(path, secret):
    """A token typed at the wrong place, or not as a string, stays out of the message."""
    for args in commands("agg", "--set", f"{path}={secret}"):
        result = invoke(*args)
        assert_clean(result, args)
        assert TOKEN not in result.stderr, result.stderr


option_values = st.one_of(
    texts, st.integers(-(2**40), 2**40).map(str), st.sampled_from(["0,1", "0,0", "GPU-0", ","])
)


@fuzz_settings(max_examples=200)
@given(
    option=st.sampled_from(["--model", "--name", "--port", "--gpus", "--python"]),
    value=option_values,
    engine=st.sampled_from(["mocker", "trtllm"]),
    joined=st.booleans(),
)
def test_plan_options(option, value, engine, joined):
    given_option = (f"{option}={value}",) if joined else (option, value)
    args = ("plan", "disagg", "--engine", engine, *given_option)
    assert_clean(invoke(*args), args)


@fuzz_settings(max_examples=150)
@given(
    option=st.sampled_from(["--model", "--name", "--namespace", "--image", "--api-version"]),
    value=option_values,
)
def test_export_options(option, value, isolated_dirs):
    args = ("export", "--k8s", "agg_router", "--image", "x", "-o", "out.yaml", option, value)
    result = invoke(*args)
    assert_clean(result, args)
    assert (isolated_dirs / "out.yaml").exists() == (result.exit_code == 0)
    (isolated_dirs / "out.yaml").unlink(missing_ok=True)


# Regression tests: each a bug the properties above found.


def test_a_deeply_nested_set_value_is_refused(run_trtl):
    result = run_trtl("plan", "agg", "--engine", "mocker", "--set", f"env.X={'[' * 1000}")
    assert result.exit_code == 2, result.output
    assert "the value is not valid YAML" in result.stderr


def test_a_self_referencing_set_value_is_refused(run_trtl):
    value = "&a [*a]"
    result = run_trtl("plan", "agg", "--set", f"workers.worker.engine_config.x={value}")
    assert result.exit_code == 2, result.output
    assert "nested more than 64 levels deep" in result.stderr


def test_a_date_in_an_engine_config_stays_text(run_trtl):
    """`plan --json` crashed on the datetime.date YAML made of it."""
    result = run_trtl(
        "plan", "agg", "--json", "--set", "workers.worker.engine_config.release=2024-01-01"
    )
    assert result.exit_code == 0, result.output
    assert '"release": "2024-01-01"' in result.stdout


def test_a_token_in_a_wrong_type_is_masked(run_trtl):
    result = run_trtl("plan", "agg", "--engine", "mocker", "--set", f"env.HF_TOKEN={{a: {TOKEN}}}")
    assert result.exit_code == 2
    assert TOKEN not in result.output
    assert "env.HF_TOKEN: Input should be a valid string (got '***')." in result.stderr


def test_a_newline_in_a_set_value_stays_on_one_line(run_trtl):
    result = run_trtl("plan", "agg", "--engine", "mocker", "--set", "descriptio=\n")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --set 'descriptio=\\n': the profile has no setting 'descriptio'. "
        "Did you mean 'description'?\n"
    )


def test_an_escape_sequence_in_an_argument_is_shown_escaped(run_trtl):
    """Raw, it recoloured the terminal: every message goes through output.printable."""
    result = run_trtl("plan", "\x1b[31magg", "--engine", "mocker")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: No profile named '\\x1b[31magg'; known profiles:")
    assert "\x1b" not in result.stderr


def test_a_tag_that_does_not_fit_its_value_is_named(run_trtl):
    result = run_trtl("plan", "agg", "--engine", "mocker", "--set", "description=!!int")
    assert result.exit_code == 2, result.output
    assert "--set 'description=!!int': the value is not valid YAML ('' is not a valid !!int " in (
        result.stderr
    )


def test_a_token_in_a_name_field_is_masked_in_the_error(run_trtl):
    """`--set k8s.namespace=<token>` printed the token in the export's namespace check."""
    result = run_trtl("export", "--k8s", "agg", "--image", "x", "--set", f"k8s.namespace={TOKEN}")
    assert result.exit_code == 2
    assert TOKEN not in result.output
    assert "error: Namespace 'hf_***' is not a Kubernetes namespace name" in result.stderr


def test_a_newline_in_gpus_is_refused_on_one_line(run_trtl):
    result = run_trtl("plan", "disagg", "--engine", "mocker", "--gpus", "\n")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --gpus '\\n' is not a list of GPUs; give indices or UUIDs, e.g. --gpus 0,1.\n"
    )
