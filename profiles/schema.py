"""The profile format: one typed description of a Dynamo serving graph.

A profile names the engine, the model, the frontend and the worker roles. The same
validated ``Profile`` feeds the local plan (``launcher``) and the Kubernetes export
(``k8s_export``); this module knows nothing of either. ``trtl schema`` prints
``Profile.model_json_schema()`` so editors can complete and check profile files.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from .engines import engine_names
from .names import NAME_PATTERN

# The engine registry decides the choices; the first is the default.
Engine = Literal[engine_names()]  # type: ignore[valid-type]
RouterMode = Literal["round-robin", "kv"]
WorkerMode = Literal["agg", "prefill", "decode"]
# TensorRT-LLM's cache_transceiver_config.backend values.
KvTransferBackend = Literal["DEFAULT", "UCX", "NIXL", "MPI"]

DEFAULT_MODEL = "Qwen/Qwen3-0.6B"
ROLE_PATTERN = r"^[a-z]([a-z0-9_-]{0,30}[a-z0-9])?$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# What the DGD CRD accepts as a component name (the operator lower-cases it for Services).
COMPONENT_NAME_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?$"
# A Kubernetes resource quantity, as the DGD CRD checks it (cpu "500m", memory "20Gi").
QUANTITY_PATTERN = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def scalar_text(value: Any) -> Any:
    # YAML reads `DYN_LOG: 1` or `--set env.X=true` as int/bool; env values are strings.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


EnvValue = Annotated[str, BeforeValidator(scalar_text)]
EnvName = Annotated[str, Field(pattern=ENV_NAME_PATTERN)]
Env = dict[EnvName, EnvValue]
Arg = Annotated[str, BeforeValidator(scalar_text)]


class _Strict(BaseModel):
    # Unknown keys are typos until proven otherwise: say so instead of ignoring them.
    model_config = ConfigDict(extra="forbid", validate_default=True)


class RestartPolicy(_Strict):
    """How ``trtl up`` restarts a process of this role after it exits (any exit is a failure)."""

    backoff_initial: float = Field(0.5, gt=0, le=600, description="First restart delay (s).")
    backoff_max: float = Field(30.0, gt=0, le=3600, description="Longest restart delay (s).")
    reset_after: float = Field(
        60.0, gt=0, le=86400, description="Seconds up after which past failures are forgotten."
    )
    max_failures: int = Field(
        5, ge=1, le=1000, description="Failures within failure_window that end the run."
    )
    failure_window: float = Field(120.0, gt=0, le=86400, description="Crash-loop window (s).")
    hang_timeout: float = Field(
        10.0,
        ge=0,
        le=86400,
        description="Seconds a process may leave its health endpoint unanswered (stopped or "
        "wedged) before trtl kills it and restarts it as hung; 0 never does.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> RestartPolicy:
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must be at least backoff_initial")
        return self


class Frontend(_Strict):
    """The OpenAI-compatible HTTP frontend (``python -m dynamo.frontend``)."""

    http_port: int = Field(8000, ge=1, le=65535, description="Local HTTP port.")
    router_mode: RouterMode = Field("round-robin", description="How requests reach workers.")
    migration_limit: int = Field(
        0, ge=0, le=100, description="Times a request may move to another worker after a failure."
    )
    extra_args: list[Arg] = Field(default_factory=list, description="More frontend flags.")
    env: Env = Field(default_factory=dict, description="Environment for the frontend only.")
    restart: RestartPolicy = Field(default_factory=RestartPolicy, description="Local only.")
    # A lambda: RoleK8s is defined further down, with the other Kubernetes settings.
    k8s: RoleK8s = Field(default_factory=lambda: RoleK8s(), description="Cluster only.")


class WorkerRole(_Strict):
    """One kind of worker; ``replicas`` identical processes run it."""

    mode: WorkerMode = Field(description="agg serves whole requests; prefill/decode split them.")
    replicas: int = Field(1, ge=1, le=64)
    gpus: int | None = Field(
        None, ge=1, le=64, description="GPUs per replica; defaults to tensor x pipeline parallel."
    )
    tensor_parallel_size: int = Field(1, ge=1, le=64)
    pipeline_parallel_size: int = Field(1, ge=1, le=64)
    engine_config: dict[str, Any] | str | None = Field(
        None,
        description="TensorRT-LLM engine config: a mapping, or the path of a YAML file "
        "(relative paths are relative to the working directory, as in the cluster). The "
        "mocker and vLLM take the mapping's keys that have an equivalent flag.",
    )
    kv_transfer_backend: KvTransferBackend | None = Field(
        None,
        description="KV-cache transfer between prefill and decode "
        "(cache_transceiver_config.backend); prefill/decode roles only.",
    )
    extra_args: list[Arg] = Field(
        default_factory=list,
        description="More dynamo.trtllm flags (the mocker and vLLM drop them: see "
        "mocker.extra_args, vllm.extra_args).",
    )
    env: Env = Field(default_factory=dict, description="Environment for this role only.")
    restart: RestartPolicy = Field(default_factory=RestartPolicy, description="Local only.")
    k8s: RoleK8s = Field(default_factory=lambda: RoleK8s(), description="Cluster only.")

    @property
    def gpus_per_replica(self) -> int:
        return self.gpus or self.tensor_parallel_size * self.pipeline_parallel_size

    @model_validator(mode="after")
    def _consistent(self) -> WorkerRole:
        parallel = self.tensor_parallel_size * self.pipeline_parallel_size
        if self.gpus is not None and self.gpus < parallel:
            raise ValueError(
                f"gpus is {self.gpus} but tensor_parallel_size x pipeline_parallel_size "
                f"needs {parallel}"
            )
        if isinstance(self.engine_config, str) and not self.engine_config.strip():
            raise ValueError(
                "engine_config is an empty path; give a YAML file path, a mapping, or null"
            )
        if self.kv_transfer_backend is not None and self.mode == "agg":
            raise ValueError("kv_transfer_backend applies to prefill and decode roles, not agg")
        if isinstance(self.engine_config, dict):
            for key in ("tensor_parallel_size", "pipeline_parallel_size"):
                if key in self.engine_config:
                    raise ValueError(
                        f"engine_config.{key} is set by the role's own {key} field "
                        "(it decides how many GPUs a replica gets); move it there"
                    )
            transceiver = self.engine_config.get("cache_transceiver_config")
            if transceiver is not None and not isinstance(transceiver, dict):
                raise ValueError("engine_config.cache_transceiver_config must be a mapping")
            if isinstance(transceiver, dict) and "backend" in transceiver:
                raise ValueError(
                    "engine_config.cache_transceiver_config.backend is set by the role's "
                    "kv_transfer_backend field; move it there"
                )
        return self


class MockerSettings(_Strict):
    """Settings used only when the graph runs on Dynamo's mock engine."""

    speedup_ratio: float = Field(
        1.0, gt=0, description="How much faster than real time the mocker runs."
    )
    extra_args: list[Arg] = Field(default_factory=list, description="More dynamo.mocker flags.")


