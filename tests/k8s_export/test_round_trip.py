"""export → import gives back the profile; import → export keeps what upstream DGDs say."""

from __future__ import annotations

import copy
import json
import shlex

import pytest
import yaml
from k8s_helpers import BUILTINS, DATA, ENGINES, IMAGE, UPSTREAM, VERSIONS, builtin
from trtl.k8s_export import parse, render
from trtl.k8s_export.residual import ANNOTATION
from trtl.k8s_export.yamlio import dump_all, load_documents, parse_documents
from trtl.profiles.loader import load_profile

RICH = """
name: my_graph
description: everything a cluster needs
engine: trtllm
model: /models/qwen
served_model_name: qwen
python: /opt/venv/bin/python
stop_grace: 12
env: {DYN_LOG: debug, FLAG: "on"}
frontend:
  http_port: 8123
  router_mode: kv
  migration_limit: 2
  extra_args: [--kv-cache-block-size, "32"]
  restart: {max_failures: 9}
  k8s:
    resources: {requests: {cpu: "3"}}
workers:
  pre_fill:
    mode: prefill
    replicas: 2
    tensor_parallel_size: 2
    gpus: 4
    kv_transfer_backend: NIXL
    engine_config: {max_num_tokens: 4096, kv_cache_config: {free_gpu_memory_fraction: 0.5}}
    env: {ONLY_PREFILL: "1"}
    restart: {backoff_initial: 2}
    k8s:
      node_selector: {pool: prefill}
      shared_memory: 32Gi
      labels: {tier: prefill}
      resources: {limits: {cpu: "20", memory: 80Gi, other: {ephemeral-storage: 100Gi}}}
  decode:
    mode: decode
    engine_config: /workspace/configs/decode.yaml
    extra_args: [--max-seq-len, "4096"]
    k8s:
      image: registry.example.com/custom:1
      probes: {liveness: {period_seconds: 5, failure_threshold: 2}, startup: {path: /ready}}
      env_refs: [{name: WANDB_API_KEY, valueFrom: {secretKeyRef: {name: wandb, key: key}}}]
      container: {imagePullPolicy: Always}
      component: {scalingAdapter: {enabled: true}}
mocker: {speedup_ratio: 50}
k8s:
  image: registry.example.com/dynamo:1
  namespace: inference
  hf_token_secret: my-hf
  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  image_pull_secrets: [regcred]
  volumes: [{name: models, persistentVolumeClaim: {claimName: models}}]
  volume_mounts: [{name: models, mountPath: /models}]
  labels: {app: qwen}
  annotations: {owner: ml}
  pod: {priorityClassName: high}
  spec: {priorityClassName: grove-high}
  metadata: {labels: {team: inference}}
"""


@pytest.fixture
def rich(isolated_dirs):
    path = isolated_dirs / "rich.yaml"
    path.write_text(RICH)
    return load_profile(str(path))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", BUILTINS)
def test_export_then_import_gives_the_profile_back(name, engine, version):
    profile = builtin(name, engine)
    text = dump_all(render(profile, version=version))
    assert parse(parse_documents(text, "export")) == profile


@pytest.mark.parametrize("name", BUILTINS)
def test_the_annotation_holds_only_what_the_graph_cannot_say(name):
    dgd = render(builtin(name))[-1]
    residual = json.loads(dgd["metadata"]["annotations"][ANNOTATION])
    assert set(residual) == {"set"}
    assert {tuple(path) for path, _ in residual["set"]} <= {("name",), ("description",)}
    # Without the annotation the graph alone still gives the whole graph back.
    del dgd["metadata"]["annotations"]
    bare = parse([*render(builtin(name))[:-1], dgd])
    assert bare.workers == builtin(name).workers
    assert bare.frontend == builtin(name).frontend


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("engine", ENGINES)
def test_a_rich_profile_survives_the_round_trip(rich, engine, version):
    profile = rich.model_copy(update={"engine": engine})
    docs = parse_documents(dump_all(render(profile, version=version)), "export")
    assert parse(docs) == profile
    residual = json.loads(docs[-1]["metadata"]["annotations"][ANNOTATION])
    # Names, local-only settings and where a k8s setting is written (graph-wide or per
    # role, which the graph cannot tell apart) travel in the annotation; the graph
    # carries everything that runs.
    assert residual["roles"] == {"pre-fill": "pre_fill"}
    paths = {tuple(path) for path, _ in residual["set"]}
    local = {("python",), ("stop_grace",), ("frontend", "http_port")}
    local |= {
        ("frontend", "restart", "max_failures"),
        ("workers", "pre_fill", "restart", "backoff_initial"),
    }
    assert local <= paths
    graph = {
        "replicas",
        "mode",
        "env",
        "engine_config",
        "extra_args",
        "model",
        "gpus",
        "router_mode",
        "tensor_parallel_size",
        "kv_transfer_backend",
        "served_model_name",
    }
    in_residual = {p for p in paths if graph & set(p)}
    if engine == "trtllm":
        assert not in_residual, paths
    elif engine == "mocker":  # what it leaves out: TensorRT-LLM flags, a config file, GPUs
        assert in_residual == {
            ("workers", "decode", "engine_config"),
            ("workers", "decode", "extra_args"),
            ("workers", "pre_fill", "gpus"),
        }
    else:  # vLLM keeps the GPUs but not TensorRT-LLM's flags, config file and KV backend
        assert in_residual == {
            ("workers", "decode", "engine_config"),
            ("workers", "decode", "extra_args"),
            ("workers", "pre_fill", "kv_transfer_backend"),
        }


