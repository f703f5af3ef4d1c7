"""Finding profiles, extends, --set and --model, and the messages for bad profiles."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from trtl.profiles.errors import ProfileError
from trtl.profiles.loader import list_profiles, load_profile


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def error_of(ref: str, **kwargs) -> str:
    with pytest.raises(ProfileError) as info:
        load_profile(ref, **kwargs)
    assert info.value.exit_code == 2
    return str(info.value)


# --- finding profiles -------------------------------------------------------------------


def test_profile_from_a_file_path(isolated_dirs):
    write(isolated_dirs / "mine.yaml", "extends: agg\nmodel: /models/tiny\n")
    profile = load_profile("./mine.yaml")
    assert profile.name == "mine"  # named after the file, not after what it extends
    assert profile.model == "/models/tiny"
    assert profile.workers["worker"].mode == "agg"


def test_project_folder_then_user_folder_then_builtins(isolated_dirs):
    user_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "trtl" / "profiles"
    write(user_dir / "team.yaml", "extends: agg\ndescription: from the user folder\n")
    write(user_dir / "shared.yaml", "extends: agg\ndescription: user copy\n")
    write(isolated_dirs / ".trtl/profiles/shared.yaml", "extends: agg\ndescription: project\n")
    assert load_profile("team").description == "from the user folder"
    assert load_profile("shared").description == "project"
    origins = [(p.name, p.origin) for p in list_profiles() if p.name == "shared"]
    assert origins == [("shared", "project"), ("shared", "user")]


def test_a_profile_extending_its_own_name_gets_the_builtin(isolated_dirs):
    write(
        isolated_dirs / ".trtl/profiles/disagg.yaml",
        """
        extends: disagg
        workers:
          decode:
            replicas: 3
        """,
    )
    profile = load_profile("disagg")
    assert profile.workers["decode"].replicas == 3
    assert profile.workers["prefill"].replicas == 1


def test_a_builtins_extends_sees_only_builtins(isolated_dirs):
    user_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "trtl" / "profiles"
    write(user_dir / "disagg.yaml", "extends: agg\ndescription: not a disagg at all\n")
    assert list(load_profile("disagg").workers) == ["worker"]  # the user asked for this
    router = load_profile("disagg_router")  # the built-in extends the built-in disagg
    assert {r: w.replicas for r, w in router.workers.items()} == {"prefill": 2, "decode": 1}


def test_unknown_name_lists_the_known_ones():
    message = error_of("disag")
    assert "No profile named 'disag'" in message
    assert "agg, agg_router, disagg, disagg_router" in message
    assert "Did you mean 'disagg'?" in message


def test_missing_file():
    assert "nope.yaml: no such profile file." in error_of("nope.yaml")


# --- extends ----------------------------------------------------------------------------


def test_extends_merges_mappings_and_replaces_lists_and_values(isolated_dirs):
    write(
        isolated_dirs / "base.yaml",
        """
        extends: disagg
        env: {DYN_LOG: info, KEEP: "1"}
        frontend:
          extra_args: [--kv-cache-block-size, "32"]
        """,
    )
    write(
        isolated_dirs / "child.yaml",
        """
        extends: ./base.yaml
        env: {DYN_LOG: debug}
        frontend:
          extra_args: [--kv-cache-block-size, "64"]
        workers:
          decode:
            engine_config:
              kv_cache_config: {free_gpu_memory_fraction: 0.5}
        """,
    )
    profile = load_profile("child.yaml")
    assert profile.env == {"DYN_LOG": "debug", "KEEP": "1"}
    assert profile.frontend.extra_args == ["--kv-cache-block-size", "64"]
    decode = profile.workers["decode"].engine_config
    assert decode["kv_cache_config"] == {"free_gpu_memory_fraction": 0.5}
    assert decode["max_num_tokens"] == 8192  # inherited from the built-in
    assert profile.frontend.migration_limit == 3


def test_null_removes_an_inherited_role(isolated_dirs):
    write(
        isolated_dirs / "agg2.yaml",
        """
        extends: disagg
        workers:
          prefill: null
          decode: null
          worker: {mode: agg}
        """,
    )
    assert list(load_profile("agg2.yaml").workers) == ["worker"]


def test_extends_loop_is_named(isolated_dirs):
    write(isolated_dirs / "a.yaml", "extends: ./b.yaml\n")
    write(isolated_dirs / "b.yaml", "extends: ./a.yaml\n")
    message = error_of("a.yaml")
    assert "extend each other in a loop" in message
    assert "a.yaml" in message and "b.yaml" in message


def test_extends_unknown_profile_names_the_line(isolated_dirs):
    write(isolated_dirs / "x.yaml", "description: x\nextends: nothere\n")
    message = error_of("x.yaml")
    assert "x.yaml:2:" in message and "No profile named 'nothere'" in message


# --- --set and --model ------------------------------------------------------------------


def test_set_parses_values_as_yaml():
    profile = load_profile(
        "disagg",
        overrides=[
            "workers.decode.replicas=2",
            "frontend.router_mode=kv",
            "env.DYN_LOG=debug",
            "env.FLAG=true",
            "workers.decode.engine_config.max_batch_size=32",
            "frontend.extra_args=[--kv-cache-block-size, '64']",
        ],
    )
    assert profile.workers["decode"].replicas == 2
    assert profile.frontend.router_mode == "kv"
    assert profile.env == {"DYN_LOG": "debug", "FLAG": "true"}
    assert profile.workers["decode"].engine_config["max_batch_size"] == 32
    assert profile.frontend.extra_args == ["--kv-cache-block-size", "64"]


def test_model_and_engine_options():
    profile = load_profile("agg", model="yes", engine="mocker")
    assert profile.model == "yes"  # stays a string, not a YAML boolean
    assert profile.engine == "mocker"


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        (
            "workers.decode.replica=2",
            "--set workers.decode.replica=2: the profile has no setting "
            "'workers.decode.replica'. Did you mean 'replicas'?",
        ),
        (
            "workers.decod.replicas=2",
            "--set workers.decod.replicas=2: there is no worker role 'decod' "
            "(roles: decode, prefill)",
        ),
        ("frontnd.http_port=1", "no setting 'frontnd'. Did you mean 'frontend'?"),
        ("replicas", "expected dotted.key=value"),
        ("workers..replicas=1", "expected dotted.key=value"),
        ("frontend.router_mode=fast", "frontend.router_mode: must be one of"),
    ],
)
def test_bad_set(assignment, expected):
    assert expected in error_of("disagg", overrides=[assignment])


def test_bad_set_value_names_the_option():
    message = error_of("disagg", overrides=["workers.decode.replicas=many"])
    assert message.startswith("--set workers.decode.replicas=many: workers.decode.replicas:")
    assert "'many'" in message


# --- bad profile files: file, line, field, and the choices -------------------------------


def test_unknown_field(isolated_dirs):
    write(
        isolated_dirs / "typo.yaml",
        """
        name: typo
        workers:
          decode:
            mode: agg
            replica: 2
        """,
    )
    message = error_of("typo.yaml")
    assert "typo.yaml:6: workers.decode.replica: unknown field; did you mean 'replicas'?" in message
    assert "Known fields: mode, replicas, gpus" in message


def test_wrong_type(isolated_dirs):
    write(isolated_dirs / "t.yaml", "extends: agg\nfrontend:\n  http_port: eighty\n")
    message = error_of("t.yaml")
    assert "t.yaml:3: frontend.http_port:" in message and "valid integer" in message


def test_bad_choice_lists_the_valid_ones(isolated_dirs):
    write(isolated_dirs / "m.yaml", "extends: agg\nworkers:\n  worker:\n    mode: both\n")
    message = error_of("m.yaml")
    assert "m.yaml:4: workers.worker.mode: must be one of 'agg', 'prefill', 'decode'" in message
    assert "not 'both'" in message


def test_out_of_range(isolated_dirs):
    write(isolated_dirs / "r.yaml", "extends: agg\nworkers:\n  worker:\n    replicas: 0\n")
    assert "r.yaml:4: workers.worker.replicas: Input should be greater than or equal to 1" in (
        error_of("r.yaml")
    )


def test_broken_yaml_names_the_line(isolated_dirs):
    write(isolated_dirs / "b.yaml", "name: b\nworkers:\n  worker: {mode: agg\n")
    message = error_of("b.yaml")
    assert message.startswith("b.yaml:4: broken YAML: expected ',' or '}'")


def test_not_a_mapping(isolated_dirs):
    write(isolated_dirs / "l.yaml", "- a\n- b\n")
    assert "a profile is a YAML mapping" in error_of("l.yaml")


def test_duplicate_key(isolated_dirs):
    write(isolated_dirs / "d.yaml", "extends: agg\nmodel: a\nmodel: b\n")
    assert "d.yaml:3: key 'model' appears twice." in error_of("d.yaml")


def test_bad_role_name(isolated_dirs):
    write(isolated_dirs / "n.yaml", "name: n\nworkers:\n  Decode: {mode: agg}\n")
    assert "'Decode' is not a valid name" in error_of("n.yaml")


def test_half_a_disaggregated_graph(isolated_dirs):
    write(isolated_dirs / "h.yaml", "name: h\nworkers:\n  decode: {mode: decode}\n")
    assert "a disaggregated graph needs a prefill role too" in error_of("h.yaml")


def test_mixing_agg_and_disagg_roles(isolated_dirs):
    write(isolated_dirs / "mx.yaml", "extends: disagg\nworkers:\n  extra: {mode: agg}\n")
    assert "mix agg with prefill/decode" in error_of("mx.yaml")


def test_parallelism_belongs_to_the_role(isolated_dirs):
    write(
        isolated_dirs / "tp.yaml",
        "extends: agg\nworkers:\n  worker:\n    engine_config: {tensor_parallel_size: 2}\n",
    )
    message = error_of("tp.yaml")
    assert "engine_config.tensor_parallel_size is set by the role's own tensor_parallel_size" in (
        message
    )


def test_a_dynamo_graph_deployment_is_not_a_profile(isolated_dirs):
    write(
        isolated_dirs / "dgd.yaml",
        "apiVersion: nvidia.com/v1beta1\nkind: DynamoGraphDeployment\nmetadata: {name: x}\n",
    )
    assert "this is a Kubernetes DynamoGraphDeployment, not a trtl profile" in error_of("dgd.yaml")


def test_bad_env_name():
    message = error_of("agg", overrides=["env.BAD-NAME=1"])
    assert "env.BAD-NAME: 'BAD-NAME' is not a valid environment variable name." in message


def test_a_worker_role_cannot_be_called_frontend(isolated_dirs):
    write(isolated_dirs / "f.yaml", "name: f\nworkers:\n  frontend: {mode: agg}\n")
    assert "'frontend' names the frontend process" in error_of("f.yaml")
