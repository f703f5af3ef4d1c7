"""Edges of export and import: unknown engines, parallelism flags, names, anchors, empty
configs, carried component names."""

from __future__ import annotations

import yaml
from k8s_helpers import DATA, IMAGE
from trtl.profiles.loader import load_profile

VLLM = DATA / "vllm_v1beta1_disagg.yaml"
DISAGG = DATA / "upstream_v1beta1_disagg.yaml"


def worker_main(dgd, index=1):
    return dgd["spec"]["components"][index]["podTemplate"]["spec"]["containers"][0]


def test_a_dgd_of_an_engine_trtl_does_not_know_is_refused_not_mocked(run_trtl, isolated_dirs):
    # dynamo.tokenspeed ships with ai-dynamo, and no trtl engine runs it: plan, import and
    # export all refuse it in one sentence (it used to run silently on the mocker).
    other = isolated_dirs / "other.yaml"
    other.write_text(VLLM.read_text().replace("dynamo.vllm", "dynamo.tokenspeed"))
    for command in (["export", "--k8s", str(other), "-o", "out.yaml"], ["plan", str(other)]):
        result = run_trtl(*command)
        assert result.exit_code == 2, result.output
        assert "runs `python -m dynamo.tokenspeed`, which is not a Dynamo engine trtl" in (
            result.stderr
        )
        assert "Traceback" not in result.output
    assert not (isolated_dirs / "out.yaml").exists()


def test_gpus_without_a_parallelism_flag_stay_gpus(run_trtl, isolated_dirs):
    """An in-image config may set TP itself: no --tensor-parallel-size 1 appears."""
    docs = list(yaml.safe_load_all(DISAGG.read_text()))
    worker_main(docs[-1])["resources"]["limits"]["nvidia.com/gpu"] = "4"
    (isolated_dirs / "dgd.yaml").write_text(yaml.safe_dump_all(docs))
    assert run_trtl("import", "dgd.yaml", "-o", "p.yaml").exit_code == 0
    role = load_profile("p.yaml").workers["trtllm-prefill-worker"]
    assert role.gpus == 4 and "tensor_parallel_size" not in role.model_fields_set
    for source in ("dgd.yaml", "p.yaml"):
        result = run_trtl("export", "--k8s", source)
        assert result.exit_code == 0, result.output
        main = worker_main(list(yaml.safe_load_all(result.stdout))[-1])
        assert "--tensor-parallel-size" not in main["args"], source
        assert main["resources"]["limits"]["nvidia.com/gpu"] == "4"


def test_an_explicit_parallelism_flag_survives_import_through_a_file(run_trtl, isolated_dirs):
    docs = list(yaml.safe_load_all(DISAGG.read_text()))
    worker_main(docs[-1])["args"] += ["--tensor-parallel-size", "1"]
    (isolated_dirs / "dgd.yaml").write_text(yaml.safe_dump_all(docs))
    assert run_trtl("import", "dgd.yaml", "-o", "p.yaml").exit_code == 0
    for source in ("dgd.yaml", "p.yaml"):
        dgd = list(yaml.safe_load_all(run_trtl("export", "--k8s", source).stdout))[-1]
        args = worker_main(dgd)["args"]
        assert args[args.index("--tensor-parallel-size") + 1] == "1", source
        assert "--tensor-parallel-size" not in worker_main(dgd, 2)["args"], source


def test_overrides_on_a_dgd_keep_unset_parallelism_unset():
    """--set re-validates the imported profile; what was unset must stay unset."""
    from trtl.k8s_export import load_dgd
    from trtl.profiles.engines import component_specs

    for overrides in ([], ["env.DYN_LOG=debug"]):
        profile = load_dgd(DISAGG, overrides=overrides)
        for spec in component_specs(profile, "/run/engine")[1:]:
            assert "--tensor-parallel-size" not in spec.args, overrides


def test_namespace_and_name_are_checked(run_trtl):
    bad_ns = run_trtl("export", "--k8s", "agg", "--image", IMAGE, "--namespace", "Team_A")
    assert bad_ns.exit_code == 2
    assert "Namespace 'Team_A' is not a Kubernetes namespace name" in bad_ns.stderr
    empty = run_trtl("export", "--k8s", "agg", "--image", IMAGE, "--name", "")
    assert empty.exit_code == 2
    assert "--name is empty" in empty.stderr
    assert empty.stdout == bad_ns.stdout == ""


def test_no_yaml_anchors_in_the_output(run_trtl):
    result = run_trtl(
        "export", "--k8s", "disagg", "--image", IMAGE,
        "--set", 'k8s.tolerations=[{"key": "gpu", "operator": "Exists"}]',
        "--set", 'k8s.node_selector={"pool": "gpu"}',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "&id" not in result.stdout and "*id" not in result.stdout
    assert result.stdout.count("key: gpu") == 3


def test_empty_engine_config_and_valueless_extra_engine_args(run_trtl, isolated_dirs):
    result = run_trtl(
        "export", "--k8s", "agg", "--image", IMAGE, "--set", "workers.worker.engine_config="
    )
    assert result.exit_code == 2
    # The profile schema refuses it, so plan and up do too, not only export.
    assert "workers.worker: engine_config is an empty path" in result.stderr
    docs = list(yaml.safe_load_all(DISAGG.read_text()))
    args = worker_main(docs[-1])["args"]
    del args[args.index("--extra-engine-args") + 1 :]
    (isolated_dirs / "dgd.yaml").write_text(yaml.safe_dump_all(docs))
    result = run_trtl("import", "dgd.yaml")
    assert result.exit_code == 2
    assert "--extra-engine-args is given no value" in result.stderr


def test_explain_lists_env_refs(run_trtl):
    result = run_trtl("export", "--explain")
    assert "env_refs" in result.stdout


def test_a_carried_component_name_must_be_one_the_crd_takes(run_trtl):
    ok = run_trtl("export", "--k8s", "agg", "--image", IMAGE,
                  "--set", "workers.worker.k8s.component_name=TRTLLMWorker")  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "- name: TRTLLMWorker" in ok.stdout
    bad = run_trtl("export", "--k8s", "agg", "--image", IMAGE,
                   "--set", "workers.worker.k8s.component_name=my_worker")  # fmt: skip
    assert bad.exit_code == 2
    clash = run_trtl("export", "--k8s", "agg", "--image", IMAGE,
                     "--set", "workers.worker.k8s.component_name=Frontend")  # fmt: skip
    assert clash.exit_code == 2
    assert "both become the Kubernetes name 'Frontend'" in clash.stderr
