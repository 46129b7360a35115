"""Typed settings: keyword arguments > ``LAKEBED_*`` environment > ``lakebed.toml``.

Example:
    >>> s = Settings.resolve(overrides={"fsync": "never"}, toml={})
    >>> s.fsync
    'never'
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lakebed.errors import InvalidArgument

FORMAT_VERSION = 1
TOML_NAME = "lakebed.toml"

_FSYNC = ("always", "batch", "never")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Settings of one opened lake.

    Attributes:
        catalog: catalog URL; ``None`` means the SQLite file ``catalog.db`` in the lake.
        online: online store URL (``sqlite`` default, ``redis://...``, ``postgresql://...``).
        fsync: write-ahead log durability: ``always`` (fsync each write), ``batch``
            (fsync on flush and close), ``never`` (leave it to the OS).
        segment_size: points in a growing vector segment before it is sealed.
        compaction_threshold: deleted share of a sealed segment that triggers compaction.
    """

    catalog: str | None = None
    online: str | None = None
    fsync: str = "always"
    segment_size: int = 50_000
    compaction_threshold: float = 0.2

    def __post_init__(self) -> None:
        if self.fsync not in _FSYNC:
            raise InvalidArgument(f"fsync must be one of {_FSYNC}, got {self.fsync!r}")
        if self.segment_size < 1:
            raise InvalidArgument(f"segment_size must be positive, got {self.segment_size}")
        if not 0.0 < self.compaction_threshold <= 1.0:
            raise InvalidArgument(
                f"compaction_threshold must be in (0, 1], got {self.compaction_threshold}"
            )

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def resolve(
        cls,
        overrides: Mapping[str, Any] | None = None,
        toml: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Merge the three sources; unknown keys are an error, not silently ignored."""
        names = cls.field_names()
        values: dict[str, Any] = {}
        for key, value in (toml or {}).items():
            if key in names:
                values[key] = value
        env = os.environ if environ is None else environ
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        for name in names:
            raw = env.get(f"LAKEBED_{name.upper()}")
            if raw is not None:
                values[name] = _coerce(name, raw, str(types[name]))
        for key, value in (overrides or {}).items():
            if key not in names:
                raise InvalidArgument(
                    f"unknown setting {key!r}; known settings: {', '.join(names)}"
                )
            if value is not None:
                values[key] = value
        return cls(**values)


def _coerce(name: str, raw: str, type_name: str) -> Any:
    try:
        if "int" in type_name:
            return int(raw)
        if "float" in type_name:
            return float(raw)
    except ValueError:
        raise InvalidArgument(f"LAKEBED_{name.upper()}={raw!r} is not a {type_name}") from None
    return raw


def read_toml(path: Path) -> dict[str, Any]:
    """Read ``lakebed.toml``; a lake of a newer format is refused."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    version = data.get("format_version")
    if not isinstance(version, int):
        raise InvalidArgument(f"{path} has no integer format_version; is this a lakebed lake?")
    if version > FORMAT_VERSION:
        raise InvalidArgument(
            f"{path} has format_version {version}, newer than this lakebed understands "
            f"({FORMAT_VERSION}); upgrade lakebed"
        )
    settings = data.get("settings", {})
    return dict(settings) if isinstance(settings, dict) else {}


def write_toml(path: Path) -> None:
    """Write a fresh ``lakebed.toml`` with the current format version."""
    text = (
        "# lakebed lake; see https://github.com/lakebed/lakebed\n"
        f"format_version = {FORMAT_VERSION}\n\n"
        "[settings]\n"
        "# catalog = \"postgresql://user@host/db\"\n"
        "# online = \"redis://localhost:6379/0\"\n"
        "# fsync = \"always\"\n"
    )
    from lakebed.storage import atomic_write_bytes

    atomic_write_bytes(path, text.encode())
