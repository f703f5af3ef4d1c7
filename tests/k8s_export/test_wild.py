"""DGDs as they are written in the wild: each shape imports, plans on the mocker, and
exports back to the same graph, judged by what runs (real bash runs the scripts) and by
Dynamo's own argument parsers."""

from __future__ import annotations

import copy
import itertools
import json
import shlex
import sys

import pytest
import yaml
from k8s_helpers import DATA
from trtl.k8s_export import parse, render
from trtl.k8s_export.yamlio import load_documents
from wild_launch import launch_of

from tests.argv_check import check_argvs

WILD = sorted(p.stem for p in (DATA / "wild").glob("*.yaml"))
# Upstream files compared the same way (a ConfigMap of the user's own among them).
UPSTREAM = sorted(f"../{p.stem}" for p in DATA.glob("*.yaml"))
PROGRAMS = {"dynamo.frontend": "frontend", "dynamo.trtllm": "trtllm", "dynamo.mocker": "mocker"}


def components(doc: dict) -> dict[str, dict]:
    """{name: {type, replicas, gpus, container, volumes}} of a DGD of either version."""
    spec = doc["spec"]
    out = {}
    if "components" in spec:
        for c in spec["components"]:
            pod = c["podTemplate"]["spec"]
            main = pod["containers"][0]
            gpus = ((main.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu")
            out[c["name"]] = {"type": c.get("type"), "replicas": c.get("replicas", 1),
                              "gpus": gpus, "container": main, "volumes": pod.get("volumes"),
                              "multinode": c.get("multinode")}  # fmt: skip
        return out
    for name, s in spec["services"].items():
        main = dict(s["extraPodSpec"]["mainContainer"])
        main["env"] = [*(s.get("envs") or []), *(main.get("env") or [])] or None
        gpus = ((s.get("resources") or {}).get("limits") or {}).get("gpu")
        kind = s.get("subComponentType") or s.get("componentType")
        out[name] = {"type": kind, "replicas": s.get("replicas", 1), "gpus": gpus,
                     "container": main, "volumes": s["extraPodSpec"].get("volumes"),
                     "multinode": s.get("multinode")}  # fmt: skip
    return out


def graph_env(doc: dict) -> list[dict]:
    return doc["spec"].get("env") or doc["spec"].get("envs") or []


def runs(docs: list[dict]) -> dict[str, dict]:
    """Per component: what it runs (argv, env, engine config content) and its pod facts."""
    dgd = docs[-1]
    configmaps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    out = {}
    for name, c in components(dgd).items():
        argv, env, files = launch_of(c["container"], graph_env(dgd), sys.executable)
        module, args = (argv[2], argv[3:]) if argv[:1] == ["python3"] else (None, argv)
        if module is None:  # the image's entrypoint runs: the engine of backendFramework
            backend = dgd["spec"].get("backendFramework")
            module = "dynamo.frontend" if c["type"] == "frontend" else f"dynamo.{backend}"
        config = _config(args, files, c, configmaps)
        dyn_env = {k: v for k, v in env.items() if k.startswith("DYN_")}
        out[name] = {**c, "module": module, "args": args, "env": env, "dyn_env": dyn_env,
                     "config": config}  # fmt: skip
    return out


def _config(args, files, c, configmaps):
    if "--extra-engine-args" not in args:
        return None
    path = args[args.index("--extra-engine-args") + 1]
    if path in files:
        return yaml.safe_load(files[path])
    for mount in c["container"].get("volumeMounts") or []:
        if path.startswith(mount["mountPath"]):
            volume = next(v for v in c["volumes"] if v["name"] == mount["name"])
            data = configmaps[volume["configMap"]["name"]]["data"]
            return yaml.safe_load(data[path.rsplit("/", 1)[1]])
    return path  # a path inside the image


DEPRECATED = {"--publish-events-and-metrics": ["--publish-kv-events", "--publish-metrics"]}


def _fixture(stem: str) -> list[dict]:
    return load_documents(DATA / "wild" / f"{stem}.yaml")


@pytest.fixture(scope="module")
def round_trips():
    """{fixture: (before, after, parsed before, parsed after)}; one parser run for all."""
    pairs = {}
    checks = []
    for stem in WILD + UPSTREAM:
        docs = _fixture(stem)
        version = docs[-1]["apiVersion"].split("/")[1]
        again = render(parse(copy.deepcopy(docs), notes=[]), version=version)
        before, after = runs(docs), runs(again)
        pairs[stem] = (before, after)
        for side in (before, after):
            for c in side.values():
                module = c["module"]
                if module in PROGRAMS:
                    checks.append({"program": PROGRAMS[module], "argv": c["args"],
                                   "env": c["dyn_env"]})  # fmt: skip
    results = iter(check_argvs(checks))
    parsed = {}
    for stem, (before, after) in pairs.items():
        for tag, side in (("before", before), ("after", after)):
            for name, c in side.items():
                module = c["module"]
                if module in PROGRAMS:
                    parsed[(stem, tag, name)] = next(results)
    return pairs, parsed


@pytest.mark.parametrize("stem", WILD + UPSTREAM)
def test_import_then_export_runs_the_same_graph(stem, round_trips):
    pairs, parsed = round_trips
    before, after = pairs[stem]
    assert list(after) == list(before)  # the same components, in the same order
    for name, was in before.items():
        now = after[name]
        for key in ("type", "replicas", "gpus", "module", "env", "config", "volumes",
                    "multinode"):  # fmt: skip
            assert now[key] == was[key], (name, key)
        assert now["container"].get("volumeMounts") == was["container"].get("volumeMounts")
        # Argument for argument (a flag Dynamo 1.6.1 dropped is written as its replacements).
        assert now["args"] == [n for a in was["args"] for n in DEPRECATED.get(a, [a])], name
        if (stem, "before", name) not in parsed:  # no parser here (vLLM, SGLang)
            continue
        old, new = parsed[(stem, "before", name)], parsed[(stem, "after", name)]
        assert old["ok"] and new["ok"], (name, old["error"], new["error"])
        old_cfg, new_cfg = dict(old["parsed"]), dict(new["parsed"])
        if isinstance(was["config"], dict):  # same content, compared above; paths may move
            old_cfg.pop("extra_engine_args"), new_cfg.pop("extra_engine_args")
        assert new_cfg == old_cfg, name


def scripts(doc: dict) -> dict[str, str]:
    """{component: its shell script} of the components that run one."""
    out = {}
    for name, c in components(doc).items():
        whole = [*(c["container"].get("command") or []), *(c["container"].get("args") or [])]
        if whole and whole[0].rsplit("/", 1)[-1] in ("sh", "bash"):
            out[name] = whole[-1]
    return out


def shape(script: str) -> list:
    """The script line by line: each line's words (a trailing backslash as one), comments and
    blank lines skipped, a heredoc's body as the YAML it holds."""
    lines: list = []
    rows = iter(script.splitlines())
    for row in rows:
        continued = row.endswith("\\")
        lexer = shlex.shlex(row.removesuffix("\\"), posix=True, punctuation_chars="();&|<>")
        words = list(lexer) + (["\\"] if continued else [])
        if words:
            lines.append(words)
        if "<<" in words:
            end = words[words.index("<<") + 1]
            body = list(itertools.takewhile(lambda r, end=end: r.strip() != end, rows))
            lines += [yaml.safe_load("\n".join(body)), [end]]
    return lines


@pytest.mark.parametrize("stem", [s for s in WILD if scripts(_fixture(s)[-1])])
def test_a_script_comes_back_in_the_shape_it_was_written(stem):
    """Line for line: arrays stay arrays, continuations stay continuations, the order holds."""
    docs = _fixture(stem)
    version = docs[-1]["apiVersion"].split("/")[1]
    again = scripts(render(parse(copy.deepcopy(docs), notes=[]), version=version)[-1])
    for name, script in scripts(docs[-1]).items():
        # The one rewrite: Dynamo 1.6.1 dropped this flag for the two it stood for.
        script = script.replace("--publish-events-and-metrics",
                                "--publish-kv-events \\\n--publish-metrics")  # fmt: skip
        assert shape(again[name]) == shape(script), name


def test_a_changed_setting_goes_back_into_its_array():
    """The user's edits land in the statement that held the flag; the rest stays as it was."""
    docs = _fixture("bash_arrays")
    profile = parse(copy.deepcopy(docs), notes=[])
    data = profile.model_dump(mode="json", exclude_unset=True)
    data["model"] = "Qwen/Qwen3-1.7B"
    data["workers"]["decode"]["extra_args"] = ["--max-batch-size", "8"]
    data["workers"]["prefill"]["extra_args"] = []  # --max-num-tokens is gone
    data["workers"]["prefill"]["tensor_parallel_size"] = 2  # a flag the script lacked
    changed = type(profile).model_validate(data)
    got = scripts(render(changed)[-1])
    assert got["prefill"] == (
        "args=(\n"
        "  --model-path Qwen/Qwen3-1.7B\n"
        "  --served-model-name Qwen/Qwen3-1.7B\n"
        ")\n"
        "args+=(--disaggregation-mode prefill)\n"
        "args+=()\n"
        'exec python3 -m dynamo.trtllm "${args[@]}" --tensor-parallel-size 2\n'
    )
    assert got["decode"] == (
        "args=(--model-path Qwen/Qwen3-1.7B --disaggregation-mode decode)\n"
        'exec python3 -m dynamo.trtllm "${args[@]}" --max-batch-size 8\n'
    )


def test_a_flag_left_out_on_import_comes_back_once_the_user_sets_it():
    """k8s.launch.omit leaves out a flag only while it keeps the value it was left out with."""
    profile = _profile("bash_arrays")
    assert profile.frontend.k8s.launch.omit == ["--router-mode=round-robin"]
    assert "args" not in _main(render(profile)[-1], "Frontend")
    kv = profile.model_copy(update={"frontend": profile.frontend.model_copy(
        update={"router_mode": "kv"})})  # fmt: skip
    assert _main(render(kv)[-1], "Frontend")["args"] == ["--router-mode", "kv"]


@pytest.mark.parametrize("stem", WILD)
def test_each_shape_plans_on_the_mocker(stem, run_trtl):
    result = run_trtl("plan", str(DATA / "wild" / f"{stem}.yaml"), "--engine", "mocker",
                      "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    roles = [p["role"] for p in plan["processes"]]
    assert roles[0] == "frontend" and len(roles) > 1
    assert plan["model"] == "Qwen/Qwen3-0.6B"
    for process in plan["processes"][1:]:
        assert process["argv"][1:3] == ["-m", "dynamo.mocker"]
        assert not any("\n" in arg for arg in process["argv"])


@pytest.mark.parametrize("stem", WILD)
def test_the_reader_agrees_with_bash(stem):
    """trtl's reading of each command is what bash (and the kubelet) would run."""
    from trtl.k8s_export.shapes import from_document
    from trtl.k8s_export.wild import read_launch

    docs = _fixture(stem)
    graph, _ = from_document(copy.deepcopy(docs[-1]), stem)
    truth = runs(docs)
    for c in graph.components:
        read = read_launch(c.container, graph.env, graph.backend, (c.name, c.type), stem)
        if read is None:
            assert truth[c.name]["args"] == []
            continue
        assert [read.module, *read.args] == [truth[c.name]["module"], *truth[c.name]["args"]]
        for path, text in read.files.items():
            assert text == launch_of(c.container, graph.env, sys.executable)[2][path]


def _profile(stem: str, notes: list[str] | None = None):
    return parse(_fixture(stem), notes=[] if notes is None else notes)


def _main(doc: dict, name: str) -> dict:
    return components(doc)[name]["container"]


def test_a_heredoc_engine_config_becomes_the_roles_and_goes_back_into_the_script():
    profile = _profile("aiconfigurator_heredoc")
    prefill = profile.workers["trtllm-prefill-worker"]
    assert prefill.engine_config["max_batch_size"] == 2
    assert prefill.engine_config["kv_cache_config"] == {"free_gpu_memory_fraction": 0.85,
                                                        "dtype": "fp8"}  # fmt: skip
    assert prefill.kv_transfer_backend == "DEFAULT" and prefill.tensor_parallel_size == 1
    docs = render(profile, version="v1alpha1")
    assert [d["kind"] for d in docs] == ["DynamoGraphDeployment"]  # no ConfigMap: the script
    script = _main(docs[-1], "TRTLLMPrefillWorker")["args"][0]
    assert "cat > /workspace/engine_configs/prefill_config.yaml <<'EOF'" in script


def test_variables_run_expanded_locally_and_export_as_written():
    profile = _profile("model_path_env")
    assert profile.model == "Qwen/Qwen3-0.6B" and profile.served_model_name == "qwen"
    script = _main(render(profile)[-1], "worker")["args"][0]
    assert '--model-path "${MODEL_PATH}"' in script and '"${SERVED_NAME:-qwen}"' in script
    kubelet = _profile("kubelet_vars")
    assert kubelet.served_model_name == "$(MODEL)-$(UNDEFINED_NAME)"  # $$ escapes, unknown stays
    args = _main(render(kubelet)[-1], "worker")["args"]
    assert args[args.index("--served-model-name") + 1] == "$$(MODEL)-$(UNDEFINED_NAME)"
    assert "$(MODEL)" in args and "$(TOKENS)" in args


def test_a_decode_labelled_worker_without_the_flag_runs_aggregated():
    profile = _profile("decode_label_agg")
    assert profile.workers["trtllm-decode-worker"].mode == "agg"
    exported = components(render(profile)[-1])["TRTLLMDecodeWorker"]
    assert exported["type"] == "decode"
    assert "--disaggregation-mode" not in exported["container"]["args"]
    # The KV router's flags run locally only: the cluster file had none.
    assert "--publish-kv-events" not in exported["container"]["args"]


def test_a_worker_only_graph_gets_a_local_frontend_and_exports_none(run_trtl):
    notes: list[str] = []
    profile = _profile("worker_only", notes)
    assert any("has no frontend" in n for n in notes)
    assert list(components(render(profile)[-1])) == ["TrtllmWorker"]
    result = run_trtl("plan", str(DATA / "wild" / "worker_only.yaml"), "--engine", "mocker")
    assert "has no frontend" in result.stderr


def test_gpus_come_from_data_parallel_when_the_pod_names_none():
    docs = _fixture("vllm_data_parallel")
    del _main(docs[-1], "VllmWorker")["resources"]
    notes: list[str] = []
    profile = parse(docs, notes=notes)
    assert profile.workers["vllm-worker"].gpus_per_replica == 4
    assert "component VllmWorker: 4 GPUs per replica (tensor parallel 2 × data parallel 2)." in (
        notes
    )


def test_a_multinode_replica_counts_every_nodes_gpus():
    notes: list[str] = []
    profile = _profile("multinode", notes)
    assert profile.workers["trtllm-worker"].gpus_per_replica == 16
    assert any("2 nodes × 8 GPUs = 16 GPUs per replica" in n for n in notes)
    worker = components(render(profile, version="v1alpha1")[-1])["TRTLLMWorker"]
    assert worker["gpus"] == "8" and worker["multinode"] == {"nodeCount": 2}


@pytest.mark.parametrize("stem", WILD + UPSTREAM)
def test_the_export_is_stable_and_needs_no_annotation(stem):
    """The graph alone says everything: export → import → export gives the same text."""
    from trtl.k8s_export.yamlio import dump_all, parse_documents

    docs = _fixture(stem)
    version = docs[-1]["apiVersion"].split("/")[1]
    once = render(_profile(stem), version=version)
    assert "annotations" not in once[-1]["metadata"]
    again = render(parse(parse_documents(dump_all(once), stem), notes=[]), version=version)
    assert dump_all(again) == dump_all(once)


@pytest.mark.parametrize("stem", ["aiconfigurator_heredoc", "bash_arrays", "kubelet_vars"])
def test_an_imported_profile_file_exports_the_same_graph(stem, run_trtl, isolated_dirs):
    source = str(DATA / "wild" / f"{stem}.yaml")
    version = _fixture(stem)[-1]["apiVersion"].split("/")[1]
    out = isolated_dirs / "imported.yaml"
    assert run_trtl("import", source, "-o", str(out)).exit_code == 0
    direct = run_trtl("export", "--k8s", source, "--api-version", version)
    via_file = run_trtl("export", "--k8s", str(out), "--api-version", version)
    assert direct.exit_code == via_file.exit_code == 0, via_file.output
    graphs = [list(yaml.safe_load_all(r.stdout)) for r in (direct, via_file)]
    for docs in graphs:
        docs[-1]["metadata"].pop("annotations", None)  # the profile file's own residual
    assert graphs[0] == graphs[1]


def test_a_multinode_graph_is_refused_locally_when_the_gpus_do_not_suffice(run_trtl):
    result = run_trtl("plan", str(DATA / "wild" / "multinode.yaml"))
    assert result.exit_code != 0
    assert "needs 16 GPUs" in result.stderr and "Traceback" not in result.output


def test_a_shell_wrapped_sglang_graph_imports_and_exports_as_sglang(run_trtl, isolated_dirs):
    docs = _fixture("sh_c_single_line")
    worker = _main(docs[-1], "TrtllmWorker")
    worker["args"] = ["exec python3 -m dynamo.sglang --model-path Qwen/Qwen3-0.6B"]
    assert parse(copy.deepcopy(docs)).engine == "sglang"
    path = isolated_dirs / "sglang.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    result = run_trtl("export", "--k8s", str(path))
    assert result.exit_code == 0, result.stderr
    assert "exec python3 -m dynamo.sglang --model-path Qwen/Qwen3-0.6B" in result.stdout


def test_a_token_in_a_script_is_dropped_with_its_line_and_the_script_still_reads():
    docs = _fixture("preamble")
    token = "hf_" + "a" * 34
    _main(docs[-1], "worker")["args"] = [
        f"set -e\nexport HF_TOKEN={token}\nexec python3 -m dynamo.trtllm --model-path m\n"
    ]
    notes: list[str] = []
    profile = parse(docs, notes=notes)
    assert profile.model == "m"
    assert any("left out a script line: it holds a secret" in n for n in notes)
    assert token not in json.dumps(profile.model_dump(mode="json"))


_SAME_VALUE = """
apiVersion: nvidia.com/v1beta1
kind: DynamoGraphDeployment
metadata: {name: same-value}
spec:
  backendFramework: vllm
  components:
    - name: Frontend
      type: frontend
      podTemplate:
        spec:
          containers: [{name: main, image: img:1, command: [python3, -m, dynamo.frontend]}]
    - name: worker
      type: worker
      podTemplate:
        spec:
          containers:
            - name: main
              image: img:1
              env: [{name: TP, value: "1"}]
              command: [/bin/bash, -c]
              args:
                - |
                  args=(--model Qwen/Qwen3-0.6B --tensor-parallel-size "${TP}")
                  exec python3 -m dynamo.vllm "${args[@]}" --seed 1
              resources: {limits: {nvidia.com/gpu: "1"}}
"""


def test_a_value_written_as_a_variable_in_one_place_stays_literal_in_another():
    # Before: `--seed 1` came back as `--seed "${TP}"` (TP is 1 too), so raising TP to 2
    # in the profile changed the seed in the cluster as well.
    docs = list(yaml.safe_load_all(_SAME_VALUE))
    profile = parse(copy.deepcopy(docs), notes=[])
    assert scripts(render(profile)[-1])["worker"] == (
        'args=(--model Qwen/Qwen3-0.6B --tensor-parallel-size "${TP}")\n'
        'exec python3 -m dynamo.vllm "${args[@]}" --seed 1\n'
    )
    data = profile.model_dump(mode="json", exclude_unset=True)
    data["workers"]["worker"]["env"]["TP"] = "2"
    data["workers"]["worker"]["tensor_parallel_size"] = 2
    data["workers"]["worker"]["k8s"]["launch"].pop("keep", None)
    script = scripts(render(type(profile).model_validate(data))[-1])["worker"]
    assert script.endswith('"${args[@]}" --seed 1\n'), script


def test_a_kubelet_variable_in_plain_args_stays_where_it_was_written():
    # The same defect in a plain command: `--seed "1"` came back as `--seed $(TP)`.
    docs = list(yaml.safe_load_all(_SAME_VALUE))
    container = docs[0]["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]
    container["command"] = ["python3", "-m", "dynamo.vllm"]
    container["args"] = ["--model", "Qwen/Qwen3-0.6B", "--tensor-parallel-size", "$(TP)",
                         "--seed", "1"]  # fmt: skip
    profile = parse(copy.deepcopy(docs), notes=[])
    assert _main(render(profile)[-1], "worker")["args"] == container["args"]


def test_two_variables_of_one_value_each_come_back_in_their_place():
    docs = list(yaml.safe_load_all(_SAME_VALUE.replace(
        '[{name: TP, value: "1"}]', '[{name: TP, value: "1"}, {name: PP, value: "1"}]'
    ).replace("--seed 1", '--pipeline-parallel-size "${PP}"')))  # fmt: skip
    profile = parse(copy.deepcopy(docs), notes=[])
    assert scripts(render(profile)[-1])["worker"] == (
        'args=(--model Qwen/Qwen3-0.6B --tensor-parallel-size "${TP}")\n'
        'exec python3 -m dynamo.vllm "${args[@]}" --pipeline-parallel-size "${PP}"\n'
    )


def test_a_flag_written_with_equals_and_a_variable_exports_the_same_command():
    # A key FLAG=value for "the value after FLAG" was taken for the word `--model=…`
    # itself: `--model="${M}"` came back as `--model "--model=${M}"`.
    script = 'args=(--model="${M}" --seed=3)\nexec python3 -m dynamo.vllm "${args[@]}"\n'
    doc = _SAME_VALUE.replace('[{name: TP, value: "1"}]', '[{name: M, value: "Qwen/Qwen3-0.6B"}]')
    docs = list(yaml.safe_load_all(doc))
    container = docs[0]["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]
    container["args"] = [script]
    profile = parse(copy.deepcopy(docs), notes=[])
    got = scripts(render(profile)[-1])["worker"]
    assert got.startswith('args=("--model=${M}" --seed=3)\n'), got  # the same word to bash


def test_a_flag_joined_to_its_value_comes_back_joined():
    # Before: a flag trtl maps to a setting came back as two words (--max-model-len 4096).
    docs = list(yaml.safe_load_all(_SAME_VALUE))
    container = docs[0]["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]
    container["command"] = ["python3", "-m", "dynamo.vllm"]
    container["args"] = ["--model=Qwen/Qwen3-0.6B", "--max-model-len=4096", "--seed=1"]
    profile = parse(copy.deepcopy(docs), notes=[])
    assert _main(render(profile)[-1], "worker")["args"] == container["args"]
    script = (
        "args=(--model=Qwen/Qwen3-0.6B --max-model-len=4096)\n"
        'exec python3 -m dynamo.vllm "${args[@]}"\n'
    )
    container["command"], container["args"] = ["/bin/bash", "-c"], [script]
    assert scripts(render(parse(copy.deepcopy(docs), notes=[]))[-1])["worker"] == script
