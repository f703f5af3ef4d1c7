"""Settings from older Dynamo examples that Dynamo 1.6.1 no longer accepts.

Profiles imported from older launch scripts or DGD files carry them. Each is either
translated to its 1.6.1 form (with a note in the plan) or refused with the reason, so
a worker never dies on a flag that used to work.
"""

from __future__ import annotations

from .errors import ProfileError

# The seed's combined flag is a deprecated alias of these two in 1.6.1.
PUBLISH_BOTH = ("--publish-kv-events", "--publish-metrics")

REMOVED_ENV = {
    "DISAGGREGATION_STRATEGY": (
        "Dynamo removed DISAGGREGATION_STRATEGY in late 2025; the frontend now finds "
        "prefill workers by itself"
    ),
}


def translate_worker_args(
    args: list[str],
    where: str,
    *,
    publish: tuple[str, ...] | None = None,
    publishes_itself: str | None = None,
) -> tuple[list[str], list[str]]:
    """Rewrite or refuse legacy worker flags; returns (args, notes). Raises ProfileError.

    The old combined publish flag becomes ``publish`` where the engine takes flags for it,
    else it is dropped: ``publishes_itself`` names the engine that needs none.
    """
    out: list[str] = []
    notes: list[str] = []
    skip_value = False
    for i, arg in enumerate(args):
        if skip_value:
            skip_value = False
            continue
        flag, has_value, value = arg.partition("=")
        if flag == "--migration-limit":
            raise ProfileError(
                f"{where}: --migration-limit is a frontend setting in Dynamo 1.6.1 and workers "
                "exit on it.",
                hint="Set frontend.migration_limit instead.",
            )
        if flag == "--publish-events-and-metrics":
            if publish:
                out.extend(publish)
                instead = f"using {' '.join(publish)} instead."
            else:
                instead = f"dropped for {publishes_itself}, which publishes KV events by itself."
            notes.append(f"{where}: --publish-events-and-metrics is deprecated; {instead}")
            continue
        if flag == "--disaggregation-strategy":
            skip_value = not has_value and i + 1 < len(args)
            reason = REMOVED_ENV["DISAGGREGATION_STRATEGY"]
            notes.append(f"{where}: dropped --disaggregation-strategy: {reason}.")
            continue
        if flag == "--disaggregation-mode":
            mode = value if has_value else (args[i + 1] if i + 1 < len(args) else "")
            hint = "use mode: agg" if mode == "prefill_and_decode" else "use the role's mode field"
            raise ProfileError(
                f"{where}: --disaggregation-mode {mode} belongs in the role's mode field "
                "(Dynamo 1.6.1 rejects prefill_and_decode).",
                hint=f"Remove it from extra_args and {hint}.",
            )
        out.append(arg)
    return out, notes


def translate_env(env: dict[str, str], where: str) -> tuple[dict[str, str], list[str]]:
    """Drop environment variables Dynamo removed; returns (env, notes)."""
    kept = {k: v for k, v in env.items() if k not in REMOVED_ENV}
    notes = [f"{where}: dropped {k}: {REMOVED_ENV[k]}." for k in env if k in REMOVED_ENV]
    return kept, notes
