"""DGDs as they are written in the wild: each shape imports, plans on the mocker, and
exports back to the same graph, judged by what runs (real bash runs the scripts) and by
Dynamo's own argument parsers."""

from __future__ import annotations

import copy
import json
import sys

import pytest
import yaml
from k8s_helpers import DATA
from wild_launch import launch_of

from k8s_export import parse, render
from k8s_export.yamlio import load_documents
from tests.argv_check import check_argvs

WILD = sorted(p.stem for p in (DATA / "wild").glob("*.yaml"))
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


def _fixture(stem: str) -> list[dict]:
    return load_documents(DATA / "wild" / f"{stem}.yaml")


@pytest.fixture(scope="module")
def round_trips():
    """{fixture: (before, after, parsed before, parsed after)}; one parser run for all."""
    pairs = {}
    checks = []
    for stem in WILD:
        docs = _fixture(stem)
        version = docs[-1]["apiVersion"].split("/")[1]
        again = render(parse(copy.deepcopy(docs), notes=[]), version=version)
        before, after = runs(docs), runs(again)
        pairs[stem] = (before, after)
        for side in (before, after):
            for c in side.values():
                module = c["module"] or ("dynamo.frontend" if c["type"] == "frontend" else None)
                if module in PROGRAMS:
                    checks.append({"program": PROGRAMS[module], "argv": c["args"],
                                   "env": c["dyn_env"]})  # fmt: skip
    results = iter(check_argvs(checks))
    parsed = {}
    for stem, (before, after) in pairs.items():
        for tag, side in (("before", before), ("after", after)):
            for name, c in side.items():
                module = c["module"] or ("dynamo.frontend" if c["type"] == "frontend" else None)
                if module in PROGRAMS:
                    parsed[(stem, tag, name)] = next(results)
    return pairs, parsed


@pytest.mark.parametrize("stem", WILD)
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
        if (stem, "before", name) not in parsed:
            continue
        old, new = parsed[(stem, "before", name)], parsed[(stem, "after", name)]
        assert old["ok"] and new["ok"], (name, old["error"], new["error"])
        old_cfg, new_cfg = dict(old["parsed"]), dict(new["parsed"])
        if isinstance(was["config"], dict):  # same content, compared above; paths may move
            old_cfg.pop("extra_engine_args"), new_cfg.pop("extra_engine_args")
        assert new_cfg == old_cfg, name


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
    from k8s_export.shapes import from_document
    from k8s_export.wild import read_launch

    docs = _fixture(stem)
    graph, _ = from_document(copy.deepcopy(docs[-1]), stem)
    truth = runs(docs)
    for c in graph.components:
        read = read_launch(c.container, graph.env, graph.backend, (c.name, c.type), stem)
        if read is None:
            assert truth[c.name]["module"] is None
            continue
        assert [read.module, *read.args] == [truth[c.name]["module"] or read.module,
                                              *truth[c.name]["args"]], c.name  # fmt: skip
        for path, text in read.files.items():
            assert text == launch_of(c.container, graph.env, sys.executable)[2][path]
