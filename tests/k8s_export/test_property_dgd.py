"""Random and mutated DynamoGraphDeployment files through import, plan and export.

Whatever a DGD file holds, ``trtl import``, ``trtl plan`` and ``trtl export --k8s`` either
read it or say what is wrong in one sentence and exit 2, leaving no output file; never a
traceback, and never the "cannot read this DynamoGraphDeployment" net that catches a
reader's own exception. (test_malformed_dgd.py pins the exact messages for single wrong
types in upstream fixtures; this throws random shapes, flags and edits at the readers.)
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import (
    assert_clean,
    fuzz_settings,
    invoke,
    junk,
    mutations,
    numbers,
    texts,
)

BUILTINS = ["agg", "agg_router", "disagg", "disagg_router"]
NET = "trtl cannot read this DynamoGraphDeployment"
HEAD = "apiVersion: nvidia.com/v1beta1\nkind: DynamoGraphDeployment\n"


def read_and_run(path: Path, given_text: str) -> None:
    """import (to stdout and to a file), plan and re-export: each works or fails cleanly."""
    out = path.parent / "out.yaml"
    out.unlink(missing_ok=True)
    commands = [
        ("import", path.name),
        ("import", path.name, "-o", out.name),
        ("plan", path.name, "--engine", "mocker"),
        ("export", "--k8s", path.name, "--image", "x"),
    ]
    for args in commands:
        result = invoke(*args)
        assert_clean(result, args, given_text)
        assert NET not in result.stderr, (
            f"a reader crashed on the input\n{given_text}\n{result.stderr}"
        )
        if "-o" in args:
            assert out.exists() == (result.exit_code == 0), "a failed import left a file"


def write(path: Path, docs: list[Any]) -> str:
    text = yaml.safe_dump_all(docs, allow_unicode=True, sort_keys=False)
    path.write_text(text)
    return text


# ---------------------------------------------------------------- exported DGDs, mutated


@functools.cache
def exported(name: str, engine: str, version: str) -> tuple[dict, ...]:
    """What ``trtl export --k8s`` writes for a built-in: the documents a user would edit."""
    args = ("export", "--k8s", name, "--image", "x", "--engine", engine, "--api-version", version)
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return tuple(yaml.safe_load_all(result.stdout))


sources = st.tuples(
    st.sampled_from(BUILTINS),
    st.sampled_from(["trtllm", "mocker"]),
    st.sampled_from(["v1beta1", "v1alpha1"]),
)


@fuzz_settings(max_examples=200)
@given(source=sources, data=st.data())
def test_mutated_exports(source, data, isolated_dirs):
    """An exported DGD with fields dropped, replaced, retyped, renamed or duplicated."""
    docs = data.draw(mutations(list(exported(*source)), max_edits=4), label="mutated")
    path = isolated_dirs / "dgd.yaml"
    read_and_run(path, write(path, [d for d in docs if d is not None]))


# ---------------------------------------------------------------- DGDs drawn from scratch
#
# Each file is drawn "tidy" (every field of its own type, a frontend and workers with
# plausible flags: it gets past the type check into the readers) or "junky" (any field
# may be any value).

MODULES = ["dynamo.frontend", "dynamo.trtllm", "dynamo.mocker", "dynamo.vllm", "dynamo.sglang",
           "dynamo.planner", "os"]  # fmt: skip
WORKER_MODULES = ["dynamo.trtllm", "dynamo.trtllm", "dynamo.mocker", "dynamo.vllm"]
FLAGS = [
    "--model", "--model-path", "--served-model-name", "--model-name", "--extra-engine-args",
    "--disaggregation-mode", "--tensor-parallel-size", "--pipeline-parallel-size",
    "--router-mode", "--migration-limit", "--http-port", "--speedup-ratio", "--max-num-seqs",
    "--max-num-batched-tokens", "--enable-chunked-prefill", "--no-enable-prefix-caching",
    "--override-engine-args", "--publish-kv-events", "--publish-metrics", "--is-prefill-worker",
    "--tp", "--enforce-eager", "--discovery-backend", "--namespace", "--block-size",
]  # fmt: skip
FLAG_VALUES = [
    "Qwen/Qwen3-0.6B", "prefill", "decode", "agg", "prefill_and_decode", "kv", "round-robin",
    "1", "2", "0", "-1", "two", "1.5", "", "/etc/trtl/engine/worker.yaml", "/etc/x/w.yaml",
    '{"cache_transceiver_config": {"backend": "UCX"}}', '{"a": 1}', "[1]", "null",
]  # fmt: skip
flag_pairs = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(FLAGS), st.sampled_from(FLAG_VALUES)).map(list),
        st.sampled_from(FLAGS).map(lambda flag: [flag]),
        st.sampled_from(FLAGS).map(lambda flag: [f"{flag}=1"]),
        texts.map(lambda text: [text]),
    ),
    max_size=5,
).map(lambda pairs: [part for pair in pairs for part in pair])


def maybe(strategy: st.SearchStrategy[Any], junky: bool) -> st.SearchStrategy[Any]:
    """``strategy``; for a junky file, sometimes any other value."""
    return st.one_of(strategy, strategy, strategy, junk) if junky else strategy


@st.composite
def commands(draw: st.DrawFn, module: str, junky: bool) -> dict[str, Any]:
    """``command``/``args`` the three ways upstream writes them, or broken."""
    if junky:
        module = draw(st.sampled_from(MODULES))
    args = draw(flag_pairs)
    if module != "dynamo.frontend" and (not junky or draw(st.booleans())):
        args = ["--model", "Qwen/Qwen3-0.6B", *args]
    ways = ["split", "all args", "shell", *(["none", "junk"] if junky else [])]
    how = draw(st.sampled_from(ways))
    if how == "split":
        return {"command": ["python3", "-m", module], "args": args}
    if how == "all args":
        return {"args": ["python3", "-m", module, *args]}
    if how == "shell":
        line = " ".join(["exec", "python3", "-m", module, *args])
        return {"command": ["/bin/sh", "-c"], "args": [draw(st.sampled_from([line, line + " &&"]))]}
    if how == "none":
        return {}
    return {"command": draw(junk), "args": draw(junk)}


def resources(junky: bool) -> st.SearchStrategy[dict]:
    quantity = st.sampled_from(["1", "2", "0", "10Gi", "1.5", "-1", "x"])
    if junky:
        quantity = st.one_of(quantity, numbers)
    names = st.sampled_from(["cpu", "memory", "nvidia.com/gpu", "gpu"])
    per_kind = maybe(st.dictionaries(names, quantity, max_size=2), junky)
    return st.fixed_dictionaries({}, optional={"requests": per_kind, "limits": per_kind})


def envs(junky: bool) -> st.SearchStrategy[list]:
    names = st.sampled_from(["DYN_LOG", "HF_TOKEN", "X", "DYN_ROUTER_MODE", "DYN_SYSTEM_PORT", ""])
    value = st.one_of(texts, numbers) if junky else st.sampled_from(["1", "kv", "", "hf_x"])
    ref = st.just({"secretKeyRef": {"name": "s", "key": "k"}})
    entry = st.fixed_dictionaries(
        {"name": maybe(names, junky)},
        optional={"value": maybe(value, junky), "valueFrom": maybe(ref, junky)},
    )
    return st.lists(entry, max_size=3)


def volumes(junky: bool) -> st.SearchStrategy[list]:
    items = st.just([{"key": "w.yaml", "path": "w.yaml"}])
    config_map = st.fixed_dictionaries(
        {"name": maybe(st.just("cfg"), junky)}, optional={"items": maybe(items, junky)}
    )
    volume = st.fixed_dictionaries({"name": st.just("cfg"), "configMap": maybe(config_map, junky)})
    return st.lists(volume, max_size=1)


@st.composite
def containers(draw: st.DrawFn, module: str, junky: bool) -> dict[str, Any]:
    container = {"name": draw(maybe(st.just("main"), junky)), "image": "x"}
    container.update(draw(commands(module, junky)))
    for key, strategy in (("env", envs(junky)), ("resources", resources(junky))):
        if draw(st.booleans()):
            container[key] = draw(maybe(strategy, junky))
    if draw(st.booleans()):
        mount = {"name": "cfg", "mountPath": draw(st.sampled_from(["/etc/trtl/engine", "/etc/x"]))}
        container["volumeMounts"] = [mount]
    return container


NAMES = ["Frontend", "frontend", "TRTLLMWorker", "prefill", "decode", "worker", "VllmDecodeWorker",
         "planner", "a" * 70, "bad name", ""]  # fmt: skip
TYPES = ["frontend", "worker", "prefill", "decode", "planner", "main", None]


@st.composite
def graph_members(draw: st.DrawFn, junky: bool) -> list[tuple[str, str | None, str]]:
    """(name, type, module) of each component: a frontend and workers, unless junky."""
    if junky:
        size = draw(st.integers(0, 4))
        return [
            (draw(st.sampled_from(NAMES)), draw(st.sampled_from(TYPES)), "") for _ in range(size)
        ]
    members = [(draw(st.sampled_from(["Frontend", "frontend"])), "frontend", "dynamo.frontend")]
    module = draw(st.sampled_from(WORKER_MODULES))
    kinds = draw(
        st.sampled_from(
            [
                ["worker"],
                ["worker", "worker"],
                ["prefill", "decode"],
                ["decode", "prefill", "prefill"],
                ["planner", "worker"],
            ]
        )
    )
    for i, kind in enumerate(kinds):
        members.append((f"{kind}{i}" if i else kind, kind, module))
    return members


@st.composite
def v1beta1_component(draw: st.DrawFn, member: tuple, junky: bool) -> dict[str, Any]:
    name, kind, module = member
    component: dict[str, Any] = {"name": draw(maybe(st.just(name), junky)),
                                 "type": draw(maybe(st.just(kind), junky))}  # fmt: skip
    if draw(st.booleans()):
        component["replicas"] = draw(maybe(st.integers(-1, 3), junky))
    spec: dict[str, Any] = {"containers": [draw(containers(module, junky))]}
    if draw(st.booleans()):
        spec["volumes"] = draw(maybe(volumes(junky), junky))
    component["podTemplate"] = draw(maybe(st.just({"spec": spec}), junky))
    return component


@st.composite
def v1alpha1_service(draw: st.DrawFn, member: tuple, junky: bool) -> dict[str, Any]:
    _, kind, module = member
    service: dict[str, Any] = {"componentType": draw(maybe(st.just(kind), junky))}
    if kind in ("prefill", "decode"):
        service["componentType"], service["subComponentType"] = "worker", kind
    for key, strategy in (
        ("replicas", st.integers(-1, 3)),
        ("resources", resources(junky)),
        ("envFromSecret", st.just("hf-token-secret")),
    ):
        if draw(st.booleans()):
            service[key] = draw(maybe(strategy, junky))
    pod: dict[str, Any] = {"mainContainer": draw(containers(module, junky))}
    if draw(st.booleans()):
        pod["volumes"] = draw(maybe(volumes(junky), junky))
    service["extraPodSpec"] = draw(maybe(st.just(pod), junky))
    return service


ENGINE_CONFIGS = [
    "tensor_parallel_size: 1\nmax_batch_size: 8\n",
    "kv_cache_config: {free_gpu_memory_fraction: 2}\n", "[1, 2]\n", "a: [\n", "",
    "cache_transceiver_config: {backend: UCX}\n", "a.b: 1\na: 2\n", "x: &a [*a]\n",
    "!!int\n", "d: 2024-01-01\n", "max_num_tokens: 8192\n",
]  # fmt: skip


@st.composite
def residuals(draw: st.DrawFn) -> str:
    """What may sit in the trtl.dev/profile annotation after a hand edit."""
    parts = st.one_of(
        st.sampled_from(["workers", "worker", "frontend", "name", "description", "http_port"]),
        texts,
    )
    pair = st.tuples(st.one_of(st.lists(parts, max_size=3), junk), junk)
    value = st.one_of(
        st.fixed_dictionaries(
            {}, optional={"roles": st.dictionaries(texts, texts), "set": st.lists(pair)}
        ),
        junk,
    )
    text = json.dumps(draw(value), allow_nan=True, default=str)
    return draw(st.sampled_from([text, text[:-1], "not json"]))


@st.composite
def dgd_files(draw: st.DrawFn) -> list[Any]:
    """A DGD of either API version, with maybe a ConfigMap; tidy or junky (see above)."""
    junky = draw(st.booleans())
    version = draw(st.sampled_from(["v1beta1", "v1alpha1"]))
    metadata: dict[str, Any] = {
        "name": draw(maybe(st.sampled_from(["g", "my-graph", "G_1"]), junky))
    }
    if draw(st.booleans()):
        metadata["annotations"] = {"trtl.dev/profile": draw(residuals())}
    members = draw(graph_members(junky))
    if version == "v1beta1":
        spec: dict[str, Any] = {"components": [draw(v1beta1_component(m, junky)) for m in members]}
    else:
        spec = {"services": {m[0]: draw(v1alpha1_service(m, junky)) for m in members}}
    if draw(st.booleans()):
        spec["backendFramework"] = draw(maybe(st.sampled_from(["trtllm", "vllm", "sglang"]), junky))
    api = f"nvidia.com/{version}"
    api = draw(st.sampled_from([api, api, "nvidia.com/v2"])) if junky else api
    dgd = {"apiVersion": draw(maybe(st.just(api), junky)),
           "kind": "DynamoGraphDeployment", "metadata": metadata, "spec": spec}  # fmt: skip
    docs: list[Any] = [dgd]
    if draw(st.booleans()):
        config = maybe(st.sampled_from(ENGINE_CONFIGS), junky)
        names = st.sampled_from(["w.yaml", "worker.yaml"])
        data = draw(maybe(st.dictionaries(names, config, min_size=1, max_size=2), junky))
        docs.insert(0, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
                        "data": data})  # fmt: skip
    return docs


@fuzz_settings(max_examples=250)
@given(docs=dgd_files())
def test_random_dgds(docs, isolated_dirs):
    path = isolated_dirs / "dgd.yaml"
    read_and_run(path, write(path, docs))


# ---------------------------------------------------------------- odd YAML that looks like a DGD

ODD_DGD_TEXT = [
    "",  # only the header
    "spec: &s {components: [*s]}\n",  # an alias inside its own anchor
    "spec: " + "[" * 1000 + "]" * 1000 + "\n",
    "spec: {components: " + "{a: " * 1000 + "1" + "}" * 1000 + "}\n",
    "spec: {components: [{name: f, replicas: !!int }]}\n",
    "spec: {components: [{name: f, replicas: !!int x}]}\n",
    "spec: {components: [{name: f, replicas: !!float }]}\n",
    "spec: {components: [{name: f, type: !!binary aGk=}]}\n",
    "spec: {components: [{name: 2024-01-01, type: frontend}]}\n",
    "spec: {components: []}\nspec: {}\n",  # a duplicate key
    "spec:\n\tcomponents: []\n",
    "---\n- a\n- b\n",
    "---\nkind: List\nitems: [1, {kind: DynamoGraphDeployment}]\n",
    "---\n" + HEAD + "metadata: {name: g}\nspec: {components: []}\n",  # two DGDs
    "metadata: {name: [g]}\n",
    "metadata: {name: g, annotations: {trtl.dev/profile: '{\"set\": [[[], 1]]}'}}\n",
]


def _laughs(levels: int) -> str:
    lines = ["spec: {components: &l0 [{name: f}, {name: f}, {name: f}, {name: f}]}"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@fuzz_settings(max_examples=60)
@given(body=st.one_of(st.sampled_from(ODD_DGD_TEXT), st.integers(1, 7).map(_laughs)))
def test_odd_dgd_text(body, isolated_dirs):
    path = isolated_dirs / "dgd.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    read_and_run(path, (HEAD + body)[:400])


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha1"])
def test_the_exports_themselves_read_back(version, isolated_dirs):
    """The mutation test starts from files that work: each export imports unchanged."""
    path = isolated_dirs / "dgd.yaml"
    for name in BUILTINS:
        write(path, list(exported(name, "trtllm", version)))
        result = invoke("import", path.name)
        assert result.exit_code == 0, result.output
        assert f"name: {name}" in result.stdout


# Regression tests: each a bug the properties above found (a traceback, a hang, or the net).

WORKER = """
  - name: worker
    type: worker
    podTemplate:
      spec:
        containers:
        - name: main
          command: [python3, -m, dynamo.trtllm]
          args: [--model, Qwen/Qwen3-0.6B]