def test_annotation_that_no_longer_fits_is_ignored_with_a_note():
    docs = render(builtin("disagg"))
    residual = {"set": [[["workers", "decode", "gpus"], 0], [["name"], "disagg"]]}
    docs[-1]["metadata"]["annotations"][ANNOTATION] = json.dumps(residual)
    notes: list[str] = []
    profile = parse(docs, notes=notes)
    assert profile.workers["decode"].gpus is None
    assert any("no longer fits" in note for note in notes)


def test_a_role_removed_in_the_cluster_is_not_revived():
    docs = render(builtin("agg_router").model_copy(update={"python": "/py"}))
    dgd = docs[-1]
    dgd["spec"]["components"][1]["replicas"] = 5  # edited with kubectl
    profile = parse(docs)
    assert profile.workers["worker"].replicas == 5
    assert profile.python == "/py"


def argv(container):
    args = [*container.get("command", []), *container.get("args", [])]
    if args[:2] == ["/bin/sh", "-c"]:
        args = shlex.split(args[2])
    return args


def components(doc):
    """{component name: (type, replicas, argv, gpus, env)} of a DGD of either version."""
    out = {}
    if "components" in doc["spec"]:
        items = [(c["name"], c, c["podTemplate"]["spec"]["containers"][0]) for c in
                 doc["spec"]["components"]]  # fmt: skip
        genv = doc["spec"].get("env", [])
    else:
        items = [(k, s, s["extraPodSpec"]["mainContainer"]) for k, s in
                 doc["spec"]["services"].items()]  # fmt: skip
        genv = doc["spec"].get("envs", [])
    for name, c, main in items:
        kind = c.get("type") or c.get("subComponentType") or c.get("componentType")
        limits = (c.get("resources") or main.get("resources") or {}).get("limits", {})
        gpus = limits.get("nvidia.com/gpu") or limits.get("gpu")
        env = {
            e["name"]: e.get("value") for e in [*genv, *(c.get("envs") or main.get("env") or [])]
        }
        out[name] = (kind, c.get("replicas", 1), argv(main), gpus, env)
    return out


# The one change import → export makes to an upstream command: a flag Dynamo 1.6.1 dropped
# is written as its replacements. Every other argument comes back as written, in its place:
# none added (k8s.launch.omit leaves out what the local run adds), none lost
# (k8s.launch.keep writes back what the local run leaves out, such as SGLang's
# --disaggregation-bootstrap-port), none respelled or moved (k8s.launch.spelling, .order);
# a component without a command keeps none, and env (DYN_ROUTER_MODE included) stays env.
DEPRECATED = {"--publish-events-and-metrics": ["--publish-kv-events", "--publish-metrics"]}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("fixture", UPSTREAM)
def test_import_then_export_keeps_the_upstream_graph(fixture, version):
    docs = load_documents(DATA / fixture)
    notes: list[str] = []
    again = render(parse(copy.deepcopy(docs), notes=notes), version=version)
    before, after = components(docs[-1]), components(again[-1])
    assert list(after) == list(before)  # the same component names, in the same order
    for name, (kind, replicas, args, gpus, env) in before.items():
        a_kind, a_replicas, a_args, a_gpus, a_env = after[name]
        assert (a_kind, a_replicas) == (kind, replicas)
        assert str(a_gpus or "") == str(gpus or "")
        assert a_env == env
        assert a_args == [new for arg in args for new in DEPRECATED.get(arg, [arg])], name


