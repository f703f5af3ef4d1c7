"""The trtl command line as a user meets it: output, JSON, exit codes, and no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
import yaml
from trtl.profiles.loader import BUILTIN_DIR

BUILTINS = ["agg", "agg_router", "disagg", "disagg_router"]


@pytest.mark.parametrize("name", BUILTINS)
def test_plan_json_for_every_builtin_on_the_mocker(run_trtl, name):
    result = run_trtl("plan", name, "--engine", "mocker", "--model", "/models/tiny", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["deployment"] == name
    assert data["frontend_url"] == "http://127.0.0.1:8000"
    assert data["processes"][0]["name"] == "frontend"
    for proc in data["processes"]:
        assert set(proc) >= {"name", "role", "argv", "env", "gpus", "ports"}
        assert proc["gpus"] == []


def test_plan_shows_every_process(run_trtl):
    result = run_trtl(
        "plan", "disagg_router", "--engine", "mocker", "--name", "demo", "--port", "8123"
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "deployment  demo  (profile disagg_router, engine mocker" in out
    assert "http://127.0.0.1:8123/v1" in out
    for name in ("frontend", "prefill-0", "prefill-1", "decode-0"):
        assert f"\n{name}" in out
    assert "-m dynamo.mocker --model-path Qwen/Qwen3-0.6B" in out
    assert "env   DYN_NAMESPACE=trtl-demo" in out
    # Notes about dropped engine settings go to stderr, not into the data.
    assert "note: workers.prefill: the mocker cannot imitate" in result.stderr
    assert "note:" not in out


def test_set_and_model_apply_to_plan(run_trtl):
    result = run_trtl(
        "plan", "agg", "--engine", "mocker", "--model", "/m",
        "--set", "workers.worker.replicas=3", "--set", "served_model_name=tiny", "--json",
    )  # fmt: skip
    data = json.loads(result.stdout)
    assert [p["name"] for p in data["processes"]] == [
        "frontend",
        "worker-0",
        "worker-1",
        "worker-2",
    ]
    assert (
        data["processes"][1]["argv"][-4:-2] == ["--model-name", "tiny"]
        or "tiny" in data["processes"][1]["argv"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "disag"], "error: No profile named 'disag'; known profiles: agg, agg_router"),
        (
            ["plan", "agg", "--set", "workers.worker.replica=2"],
            "no setting 'workers.worker.replica'",
        ),
        (
            ["plan", "agg", "--set", "frontend.router_mode=fast"],
            "must be one of 'round-robin', 'kv'",
        ),
        (["plan", "disagg", "--name", "Bad Name"], "is not a valid deployment name"),
        (["plan", "disagg"], "error: disagg needs 2 GPUs, this machine has no GPU"),
        (["profiles", "show", "nope.yaml"], "error: nope.yaml: no such profile file."),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(run_trtl, args, message):
    result = run_trtl(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_broken_profile_file_names_file_and_line(run_trtl, isolated_dirs):
    (isolated_dirs / "p.yaml").write_text("extends: agg\nworkers:\n  worker:\n    mode: both\n")
    result = run_trtl("plan", "p.yaml", "--engine", "mocker")
    assert result.exit_code == 2
    assert (
        "p.yaml:4: workers.worker.mode: must be one of 'agg', 'prefill', 'decode'" in result.stderr
    )


def test_profiles_lists_builtins_and_user_profiles(run_trtl, isolated_dirs):
    folder = isolated_dirs / ".trtl" / "profiles"
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text("extends: disagg\ndescription: my tweak\n")
    (folder / "broken.yaml").write_text("name: broken\nworkers: 3\n")
    result = run_trtl("profiles", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"agg", "agg_router", "disagg", "disagg_router", "mine", "broken"}
    assert rows["mine"]["origin"] == "project"
    assert rows["mine"]["description"] == "my tweak"
    assert rows["broken"]["error"].startswith("invalid:")
    assert rows["disagg_router"]["workers"] == [
        {"role": "prefill", "mode": "prefill", "replicas": 2},
        {"role": "decode", "mode": "decode", "replicas": 1},
    ]
    table = run_trtl("profiles")
    assert table.exit_code == 0
    assert "disagg_router" in table.stdout and "project" in table.stdout


def test_a_project_disagg_overrides_disagg_but_not_the_builtin_disagg_router(
    run_trtl, isolated_dirs, monkeypatch
):
    """The issue-14 case: a project tweak of disagg must not change disagg_router."""
    monkeypatch.setenv("COLUMNS", "200")  # the table on one line per profile
    folder = isolated_dirs / ".trtl" / "profiles"
    folder.mkdir(parents=True)
    (folder / "disagg.yaml").write_text(
        "extends: disagg\ndescription: my disagg, 3 decode\nworkers:\n  decode:\n    replicas: 3\n"
    )
    mine = run_trtl("plan", "disagg", "--engine", "mocker", "--json")
    assert mine.exit_code == 0, mine.output
    roles = [p["role"] for p in json.loads(mine.stdout)["processes"]]
    assert roles.count("decode") == 3
    assert (
        f"note: 'disagg' is the project profile {folder / 'disagg.yaml'}, which overrides the "
        "built-in disagg" in mine.stderr
    )
    router = run_trtl("plan", "disagg_router", "--engine", "mocker", "--json")
    assert router.exit_code == 0, router.output
    roles = [p["role"] for p in json.loads(router.stdout)["processes"]]
    assert (roles.count("prefill"), roles.count("decode")) == (2, 1)
    assert "overrides" not in router.stderr

    rows = json.loads(run_trtl("profiles", "--json").stdout)
    where = {(r["name"], r["origin"]): r for r in rows}
    assert where["disagg", "project"]["overrides"] == "built-in"
    assert where["disagg", "built-in"]["overridden_by"] == "project"
    assert where["disagg_router", "built-in"]["description"] == (
        "Disaggregated, 2 prefill + 1 decode, KV-aware routing"
    )
    table = run_trtl("profiles").stdout
    assert "project: .trtl/profiles/disagg.yaml (overrides built-in)" in table
    assert "built-in (overridden by project)" in table


def test_profiles_show_prints_the_resolved_profile(run_trtl):
    result = run_trtl("profiles", "show", "disagg_router", "--set", "workers.decode.replicas=2")
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.stdout)
    assert data["name"] == "disagg_router"
    assert "extends" not in data
    assert data["frontend"]["router_mode"] == "kv"
    assert data["workers"]["prefill"]["replicas"] == 2
    assert data["workers"]["decode"]["replicas"] == 2
    assert data["workers"]["decode"]["engine_config"]["max_num_tokens"] == 8192


def test_shown_profile_loads_back_unchanged(run_trtl, isolated_dirs):
    shown = run_trtl("profiles", "show", "agg_router").stdout
    (isolated_dirs / "copy.yaml").write_text(shown)
    again = run_trtl("profiles", "show", "copy.yaml").stdout
    assert yaml.safe_load(again) == {**yaml.safe_load(shown), "name": "agg_router"}


def test_schema_validates_the_builtin_profiles(run_trtl):
    result = run_trtl("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in BUILTIN_DIR.glob("*.yaml"):
        assert not list(validator.iter_errors(yaml.safe_load(path.read_text()))), path
    assert list(validator.iter_errors({"name": "x", "workers": {"w": {"mode": "both"}}}))
    assert list(validator.iter_errors({"extends": "agg", "frontend": {"router": "kv"}}))


def test_plan_imports_no_heavy_module():
    """`trtl plan` on the mocker must not import NVML, rich, Dynamo or the exporter."""
    code = (
        "import sys\n"
        "from trtl.launcher.cli import cli\n"
        "try:\n"
        "    cli(['plan', 'disagg_router', '--engine', 'mocker', '--json'],\n"
        "        standalone_mode=False)\n"
        "finally:\n"
        "    heavy = [m for m in ('pynvml', 'rich', 'dynamo', 'trtl.k8s_export.render', 'httpx')\n"
        "             if m in sys.modules]\n"
        "    print('HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr


def test_console_script_exits_2_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "trtl.launcher", "plan", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: No profile named 'nope'")
    assert "Traceback" not in proc.stderr


def test_down_with_nothing_running_is_done_already(run_trtl):
    result = run_trtl("down")
    assert result.exit_code == 0
    assert "nothing to stop" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout", "nan"], "nan is not a number of seconds"),
        (["--grace", "inf"], "inf"),
        (["--name", ""], "is not a valid deployment name"),
    ],
)
def test_up_refuses_bad_options_before_starting_anything(run_trtl, args, message):
    result = run_trtl("up", "agg", "--engine", "mocker", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_chat_refuses_an_empty_prompt(run_trtl):
    result = run_trtl("chat", "--url", "127.0.0.1:9", "  ")
    assert result.exit_code == 2
    assert "PROMPT is empty" in result.output
