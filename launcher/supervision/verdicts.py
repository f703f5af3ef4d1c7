"""The sentences a failed run ends with, when the cause is not just an exit code.

Ports trtl picked (or was given) may be taken between the check and the bind: by another
deployment started at the same moment, or by another program or user. The process that
lost the race either exits (the frontend, with a 20-line "Address already in use"
traceback) or runs on without its status server (a worker); both end in one line naming
the port and who holds it.
"""

from __future__ import annotations

from trtl.launcher.planning.plan_types import ProcessPlan
from trtl.launcher.supervision.port_owner import describe, listeners
from trtl.launcher.supervision.probe import Usurped


def _port(name: str, port: int) -> str:
    return f"the frontend port {port}" if name == "frontend" else f"{name}'s status port {port}"


def _fix(name: str) -> str:
    if name == "frontend":
        return "choose another with --port, or stop what holds it"
    return "start again (trtl picks free ports at every start), or stop what holds it"


def port_taken(process: ProcessPlan, deployment: str) -> str | None:
    """Why ``process`` (which exited before it was up) failed, if another program now
    listens on its port; None otherwise."""
    port = process.ports.get("http") or process.ports.get("system")
    held = listeners(port) if port else []
    if not held:
        return None
    holder = describe(next((pid for pid in held if pid), None))
    return (
        f"{_port(process.name, port)} was taken by {holder} while "
        f"{deployment!r} started; {_fix(process.name)}."
    )


def usurped(event: Usurped) -> str:
    """The sentence for a port of ours that answers from another program."""
    return (
        f"{_port(event.name, event.port)} is held by {event.holder}, not by "
        f"{event.name}, so trtl cannot tell whether {event.name} is up; {_fix(event.name)}."
    )


def not_ready(served_name: str, timeout: float, waiting: list[str]) -> str:
    """Not servable within --timeout: who is not up yet."""
    workers = [n for n in waiting if n != "frontend"]
    why = (
        f"not up: {', '.join(workers)}"
        if workers
        else "every worker is up, but the frontend does not list the model"
    )
    return (
        f"{served_name!r} was not servable after {timeout:g} s ({why}); raise --timeout if "
        "the engines need longer."
    )


def materialization_failed(model: str, line: str) -> str:
    """The frontend printed "Model materialization failed": the model lacks its tokenizer."""
    cause = line.rsplit('error="', 1)[1].rstrip('"') if 'error="' in line else "no cause given"
    return (
        f"the frontend cannot load model {model!r} (Model materialization failed: {cause}): "
        "its tokenizer or chat template is missing or unreadable; give a model directory "
        "with tokenizer.json and a chat_template."
    )