def test_engine_config_from_a_configmap_travels_back_as_that_configmap():
    docs = load_documents(DATA / "agg_with_config_v1beta1.yaml")
    profile = parse(copy.deepcopy(docs))
    assert profile.workers["worker"].engine_config == {
        "max_num_tokens": 8192,
        "max_batch_size": 16,
        "backend": "pytorch",
        "kv_cache_config": {"free_gpu_memory_fraction": 0.85},
    }
    assert profile.workers["worker"].tensor_parallel_size == 2
    configmap, dgd = render(profile)
    # The user's own ConfigMap as it was: name, labels, annotations, every key (the engine
    # config's with the same content), in the graph's namespace; the mount as it was.
    old_cm = docs[0]
    assert configmap["metadata"] == {**old_cm["metadata"], "namespace": "llm"}
    assert configmap["metadata"]["labels"] == {"app.kubernetes.io/part-of": "qwen",
                                               "team": "inference"}  # fmt: skip
    assert configmap["data"].keys() == old_cm["data"].keys()
    assert configmap["data"]["README"] == old_cm["data"]["README"]
    assert yaml.safe_load(configmap["data"]["agg.yaml"]) == yaml.safe_load(
        old_cm["data"]["agg.yaml"]
    )
    main = dgd["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]
    old = docs[-1]["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]
    assert (
        main["args"][main["args"].index("--extra-engine-args") + 1]
        == (old["args"][old["args"].index("--extra-engine-args") + 1])
    )
    assert main["volumeMounts"] == old["volumeMounts"]


def test_a_users_configmaps_survive_the_imported_profile_file(run_trtl, isolated_dirs):
    """Through `trtl import` and the profile file: the engine config's ConfigMap and one
    the graph only mounts (no engine reads it) come back with their labels and data."""
    docs = load_documents(DATA / "agg_with_config_v1beta1.yaml")
    template = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "chat-template", "labels": {"team": "inference"},
                             "annotations": {"owner": "ml"}},
                "data": {"template.jinja": "{{ messages }}"}}  # fmt: skip
    source = isolated_dirs / "graph.yaml"
    source.write_text(yaml.safe_dump_all([template, *docs], sort_keys=False))
    profile = isolated_dirs / "imported.yaml"
    assert run_trtl("import", str(source), "-o", str(profile)).exit_code == 0
    result = run_trtl("export", "--k8s", str(profile))
    assert result.exit_code == 0, result.stderr
    graph = list(yaml.safe_load_all(result.stdout))
    assert "annotations" not in graph[-1]["metadata"]  # the graph says it all: no residual
    exported = {d["metadata"]["name"]: d for d in graph if d["kind"] == "ConfigMap"}
    assert set(exported) == {"chat-template", "llm-config"}
    for old in (template, docs[0]):
        new = exported[old["metadata"]["name"]]
        assert new["metadata"] == {**old["metadata"], "namespace": "llm"}
        assert new["data"].keys() == old["data"].keys()
        for key, text in old["data"].items():
            if key.endswith(".yaml"):  # the engine config: the same content
                assert yaml.safe_load(new["data"][key]) == yaml.safe_load(text), key
            else:
                assert new["data"][key] == text, key


def test_in_image_engine_config_paths_are_kept():
    profile = parse(load_documents(DATA / "upstream_v1alpha1_agg.yaml"))
    assert profile.workers["trtllm-worker"].engine_config == "engine_configs/qwen3/agg.yaml"
    docs = render(profile, version="v1alpha1")
    assert len(docs) == 1  # no ConfigMap to carry
    # The component keeps its upstream name (its Service is named after it).
    assert list(docs[0]["spec"]["services"]) == ["Frontend", "TRTLLMWorker"]
    main = docs[0]["spec"]["services"]["TRTLLMWorker"]["extraPodSpec"]["mainContainer"]
    assert "engine_configs/qwen3/agg.yaml" in main["args"]
    assert main["workingDir"] == "/workspace/examples/backends/trtllm"


