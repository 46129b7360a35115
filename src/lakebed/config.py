"""Typed settings: keyword arguments > ``LAKEBED_*`` environment > ``lakebed.toml``.

Every setting is checked the same way whatever its source: an unknown name or a value of
the wrong type raises :class:`~lakebed.errors.InvalidArgument` naming the setting, where it
came from, and what is expected.

Example:
    >>> s = Settings.resolve(overrides={"fsync": "never"}, toml={})
    >>> s.fsync
    'never'
    >>> Settings.resolve(toml={"segment_size": "big"})
    Traceback (most recent call last):
    ...
    lakebed.errors.InvalidArgument: setting segment_size in lakebed.toml is 'big' (str); expected an integer...
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lakebed.errors import CorruptionError, InvalidArgument

FORMAT_VERSION = 1
TOML_NAME = "lakebed.toml"
DEFAULT_LAKE = "./lake"
"""Where the CLI looks for a lake when ``--lake`` and ``LAKEBED_LAKE`` are not given."""

CATALOG_BACKENDS = ("sqlite", "postgresql")
# Top-level keys of lakebed.toml; everything a user tunes lives under [settings].
TOML_KEYS = ("format_version", "catalog_backend", "settings")

_FSYNC = ("always", "batch", "never")
# name -> (kind, an example value for the message)
_KINDS: dict[str, tuple[str, str]] = {
    "catalog": ("url", '"postgresql://user@host/db"'),
    "online": ("url", '"redis://localhost:6379/0"'),
    "streams": ("url", '"nats://127.0.0.1:4222"'),
    "fsync": ("choice", '"always"'),
    "segment_size": ("int", "50000"),
    "compaction_threshold": ("float", "0.2"),
}
_EXPECTED = {
    "url": "a URL string",
    "choice": f"one of {', '.join(repr(c) for c in _FSYNC)}",
    "int": "an integer",
    "float": "a number",
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Settings of one opened lake.

    Attributes:
        catalog: catalog URL; ``None`` means the SQLite file ``catalog.db`` in the lake.
        online: online store URL (``sqlite`` default, ``redis://...``, ``postgresql://...``).
        streams: streams backend URL (the embedded log by default, ``nats://...``,
            ``redis://...``; ``?namespace=NAME`` shares streams between lakes).
        fsync: write-ahead log durability: ``always`` (fsync each write), ``batch``
            (fsync on flush and close), ``never`` (leave it to the OS).
        segment_size: points in a growing vector segment before it is sealed.
        compaction_threshold: deleted share of a sealed segment that triggers compaction.
    """

    catalog: str | None = None
    online: str | None = None
    streams: str | None = None
    fsync: str = "always"
    segment_size: int = 50_000
    compaction_threshold: float = 0.2

    def __post_init__(self) -> None:
        for name in self.field_names():
            value = getattr(self, name)
            if value is not None or _KINDS[name][0] != "url":
                object.__setattr__(self, name, check_setting(name, value, "Settings"))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def resolve(
        cls,
        overrides: Mapping[str, Any] | None = None,
        toml: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        toml_path: Path | None = None,
    ) -> Settings:
        """Merge the three sources; unknown keys and mistyped values are errors, never
        silently ignored.

        Example:
            >>> Settings.resolve(toml={"segment_sise": 10})
            Traceback (most recent call last):
            ...
            lakebed.errors.InvalidArgument: unknown setting 'segment_sise' in [settings] of lakebed.toml; did you...
        """
        names = cls.field_names()
        where = str(toml_path) if toml_path is not None else TOML_NAME
        values: dict[str, Any] = {}
        for key, value in (toml or {}).items():
            _require_known(key, names, f"in [settings] of {where}")
            values[key] = check_setting(key, value, where)
        env = os.environ if environ is None else environ
        for name in names:
            raw = env.get(f"LAKEBED_{name.upper()}")
            if raw is not None:
                values[name] = check_setting(name, raw, f"environment variable LAKEBED_{name.upper()}", text=True)
        for key, value in (overrides or {}).items():
            _require_known(key, names, "passed to lakebed.connect()")
            if value is not None:
                values[key] = check_setting(key, value, "lakebed.connect()")
        return cls(**values)


