"""The run search language, compiled to one SQLAlchemy Core statement.

The language is MLflow's run search syntax, extended with ``or`` and parentheses.
Grammar (keywords are case-insensitive)::

    expr       := conj ("or" conj)*
    conj       := atom ("and" atom)*
    atom       := "(" expr ")" | field condition
    condition  := op literal
                | ["not"] "in" "(" string ("," string)* [","] ")"
                | "is" ["not"] "null"
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "like" | "ilike"
    field      := prefix "." key | attribute
    prefix     := "metrics" | "metric" | "params" | "param" | "parameters" | "parameter"
                | "tags" | "tag" | "attributes" | "attribute" | "attr" | "run"
    key        := name | `backticked` | "double quoted" | 'single quoted'
    literal    := string | number
    string     := 'single quoted' | "double quoted"

``metrics.x`` is the latest value of the series (largest step, then latest time);
params and tags are strings, compared as strings (by code point); ``like`` takes ``%``
(any run of characters) and ``_`` (one character) wildcards and is case-sensitive,
``ilike`` ignores the case of ASCII letters; neither has an escape character. A run that
lacks the key never matches a comparison on it; ``is null`` finds those runs. A NaN
metric matches ``!=`` only. ``start_time`` and ``end_time`` compare in milliseconds since
the epoch (as in MLflow), or with an ISO 8601 date in quotes. Prefixes and keys with
special characters can be quoted: ``metrics.`val loss` < 0.3``, ``params."learning
rate" = '0.1'``, ``tags."mlflow.source.name" = 'train.py'``.

Example:
    >>> ast = parse("metrics.auc > 0.9 and params.lr = '0.1'")
    >>> ast.op
    'and'
    >>> parse("attributes.run_id IN ('a1', 'b2')").value
    ('a1', 'b2')
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
from typing import Any

import sqlalchemy as sa

from lakebed.errors import InvalidArgument
from lakebed.tracking import _schema as s

# attribute name -> (column of ``runs``, is_numeric). The first six are MLflow's.
ATTRIBUTES: dict[str, tuple[str, bool]] = {
    "run_id": ("id", False),
    "run_name": ("name", False),
    "status": ("status", False),
    "user_id": ("user", False),
    "start_time": ("start_time", True),
    "end_time": ("end_time", True),
    "experiment": ("experiment", False),
    "host": ("host", False),
    "git_commit": ("git_commit", False),
    "python_version": ("python_version", False),
}
# other spellings (compared in lower case) -> the attribute name
ATTRIBUTE_ALIASES: dict[str, str] = {
    "id": "run_id",
    "name": "run_name",
    "run name": "run_name",
    "user": "user_id",
    "created": "start_time",
}
# MLflow names that lakebed runs have no field for -> why, and what to do instead
_NO_ATTRIBUTE: dict[str, str] = {
    "artifact_uri": (
        "lakebed runs have no artifact_uri: artifacts are stored by content under "
        "<lake>/artifacts; list a run's artifacts with lake.runs.get(id).artifacts"
    ),
    "experiment_id": "lakebed experiments are named: filter with experiment = '<name>'",
    "lifecycle_stage": "lakebed deletes runs outright, so every run is active; drop the condition",
}
# MLflow system tags that mirror a run field: ``tags.<key>`` reads the stored tag when
# the run has one, else the field (so runs logged by lakebed match MLflow queries)
TAG_ALIASES: dict[str, str] = {
    "mlflow.runName": "name",
    "mlflow.user": "user",
    "mlflow.source.git.commit": "git_commit",
}
_PREFIXES = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "parameters": "params",
    "parameter": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
_DATASET_PREFIXES = ("dataset", "datasets")
_KEYWORDS = ("and", "or", "like", "ilike", "in", "not", "is", "null", "asc", "desc")
OPS = ("=", "!=", "<", "<=", ">", ">=", "like", "ilike", "in", "not in", "is null", "is not null")


class SearchSyntaxError(InvalidArgument):
    """A search string that cannot be parsed; the message points at the column."""


@dataclasses.dataclass(frozen=True)
class Field:
    """A field of a run: ``kind`` is metrics, params, tags or attributes; the key of an
    attribute is its name in :data:`ATTRIBUTES`."""

    kind: str
    key: str
    pos: int

    @property
    def numeric(self) -> bool:
        if self.kind == "metrics":
            return True
        if self.kind == "attributes":
            return ATTRIBUTES[self.key][1]
        return False

    @property
    def is_time(self) -> bool:
        return self.kind == "attributes" and ATTRIBUTES[self.key][1]

    @property
    def column(self) -> str | None:
        """The ``runs`` column this field reads (also the fallback of a tag alias)."""
        if self.kind == "attributes":
            return ATTRIBUTES[self.key][0]
        if self.kind == "tags":
            return TAG_ALIASES.get(self.key)
        return None

    def __str__(self) -> str:
        key = self.key if _PLAIN_KEY.fullmatch(self.key) else "`" + self.key.replace("`", "``") + "`"
        return f"{self.kind}.{key}"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """``field op value``: value is a string, a float, a tuple of strings (``in``) or
    None (``is null``)."""

    field: Field
    op: str
    value: str | float | tuple[str, ...] | None


@dataclasses.dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    args: tuple[Node, ...]


Node = Comparison | BoolOp


@dataclasses.dataclass(frozen=True)
class _Tok:
    # word (bare name, no dot), ident (prefix, key), dq ("double quoted"), str, num,
    # op, lp, rp, comma, end
    kind: str
    text: str
    pos: int
    value: Any = None


_NUM = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_][\w.\-/:]*")
_PLAIN_KEY = re.compile(r"[A-Za-z_][\w.\-/:]*")
_QUOTES = "`\"'"


def _error(source: str, pos: int, msg: str) -> SearchSyntaxError:
    return SearchSyntaxError(f"{msg} at column {pos + 1}:\n  {source}\n  {' ' * pos}^")


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            toks.append(_Tok({"(": "lp", ")": "rp", ",": "comma"}[c], c, i))
            i += 1
        elif c in "=!<>":
            two = src[i : i + 2]
            if two in ("!=", "<>", "<=", ">=", "=="):
                toks.append(_Tok("op", {"<>": "!=", "==": "="}.get(two, two), i))
                i += 2
            elif c == "!":
                raise _error(src, i, "'!' must be followed by '='")
            else:
                toks.append(_Tok("op", c, i))
                i += 1
        elif c == "'":
            text, j = _quoted(src, i, "'")
            toks.append(_Tok("str", src[i:j], i, text))
            i = j
        elif c in "0123456789" or (c in "+-." and _NUM.match(src, i)):
            m = _NUM.match(src, i)
            if m is None:
                raise _error(src, i, "malformed number")
            toks.append(_Tok("num", m.group(0), i, float(m.group(0))))
            i = m.end()
        elif c in '`"':
            text, j = _quoted(src, i, c)
            if j < n and src[j] == ".":
                # `metrics`.key or "params"."a b": a quoted prefix
                key, j = _key_after_dot(src, j + 1)
                toks.append(_Tok("ident", src[i:j], i, (text, key)))
            elif c == "`":
                toks.append(_Tok("ident", src[i:j], i, (None, text)))
            else:  # a field name or a string value: the parser decides by position
                toks.append(_Tok("dq", src[i:j], i, text))
            i = j
        elif ("a" <= c <= "z" or "A" <= c <= "Z" or c == "_") and (m := _WORD.match(src, i)) is not None:
            j = m.end()
            word = m.group(0)
            if word.endswith(".") and j < n and src[j] in _QUOTES:
                key, j = _quoted(src, j, src[j])
                toks.append(_Tok("ident", src[i:j], i, (word[:-1], key)))
            elif "." in word:
                prefix, _, key = word.partition(".")
                toks.append(_Tok("ident", word, i, (prefix, key)))
            else:
                toks.append(_Tok("word", word, i, word))
            i = j
        else:
            raise _error(src, i, f"unexpected character {c!r}")
    toks.append(_Tok("end", "", n))
    return toks


def _key_after_dot(src: str, j: int) -> tuple[str, int]:
    if j < len(src) and src[j] in _QUOTES:
        return _quoted(src, j, src[j])
    m = _WORD.match(src, j)
    if m is None:
        raise _error(src, j, "expected a key after the dot (quote it if it has special characters: `a b`)")
    return m.group(0), m.end()


def _quoted(src: str, i: int, quote: str) -> tuple[str, int]:
    """Read a quoted token starting at ``src[i] == quote``; a doubled quote escapes it."""
    j = i + 1
    out: list[str] = []
    while True:
        k = src.find(quote, j)
        if k < 0:
            raise _error(src, i, f"unterminated {quote}quoted{quote} text")
        out.append(src[j:k])
        if src[k + 1 : k + 2] == quote:
            out.append(quote)
            j = k + 2
            continue
        return "".join(out), k + 1


def _iso_millis(text: str) -> float | None:
    """Milliseconds since the epoch of an ISO 8601 date or time (UTC unless it says)."""
    try:
        when = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp() * 1000.0


_FIELD_HINT = (
    "expected a field: metrics.<key>, params.<key>, tags.<key> or an attribute "
    "(run_id, run_name, status, user_id, start_time, end_time, experiment, ...)"
)
_IN_HINT = (
    "IN / NOT IN take a list only on string attributes, e.g. attributes.run_id IN ('a', 'b') "
    "(also run_name, status, user_id, experiment, host, git_commit, python_version)"
)


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = _tokenize(src)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok.kind == "word" and tok.text.lower() == word:
            self.i += 1
            return True
        return False

    def error(self, tok: _Tok | int, msg: str) -> SearchSyntaxError:
        return _error(self.src, tok if isinstance(tok, int) else tok.pos, msg)

    def parse(self) -> Node:
        node = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise self.error(tok, f"expected 'and', 'or' or the end, got {tok.text!r}")
        return node

    def expr(self) -> Node:
        args = [self.conj()]
        while self.keyword("or"):
            args.append(self.conj())
        return args[0] if len(args) == 1 else BoolOp("or", tuple(args))

    def conj(self) -> Node:
        args = [self.atom()]
        while self.keyword("and"):
            args.append(self.atom())
        return args[0] if len(args) == 1 else BoolOp("and", tuple(args))

    def atom(self) -> Node:
        tok = self.peek()
        if tok.kind == "lp":
            self.next()
            node = self.expr()
            close = self.next()
            if close.kind != "rp":
                raise self.error(close, "expected ')'")
            return node
        field = self.field()
        return self.condition(field)

    # -- conditions ----------------------------------------------------------------------
    def condition(self, field: Field) -> Comparison:
        tok = self.next()
        word = tok.text.lower() if tok.kind == "word" else ""
        if tok.kind == "op":
            op = tok.text
        elif word in ("like", "ilike", "in"):
            op = word
        elif word == "not":
            if not self.keyword("in"):
                raise self.error(self.peek(), "expected IN after NOT (field NOT IN ('a', 'b'))")
            op = "not in"
        elif word == "is":
            negated = self.keyword("not")
            if not self.keyword("null"):
                raise self.error(self.peek(), "expected NULL: write 'field IS NULL' or 'field IS NOT NULL'")
            return Comparison(field, "is not null" if negated else "is null", None)
        else:
            raise self.error(tok, "expected a comparison (= != < <= > >= LIKE ILIKE IN NOT IN IS NULL)")
        if op in ("like", "ilike") and field.numeric:
            raise self.error(
                tok, f"{op.upper()} needs a string field; {field} is numeric: compare it with = != < <= > >="
            )
        if op in ("in", "not in"):
            if field.kind != "attributes" or field.numeric:
                raise self.error(tok, f"{_IN_HINT}; for {field} join comparisons with OR instead")
            return Comparison(field, op, self.string_list())
        return Comparison(field, op, self.literal(field))

    def literal(self, field: Field) -> str | float:
        lit = self.next()
        if lit.kind in ("word", "ident"):
            bare = lit.value[1] if lit.kind == "ident" and lit.value[0] is None else lit.text
            raise self.error(
                lit,
                f"expected a value; quote strings with ' or \" ('{bare}'): unquoted words and `backticks` name fields",
            )
        if lit.kind not in ("str", "dq", "num"):
            raise self.error(lit, "expected a 'quoted string' or a number")
        if field.is_time:
            if lit.kind == "num":
                return float(lit.value)
            millis = _iso_millis(lit.value)
            if millis is None:
                raise self.error(
                    lit,
                    f"{field} is a time in milliseconds since the epoch; compare it with a number "
                    "(1700000000000) or an ISO date in quotes ('2024-05-01T12:00:00')",
                )
            return millis
        if field.numeric and lit.kind != "num":
            raise self.error(lit, f"{field} is numeric; compare it with a number")
        if not field.numeric and lit.kind == "num":
            raise self.error(lit, f"{field} is a string; quote the value: '{lit.text}'")
        value: str | float = lit.value
        return value

    def string_list(self) -> tuple[str, ...]:
        open_ = self.next()
        if open_.kind != "lp":
            raise self.error(open_, "expected '(' and a list of quoted strings: IN ('a', 'b')")
        values: list[str] = []
        while True:
            tok = self.next()
            if tok.kind == "rp" and values:
                return tuple(values)
            if tok.kind not in ("str", "dq"):
                what = "at least one quoted string" if tok.kind == "rp" else "a quoted string"
                raise self.error(tok, f"expected {what} in the IN list: IN ('a', 'b')")
            values.append(tok.value)
            sep = self.next()
            if sep.kind == "rp":
                return tuple(values)
            if sep.kind != "comma":
                raise self.error(sep, "expected ',' or ')' in the IN list")

    # -- fields --------------------------------------------------------------------------
    def field(self) -> Field:
        tok = self.next()
        if tok.kind == "word" and tok.text.lower() not in _KEYWORDS:
            prefix, key = None, tok.text
        elif tok.kind == "dq":
            prefix, key = None, tok.value
        elif tok.kind == "ident":
            prefix, key = tok.value
            if prefix is None and "." in key:  # `metrics.auc` as a whole
                prefix, _, key = key.partition(".")
        else:
            raise self.error(tok, _FIELD_HINT)
        if prefix is None:
            return self.attribute(key, tok, tok.pos)
        kind = _PREFIXES.get(prefix.lower())
        if kind is None:
            if prefix.lower() in _DATASET_PREFIXES:
                raise self.error(
                    tok,
                    "dataset filters (datasets.name, .digest, .context) are not supported: lakebed "
                    "records a run's inputs as lineage refs (run.log_input); find the runs of an input "
                    "with lake.lineage.downstream('table:<name>@<version>')",
                )
            raise self.error(
                tok, f"unknown prefix {prefix!r}; use metrics., params., tags. or attributes. (or no prefix)"
            )
        if not key:
            raise self.error(tok.pos + len(tok.text), "expected a key after the dot")
        if kind == "attributes":
            return self.attribute(key, tok, tok.pos)
        return Field(kind, key, tok.pos)

    def attribute(self, name: str, tok: _Tok, pos: int) -> Field:
        low = name.lower()
        low = ATTRIBUTE_ALIASES.get(low, low)
        if low in ATTRIBUTES:
            return Field("attributes", low, pos)
        if low in _NO_ATTRIBUTE:
            raise self.error(tok, f"attribute {name!r} is not supported: {_NO_ATTRIBUTE[low]}")
        names = ", ".join(a if " " not in a else f"`{a}`" for a in [*ATTRIBUTES, *ATTRIBUTE_ALIASES])
        raise self.error(
            tok,
            f"unknown attribute {name!r}; attributes are {names} "
            "(metrics, params and tags take a prefix: metrics.<key>)",
        )


def parse(query: str) -> Node | None:
    """Parse a search string; ``None`` for an empty one (matches every run)."""
    if not query or not query.strip():
        return None
    return _Parser(query).parse()


def parse_order_by(item: str) -> tuple[Field, bool]:
    """``"metrics.auc desc"`` -> (field, descending).

    Example:
        >>> field, desc = parse_order_by("metrics.`val loss` DESC")
        >>> (str(field), desc)
        ('metrics.`val loss`', True)
    """
    if not isinstance(item, str):
        raise SearchSyntaxError(f"an order_by item is a string like 'metrics.auc desc', got {item!r}")
    p = _Parser(item)
    field = p.field()
    desc = False
    if p.keyword("desc"):
        desc = True
    else:
        p.keyword("asc")
    tok = p.peek()
    if tok.kind != "end":
        raise _error(item, tok.pos, "expected ASC, DESC or the end of the order_by item")
    return field, desc


# -- compilation -------------------------------------------------------------------------
_KV = {"metrics": s.run_latest_metrics, "params": s.run_params, "tags": s.run_tags}
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _like_sqlite(pattern: str) -> str:
    """Translate a LIKE pattern to a case-sensitive GLOB (SQLite's LIKE ignores case)."""
    out = []
    for ch in pattern:
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)


