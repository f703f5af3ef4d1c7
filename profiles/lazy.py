"""Package attributes loaded on first use, so importing a room stays cheap."""

from __future__ import annotations

# Not `typing.TYPE_CHECKING`: importing typing (and collections.abc) would cost every
# `trtl up` a few milliseconds before its first process starts.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def lazy_exports(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``name`` from its home module when first asked."""

    def __getattr__(name: str) -> Any:
        if name in homes:
            import importlib  # here: the package imports warnings, paid by every start

            return getattr(importlib.import_module(homes[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
