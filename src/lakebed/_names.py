"""One rule for every name a user gives lakebed: tables, collections, feature
definitions, models, embedders, experiments, runs and API keys.

Names become directory names, SQL identifiers, URL path segments and log fields, so each
kind is checked by :func:`validate_name` with a full match (``re.fullmatch``: a pattern
ending in ``$`` matched by ``re.match`` also accepts a trailing newline) over ASCII
classes (no look-alike letters, no digits of other scripts). Free-form labels
(experiments, run and key names) may hold any printable text but no control, format or
line-separator characters (no newline, NUL, bidirectional overrides or zero-width marks).

Example:
    >>> from lakebed._names import validate_name
    >>> validate_name("collection", "docs-v2.en")
    'docs-v2.en'
    >>> validate_name("table", "users\\n")
    Traceback (most recent call last):
    ...
    lakebed.errors.InvalidArgument: table name 'users\\n' is not valid: use 1-128 ASCII letters, ...
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from lakebed.errors import InvalidArgument

__all__ = ["KINDS", "validate_name"]

# an identifier: a directory and a SQL identifier (tables, feature definitions, models)
_IDENT = (re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}", re.ASCII),
          "1-128 ASCII letters, digits and '_', starting with a letter or '_'")

# kind -> (pattern, the rule in words); every pattern is used with re.fullmatch only
_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    # a namespace or a name of a table (namespace.name)
    "table": _IDENT,
    # a directory under collections/: '.', '-' allowed inside, never first ('.', '..')
    "collection": (
        re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}", re.ASCII),
        "1-200 ASCII letters, digits, '_', '-' or '.', not starting with '-' or '.'",
    ),
    # entities, join keys, feature views, fields, aggregations, feature services
    "feature": _IDENT,
    # a model names its prediction table predictions.<name>: the table rule
    "model": _IDENT,
    "alias": (
        re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,199}", re.ASCII),
        "1-200 ASCII letters, digits, '_' or '-', starting with a letter or '_'",
    ),
    "embedder": (re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII),
                 "1-64 lower-case ASCII letters, digits or '_', starting with a letter"),
}
_LABEL_MAX = 200
_LABEL_RULE = f"1-{_LABEL_MAX} printable characters, no control or format characters and no line breaks"

KINDS: tuple[str, ...] = (*_PATTERNS, "label")
"""Every kind :func:`validate_name` knows; ``label`` is free text (experiments, runs, keys)."""


def _is_label(value: str) -> bool:
    if not 0 < len(value) <= _LABEL_MAX:
        return False
    # C*: control (newline, NUL), format (bidi overrides, zero-width), surrogates,
    # private use, unassigned; Zl/Zp: line and paragraph separators
    return not any(cat[0] == "C" or cat in ("Zl", "Zp") for cat in map(unicodedata.category, value))


def validate_name(kind: str, value: Any, what: str | None = None) -> str:
    """``value`` when it is a valid name of ``kind`` (one of :data:`KINDS`), else
    InvalidArgument naming the rule. ``what`` names the thing in the message
    (``"join key"``); the kind is used by default.

    Example:
        >>> validate_name("feature", "user_id", "join key")
        'user_id'
        >>> validate_name("label", "fraud model, try 2")
        'fraud model, try 2'
        >>> validate_name("collection", "../etc")
        Traceback (most recent call last):
        ...
        lakebed.errors.InvalidArgument: collection name '../etc' is not valid: use 1-200 ASCII letters, ...
    """
    label = what or kind
    if kind == "label":
        if isinstance(value, str) and _is_label(value):
            return value
        raise InvalidArgument(f"{label} {value!r} is not valid: use {_LABEL_RULE}")
    try:
        pattern, rule = _PATTERNS[kind]
    except KeyError:
        raise InvalidArgument(f"unknown kind of name {kind!r}; choose one of {list(KINDS)}") from None
    if isinstance(value, str) and pattern.fullmatch(value):
        return value
    raise InvalidArgument(f"{label} name {value!r} is not valid: use {rule}")


def parse_name(name: str) -> tuple[str, str]:
    """Split ``namespace.name`` and check both parts are plain identifiers."""
    if not isinstance(name, str) or name.count(".") != 1:
        raise InvalidArgument(
            f"table names are 'namespace.name' (e.g. 'silver.events'), got {name!r}"
        )
    ns, tname = name.split(".")
    validate_name("table", ns, f"table {name!r}: namespace")
    validate_name("table", tname, f"table {name!r}: table")
    return ns, tname
