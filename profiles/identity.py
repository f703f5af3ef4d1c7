"""What differs between a role running locally and the same role in the cluster.

Each engine adds its own local variables (``Engine.local_env``/``local_default_env`` in
``profiles.engines``); ``profiles.engines.LOCAL_ONLY_ENV`` and ``LOCAL_DEFAULT_ENV`` are the
complete lists, these below plus every engine's.

trtl's promise: a role runs the arguments of ``profiles.engines`` everywhere. Only the
settings listed here are added on one side. The local plan adds exactly the local-only
flags and variables below (tests check that nothing else differs); the Kubernetes export
adds the cluster-only items. Keep both lists here, in one place.

An engine that runs on CPU where a workstation has no GPU (vLLM) runs the very same argv
there as in the GPU cluster: what differs between the two machines (the KV-cache size, the
CPU cores of each engine, transports) is kept out of the argv, in environment variables
that only the local plan sets (the engine's module says which, and why).
"""

from __future__ import annotations

# Flags the local plan adds, and why the cluster does without them.
LOCAL_ONLY_FLAGS: dict[str, str] = {
    "--discovery-backend": "trtl (file discovery locally; the operator sets kubernetes discovery)",
    "--namespace": "trtl (a Dynamo namespace per deployment; the operator sets it in the cluster)",
    "--http-host": "trtl (loopback locally; the operator exposes the frontend in the cluster)",
    "--http-port": "trtl (frontend.http_port or --port; the operator uses 8000)",
}

# Environment variables the local plan sets, and why.
LOCAL_ONLY_ENV: dict[str, str] = {
    "DYN_FILE_KV": "the deployment's private discovery directory",
    "DYN_NAMESPACE": "one Dynamo namespace per deployment, so deployments never see each other",
    "DYN_TCP_RPC_HOST": "request plane on loopback",
    "DYN_TCP_RESPONSE_STREAM_HOST": "response streams on loopback",
    "DYN_EVENT_PLANE_HOST": "KV events on loopback",
    "DYN_SYSTEM_HOST": "worker status server on loopback",
    "DYN_SYSTEM_PORT": "a free worker status port (the operator uses 9090)",
    "DYN_HEALTH_CHECK_ENABLED": (
        "worker /health turns ready once registered: trtl's readiness probe"
    ),
    "CUDA_VISIBLE_DEVICES": "the GPUs placed for this replica (the operator assigns GPUs)",
    "CUDA_DEVICE_ORDER": "GPU indices as nvidia-smi shows them",
}

# Environment variables the local plan sets only where the profile leaves them unset: a
# profile may tune them for its cluster, and then its own value wins locally too.
LOCAL_DEFAULT_ENV: dict[str, str] = {}

# What only the exported resource carries.
CLUSTER_ONLY: dict[str, str] = {
    "image": "the container image (k8s.image or --image): the engine's runtime image "
    "(Engine.default_image; the mocker runs in any)",
    "resources": "nvidia.com/gpu = GPUs per replica, CPU and memory from the k8s section",
    "envFrom": "the HF token through a Secret reference (k8s.hf_token_secret), never a value",
    "env_refs": "environment entries read from Secrets or ConfigMaps (valueFrom, the k8s "
    "sections' env_refs), never literal values",
    "workingDir": "the working directory inside the image (k8s.working_dir)",
    "engine config mount": "engine configs as a ConfigMap mounted into the workers",
    "backendFramework": "the engine's framework (Engine.framework), none for the mocker",
    "pod settings": "node selectors, tolerations, /dev/shm, volumes, labels, annotations, "
    "image pull secrets, probe timings and pass-through fields (the k8s sections)",
    "k8s.launch": "an imported graph's command as its file wrote it: the script, the flags' "
    "spelling and order, flags it had that trtl does not pass locally (keep); flags trtl "
    "passes locally that it lacked are left out (omit)",
}

# The same argument on both sides, with a value that depends on where it runs.
SAME_ARGS_ELSEWHERE: dict[str, str] = {
    "python": "the interpreter: the profile's python (or trtl's own) locally, python3 in the image",
    "--extra-engine-args": "the engine config file: in the run directory locally, in the "
    "mounted ConfigMap in the cluster; same content",
    "--kv-events-config": "engines that publish KV events over ZMQ for the KV router: where "
    "the worker publishes them, tcp://*:5557 in the cluster (a pod each), a loopback port per "
    "replica locally",
}

# Profile settings that only shape the local run; the exported graph never depends on them.
LOCAL_ONLY_SETTINGS: dict[str, str] = {
    "frontend.http_port": "the local HTTP port (the operator serves on 8000)",
    "frontend.restart, workers.<role>.restart": "trtl's restart policies (kubelet restarts pods)",
    "python": "the interpreter that runs Dynamo locally",
    "stop_grace": "seconds to drain before SIGKILL on `trtl down`",
    "share_gpus": "GPU sharing between local replicas (the cluster schedules whole GPUs)",
    "<engine>.cpu_kv_cache_gib": "KV-cache GiB of a worker running on CPU",
}
