"""Lazy package exports (PEP 562): a package names its heavy classes without importing
them, so ``import lakebed.client`` and the light submodules it needs do not load FAISS,
DuckDB or Delta Lake. The name is imported from its submodule on first access.

Example:
    >>> import sys
    >>> from lakebed._lazy import lazy_exports
    >>> getattr_ = lazy_exports("lakebed", {"InvalidArgument": "lakebed.errors"})
    >>> getattr_("InvalidArgument").__name__
    'InvalidArgument'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing ``name`` from the submodule ``exports[name]`` on
    first use (and caching it in the package's namespace)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