"""
FRONTEND = """
  - name: Frontend
    type: frontend
    podTemplate: {spec: {containers: [{name: main, command: [python3, -m, dynamo.frontend]}]}}
"""


def dgd_text(metadata: str = "metadata: {name: g}\n", components: str = FRONTEND + WORKER) -> str:
    return HEAD + metadata + "spec:\n  components:" + components


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("spec: &s {components: [*s]}\n",
         "dgd.yaml: the YAML is nested more than 100 levels deep, or an alias is used inside its "
         "own anchor."),
        ("spec: {components: [{name: f, replicas: !!int }]}\n",
         "dgd.yaml: broken YAML: a value does not fit its tag (e.g. `!!int x`)."),
        ("metadata: {name: g, generation: !!float x}\n",
         "dgd.yaml: broken YAML: a value does not fit its tag (e.g. `!!int x`)."),
        ("spec: {components: [{name: f, type: !!binary aGk=}]}\n",
         "dgd.yaml:3: broken YAML: binary (!!binary) values have no place in a Kubernetes object."),
        (_laughs(7), "dgd.yaml: the file expands to more than 500000 values"),
    ],
)  # fmt: skip
def test_yaml_that_crashed_or_hung_the_reader(run_trtl, isolated_dirs, body, message):
    (isolated_dirs / "dgd.yaml").write_text(HEAD + body)
    for args in (("import", "dgd.yaml"), ("plan", "dgd.yaml"), ("export", "--k8s", "dgd.yaml")):
        result = run_trtl(*args)
        assert result.exit_code == 2, result.output
        assert f"error: {message}" in result.stderr


def test_a_timestamp_is_a_string_as_in_kubernetes(run_trtl, isolated_dirs):
    (isolated_dirs / "dgd.yaml").write_text(
        dgd_text("metadata: {name: g, labels: {day: 2024-01-01}}\n")
    )
    result = run_trtl("import", "dgd.yaml")
    assert result.exit_code == 0, result.output
    assert "day: '2024-01-01'" in result.stdout


def test_v1alpha1_gpus_under_their_kubernetes_name_are_checked(run_trtl, isolated_dirs):
    """`nvidia.com/gpu: 10Gi` in a v1alpha1 service hit the reader's int() (the net)."""
    docs = list(exported("agg", "trtllm", "v1alpha1"))
    docs[-1]["spec"]["services"]["worker"]["resources"]["requests"]["nvidia.com/gpu"] = "10Gi"
    write(isolated_dirs / "dgd.yaml", docs)
    result = run_trtl("import", "dgd.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: dgd.yaml: spec.services.worker.resources.requests.nvidia.com/gpu: expected a "
        "whole number of GPUs, got '10Gi'."
    )


@pytest.mark.parametrize(
    "annotation",
    ['{"set": [[[], 1]]}', '{"set": 5}', "[1]", '{"roles": {"a": [1]}}', "[" * 5000 + "]" * 5000],
)
def test_an_edited_profile_annotation_is_ignored_with_a_note(run_trtl, isolated_dirs, annotation):
    """An empty path in the annotation hit the net (IndexError); deep JSON a RecursionError."""
    metadata = f"metadata: {{name: g, annotations: {{trtl.dev/profile: '{annotation}'}}}}\n"
    (isolated_dirs / "dgd.yaml").write_text(dgd_text(metadata))
    result = run_trtl("import", "dgd.yaml")
    assert result.exit_code == 0, result.output
    assert "note: ignored the trtl.dev/profile annotation: it no longer fits the graph." in (
        result.stderr
    )