def _millis(col: Any, dialect: str) -> Any:
    """A time column (epoch seconds) as whole milliseconds, as MLflow stores times: the
    time rounded to the microsecond, then truncated to the millisecond (so a time stored
    from milliseconds, ``ms / 1000``, gives ``ms`` back exactly)."""
    micros = col * 1_000_000.0 + 0.5
    if dialect == "postgresql":
        return sa.func.floor(sa.func.floor(micros) / 1000.0)
    # integer casts and division truncate: the floor for times after 1970
    return sa.cast(micros, sa.BigInteger) // 1000


def millis(seconds: float) -> int:
    """:func:`_millis` in Python.

    Example:
        >>> millis(1664067852747 / 1000), millis(1.0009996)
        (1664067852747, 1001)
    """
    return math.floor(seconds * 1_000_000.0 + 0.5) // 1000


def _compare(col: Any, op: str, value: Any, dialect: str, numeric: bool) -> Any:
    if op == "is null":
        return col.is_(None)
    if op == "is not null":
        return col.is_not(None)
    if op == "like":
        if dialect == "sqlite":
            return col.op("GLOB")(_like_sqlite(value))
        # PostgreSQL's LIKE escapes with backslash by default; make it a plain character
        return col.like(value.replace("\\", "\\\\"))
    if op == "ilike":
        pattern = value.translate(_ASCII_LOWER)
        if dialect == "sqlite":
            return col.like(pattern)  # SQLite's LIKE folds the case of ASCII letters
        # under the "C" collation lower() folds ASCII letters only, as SQLite does
        return sa.func.lower(col.collate("C")).like(pattern.replace("\\", "\\\\"))
    if op == "in":
        return col.in_(list(value))
    if op == "not in":
        return col.not_in(list(value))
    if dialect == "postgresql" and not numeric:
        # byte order, as in SQLite and Python, whatever the database's collation
        col = col.collate("C")
    return {
        "=": col == value,
        "!=": col != value,
        "<": col < value,
        "<=": col <= value,
        ">": col > value,
        ">=": col >= value,
    }[op]


