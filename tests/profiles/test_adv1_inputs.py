"""Inputs from the first adversarial test (adv1) that trtl read wrongly or explained badly:
profile names from file names, YAML 1.1 typing of env and extra_args, profiles from pipes,
``--set extends``, and messages that blamed the wrong file."""

from __future__ import annotations

import json

import pytest


def plan_json(run_trtl, *args: str) -> dict:
    result = run_trtl("plan", *args, "--engine", "mocker", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_error(result) -> str:
    """The single error line of a refused command (exit 2, no traceback)."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


LONG = "a_very_long_profile_file_name_for_my_team"


# --- 2. a profile's name from its file name --------------------------------------------------


@pytest.mark.parametrize(
    ("file", "name"),
    [
        ("qwen3.5-disagg.yaml", "qwen3-5-disagg"),
        ("MyDisagg.yaml", "mydisagg"),
        # Every character is valid; only the length (41) is not: cut to 40.
        (f"{LONG}.yaml", LONG[:40]),
    ],
)
def test_a_file_without_name_gets_a_valid_name_from_its_file_name(
    run_trtl, isolated_dirs, file, name
):
    (isolated_dirs / file).write_text("extends: disagg\n")
    assert plan_json(run_trtl, file)["deployment"] == name
    result = run_trtl("export", "--k8s", file)
    assert result.exit_code == 0, result.output
    assert "trtl.dev/profile" in result.stdout


def test_a_project_profile_with_an_upper_case_file_name_works_by_name(run_trtl, isolated_dirs):
    folder = isolated_dirs / ".trtl" / "profiles"
    folder.mkdir(parents=True)
    (folder / "MyAgg.yaml").write_text("extends: agg\n")
    assert plan_json(run_trtl, "MyAgg")["deployment"] == "myagg"
    listing = run_trtl("profiles")
    assert "invalid" not in listing.output


def test_a_file_name_with_nothing_to_make_a_name_of_says_to_add_name(run_trtl, isolated_dirs):
    (isolated_dirs / "___.yaml").write_text("extends: agg\n")
    line = one_error(run_trtl("plan", "./___.yaml", "--engine", "mocker"))
    assert line.startswith("error: ___.yaml: the profile's name comes from the file name '___'")
    assert "add `name: …` to the file" in line


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Qwen3.5", "'Qwen3.5' is not valid: use up to 40 lowercase letters, digits, '-' and '_'"),
        ("a" * 41, f"'{'a' * 41}' is 41 characters long; a profile name has at most 40."),
    ],
)
def test_an_explicit_invalid_name_is_refused_naming_the_users_file_and_rule(
    run_trtl, isolated_dirs, name, why
):
    (isolated_dirs / "mine.yaml").write_text(f"extends: disagg\nname: {name}\n")
    line = one_error(run_trtl("plan", "mine.yaml", "--engine", "mocker"))
    assert line.startswith(f"error: mine.yaml:2: name: {why}")
    assert "builtin" not in line


def test_a_name_error_is_never_blamed_on_the_parent(run_trtl, isolated_dirs):
    """The parent's own `name:` line is not where the child's name came from."""
    (isolated_dirs / "base.yaml").write_text("name: base\nworkers: {w: {mode: agg}}\n")
    (isolated_dirs / "child.yaml").write_text("extends: base.yaml\nname: Child.Name\n")
    line = one_error(run_trtl("plan", "child.yaml", "--engine", "mocker"))
    assert line.startswith("error: child.yaml:2: name: 'Child.Name' is not valid")


# --- 9. --set extends -------------------------------------------------------------------------


def test_set_extends_is_refused_not_ignored(run_trtl):
    line = one_error(run_trtl("plan", "agg", "--engine", "mocker", "--set", "extends=disagg"))
    assert line == (
        "error: --set extends: the base of a profile cannot be overridden; write a profile "
        "file with `extends: disagg`."
    )


# --- 10. messages that blamed the wrong place or said too much --------------------------------


def test_removing_a_role_with_set_is_blamed_on_the_set(run_trtl):
    line = one_error(
        run_trtl("plan", "disagg", "--engine", "mocker", "--set", "workers.decode=null")
    )
    assert line.startswith(
        "error: --set workers.decode=null: workers: a disaggregated graph needs a decode role too"
    )


def test_removing_the_last_role_says_so_in_trtls_words(run_trtl):
    line = one_error(run_trtl("plan", "agg", "--engine", "mocker", "--set", "workers.worker=null"))
    assert line.startswith(
        "error: --set workers.worker=null: workers: no worker role is left; a profile needs "
        "at least one"
    )


def test_a_missing_extends_path_says_paths_are_relative_to_the_profile(run_trtl, isolated_dirs):
    (isolated_dirs / "p").mkdir()
    (isolated_dirs / "p" / "b.yaml").write_text("extends: agg\n")
    (isolated_dirs / "p" / "c.yaml").write_text("extends: p/b.yaml\n")
    line = one_error(run_trtl("plan", "p/c.yaml", "--engine", "mocker"))
    assert line == (
        "error: p/c.yaml:1: extends p/b.yaml, but p/p/b.yaml does not exist: a path in extends "
        "is relative to the folder of the profile that names it."
    )


@pytest.mark.parametrize(
    "assignment",
    [
        "frontend.http_port=" + "9" * 5000 + "x",
        "mocker.speedup_ratio=" + "x" * 5000,
        "fooo=" + "x" * 5000,
    ],
)
def test_a_set_error_does_not_echo_a_value_thousands_of_characters_long(run_trtl, assignment):
    line = one_error(run_trtl("plan", "agg", "--engine", "mocker", "--set", assignment))
    assert len(line) < 400, line
    assert "…" in line
