"""YAML reading that remembers where each key came from.

Error messages name ``file:line`` for the offending key, so loading keeps a side table
from a key path (``("workers", "decode", "replicas")``) to its origin. Merging profiles
(``extends``) and ``--set`` overrides keep the table in step with the data.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ProfileError

KeyPath = tuple[str | int, ...]


@dataclass
class Sourced:
    """Plain YAML data plus the origin (``"file:line"``) of every key path in it."""

    data: dict[str, Any]
    origins: dict[KeyPath, str] = field(default_factory=dict)
    # Directory that relative paths inside the file are read from.
    origin_file: Path | None = None
    # The text of each plain scalar YAML typed as something else than a string (`1.10`,
    # `yes`, `8000`), of the file just read: env values and extra_args items are text, and
    # `typed_text` checks that typing did not change them. Merging does not carry it.
    texts: dict[KeyPath, str] = field(default_factory=dict)

    def origin(self, path: KeyPath) -> str | None:
        """The origin of the longest prefix of ``path`` that has one."""
        for end in range(len(path), -1, -1):
            found = self.origins.get(path[:end])
            if found:
                return found
        return None


class PlainLoader(yaml.SafeLoader):
    """SafeLoader for profiles: a timestamp stays the text it was written as; no binary.

    Kubernetes reads ``2024-01-01`` as a string too, and a ``datetime.date`` inside an
    engine config would break every JSON writer downstream (``trtl plan --json``).
    """


def _refuse_binary(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, "binary (!!binary) values have no place in a profile", node.start_mark
    )


PlainLoader.add_constructor("tag:yaml.org,2002:timestamp", PlainLoader.construct_yaml_str)
PlainLoader.add_constructor("tag:yaml.org,2002:binary", _refuse_binary)


# Profiles and DGDs are a few KiB; Kubernetes keeps a whole object under 1.5 MiB. Bigger
# is the wrong file, refused before parsing (a 25 MB one took 36 s and 665 MB to fail).
MAX_INPUT_BYTES = 1024 * 1024


# A CustomResourceDefinition carries the whole OpenAPI schema (the Dynamo CRD is ~1.9 MiB).
MAX_CRD_BYTES = 16 * 1024 * 1024


# Every file read, in order: a plan cached from them is valid while they are unchanged.
FILES_READ: list[Path] = []


# The text of each pipe or other non-regular file read (`trtl plan /dev/stdin`, `<(cmd)`),
# by its device and inode: it can be read only once, and a command may look at it twice
# (DGD or profile?). A new pipe, even at the same /dev/fd/N, is another inode.
_STREAMS: dict[tuple[int, int], bytes] = {}


def _stream_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return None
    return (st.st_dev, st.st_ino)


def is_stream(path: Path) -> bool:
    """Whether ``path`` is something to read that is no regular file: a pipe, /dev/stdin,
    /dev/fd/N. Such a file is read once, and its text kept for this process."""
    return _stream_key(path) is not None


def read_text_file(path: Path, limit: int = MAX_INPUT_BYTES) -> str:
    """A UTF-8 file's text; raises ProfileError naming the file if it cannot be read or is
    larger than ``limit`` bytes (MAX_INPUT_BYTES for profiles and DGDs). A pipe is read
    once (see ``is_stream``)."""
    FILES_READ.append(path)
    try:
        key = _stream_key(path)
        data = _STREAMS.get(key) if key is not None else None
        if data is None:
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
            if key is not None:
                _STREAMS[key] = data
        if len(data) > limit:
            raise ProfileError(
                f"{path} is larger than {limit // 1024} KiB; profiles and "
                "DynamoGraphDeployment files are a few KiB: is it the right file?"
            )
        return data.decode("utf-8")
    except FileNotFoundError as exc:
        raise ProfileError(f"{path}: no such file.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read it ({exc}).") from exc


def load_yaml_file(path: Path) -> Sourced:
    """Read one YAML mapping with key origins; raises ProfileError if unreadable or broken."""
    return load_yaml_text(read_text_file(path), str(path), path)


def load_yaml_text(text: str, label: str, path: Path | None = None) -> Sourced:
    """Parse YAML text into a mapping with origins named after ``label``."""
    origins: dict[KeyPath, str] = {}
    texts: dict[KeyPath, str] = {}
    data = _load(text, label, origins, mapping=True, texts=texts)
    return Sourced(data, origins, path, texts)


def load_yaml_value(text: str, label: str, texts: dict[KeyPath, str] | None = None) -> Any:
    """One YAML value (a ``--set`` value), with the same limits as a file; raises ProfileError.

    ``texts`` receives the text of each plain scalar typed as no string (see ``Sourced``)."""
    return _load(text, label, {}, mapping=False, texts=texts)


def _load(
    text: str,
    label: str,
    origins: dict[KeyPath, str],
    mapping: bool,
    texts: dict[KeyPath, str] | None = None,
) -> Any:
    try:
        # The reader rejects control characters already while the loader is built.
        loader = PlainLoader(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{label}: broken YAML: {_problem(exc)}.") from exc
    try:
        node = loader.get_single_node()
        if not mapping:
            if node is None:
                return None
            return _construct(loader, node, (), label, {}, _Budget(), texts)
        if node is None:
            raise ProfileError(f"{label}: the file is empty; a profile is a YAML mapping.")
        if not isinstance(node, yaml.MappingNode):
            raise ProfileError(
                f"{label}:{node.start_mark.line + 1}: a profile is a YAML mapping "
                f"(key: value lines), not a {_kind(node)}."
            )
        return _construct(loader, node, (), label, origins, _Budget(), texts)
    except RecursionError as exc:
        # PyYAML composes nodes recursively: thousands of levels exhaust the stack first.
        raise ProfileError(
            f"{label}: the YAML is nested too deeply, or an alias is used inside its own "
            "anchor; a profile is a few levels deep."
        ) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{label}:{mark.line + 1}" if mark else label
        raise ProfileError(f"{where}: broken YAML: {_problem(exc)}.") from exc
    except yaml.YAMLError as exc:
        raise ProfileError(f"{label}: broken YAML: {_problem(exc)}.") from exc
    finally:
        loader.dispose()


def _problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        return exc.problem or exc.context or "invalid YAML"
    if isinstance(exc, yaml.reader.ReaderError):
        return f"character #x{exc.character:04x} is not allowed in YAML"
    return str(exc).splitlines()[0]


def _kind(node: yaml.Node) -> str:
    return "list" if isinstance(node, yaml.SequenceNode) else "single value"


# A profile is a few levels deep and a few hundred values; these bound what aliases of
# aliases ("billion laughs") or an alias inside its own anchor would otherwise expand to.
MAX_DEPTH = 64
MAX_VALUES = 100_000
_TOO_DEEP = f"the YAML is nested more than {MAX_DEPTH} levels deep; a profile is a few levels deep"


class _Budget:
    """How many more values the file may expand to (aliases are expanded, not shared)."""

    def __init__(self) -> None:
        self.left = MAX_VALUES


def _construct(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: KeyPath,
    label: str,
    origins: dict,
    budget: _Budget,
    texts: dict[KeyPath, str] | None = None,
) -> Any:
    where = f"{label}:{node.start_mark.line + 1}"
    if len(path) > MAX_DEPTH:
        # Also what an alias used inside its own anchor (`a: &x [*x]`) runs into.
        raise ProfileError(f"{where}: {_TOO_DEEP}.")
    budget.left -= 1
    if budget.left < 0:
        raise ProfileError(
            f"{where}: the file expands to more than {MAX_VALUES} values; "
            "use fewer aliases of aliases."
        )
    origins.setdefault(path, where)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(loader, key_node, label)
            if not isinstance(key, (str, int, float, bool)):
                raise ProfileError(
                    f"{label}:{key_node.start_mark.line + 1}: keys must be plain names."
                )
            key = str(key)
            if key in result:
                raise ProfileError(
                    f"{label}:{key_node.start_mark.line + 1}: key '{key}' appears twice."
                )
            child = (*path, key)
            origins[child] = f"{label}:{key_node.start_mark.line + 1}"
            result[key] = _construct(loader, value_node, child, label, origins, budget, texts)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(loader, item, (*path, i), label, origins, budget, texts)
            for i, item in enumerate(node.value)
        ]
    value = _scalar(loader, node, label)
    if (
        texts is not None
        and node.style is None
        and value is not None
        and not isinstance(value, str)
    ):
        texts[path] = node.value
    return value


def _scalar(loader: yaml.SafeLoader, node: yaml.Node, label: str) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        # PyYAML's constructors fail this way where a tag does not fit the text: `!!int x`.
        tag = str(node.tag).rsplit(":", 1)[-1]
        raise ProfileError(
            f"{label}:{node.start_mark.line + 1}: {node.value!r} is not a valid !!{tag} value."
        ) from exc


def deep_merge(base: Sourced, top: Sourced) -> Sourced:
    """``top`` over ``base``: mappings merge key by key, anything else replaces, null deletes."""
    origins = dict(base.origins)
    data = _merge(base.data, top.data, (), origins, top.origins)
    return Sourced(data, origins, top.origin_file)


def _merge(base: Any, top: Any, path: KeyPath, origins: dict, top_origins: dict) -> Any:
    if isinstance(base, dict) and isinstance(top, dict):
        merged = dict(base)
        for key, value in top.items():
            child = (*path, key)
            if value is None and key in merged:
                # `workers: {prefill: null}` removes an inherited role.
                del merged[key]
                _drop_origins(origins, child)
                continue
            merged[key] = _merge(base.get(key), value, child, origins, top_origins)
        if path in top_origins:
            origins[path] = top_origins[path]
        return merged
    _drop_origins(origins, path)
    origins.update({p: o for p, o in top_origins.items() if p[: len(path)] == path})
    return top


def _drop_origins(origins: dict[KeyPath, str], path: KeyPath) -> None:
    for key in [p for p in origins if p[: len(path)] == path and len(p) > len(path)]:
        del origins[key]
