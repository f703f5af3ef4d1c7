"""What trtl gives every child beyond the plan: its environment and its log's start line.

Apart from ``run_setup`` (and importing only built-in modules) because a repeated ``trtl
up`` spawns every process (``supervision.early_start``) before it imports anything else;
``run_setup.child_env`` and ``Component.start`` use the same rules, and so does the bare
launch the benchmarks compare with.

Children inherit trtl's environment (the HF token reaches them that way only) plus the
plan's variables.
"""

from __future__ import annotations

# A NATS_SERVER without a NATS server makes Dynamo retry for up to 120 s; file discovery and
# the TCP request plane need none.
DROPPED_ENV = ("NATS_SERVER",)
# Log presentation, unless the user chose a DYN_LOG: no colour codes in log files, and
# no line per trtl probe (the frontend logs every HTTP response at INFO, a worker's status
# server every 503 "notready" as ERROR while it starts).
PRESENTATION_ENV = {"DYN_SDK_DISABLE_ANSI_LOGGING": "1"}
QUIET_PROBES_LOG = {
    "frontend": "info,dynamo_llm::http::service::service_v2=warn",
    "worker": "info,tower_http=off",
}


def base_env(environ: dict[str, str]) -> dict[str, str]:
    """What every child gets of ``environ`` (trtl's own) and trtl's fixed settings."""
    base = {k: v for k, v in environ.items() if k not in DROPPED_ENV}
    base.update(PRESENTATION_ENV, PYTHONUNBUFFERED="1")
    return base


def process_env(base: dict[str, str], role: str, env: dict[str, str]) -> dict[str, str]:
    """The full environment of one process of ``role`` with the plan's ``env``."""
    full = {**base, **env}
    full.setdefault("DYN_LOG", QUIET_PROBES_LOG["frontend" if role == "frontend" else "worker"])
    return full


def start_marker(name: str, generation: int) -> bytes:
    """The line trtl writes into a process's log before each start (``trtl logs`` shows it;
    the tail thread reads from just after it)."""
    return f"--- trtl: starting {name} (start #{generation})\n".encode()