def _did_you_mean(key: object, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _require_known(key: object, names: tuple[str, ...], where: str) -> None:
    if key not in names:
        raise InvalidArgument(
            f"unknown setting {key!r} {where}; {_did_you_mean(key, names)}Known settings: {', '.join(names)}"
        )


def check_setting(name: str, value: Any, source: str, *, text: bool = False) -> Any:
    """The value of setting ``name`` checked (and, from text such as an environment
    variable, converted) to its type; InvalidArgument names the setting, its source and
    the expected type.

    Example:
        >>> check_setting("segment_size", "1000", "LAKEBED_SEGMENT_SIZE", text=True)
        1000
    """
    kind, example = _KINDS[name]
    shown = f"{value!r}" if text else f"{value!r} ({type(value).__name__})"

    def bad(extra: str = "") -> InvalidArgument:
        return InvalidArgument(
            f"setting {name} in {source} is {shown}; expected {_EXPECTED[kind]}{extra}, "
            f"e.g. {name} = {example}"
        )

    if kind in ("url", "choice"):
        if not isinstance(value, str):
            raise bad()
        if kind == "choice" and value not in _FSYNC:
            raise bad()
        return value
    if isinstance(value, bool):
        raise bad()
    if kind == "int":
        if text and isinstance(value, str):
            try:
                value = int(value.strip().replace("_", ""))
            except ValueError:
                raise bad() from None
        if not isinstance(value, int):
            raise bad()
        if value < 1:
            raise bad(" above 0")
        return value
    if text and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise bad() from None
    if not isinstance(value, int | float):
        raise bad()
    if not 0.0 < value <= 1.0:
        raise bad(" in (0, 1]")
    return float(value)


def read_lake_toml(path: Path) -> dict[str, Any]:
    """The whole of ``lakebed.toml``, checked: it is text, valid TOML, has a known
    ``format_version`` and only known keys. A damaged file raises CorruptionError, a
    syntax or key mistake InvalidArgument; both name the file and the fix."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorruptionError(f"{path} cannot be read ({exc.strerror}); run `lakebed check {path.parent}`") from None
    fix = f"restore it, or rewrite it with the line format_version = {FORMAT_VERSION}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptionError(
            f"{path} is damaged: byte {exc.start} is not UTF-8 text; {fix} "
            f"(`lakebed check {path.parent}` checks the rest of the lake)"
        ) from None
    if "\x00" in text:
        raise CorruptionError(
            f"{path} is damaged: it holds NUL bytes at offset {text.index(chr(0))}; {fix} "
            f"(`lakebed check {path.parent}` checks the rest of the lake)"
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgument(
            f"{path} is not valid TOML: {exc}; fix that line by hand "
            f"(if you did not edit it, the file is damaged: {fix})"
        ) from None
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidArgument(
            f"{path} has no integer format_version; is this a lakebed lake? "
            f"If it is, add the line format_version = {FORMAT_VERSION} at the top"
        )
    if version > FORMAT_VERSION:
        raise InvalidArgument(
            f"{path} has format_version {version}, newer than this lakebed understands "
            f"({FORMAT_VERSION}); upgrade lakebed"
        )
    for key in data:
        if key not in TOML_KEYS:
            raise InvalidArgument(
                f"unknown key {key!r} in {path}; {_did_you_mean(key, TOML_KEYS)}known top-level keys: "
                f"{', '.join(TOML_KEYS)} "
                "(settings go under [settings])"
            )
    backend = data.get("catalog_backend")
    if backend is not None and backend not in CATALOG_BACKENDS:
        raise InvalidArgument(
            f"catalog_backend in {path} is {backend!r}; expected one of {', '.join(CATALOG_BACKENDS)}"
        )
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise InvalidArgument(f"settings in {path} must be a [settings] table, got {settings!r}")
    return data


def read_toml(path: Path) -> dict[str, Any]:
    """The ``[settings]`` of ``lakebed.toml``; see :func:`read_lake_toml` for the checks."""
    return dict(read_lake_toml(path).get("settings", {}))


def write_toml(path: Path, *, catalog_backend: str = "sqlite") -> None:
    """Write a fresh ``lakebed.toml`` with the current format version and the kind of
    catalog the lake is created with (a lake refuses to open with another kind)."""
    if catalog_backend not in CATALOG_BACKENDS:
        raise InvalidArgument(f"catalog_backend must be one of {CATALOG_BACKENDS}, got {catalog_backend!r}")
    text = (
        "# lakebed lake; see https://github.com/lakebed/lakebed\n"
        f"format_version = {FORMAT_VERSION}\n"
        "# where this lake's catalog lives, fixed at creation: sqlite (catalog.db here)\n"
        "# or postgresql (the catalog URL must then be given on every connect)\n"
        f'catalog_backend = "{catalog_backend}"\n\n'
        "[settings]\n"
        "# catalog = \"postgresql://user@host/db\"\n"
        "# online = \"redis://localhost:6379/0\"\n"
        "# fsync = \"always\"\n"
    )
    from lakebed.storage import atomic_write_bytes

    atomic_write_bytes(path, text.encode())
