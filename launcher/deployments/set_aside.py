"""The last run's discovery and older logs, moved out of the way at a start and deleted later.

A start needs an empty discovery directory and turns the last run's logs into the
previous ones, dropping the older previous ones. Deleting them file by file before the
first spawn delayed every start: 150 MB of logs took 66 ms here, and a graph may keep up
to 200 MiB per process (``LogLimits``). A rename takes one system call, so a start sets
them aside (``.old.<pid>.<ns>.<name>`` in the run directory) and the supervisor deletes them
once the graph serves, at the lowest priority, and again as it ends. Built-in modules
only: the cached start (``supervision.early_start``) uses it before its first spawn.
"""

from __future__ import annotations

import os
import time

PREFIX = ".old."


def set_aside(root: str, path: str) -> None:
    """Move ``path`` (in the run directory ``root``) out of the way; absent is fine."""
    if os.path.islink(path):
        return  # never through a symbolic link (as remove_tree)
    # Unique: a start abandoned for the ordinary path sets aside again in the same process.
    unique = f"{os.getpid()}.{time.monotonic_ns()}"
    try:
        os.rename(path, os.path.join(root, f"{PREFIX}{unique}.{os.path.basename(path)}"))
    except FileNotFoundError:
        pass
    except OSError:  # another file system (a mount on it), say
        remove_tree(path)


def remove_set_aside(root: str) -> None:
    """Delete everything set aside in ``root``: this start's and any a killed run left."""
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if name.startswith(PREFIX):
            remove_tree(os.path.join(root, name))


def remove_tree(path: str) -> None:
    """``shutil.rmtree(path, ignore_errors=True)`` (shutil imports re): never through a
    symbolic link."""
    if os.path.islink(path):
        return
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                remove_tree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
    try:  # noqa: SIM105 - contextlib (collections, functools) is not loaded yet
        os.rmdir(path)
    except OSError:
        pass
