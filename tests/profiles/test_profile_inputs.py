"""Profile inputs an adversarial test found trtl reading wrongly or explaining badly:
profile names from file names, YAML 1.1 typing of env and extra_args, profiles from pipes,
``--set extends``, and messages that blamed the wrong file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

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


# --- 3. YAML 1.1 typing of env values and extra_args items -----------------------------------


@pytest.mark.parametrize(
    ("written", "read_as"),
    [
        ("yes", "the boolean true"),
        ("0755", "the number 493"),
        ("1.10", "the number 1.1"),
        ("12:30", "the number 750"),
        ("0x1F", "the number 31"),
    ],
)
def test_an_env_value_yaml_would_change_is_refused_with_the_fix(
    run_trtl, isolated_dirs, written, read_as
):
    (isolated_dirs / "p.yaml").write_text(f"extends: agg\nenv:\n  D: {written}\n")
    for command in (("plan", "p.yaml", "--engine", "mocker"), ("export", "--k8s", "p.yaml")):
        line = one_error(run_trtl(*command))
        assert (
            line
            == f"error: p.yaml:3: env.D: {written} is read as {read_as}; quote it: D: '{written}'."
        )


def test_an_extra_args_item_yaml_would_change_is_refused(run_trtl, isolated_dirs):
    (isolated_dirs / "p.yaml").write_text(
        "extends: agg\nfrontend:\n  extra_args: [--some-flag, 'yes', --other,\n    1.10]\n"
    )
    line = one_error(run_trtl("plan", "p.yaml", "--engine", "mocker"))
    assert line == (
        "error: p.yaml:4: frontend.extra_args.3: 1.10 is read as the number 1.1; quote it: '1.10'."
    )


def test_values_whose_text_stays_as_written_are_accepted(run_trtl, isolated_dirs):
    """`PORT: 8000` is what people write; trtl passes exactly that text on."""
    (isolated_dirs / "p.yaml").write_text(
        "extends: agg\nenv: {PORT: 8000, DEBUG: true, RATIO: 1.5, Q: '1.10', N: -3}\n"
        "mocker:\n  extra_args: [--x, 2, --y, '0755']\n"
    )
    plan = plan_json(run_trtl, "p.yaml")
    worker = next(p for p in plan["processes"] if p["role"] == "worker")
    env = worker["env"]
    assert (env["PORT"], env["DEBUG"], env["RATIO"], env["Q"], env["N"]) == (
        "8000", "true", "1.5", "1.10", "-3",
    )  # fmt: skip
    at = worker["argv"].index("--x")
    assert worker["argv"][at : at + 4] == ["--x", "2", "--y", "0755"]


def test_set_keeps_the_text_typed_for_env_and_extra_args(run_trtl):
    plan = plan_json(
        run_trtl,
        "agg",
        "--set", "env.NCCL_VER=2.10",
        "--set", "workers.worker.env.MODE=0755",
        "--set", "env.OTHER={}".replace("{}", "'quoted'"),
        "--set", "frontend.extra_args=[--x, on, --y, 1.10]",
    )  # fmt: skip
    frontend = next(p for p in plan["processes"] if p["role"] == "frontend")
    worker = next(p for p in plan["processes"] if p["role"] == "worker")
    assert worker["env"]["NCCL_VER"] == "2.10"
    assert worker["env"]["MODE"] == "0755"
    assert worker["env"]["OTHER"] == "quoted"
    assert frontend["argv"][frontend["argv"].index("--x") : frontend["argv"].index("--x") + 4] == [
        "--x", "on", "--y", "1.10",
    ]  # fmt: skip


def test_the_export_carries_the_env_text_typed(run_trtl):
    result = run_trtl("export", "--k8s", "agg", "--set", "env.NCCL_VER=2.10")
    assert result.exit_code == 0, result.output
    assert "value: '2.10'" in result.stdout


# --- 7. profiles and DGDs from a pipe ----------------------------------------------------------

DGD = """\
apiVersion: nvidia.com/v1beta1
kind: DynamoGraphDeployment
metadata: {name: demo}
spec:
  backendFramework: trtllm
  components:
  - {name: Frontend, type: frontend, replicas: 1}
  - name: TRTLLMWorker
    type: worker
    replicas: 1
    podTemplate: {spec: {containers: [{name: main, image: nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:1.6.1, command: [python3, -m, dynamo.trtllm], args: [--model-path, Qwen/Qwen3-0.6B], resources: {limits: {nvidia.com/gpu: "1"}}}]}}
"""  # noqa: E501


@contextmanager
def piped(text: str) -> Iterator[str]:
    """``/dev/fd/N`` of a pipe holding ``text``, as a shell's ``<(cat FILE)`` gives it."""
    read, write = os.pipe()
    os.write(write, text.encode())
    os.close(write)
    try:
        yield f"/dev/fd/{read}"
    finally:
        os.close(read)


@pytest.mark.parametrize("text", ["extends: agg\nname: piped\n", DGD])
def test_plan_reads_a_profile_or_a_dgd_from_a_pipe(run_trtl, isolated_dirs, text):
    (isolated_dirs / "f.yaml").write_text(text)
    with piped(text) as path:
        plans = [plan_json(run_trtl, ref) for ref in ("f.yaml", path)]
    # The same graph (free ports are picked afresh for each plan).
    shown = [(p["deployment"], [(q["name"], q["argv"]) for q in p["processes"]]) for p in plans]
    assert shown[0] == shown[1]


def test_export_reads_a_dgd_from_a_pipe(run_trtl, isolated_dirs):
    (isolated_dirs / "f.yaml").write_text(DGD)
    expected = run_trtl("export", "--k8s", "f.yaml").stdout
    with piped(DGD) as path:
        result = run_trtl("export", "--k8s", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == expected.replace("from f.yaml.", f"from {path}.")


def test_an_error_in_a_piped_profile_names_the_given_path(run_trtl):
    with piped("extends: agg\nenv: {A: yes}\n") as path:
        line = one_error(run_trtl("plan", path, "--engine", "mocker"))
    assert line == f"error: {path}:2: env.A: yes is read as the boolean true; quote it: A: 'yes'."


def test_plan_reads_dev_stdin(isolated_dirs):
    proc = subprocess.run(
        [sys.executable, "-m", "trtl.launcher", "plan", "/dev/stdin", "--engine", "mocker"],
        input=DGD,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("deployment  demo  (profile demo, engine mocker")


def test_a_plan_from_a_pipe_is_never_cached(run_trtl, monkeypatch):
    """The cache checks its files' content on the next `trtl up`; a pipe has none by then, so
    `trtl up /dev/stdin` would start the plan of the previous input."""
    from trtl.launcher.planning import plan_cache

    monkeypatch.setattr(plan_cache, "ENTRY_ARGS", ["/dev/fd/9"])
    with piped("extends: agg\n") as path:
        plan_json(run_trtl, path)
    assert plan_cache.ENTRY_ARGS is None