class VllmSettings(_Strict):
    """Settings used only when the graph runs on vLLM (``python -m dynamo.vllm``)."""

    enforce_eager: bool = Field(
        False,
        description="--enforce-eager: no CUDA graphs or torch.compile; the engine starts "
        "faster (on CPU about 50 s instead of 90 s) and decodes slower on GPUs.",
    )
    cpu_kv_cache_gib: int = Field(
        1,
        ge=1,
        le=4096,
        description="Local only, on a machine without GPU: GiB of KV cache each vLLM worker "
        "allocates up front (VLLM_CPU_KVCACHE_SPACE). Never exported.",
    )
    extra_args: list[Arg] = Field(
        default_factory=list,
        description="More dynamo.vllm flags (vLLM engine flags included) for every worker.",
    )
    role_extra_args: dict[str, list[Arg]] = Field(
        default_factory=dict,
        description="More dynamo.vllm flags for one role, e.g. {prefill: [--max-num-seqs, '8']}; "
        "after extra_args. (workers.<role>.extra_args are TensorRT-LLM flags.)",
    )


class SglangSettings(_Strict):
    """Settings used only when the graph runs on SGLang (``python -m dynamo.sglang``)."""

    extra_args: list[Arg] = Field(
        default_factory=list,
        description="More dynamo.sglang flags (SGLang server flags included) for every worker.",
    )
    role_extra_args: dict[str, list[Arg]] = Field(
        default_factory=dict,
        description="More dynamo.sglang flags for one role, e.g. {decode: [--max-running-requests, "
        "'64']}; after extra_args. (workers.<role>.extra_args are TensorRT-LLM flags.)",
    )


def quantity_problem(value: str) -> str | None:
    """Why ``value`` is not a Kubernetes quantity (with the likely fix), or None if it is one."""
    text = value.strip()
    if QUANTITY_PATTERN.fullmatch(text) and text == value:
        return None
    match = re.fullmatch(r"([0-9.]+)\s*([KMGTPE])i?B?", text, flags=re.IGNORECASE)
    if match and QUANTITY_PATTERN.fullmatch(match[1]):
        fix = f"{match[1]}{match[2].upper()}i"
    else:
        number = re.match(r"[0-9]+(\.[0-9]+)?", text)
        fix = f"{number[0]}" if number else "e.g. 16Gi, 500m or 2"
    return f"{value!r} is not a Kubernetes quantity; use {fix}"