def _run_expr(field: Field, dialect: str) -> Any:
    """The expression of an attribute or tag alias over ``runs``."""
    col = s.runs.c[field.column or ""]
    if field.kind == "attributes":
        return _millis(col, dialect) if field.is_time else col
    t = s.run_tags
    stored = sa.select(t.c.value).where(t.c.run_id == s.runs.c.id, t.c.key == field.key).scalar_subquery()
    return sa.func.coalesce(stored, col)


def _kv_condition(t: Any, node: Comparison, dialect: str) -> Any:
    cond = _compare(t.c.value, node.op, node.value, dialect, node.field.numeric)
    if node.field.kind == "metrics" and node.op == "!=":
        cond = sa.or_(cond, t.c.value.is_(None))  # NaN (stored as NULL) differs from every number
    return cond


def _joinable(node: Node) -> bool:
    return isinstance(node, Comparison) and node.field.column is None and node.op not in ("is null", "is not null")


def compile_filter(node: Node, dialect: str) -> Any:
    """Compile a parsed filter to a boolean SQL expression over ``runs``.

    Key-value conditions become ``runs.id IN (SELECT run_id FROM kv WHERE key = ? AND
    value <op> ?)``: the database can answer them from the (key, value) index once,
    rather than probing per run.
    """
    if isinstance(node, BoolOp):
        parts = [compile_filter(a, dialect) for a in node.args]
        return sa.and_(*parts) if node.op == "and" else sa.or_(*parts)
    f = node.field
    if f.column is not None:
        return _compare(_run_expr(f, dialect), node.op, node.value, dialect, f.numeric)
    t = _KV[f.kind]
    if node.op in ("is null", "is not null"):
        having = sa.select(t.c.run_id).where(t.c.key == f.key)
        return s.runs.c.id.not_in(having) if node.op == "is null" else s.runs.c.id.in_(having)
    return s.runs.c.id.in_(sa.select(t.c.run_id).where(t.c.key == f.key, _kv_condition(t, node, dialect)))


