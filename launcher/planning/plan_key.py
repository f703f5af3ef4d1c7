"""The plan cache's key and its entry as raw JSON, with only built-in modules loaded.

A repeated ``trtl up`` reads its cached plan here and spawns every process from it
(``supervision.early_start``) before importing anything else: no pathlib, dataclasses,
typing, not even ``json`` (its decoder imports ``re``): a few milliseconds each, on the
path before the first spawn, which a bare launch does not pay. The key hashes the
``repr`` of its material; the entry is parsed by ``_json``'s C scanner (what ``json.loads``
uses). ``plan_cache`` builds on it: what the key covers and when an entry counts is
described there.
"""

from __future__ import annotations

import _json
import os
import stat
import sys

try:  # the built-in module: hashlib would first load OpenSSL, 2-3 ms of CPU at every start
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - Pythons without it
    from hashlib import blake2b

CACHE_VERSION = 2
CACHE_DIR = "plan-cache"
TRTL_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
TRTL_PACKAGES = ("launcher", "profiles")
# What a shell changes between two identical commands (`_` is the last command's path, the
# size follows the window); the working directory is part of the key by itself.
SHELL_NOISE = frozenset({"_", "SHLVL", "OLDPWD", "PWD", "COLUMNS", "LINES"})


def state_root() -> str:
    """``$XDG_STATE_HOME/trtl`` (default ``~/.local/state/trtl``), as ``paths.state_home``."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "trtl")


def cache_key(args: list[str]) -> str:
    """Hash of the arguments, working directory, environment, trtl itself and the machine."""
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = []
    material = [
        CACHE_VERSION,
        args,
        os.getcwd(),
        sorted((k, v) for k, v in os.environ.items() if k not in SHELL_NOISE),
        sys.executable,
        sys.version,
        trtl_stamp(),
        gpu_stamp(),
        affinity,
    ]
    return blake2b(repr(material).encode(), digest_size=32).hexdigest()


def entry_path(args: list[str]) -> str:
    return os.path.join(state_root(), CACHE_DIR, f"{cache_key(args)}.json")


def trtl_stamp() -> list[object]:
    """Size and mtime of every file of trtl's packages: an edit or upgrade changes it."""
    stamp: list[object] = []
    for package in TRTL_PACKAGES:
        stack = [os.path.join(TRTL_ROOT, package)]
        while stack:
            with os.scandir(stack.pop()) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != "__pycache__":
                            stack.append(entry.path)
                    elif entry.name.endswith((".py", ".yaml", ".yml", ".json")):
                        st = entry.stat()
                        stamp.append([entry.path, st.st_size, st.st_mtime_ns])
    return stamp


def gpu_stamp() -> list[str]:
    """The GPUs present, as the driver lists them (no NVML: it takes 100 ms to start)."""
    found: list[str] = []
    for folder, prefix in (("/proc/driver/nvidia/gpus", ""), ("/dev", "nvidia")):
        try:
            found += sorted(f"{folder}/{n}" for n in os.listdir(folder) if n.startswith(prefix))
        except OSError:
            continue
    return found


def signature(path: str, kind: str) -> object:
    """``content``: BLAKE2b hash of a file; ``listing``: a folder's entries with size and mtime;
    ``stat``: size (files only) and mtime. None when it does not exist or cannot be read."""
    try:
        if kind == "content":
            with open(path, "rb") as handle:
                return blake2b(handle.read(), digest_size=32).hexdigest()
        if kind == "listing":
            with os.scandir(path) as entries:
                return sorted([e.name, e.stat().st_size, e.stat().st_mtime_ns] for e in entries)
        st = os.stat(path)
        return [0 if stat.S_ISDIR(st.st_mode) else st.st_size, st.st_mtime_ns]
    except (OSError, ValueError):
        return None


def read_entry(args: list[str]) -> dict | None:
    """The cached entry (raw JSON) for these ``up`` arguments if every input it lists is
    unchanged, else None."""
    try:
        path = entry_path(args)
        st = os.stat(path)
        if stat.S_IMODE(st.st_mode) & 0o077 or st.st_uid != os.getuid():
            return None  # only a file nobody else could have written
        with open(path, encoding="utf-8") as handle:
            entry = loads(handle.read())
        if not isinstance(entry, dict) or entry.get("version") != CACHE_VERSION:
            return None
        for where, kind, expected in entry["watched"]:
            if signature(where, kind) != expected:  # None: still absent
                return None
        return entry
    except (OSError, ValueError, KeyError, TypeError):
        return None


class _Decoding:
    """What ``_json.make_scanner`` reads from ``json.JSONDecoder``: its default settings."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


_SCAN = _json.make_scanner(_Decoding())


def loads(text: str) -> object:
    """``json.loads`` for a document ``json.dump`` wrote. Raises ValueError."""
    try:
        value, end = _SCAN(text, len(text) - len(text.lstrip()))
    except StopIteration as exc:  # the scanner's word for "no value here"
        raise ValueError(f"no JSON value at {exc.value}") from None
    if text[end:].strip():
        raise ValueError(f"extra data at {end}")
    return value