def _quantity(value: str | None) -> str | None:
    problem = None if value is None else quantity_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Quantity = Annotated[Arg, AfterValidator(_quantity)]


class Resources(_Strict):
    """Kubernetes quantities, e.g. cpu "10", memory "20Gi"."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    other: dict[str, Quantity] = Field(
        default_factory=dict,
        description='More resources by their Kubernetes name, e.g. {"ephemeral-storage": "50Gi"} '
        "(whole GPUs come from the role's gpus; a GPU resource named here, such as a MIG "
        'slice {"nvidia.com/mig-1g.18gb": "1"} or {"nvidia.com/gpu": "0"}, replaces them).',
    )


class ResourceSpec(_Strict):
    requests: Resources | None = None
    limits: Resources | None = None


def _seed_worker_resources() -> ResourceSpec:
    return ResourceSpec(
        requests=Resources(cpu="10", memory="20Gi"), limits=Resources(cpu="10", memory="20Gi")
    )


def _seed_frontend_resources() -> ResourceSpec:
    return ResourceSpec(
        requests=Resources(cpu="1", memory="2Gi"), limits=Resources(cpu="1", memory="2Gi")
    )


class Probe(_Strict):
    """An HTTP probe's timings; path and port default to Dynamo's own endpoints."""

    path: str | None = Field(None, description="Default: /live (liveness, startup), /health.")
    port: int | str | None = Field(None, description="Default: 8000 frontend, 9090 workers.")
    initial_delay_seconds: int | None = Field(None, ge=0)
    period_seconds: int | None = Field(None, ge=1)
    timeout_seconds: int | None = Field(None, ge=1)
    failure_threshold: int | None = Field(None, ge=1)
    success_threshold: int | None = Field(None, ge=1)


class Probes(_Strict):
    liveness: Probe | None = None
    readiness: Probe | None = None
    startup: Probe | None = None


KubeObject = dict[str, Any]


class PodSettings(_Strict):
    """Pod settings a cluster needs beyond the graph (unset: inherit, or Kubernetes' default).

    In ``k8s`` they apply to every component; in a role's ``k8s`` they replace the
    graph-wide value for that role. Lists and mappings use Kubernetes' own field names
    inside (e.g. a toleration's ``operator``). The ``pod``, ``container`` and ``component``
    mappings carry fields trtl does not model through import and export unchanged.
    """

    image: str | None = Field(None, description="Container image.")
    working_dir: str | None = Field(None, description="Working directory in the image.")
    node_selector: dict[str, str] | None = None
    tolerations: list[KubeObject] | None = None
    shared_memory: Quantity | None = Field(
        None, description='/dev/shm size, e.g. "16Gi"; "0": none.'
    )
    volumes: list[KubeObject] | None = None
    volume_mounts: list[KubeObject] | None = Field(None, description="Mounts in the container.")
    labels: dict[str, str] | None = Field(None, description="Labels of the generated pods.")
    annotations: dict[str, str] | None = Field(None, description="Annotations of the pods.")
    image_pull_secrets: list[str] | None = Field(None, description="Secret names.")
    probes: Probes | None = None
    env_refs: list[KubeObject] | None = Field(
        None, description="Environment entries with valueFrom (Secret or ConfigMap keys)."
    )
    pod: KubeObject | None = Field(None, description="More pod spec fields, carried as they are.")
    container: KubeObject | None = Field(None, description="More main-container fields.")
    component: KubeObject | None = Field(None, description="More DGD component fields.")

    @field_validator("env_refs")
    @classmethod
    def _references_only(cls, refs: list[KubeObject] | None) -> list[KubeObject] | None:
        # A literal value here would travel into the export; env_refs is for references.
        for i, ref in enumerate(refs or []):
            if "value" in ref or "valueFrom" not in ref or not isinstance(ref.get("name"), str):
                raise ValueError(
                    f"entry {i} must be {{name, valueFrom}} (a Secret or ConfigMap key), "
                    "never a literal value; put plain values in env"
                )
        return refs


class Launch(_Strict):
    """How the cluster starts this role, kept by ``trtl import`` so the export writes it back.

    A DGD may wrap the launch in a shell script, refer to env variables, label an
    aggregated worker ``decode``, or leave out flags trtl passes locally. The local run
    uses the profile's own fields; only the export reads this.
    """

    shell: list[str] | None = Field(
        None, description="The shell and its flags, e.g. [/bin/bash, -lc]; the script follows."
    )
    script_in_command: bool = Field(False, description="The script is command's last item.")
    command_items: int | None = Field(
        None, description="How many of the shell's words are in command (the rest in args)."
    )
    preamble: list[str] = Field(
        default_factory=list,
        description="Script statements before the launch. A bash array the launch splices "
        "(args=( … )) is written back with the profile's values for its flags.",
    )
    line: str | None = Field(
        None,
        description="The launch line's arguments as written (order, \\ continuations, "
        '"${args[@]}"); the export fills in the profile\'s values and adds new flags last.',
    )
    files: dict[str, str] = Field(
        default_factory=dict, description="Files the script writes with a heredoc: path: text."
    )
    engine_config_file: str | None = Field(
        None, description="The script writes the role's engine_config to this path (heredoc)."
    )
    config_map: dict[str, str] | None = Field(
        None,
        description="{name, key} of the user's own ConfigMap that holds the engine config at "
        "engine_config_file; the export writes that ConfigMap again, with the role's config.",
    )
    use_exec: bool = Field(False, description="The launch line starts with exec.")
    prefix: list[str] = Field(
        default_factory=list, description="Env names written as VAR=value before the launch."
    )
    exported: list[str] = Field(
        default_factory=list, description="Env names the preamble exports (not repeated in env)."
    )
    written: dict[str, str] = Field(
        default_factory=dict,
        description="Argument value: as written, e.g. {Qwen/Qwen3-0.6B: ${MODEL_PATH}}; "
        "'FLAG value' (after that flag) where the same value also stands elsewhere written "
        "otherwise, or the flag and its value were one word (--model=$M).",
    )
    omit: list[str] = Field(
        default_factory=list,
        description="Flags trtl passes locally that the cluster graph lacks, each with the "
        "value it had (--tensor-parallel-size=1): left out while the profile keeps that value.",
    )
    omit_config: list[str] = Field(
        default_factory=list,
        description="Engine config keys trtl adds locally, each with its JSON value "
        "(tensor_parallel_size=1): left out too while the profile keeps that value.",
    )
    keep: list[str] = Field(
        default_factory=list,
        description="Arguments of the cluster command that trtl does not pass locally (e.g. "
        "SGLang's --disaggregation-bootstrap-port, --tp 1): the export writes them back.",
    )
    order: list[str] = Field(
        default_factory=list,
        description="The cluster command's flags in its order (a plain command): the export "
        "writes them so, flags it did not have after them.",
    )
    spelling: dict[str, str] = Field(
        default_factory=dict,
        description="Flags the cluster command spells another way, e.g. {--tp-size: --tp}.",
    )
    no_command: bool = Field(False, description="Only args: the image's entrypoint runs them.")
    python: str = Field("python3", description="The interpreter the cluster command names.")
    component_type: Literal["worker", "prefill", "decode"] | None = Field(
        None, description="The component type written (a decode-labelled aggregated worker)."
    )
    in_cluster: bool = Field(
        True, description="false: the cluster graph has no such component (a worker-only DGD)."
    )
    replicas: int | None = Field(
        None,
        ge=0,
        description="The cluster's replicas where the local run differs: 0 (scaled to zero; "
        "locally the role runs its replicas), or a frontend's (trtl runs one locally).",
    )
    no_gpu_limit: bool = Field(
        False,
        description="The cluster container names no GPU resource (no nvidia.com/gpu limit); the "
        "export adds none, while the local run uses the role's gpus.",
    )


class RoleK8s(PodSettings):
    """Per-role Kubernetes settings: they replace the graph-wide ones for this role."""

    launch: Launch | None = Field(None, description="How the cluster starts it (from import).")

    resources: ResourceSpec | None = Field(None, description="CPU and memory of this role.")
    component_name: str | None = Field(
        None,
        pattern=COMPONENT_NAME_PATTERN,
        description="Name of the DGD component (default: the role name in lower case with "
        "'-', or frontend); `trtl import` keeps the original, so Services keep their names.",
    )


# Frontend and WorkerRole name RoleK8s before it exists, and their model_fields keep the
# ForwardRef: resolved, `--set frontend.k8s.imagee=x` names the typo and suggests 'image'.
Frontend.model_rebuild(force=True)
WorkerRole.model_rebuild(force=True)


class K8sSettings(PodSettings):
    """What only the cluster needs: image, secrets, resources and pod settings."""

    image: str | None = Field(None, description="Container image; required to export.")
    working_dir: str | None = Field("/workspace", description="Working directory in the image.")
    hf_token_secret: str | None = Field(
        "hf-token-secret", description="Secret holding HF_TOKEN, referenced by workers."
    )
    namespace: str | None = Field(None, description="Kubernetes namespace of the deployment.")
    frontend_resources: ResourceSpec = Field(default_factory=_seed_frontend_resources)
    worker_resources: ResourceSpec = Field(default_factory=_seed_worker_resources)
    spec: KubeObject | None = Field(None, description="More DGD spec fields, carried as they are.")
    metadata: KubeObject | None = Field(None, description="Labels/annotations of the DGD itself.")
    config_maps: list[KubeObject] | None = Field(
        None,
        description="The user's own ConfigMaps of the imported file, written again as they "
        "were (labels and annotations too); a key a role reads its engine config from "
        "(k8s.launch.config_map) is left out here and filled from that role's engine_config.",
    )


class Profile(_Strict):
    """A Dynamo serving graph: a frontend plus named worker roles."""

    name: str = Field(pattern=NAME_PATTERN, description="Profile and default deployment name.")
    extends: str | None = Field(
        None, description="Profile this one starts from (name or file); merged key by key."
    )
    description: str = ""
    engine: Engine = engine_names()[0]
    model: str = Field(DEFAULT_MODEL, min_length=1, description="HF model id or local directory.")
    served_model_name: str | None = Field(None, description="Name clients use; default: model.")
    frontend: Frontend = Field(default_factory=Frontend)
    workers: dict[Annotated[str, Field(pattern=ROLE_PATTERN)], WorkerRole] = Field(min_length=1)
    env: Env = Field(default_factory=dict, description="Environment for every process.")
    mocker: MockerSettings = Field(default_factory=MockerSettings)
    vllm: VllmSettings = Field(default_factory=VllmSettings)
    sglang: SglangSettings = Field(default_factory=SglangSettings)
    k8s: K8sSettings = Field(default_factory=K8sSettings)
    python: str | None = Field(
        None,
        description="Local only: the Python interpreter (or venv's python) that runs Dynamo; "
        "default: the one running trtl.",
    )
    stop_grace: float = Field(
        30.0, ge=0, le=3600, description="Local only: seconds to drain before SIGKILL on stop."
    )
    share_gpus: bool = Field(
        False,
        description="Local only: let several workers share a GPU when there are too few "
        "(development; timings are not representative). Never exported.",
    )

    @property
    def served_name(self) -> str:
        return self.served_model_name or self.model

    @property
    def disaggregated(self) -> bool:
        return any(role.mode != "agg" for role in self.workers.values())

    @model_validator(mode="after")
    def _graph_is_servable(self) -> Profile:
        if "frontend" in self.workers:
            raise ValueError(
                "'frontend' names the frontend process; give the worker role another name"
            )
        for engine in engine_names():  # each engine's settings block is named after it
            per_role = getattr(getattr(self, engine, None), "role_extra_args", None) or {}
            unknown = sorted(set(per_role) - set(self.workers))
            if unknown:
                raise ValueError(
                    f"{engine}.role_extra_args names {', '.join(unknown)}, which is not a "
                    f"worker role (roles: {', '.join(self.workers)})"
                )
        return self

    @field_validator("workers")
    @classmethod
    def _roles_fit_together(cls, workers: dict[str, WorkerRole]) -> dict[str, WorkerRole]:
        # A field check, so the message names where `workers` was last changed (the --set or
        # the file that removed a role), not the top of the profile.
        modes = {role.mode for role in workers.values()}
        if "agg" in modes and len(modes) > 1:
            raise ValueError(
                "workers mix agg with prefill/decode roles; use either agg roles, "
                "or prefill and decode roles"
            )
        if modes & {"prefill", "decode"} and not {"prefill", "decode"} <= modes:
            missing = ({"prefill", "decode"} - modes).pop()
            raise ValueError(
                f"a disaggregated graph needs a {missing} role too: Dynamo lists the model "
                "only once prefill and decode workers are both there"
            )
        return workers


def nested_model(annotation: Any) -> tuple[type[BaseModel] | None, type[BaseModel] | None]:
    """(model to descend into, model of dict values keyed by name) for a field annotation."""
    for candidate in _union_members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate, None
        if typing.get_origin(candidate) is dict:
            value = typing.get_args(candidate)[1]
            if isinstance(value, type) and issubclass(value, BaseModel):
                return None, value
    return None, None


def _union_members(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return [a for arg in typing.get_args(annotation) for a in _union_members(arg)]
    if origin is typing.Annotated:
        return _union_members(typing.get_args(annotation)[0])
    return [annotation]
