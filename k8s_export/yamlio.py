"""YAML that Kubernetes reads back unchanged, and reading multi-document files.

Kubernetes parses YAML 1.1 with Go's yaml library, which reads ``y``, ``no``, ``on`` as
booleans and ``1e3``, ``0755``, ``0x1f`` as numbers; PyYAML leaves some of those plain
(``y``, ``1e3``). So every string that any YAML reader could take for something else is
quoted, whatever PyYAML thinks. Multi-line strings (engine configs in a ConfigMap) are
written as literal blocks so they stay readable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from trtl.profiles.errors import ProfileError
from trtl.profiles.yaml_source import read_text_file

# Plain scalars some YAML 1.1 / 1.2 reader turns into a bool, null or number.
_AMBIGUOUS = re.compile(
    r"""^(?:
        y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE
        |on|On|ON|off|Off|OFF|null|Null|NULL|~|=|<<
        |[-+]?\.?[0-9].*          # anything that starts like a number: 1e3, 0755, 1:30, 0x1f
        |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
    )$""",
    re.VERBOSE,
)


# libyaml reads a 22,000-line CRD in a fraction of the pure-Python loader's 8 s.
_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _KubeLoader(_BASE_LOADER):
    """Reads YAML as Kubernetes does: a timestamp stays a string (JSON has no dates)."""


def _refuse_binary(loader: Any, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, "binary (!!binary) values have no place in a Kubernetes object",
        node.start_mark,
    )  # fmt: skip


_KubeLoader.add_constructor("tag:yaml.org,2002:timestamp", _KubeLoader.construct_yaml_str)
_KubeLoader.add_constructor("tag:yaml.org,2002:binary", _refuse_binary)
_LOADER = _KubeLoader
# Objects are read as trees: these bound what aliases of aliases ("billion laughs") or an
# alias inside its own anchor turn into. A DGD is ~10 levels deep, the operator's CRD 35.
MAX_DEPTH = 100
MAX_VALUES = 500_000


class KubeDumper(yaml.SafeDumper):
    """SafeDumper that quotes ambiguous strings and keeps block style."""

    def ignore_aliases(self, data: Any) -> bool:
        # One object used twice (a shared resources mapping) must not become &id001/*id001:
        # every reader of the export should see plain values.
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if value == "" or _AMBIGUOUS.match(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


KubeDumper.add_representer(str, _represent_str)


def dump(data: Any) -> str:
    """One YAML document, block style, keys in insertion order."""
    return yaml.dump(data, Dumper=KubeDumper, sort_keys=False, width=100, allow_unicode=True)


def dump_all(docs: list[dict[str, Any]]) -> str:
    """Several documents separated by ``---``, in the order given."""
    return yaml.dump_all(
        docs, Dumper=KubeDumper, sort_keys=False, width=100, allow_unicode=True, explicit_start=True
    )


def load_documents(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The mappings of a (multi-document) YAML file; raises ProfileError naming the file.

    ``limit`` caps the file's size in bytes (default: that of a profile or DGD)."""
    text = read_text_file(path) if limit is None else read_text_file(path, limit)
    return parse_documents(text, str(path))


def parse_documents(text: str, label: str) -> list[dict[str, Any]]:
    """Parse YAML text into its non-empty documents; a ``kind: List`` is flattened."""
    try:
        raw = [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}:{mark.line + 1}" if mark else label
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProfileError(f"{where}: broken YAML: {problem}.") from exc
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:
        # PyYAML's constructors fail this way where a tag does not fit its text: `!!int x`.
        raise ProfileError(
            f"{label}: broken YAML: a value does not fit its tag (e.g. `!!int x`)."
        ) from exc
    _check_tree(raw, label)
    docs: list[dict[str, Any]] = []
    for doc in raw:
        if not isinstance(doc, dict):
            raise ProfileError(f"{label}: every YAML document must be a Kubernetes object.")
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            docs.extend(item for item in doc["items"] if isinstance(item, dict))
        else:
            docs.append(doc)
    return docs


def _check_tree(docs: list[Any], label: str) -> None:
    """Refuse data too deep or too big to walk (without recursion: it may be a cycle)."""
    stack = [(docs, 0)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ProfileError(
                f"{label}: the file expands to more than {MAX_VALUES} values; "
                "use fewer aliases of aliases."
            )
        if depth > MAX_DEPTH:
            raise ProfileError(
                f"{label}: the YAML is nested more than {MAX_DEPTH} levels deep, or an alias "
                "is used inside its own anchor."
            )
        if isinstance(node, dict):
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)


_TOP_KEY = re.compile(r"^(apiVersion|kind)\s*:", re.MULTILINE)


def is_kubernetes_text(text: str) -> bool:
    """Whether YAML text holds Kubernetes objects (top-level apiVersion and kind), cheaply."""
    return {m.group(1) for m in _TOP_KEY.finditer(text)} == {"apiVersion", "kind"}