def test_cluster_settings_are_kept_through_import_and_export():
    docs = load_documents(DATA / "agg_with_config_v1beta1.yaml")
    dgd = render(parse(copy.deepcopy(docs)))[-1]
    worker = dgd["spec"]["components"][1]
    before = docs[-1]["spec"]["components"][1]
    assert worker["sharedMemorySize"] == "16Gi"
    assert worker["scalingAdapter"] == {"enabled": False}
    assert worker["podTemplate"]["metadata"] == before["podTemplate"]["metadata"]
    pod, old_pod = worker["podTemplate"]["spec"], before["podTemplate"]["spec"]
    for key in ("nodeSelector", "tolerations", "imagePullSecrets", "priorityClassName",
                "securityContext"):  # fmt: skip
        assert pod[key] == old_pod[key], key
    assert pod["containers"][1] == old_pod["containers"][1]  # the sidecar
    main, old_main = pod["containers"][0], old_pod["containers"][0]
    for key in ("imagePullPolicy", "livenessProbe", "startupProbe", "resources", "envFrom"):
        assert main[key] == old_main[key], key
    assert {"name": "models", "mountPath": "/models"} in main["volumeMounts"]
    assert {"name": "models", "persistentVolumeClaim": {"claimName": "model-cache"}} in (
        pod["volumes"]
    )
    assert old_main["env"][1] in main["env"]  # the valueFrom entry
    assert dgd["metadata"]["labels"] == {"team": "inference"}
    assert dgd["metadata"]["namespace"] == "llm"
    assert dgd["spec"]["priorityClassName"] == "high"
    assert dgd["spec"]["labels"] == {"app": "qwen"}
    frontend = dgd["spec"]["components"][0]["podTemplate"]["spec"]
    assert frontend["imagePullSecrets"] == [{"name": "regcred"}]
    # The router mode stays where the file set it: DYN_ROUTER_MODE, no flag added.
    assert {"name": "DYN_ROUTER_MODE", "value": "kv"} in frontend["containers"][0]["env"]
    assert "args" not in frontend["containers"][0]


def test_v1alpha1_specifics_are_read():
    profile = parse(load_documents(DATA / "agg_with_config_v1alpha1.yaml"))
    role = profile.workers["trtllm-worker"]
    assert role.engine_config == {"max_num_tokens": 4096, "backend": "pytorch"}
    assert role.k8s.shared_memory == "8Gi"
    assert role.k8s.labels == {"scraped": "yes"}
    assert role.k8s.probes.liveness.period_seconds == 5
    assert profile.k8s.worker_resources.limits.memory == "32Gi"
    alpha = render(profile, version="v1alpha1")[-1]["spec"]["services"]["TRTLLMWorker"]
    assert alpha["sharedMemory"] == {"size": "8Gi"}
    assert alpha["extraPodMetadata"] == {"labels": {"scraped": "yes"}}
    assert alpha["livenessProbe"]["periodSeconds"] == 5
    assert alpha["resources"]["limits"] == {"cpu": "8", "memory": "32Gi", "gpu": "1"}


def test_vllm_imports_as_a_vllm_profile():
    notes: list[str] = []
    profile = parse(load_documents(DATA / "vllm_v1beta1_disagg.yaml"), notes=notes)
    assert profile.engine == "vllm"
    assert {n: r.mode for n, r in profile.workers.items()} == {
        "vllm-decode-worker": "decode",
        "vllm-prefill-worker": "prefill",
    }
    assert {r.gpus_per_replica for r in profile.workers.values()} == {1}
    # Only the prefill worker ran eager: that stays a flag of its role alone.
    assert not profile.vllm.enforce_eager
    assert profile.vllm.role_extra_args == {"vllm-prefill-worker": ["--enforce-eager"]}
    assert notes == []


def test_image_given_on_the_command_line_comes_back():
    profile = load_profile("agg")
    docs = render(profile, image=IMAGE, namespace="ns1", name="prod")
    back = parse(docs)
    assert back.k8s.image == IMAGE and back.k8s.namespace == "ns1" and back.name == "agg"


def test_flags_the_local_run_leaves_out_come_back_on_export():
    """SGLang's bootstrap port and a --kv-events-config without the KV router do not run
    locally (notes say so), and the export writes them back where they were."""
    docs = load_documents(DATA / "sglang_v1beta1_disagg.yaml")
    decode = docs[-1]["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]
    events = '{"publisher":"zmq","topic":"kv-events","endpoint":"tcp://*:5557"}'
    decode["args"] += ["--kv-events-config", events]
    notes: list[str] = []
    profile = parse(copy.deepcopy(docs), notes=notes)
    assert (
        "component decode: runs locally without --kv-events-config (trtl writes it for the "
        "KV router, frontend.router_mode: kv, only); the export keeps it."
    ) in notes
    assert any("without --disaggregation-bootstrap-port" in n for n in notes)
    main = render(profile)[-1]["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]
    assert main["args"] == decode["args"]
