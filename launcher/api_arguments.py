"""The library's arguments, checked before anything is read or started.

The CLI's options are typed by click; a Python caller can pass anything. Each wrong
argument is one sentence in the TrtlError class the CLI raises for the same thing
(``ProfileError`` for what shapes the profile, ``PlacementError`` for ports and GPUs), not
a ``TypeError`` from deep inside. The numeric ranges are the CLI's: the background
supervisor that ``trtl.up`` starts parses them again as ``trtl up`` options.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

from trtl.profiles.errors import PlacementError, ProfileError

# trtl up's --timeout and --grace take these too: the background supervisor parses them again.
TIMEOUT_RANGE = (1, 7 * 86400)
GRACE_RANGE = (0, 3600)


def check_profile(profile: object) -> None:
    """A profile name or path, a ``Profile`` or a mapping in the profile format."""
    from trtl.profiles.schema import Profile

    if not isinstance(profile, (str, os.PathLike, Profile, Mapping)):
        raise ProfileError(
            f"profile={profile!r} is not a profile: give a profile name, a profile or DGD "
            "file path, a trtl.Profile or a dict in the profile format."
        )


def overrides(value: object) -> tuple[str, ...]:
    """``set``: KEY=VALUE strings, as ``--set`` takes them, in any iterable but a str."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ProfileError(
            f"set={value!r} is not a list of overrides: give e.g. "
            "set=['workers.worker.replicas=2'] (a list, also for one)."
        )
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise ProfileError(f"set: {item!r} is not a KEY=VALUE string.")
    return items


def optional_text(name: str, value: object, *, path: bool = False) -> str | None:
    """A str argument (or a path, where ``path``), or None; returned as str."""
    if value is None or isinstance(value, str):
        return value
    if path and isinstance(value, os.PathLike):
        return os.fspath(value)
    kind = "a str or a path" if path else "a str"
    error = PlacementError if name == "gpus" else ProfileError
    raise error(f"{name}={value!r} is not {kind}.")


def check_port(port: object) -> None:
    if port is None:
        return
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise PlacementError(
            f"port={port!r} is not a TCP port: give an int from 1 to 65535 "
            "(or None for the profile's)."
        )


def seconds(name: str, value: object, limits: tuple[float, float]) -> float:
    """A finite number of seconds within the CLI's ``limits`` for the same option."""
    low, high = limits
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or not low <= number <= high:
        raise ProfileError(f"{name}={value!r} is not a number of seconds from {low:g} to {high:g}.")
    return float(number)


def profile_choices(
    profile: object, engine: object, model: object, set_: object
) -> tuple[str | None, tuple[str, ...]]:
    """What picks and shapes the profile; returns the model as str and the overrides."""
    check_profile(profile)
    optional_text("engine", engine)
    return optional_text("model", model, path=True), overrides(set_)


def local_choices(
    name: object, port: object, gpus: object, python: object, host: object
) -> str | None:
    """What places the plan on this machine; returns the python path as str."""
    check_port(port)
    optional_text("name", name)
    optional_text("gpus", gpus)
    if not isinstance(host, str):
        raise PlacementError(f"host={host!r} is not a str: give an address, e.g. '127.0.0.1'.")
    return optional_text("python", python, path=True)