def compile_joins(node: Node, dialect: str) -> tuple[list[tuple[Any, Any]], Any]:
    """Compile a filter to (inner joins, where clause) over ``runs``.

    The conditions of a top-level ``and`` on metrics, params and tags become inner joins
    ``kv AS k ON k.run_id = runs.id AND k.key = ? AND k.value <op> ?``: the planner can
    then start from the most selective (key, value) index range and probe the rest by
    primary key, instead of testing every run. Everything else (attributes, ``or``
    groups, ``is null``) stays in the where clause, compiled by :func:`compile_filter`.
    """
    parts = list(node.args) if isinstance(node, BoolOp) and node.op == "and" else [node]
    joins: list[tuple[Any, Any]] = []
    rest: list[Any] = []
    for part in parts:
        if isinstance(part, Comparison) and _joinable(part):
            t = _KV[part.field.kind].alias(f"f{len(joins)}")
            on = [t.c.run_id == s.runs.c.id, t.c.key == part.field.key]
            if part.op != "is not null":
                on.append(_kv_condition(t, part, dialect))
            joins.append((t, sa.and_(*on)))
        else:
            rest.append(compile_filter(part, dialect))
    return joins, (sa.and_(*rest) if rest else None)


def order_clauses(field: Field, desc: bool, joins: list[Any], dialect: str = "sqlite") -> list[Any]:
    """ORDER BY clauses for ``field``; key-value fields add an outer join to ``joins``.

    Runs without the field come last in either direction; a NaN metric comes after the
    numbers and before the runs without the metric, as in MLflow.
    """

    def direction(col: Any) -> Any:
        if dialect == "postgresql" and not field.numeric:
            col = col.collate("C")
        return sa.nulls_last(col.desc() if desc else col.asc())

    if field.kind == "attributes":
        return [direction(s.runs.c[ATTRIBUTES[field.key][0]])]
    t = _KV[field.kind].alias(f"ord{len(joins)}")
    joins.append((t, sa.and_(t.c.run_id == s.runs.c.id, t.c.key == field.key)))
    if field.column is not None:  # a tag alias: the stored tag, else the run's field
        return [direction(sa.func.coalesce(t.c.value, s.runs.c[field.column]))]
    if field.kind == "metrics":
        rank = sa.case((t.c.run_id.is_(None), 2), (t.c.value.is_(None), 1), else_=0)
        return [rank.asc(), direction(t.c.value)]
    return [direction(t.c.value)]


