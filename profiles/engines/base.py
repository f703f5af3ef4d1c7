"""The engine interface: everything trtl knows about one engine, as pure functions over data.

One ``Engine`` subclass per engine (``trtllm``, ``vllm``, ``sglang``, ``mocker``) says

- what runs: the module, the flags profile fields own, role → argv/env/engine-config file
  (``build``), the config keys it can and cannot express (notes);
- what a local run adds: ports, loopback and CPU settings per replica (``local_worker``),
  the GPU memory share it takes (``memory_fraction``), whether it runs on CPU where there is
  no GPU (``cpu_without_gpu``);
- what its Python needs: modules and distributions to probe, and the verdicts on what a probe
  found (``check_packages``, ``check_model``, ``check_worker``, ``doctor``);
- what the cluster runs: the DGD ``backendFramework``, the default runtime image, the engine
  config that travels in a ConfigMap (``export_config``);
- how a worker's command line reads back into a role on import (``read``, ``settings``).

Nothing here starts a process or reads the machine: the launcher probes, the engine judges.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from ..schema import Profile, WorkerMode, WorkerRole

Status = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class ComponentSpec:
    """What one role runs, independent of where it runs."""

    role: str  # "frontend" or the worker role's name
    component: Literal["frontend", "worker"]
    mode: WorkerMode | None
    replicas: int
    gpus: int  # per replica
    module: str
    args: tuple[str, ...]  # after `python -m MODULE`
    env: dict[str, str]
    # Contents of the file that --extra-engine-args names, when trtl writes it.
    engine_config: dict[str, Any] | None = None
    engine_config_path: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    engine: str | None = None  # the registry name; None for the frontend


class Built(NamedTuple):
    """A worker role's command line, as an engine builds it."""

    args: list[str]
    engine_config: dict[str, Any] | None = None  # what trtl writes to engine_config_path
    engine_config_path: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Replica:
    """What the local plan knows of one replica before the engine adds its own settings."""

    name: str  # "prefill-0"
    config_dir: str  # where trtl writes engine config files
    ports: tuple[int, ...]  # free ports, ``extra_ports(spec)`` of them
    memory_fraction: float | None = None  # its share of a GPU it shares, else None
    cpu_bind: str | None = None  # its CPU cores, when the engine runs on CPU
    cpu_kv_cache_gib: int | None = None


@dataclass(frozen=True)
class LocalWorker:
    """One replica's local additions."""

    args: list[str]
    env: dict[str, str] = field(default_factory=dict)  # set by trtl: the profile may not
    default_env: dict[str, str] = field(default_factory=dict)  # where the profile leaves it
    ports: dict[str, int] = field(default_factory=dict)  # named extra ports
    file: tuple[str, dict[str, Any]] | None = None  # an engine config file to write


@dataclass(frozen=True)
class Packages:
    """What a Python interpreter could import (a probe's answer, as data)."""

    python: str
    version: str | None
    modules: Mapping[str, bool]
    distributions: Mapping[str, str | None]
    requires: Mapping[str, list[str]] = field(default_factory=dict)


class Refusal(NamedTuple):
    """Why a run cannot start, in one sentence, and the fix."""

    message: str
    hint: str | None = None


class Verdict(NamedTuple):
    """One ``trtl doctor`` line about an engine."""

    check: str
    status: Status
    message: str
    fix: str | None = None


@dataclass(frozen=True)
class WorkerCommand:
    """One DGD worker component's command, as import reads it."""

    component: str  # the DGD component's name
    type: str | None  # its componentType
    args: list[str]  # after `python -m MODULE`
    router_mode: str  # the frontend's, already read
    label: str  # the file, for messages
    # The engine config a path names (or the one mounted from a ConfigMap, for None);
    # None where there is none to read.
    config: Callable[[str | None], dict[str, Any] | None]


@dataclass
class RoleRead:
    """What one worker component says about the profile."""

    engine: str
    model: str | None
    served: str | None
    role: dict[str, Any]  # role fields; "mode_arg" holds its --disaggregation-mode
    extra: dict[str, Any] = field(default_factory=dict)  # what settings() reads


