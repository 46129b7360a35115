"""Search results and stored points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


class Hit:
    """One search result. ``score`` is higher-is-better for every metric: cosine
    similarity (``cosine``), inner product (``dot``) or negative squared L2 distance
    (``l2``). ``meta`` holds e.g. the plan chosen (``meta["plan"]``).

    The payload of a hit from a search is materialized on first access (a copy: changing
    it changes nothing stored), so searches that only need ids and scores stay cheap.

    Example:
        >>> Hit(id=1, score=0.9, payload={"a": 1}).id
        1
    """

    __slots__ = ("_data", "_payload", "_pos", "id", "meta", "score", "text", "vector")

    def __init__(
        self,
        id: int | str,
        score: float,
        payload: dict[str, Any] | None = None,
        text: str | None = None,
        vector: np.ndarray | None = None,
        meta: dict[str, Any] | None = None,
        _data: Any = None,
        _pos: int = -1,
    ) -> None:
        self.id = id
        self.score = score
        self._payload = payload
        self.text = text
        self.vector = vector
        self.meta = {} if meta is None else meta
        self._data = _data
        self._pos = _pos

    @property
    def payload(self) -> dict[str, Any]:
        p = self._payload
        if p is None:
            data = self._data
            p = data.payload(self._pos) if data is not None else {}
            self._payload = p
            self._data = None
        return p

    @payload.setter
    def payload(self, value: dict[str, Any]) -> None:
        self._payload = value
        self._data = None

    def _key(self) -> tuple[Any, ...]:
        return (self.id, self.score, self.payload, self.text, self.meta)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hit):
            return NotImplemented
        if self._key() != other._key():
            return False
        if self.vector is None or other.vector is None:
            return self.vector is other.vector
        return bool(np.array_equal(self.vector, other.vector))

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return (
            f"Hit(id={self.id!r}, score={self.score!r}, payload={self.payload!r}, text={self.text!r}, "
            f"vector={self.vector!r}, meta={self.meta!r})"
        )


@dataclass(slots=True)
class Point:
    """A stored point, as returned by ``Collection.get`` and ``Collection.scroll``.

    Example:
        >>> Point(id="a", payload={}).id
        'a'
    """

    id: int | str
    payload: dict[str, Any]
    text: str | None = None
    vector: np.ndarray | None = None