# -- a plain-Python evaluation (the reference for tests and for in-memory filtering) ----
def like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """``value LIKE pattern`` (``ILIKE`` with ``ignore_case``: ASCII letters only).

    Example:
        >>> like("GPT%", "GPT-4"), like("gpt_4", "GPT-4"), like("gpt_4", "GPT-4", ignore_case=True)
        (True, False, True)
    """
    if ignore_case:
        pattern, value = pattern.translate(_ASCII_LOWER), value.translate(_ASCII_LOWER)
    rx = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(rx, value, flags=re.DOTALL) is not None


def field_value(field: Field, run: dict[str, Any]) -> Any:
    """The value of ``field`` in a run given as for :func:`evaluate` (None when missing;
    times in whole milliseconds)."""
    if field.kind == "attributes":
        column, numeric = ATTRIBUTES[field.key]
        value = run["attributes"].get(column)
        if numeric and value is not None:
            return millis(value)
        return value
    value = run[field.kind].get(field.key)
    if value is None and field.column is not None:
        return run["attributes"].get(field.column)
    return value


def evaluate(node: Node | None, run: dict[str, Any]) -> bool:
    """Evaluate a filter on a run given as ``{"metrics": {...}, "params": {...}, "tags":
    {...}, "attributes": {column: value}}`` (columns of ``runs``: id, name, status, user,
    start_time in epoch seconds, ...; a NaN metric as ``float("nan")``); the brute-force
    reference of :func:`compile_filter`.

    Example:
        >>> run = {"metrics": {"auc": 0.93}, "params": {"model": "GPT-4"}, "tags": {},
        ...        "attributes": {"id": "r1", "name": "fast", "status": "FINISHED"}}
        >>> evaluate(parse("params.model ILIKE 'gpt%' and tags.`mlflow.runName` = 'fast'"), run)
        True
    """
    if node is None:
        return True
    if isinstance(node, BoolOp):
        results = (evaluate(a, run) for a in node.args)
        return all(results) if node.op == "and" else any(results)
    value = field_value(node.field, run)
    op, lit = node.op, node.value
    if op == "is null":
        return value is None
    if op == "is not null":
        return value is not None
    if value is None:
        return False
    if op in ("like", "ilike"):
        return like(str(lit), value, ignore_case=op == "ilike")
    if op == "in":
        return value in lit  # type: ignore[operator]
    if op == "not in":
        return value not in lit  # type: ignore[operator]
    return bool(
        {
            "=": lambda: value == lit,
            "!=": lambda: value != lit,
            "<": lambda: value < lit,
            "<=": lambda: value <= lit,
            ">": lambda: value > lit,
            ">=": lambda: value >= lit,
        }[op]()
    )
