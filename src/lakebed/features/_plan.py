"""A plan: what :meth:`lakebed.api.FeatureStoreAPI.apply` changes (or changed), one
:class:`Change` per definition. It depends on the standard library alone, so the HTTP
client builds the same objects as the embedded store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str]  # (kind, name)


@dataclass
class Change:
    """One line of a plan: what happens to one definition."""

    kind: str
    name: str
    action: str  # "create" | "update" | "delete" | "unchanged"
    old_version: int | None
    new_version: int | None
    diff: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-", "unchanged": "="}[self.action]
        ver = {
            "create": f"v{self.new_version}",
            "update": f"v{self.old_version} -> v{self.new_version}",
            "delete": f"v{self.old_version} deleted",
            "unchanged": f"v{self.old_version}",
        }[self.action]
        lines = [f"{sign} {self.kind} {self.name} ({ver})"]
        for key, (old, new) in self.diff.items():
            lines.append(f"    {key}: {old!r} -> {new!r}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The change as JSON values (``diff`` as ``key -> [old, new]``; ``text`` is
        ``str(change)``)."""
        return {"kind": self.kind, "name": self.name, "action": self.action, "old_version": self.old_version,
                "new_version": self.new_version, "diff": {k: [o, n] for k, (o, n) in self.diff.items()},
                "text": str(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        """The inverse of :meth:`to_json`.

        Example:
            >>> c = Change("view", "stats", "update", 1, 2, {"ttl_us": (1, 2)})
            >>> Change.from_json(c.to_json()) == c
            True
        """
        return cls(data["kind"], data["name"], data["action"], data.get("old_version"), data.get("new_version"),
                   {k: (v[0], v[1]) for k, v in (data.get("diff") or {}).items()})


@dataclass
class Plan:
    """The changes :meth:`FeatureStore.apply` would make (or made).

    Example:
        >>> Plan([]).has_changes
        False
    """

    changes: list[Change]
    _specs: dict[Key, dict[str, Any]] = field(default_factory=dict, repr=False)
    _objects: dict[Key, Any] = field(default_factory=dict, repr=False)

    @property
    def has_changes(self) -> bool:
        return any(c.action != "unchanged" for c in self.changes)

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def __str__(self) -> str:
        if not self.changes:
            return "no definitions"
        return "\n".join(str(c) for c in self.changes)
