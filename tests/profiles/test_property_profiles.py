"""Random, mutated and odd profile files through ``trtl plan`` and ``trtl export --k8s``.

Whatever the file holds, trtl either plans and exports it or says what is wrong in one
sentence and exits 2, leaving no output file; never a traceback. (The library-level
fuzzing of the loader is in test_bad_input_fuzz.py; this drives the command line.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from trtl.profiles.loader import BUILTIN_DIR

from tests.strategies import (
    assert_clean,
    dump,
    eight_idle_gpus,
    fuzz_settings,
    invoke,
    mutations,
    profile_documents,
    yaml_texts,
)

BUILTINS = sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))
RAW = {name: yaml.safe_load((BUILTIN_DIR / f"{name}.yaml").read_text()) for name in BUILTINS}


@pytest.fixture(autouse=True)
def fake_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trtl.launcher.gpus.inventory.read_inventory", eight_idle_gpus)


def plan_and_export(path: Path, given_text: str) -> None:
    """Every command that reads a profile file, each either working or failing cleanly."""
    out = path.parent / "out.yaml"
    out.unlink(missing_ok=True)
    commands = [
        ("plan", path.name, "--engine", "mocker"),
        ("plan", path.name, "--engine", "mocker", "--json"),
        ("plan", path.name, "--engine", "trtllm", "--json"),
        ("export", "--k8s", path.name, "--image", "x", "-o", out.name),
        ("export", "--k8s", path.name, "--image", "x", "--api-version", "v1alpha1"),
    ]
    for args in commands:
        result = invoke(*args)
        assert_clean(result, args, given_text)
        if args[0] == "export" and "-o" in args:
            assert out.exists() == (result.exit_code == 0), "a failed export left a file"


@fuzz_settings(max_examples=200)
@given(document=profile_documents(list(RAW.values())))
def test_random_profile_documents(document, isolated_dirs):
    text = dump(document)
    path = isolated_dirs / "p.yaml"
    path.write_text(text)
    plan_and_export(path, text)


@fuzz_settings(max_examples=200)
@given(data=st.data(), name=st.sampled_from(BUILTINS))
def test_mutated_builtin_profiles(data, name, isolated_dirs):
    """A built-in with fields dropped, replaced, retyped or renamed; may well stay valid."""
    document = data.draw(mutations(RAW[name]), label="mutated")
    text = dump(document)
    path = isolated_dirs / f"{name}.yaml"
    path.write_text(text)
    plan_and_export(path, text)


@fuzz_settings(max_examples=100)
@given(text=yaml_texts())
def test_odd_yaml_text(text, isolated_dirs):
    path = isolated_dirs / "p.yaml"
    path.write_text(text, encoding="utf-8")
    plan_and_export(path, text[:500])


@fuzz_settings(max_examples=60)
@given(blob=st.binary(max_size=200))
def test_binary_junk(blob, isolated_dirs):
    path = isolated_dirs / "p.yaml"
    path.write_bytes(blob)
    plan_and_export(path, repr(blob))


def test_the_builtins_themselves_plan_and_export(isolated_dirs):
    """The mutation tests start from files that work: a copy of each built-in is fine."""
    for name in BUILTINS:
        path = isolated_dirs / f"{name}.yaml"
        path.write_text(dump(RAW[name]))
        for args in (
            ("plan", path.name, "--engine", "mocker"),
            ("export", "--k8s", path.name, "--image", "x"),
        ):
            result = invoke(*args)
            assert result.exit_code == 0, (args, result.output)


# Regression tests: each a bug the properties above found (a traceback or a hang before).


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: p\nworkers: &w {worker: *w}\n",
         "p.yaml:2: the YAML is nested more than 64 levels deep"),
        ("name: p\nworkers: " + "[" * 1000 + "]" * 1000 + "\n",
         "p.yaml: the YAML is nested too deeply, or an alias is used inside its own anchor"),
        ("".join(f"{'  ' * i}k{i}:\n" for i in range(100)),
         "the YAML is nested more than 64 levels deep"),
        ("name: p\nworkers:\n  worker:\n    mode: agg\n    replicas: !!int\n",
         "p.yaml:5: '' is not a valid !!int value."),
        ("name: p\nshare_gpus: !!bool maybe\n", "p.yaml:2: 'maybe' is not a valid !!bool value."),
        ("name: p\nmodel: !!binary aGk=\n",
         "p.yaml:2: broken YAML: binary (!!binary) values have no place in a profile."),
    ],
)  # fmt: skip
def test_yaml_that_crashed_the_loader(run_trtl, isolated_dirs, text, message):
    (isolated_dirs / "p.yaml").write_text(text)
    result = run_trtl("plan", "p.yaml", "--engine", "mocker")
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "internal error" not in result.stderr


def test_aliases_of_aliases_are_refused_at_once(run_trtl, isolated_dirs):
    """Six levels of ten aliases took 78 s to reject; seven would take many minutes."""

    lines = ["workers: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 8)]
    (isolated_dirs / "p.yaml").write_text("\n".join(lines) + "\nname: p\n")
    # The limit counts values while the YAML is composed, so the refusal names the limit; a
    # loader without it would expand 10**8 values and never get here.
    result = run_trtl("plan", "p.yaml", "--engine", "mocker")
    assert result.exit_code == 2
    assert "p.yaml:1: the file expands to more than 100000 values" in result.stderr


def test_a_date_in_an_engine_config_file_stays_text(run_trtl, isolated_dirs, monkeypatch):
    """`plan --json` crashed on a datetime.date; Kubernetes reads the value as text too."""
    (isolated_dirs / "p.yaml").write_text(
        "name: p\nworkers:\n  worker:\n    mode: agg\n    engine_config: {released: 2024-01-01}\n"
    )
    result = run_trtl("plan", "p.yaml", "--json")
    assert result.exit_code == 0, result.output
    assert '"released": "2024-01-01"' in result.stdout


def test_a_key_with_a_carriage_return_is_shown_escaped(run_trtl, isolated_dirs):
    (isolated_dirs / "p.yaml").write_text('name: p\nworkers: {worker: {mode: agg}}\n"\\r": agg\n')
    result = run_trtl("plan", "p.yaml", "--engine", "mocker")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: p.yaml:3: '\\r': unknown field. Known fields: name,")
    assert "\r" not in result.stderr


def test_a_typo_under_a_roles_k8s_section_is_named(run_trtl):
    """frontend.k8s and workers.*.k8s were free-form to --set: a typo was not caught early."""
    result = run_trtl("plan", "agg", "--engine", "mocker", "--set", "frontend.k8s.imagee=x")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --set frontend.k8s.imagee=x: the profile has no setting "
        "'frontend.k8s.imagee'. Did you mean 'image'?"
    )