class Engine(ABC):
    """One engine. Subclasses set the class attributes and implement every method."""

    name: str  # the profile's ``engine:`` value
    title: str  # in sentences: "TensorRT-LLM"
    module: str  # python -m MODULE
    framework: str | None  # the DGD's backendFramework; None: the operator's default
    image_repository: str  # NVIDIA's runtime image the engine runs in
    uses_gpus: bool  # False: placement and NVML are skipped
    cpu_without_gpu: bool  # runs on CPU cores where the machine has no GPU
    # True: a prefill/decode pair on CPU busy-polls about a core per worker for as long as it
    # runs, idle or not; trtl then keeps a core out of the engines' binds (cpu_mode).
    cpu_disagg_busy_polls: bool = False
    needs_weights: bool  # False: reads only config, tokenizer and chat template
    owned: Mapping[str, str]  # flags profile fields decide -> which field
    local_env: Mapping[str, str]  # variables local_worker sets -> why
    local_default_env: Mapping[str, str]  # ... sets where the profile leaves them unset

    # --- what runs -------------------------------------------------------------------
    @abstractmethod
    def build(self, profile: Profile, name: str, role: WorkerRole, config_dir: str) -> Built:
        """Role ``name``'s args (engine config file in ``config_dir``). Raises ProfileError."""

    @abstractmethod
    def export_config(
        self, profile: Profile, name: str, role: WorkerRole, built: Built, config_dir: str
    ) -> dict[str, Any] | None:
        """The engine config that travels in the export's ConfigMap for this role, if any."""

    def default_image(self, dynamo_version: str) -> str:
        """NVIDIA's runtime image for this engine at ``dynamo_version``."""
        return f"{self.image_repository}:{dynamo_version}"

    def data_parallel(self, args: list[str]) -> int | None:
        """How many copies of the model a worker's flags run side by side, each on its own
        tensor × pipeline GPUs (data parallel); None: one. Import reads GPUs from it."""
        return None

    # --- what a local run adds -------------------------------------------------------
    @abstractmethod
    def extra_ports(self, spec: ComponentSpec) -> int:
        """Ports a replica needs beyond its status port."""

    @abstractmethod
    def local_worker(self, spec: ComponentSpec, replica: Replica) -> LocalWorker:
        """One replica's local args, env, ports and engine config file."""

    @abstractmethod
    def memory_fraction(self, spec: ComponentSpec) -> float | None:
        """The share of a GPU's memory the engine takes; None: trtl's default."""

    # --- what its Python needs -------------------------------------------------------
    @abstractmethod
    def needs(self, disaggregated: bool) -> tuple[str, ...]:
        """Modules the worker Python must import."""

    @abstractmethod
    def distributions(self) -> tuple[str, ...]:
        """Distributions whose versions the checks read."""

    @abstractmethod
    def check_packages(
        self, found: Packages, *, cpu_only: bool, disaggregated: bool
    ) -> Refusal | None:
        """What ``found`` lacks to run this engine's workers (``found.python`` names the
        interpreter as messages show it); None when nothing engine-specific is missing."""

    def worker_needs(self, argv: list[str]) -> tuple[str, ...]:
        """Modules one planned worker's own flags need beyond ``needs`` (e.g. the package of
        a KV connector an imported graph names); none by default."""
        return ()

    def check_worker_packages(self, found: Packages, argv: list[str]) -> Refusal | None:
        """What ``found`` lacks for one worker's own flags (``worker_needs``); None: nothing."""
        return None

    @abstractmethod
    def install_hint(self, cpu_only: bool) -> str:
        """How to get a Python that runs this engine."""

    @abstractmethod
    def check_model(self, config: dict[str, Any], *, cpu_only: bool, source: str) -> str | None:
        """What in the model's config.json (read from ``source``) the engine cannot run here,
        as the rest of a sentence that starts with the model's name; None when it runs."""

    @abstractmethod
    def check_worker(
        self, name: str, mode: str | None, argv: list[str], read_yaml: Callable[[str], Any]
    ) -> Refusal | None:
        """A planned worker's argv (and the files it names) before anything starts."""

    @abstractmethod
    def doctor(self, found: Packages, *, has_gpus: bool, another_engine: bool) -> Verdict | None:
        """``trtl doctor``'s line about this engine (None: another line covers it)."""

    # --- import ----------------------------------------------------------------------
    @abstractmethod
    def read(self, command: WorkerCommand, notes: list[str]) -> RoleRead:
        """A DGD worker's command line as role data. Raises ProfileError."""

    def config_file_fields(self, config: dict[str, Any]) -> dict[str, Any] | None:
        """Role fields that an engine config file the worker reads by path stands for (an
        imported script's heredoc or a user's ConfigMap); None: the role keeps the file's
        mapping as its ``engine_config`` as it is."""
        return None

    @abstractmethod
    def settings(self, reads: dict[str, RoleRead]) -> dict[str, Any]:
        """The profile's engine settings block(s) from every worker's read, e.g. {"vllm": …}."""
