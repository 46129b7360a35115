"""The embedder protocol and registry.

An embedder turns texts into float32, L2-normalized vectors of a fixed dimension. It is
named by a *spec* string stored in the catalog with the collection it is bound to:
``"minilm"``, ``"hash"`` (64-d), ``"hash-256"`` (a provider name, optionally ``-<dim>``).

Providers live one per module and register themselves with :func:`register`, which
checks the class before accepting it (as LanceDB's embedding registry does).

Example:
    >>> from lakebed.rag.embedders import get_embedder
    >>> e = get_embedder("hash-8")
    >>> e.name, e.dim, e.embed(["hello world"]).shape
    ('hash-8', 8, (1, 8))
"""

from __future__ import annotations

import inspect
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from lakebed._names import validate_name
from lakebed.errors import InvalidArgument

__all__ = ["Embedder", "EmbedderLike", "available", "get_embedder", "l2_normalize", "register"]


@runtime_checkable
class EmbedderLike(Protocol):
    """What a collection needs from an embedder."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class Embedder(ABC):
    """Base class of the providers: set ``name`` and ``dim``, implement :meth:`embed`."""

    name: str
    dim: int

    @abstractmethod
    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors of ``texts``: a float32 array of shape ``(len(texts), dim)``, rows of norm 1."""

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one query text (1-d)."""
        return self.embed([text])[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} dim={self.dim}>"


E = TypeVar("E", bound=type[Embedder])
_REGISTRY: dict[str, type[Embedder]] = {}
_INSTANCES: dict[str, Embedder] = {}
_LOCK = threading.Lock()
_SPEC = re.compile(r"(?P<name>[a-z][a-z0-9_]*)(?:-(?P<dim>[0-9]+))?", re.ASCII)


def register(name: str) -> Callable[[E], E]:
    """Class decorator adding an embedder provider under ``name``.

    The class must subclass :class:`Embedder`, implement ``embed`` and accept a
    keyword ``dim`` (None = its default); the name must be new.
    """
    validate_name("embedder", name)

    def deco(cls: E) -> E:
        if not (inspect.isclass(cls) and issubclass(cls, Embedder)):
            raise InvalidArgument(f"{cls!r} is not a subclass of lakebed.rag.embedders.Embedder")
        if inspect.isabstract(cls):
            raise InvalidArgument(f"{cls.__name__} does not implement embed()")
        if "dim" not in inspect.signature(cls).parameters:
            raise InvalidArgument(f"{cls.__name__} must accept a keyword argument dim")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise InvalidArgument(f"an embedder named {name!r} is registered already")
        _REGISTRY[name] = cls
        return cls

    return deco


def available() -> list[str]:
    """The registered provider names."""
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    # Importing the provider modules registers them; they import their heavy
    # dependencies lazily, so this is cheap.
    from lakebed.rag.embedders import hash as _hash  # noqa: F401
    from lakebed.rag.embedders import minilm as _minilm  # noqa: F401


def get_embedder(spec: str) -> Embedder:
    """The embedder for ``spec`` (``"minilm"``, ``"hash"``, ``"hash-128"``), one per process.

    Example:
        >>> get_embedder("hash") is get_embedder("hash")
        True
    """
    if isinstance(spec, Embedder):
        return spec
    if not isinstance(spec, str):
        raise InvalidArgument(f"an embedder is named by a string such as 'minilm', got {spec!r}")
    with _LOCK:
        cached = _INSTANCES.get(spec)
        if cached is not None:
            return cached
        _load_builtin()
        m = _SPEC.fullmatch(spec)
        if m is None or m.group("name") not in _REGISTRY:
            raise InvalidArgument(
                f"unknown embedder {spec!r}; use one of {', '.join(sorted(_REGISTRY))} "
                "(optionally with -<dim>, e.g. 'hash-128')"
            )
        dim = int(m.group("dim")) if m.group("dim") else None
        instance = _REGISTRY[m.group("name")](dim=dim)  # type: ignore[call-arg]
        instance.name = spec
        _INSTANCES[spec] = instance
        return instance


def l2_normalize(vectors: Any) -> np.ndarray:
    """Rows scaled to unit L2 norm, as float32 (zero rows stay zero)."""
    arr = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    np.maximum(norms, np.float32(1e-12), out=norms)
    return arr / norms


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise InvalidArgument("embed() takes a list of texts; wrap a single text in a list")
    out = list(texts)
    for t in out:
        if not isinstance(t, str):
            raise InvalidArgument(f"embed() takes strings, got {type(t).__name__}")
    return out
