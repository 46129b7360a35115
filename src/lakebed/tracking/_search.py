"""The run search language, compiled to one SQLAlchemy Core statement.

Grammar (keywords are case-insensitive)::

    expr       := conj ("or" conj)*
    conj       := atom ("and" atom)*
    atom       := "(" expr ")" | field op literal
    field      := ("metrics" | "params" | "tags" | "attributes") "." key | attribute
    op         := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "like"
    literal    := 'single quoted string' | number

``metrics.x`` is the latest value of the series (largest step, then latest time);
params and tags are strings, compared as strings; ``like`` takes ``%`` and ``_``
wildcards and is case-sensitive on both catalogs. A run that lacks the key never
matches a comparison on it. Keys with unusual characters are quoted with backticks or
double quotes: ``metrics.`val loss` < 0.3``.

Example:
    >>> ast = parse("metrics.auc > 0.9 and params.lr = '0.1'")
    >>> ast.op
    'and'
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import sqlalchemy as sa

from lakebed.errors import InvalidArgument
from lakebed.tracking import _schema as s

# attribute name -> (column, is_numeric)
ATTRIBUTES: dict[str, tuple[str, bool]] = {
    "id": ("id", False),
    "run_id": ("id", False),
    "experiment": ("experiment", False),
    "name": ("name", False),
    "run_name": ("name", False),
    "status": ("status", False),
    "user": ("user", False),
    "host": ("host", False),
    "git_commit": ("git_commit", False),
    "python_version": ("python_version", False),
    "start_time": ("start_time", True),
    "end_time": ("end_time", True),
}
_PREFIXES = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
}
OPS = ("=", "!=", "<", "<=", ">", ">=", "like")


class SearchSyntaxError(InvalidArgument):
    """A search string that cannot be parsed; the message points at the column."""


@dataclasses.dataclass(frozen=True)
class Field:
    kind: str  # "metrics" | "params" | "tags" | "attributes"
    key: str
    pos: int

    @property
    def numeric(self) -> bool:
        if self.kind == "metrics":
            return True
        if self.kind == "attributes":
            return ATTRIBUTES[self.key][1]
        return False

    def __str__(self) -> str:
        return f"{self.kind}.{self.key}"


@dataclasses.dataclass(frozen=True)
class Comparison:
    field: Field
    op: str
    value: str | float


@dataclasses.dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    args: tuple[Node, ...]


Node = Comparison | BoolOp


@dataclasses.dataclass(frozen=True)
class _Tok:
    kind: str  # word, str, num, op, lp, rp, end
    text: str
    pos: int
    value: Any = None


_NUM = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][\w.\-/:]*")


def _error(source: str, pos: int, msg: str) -> SearchSyntaxError:
    return SearchSyntaxError(f"{msg} at column {pos + 1}:\n  {source}\n  {' ' * pos}^")


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif c == "(":
            toks.append(_Tok("lp", c, i))
            i += 1
        elif c == ")":
            toks.append(_Tok("rp", c, i))
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
        elif c.isdigit() or (c in "+-." and _NUM.match(src, i)):
            m = _NUM.match(src, i)
            if m is None:
                raise _error(src, i, "malformed number")
            toks.append(_Tok("num", m.group(0), i, float(m.group(0))))
            i = m.end()
        elif c == '"' or c == "`":
            # a quoted bare identifier: treated as a field name
            text, j = _quoted(src, i, c)
            toks.append(_Tok("word", src[i:j], i, text))
            i = j
        elif (c.isalpha() or c == "_") and (m := _WORD.match(src, i)) is not None:
            # (_WORD is ASCII: other letters fall through to "unexpected character")
            j = m.end()
            word = m.group(0)
            if word.endswith(".") and j < n and src[j] in '`"':
                text, j = _quoted(src, j, src[j])
                word = word + text
                toks.append(_Tok("word", src[i:j], i, word))
            else:
                toks.append(_Tok("word", word, i, word))
            i = j
        else:
            raise _error(src, i, f"unexpected character {c!r}")
    toks.append(_Tok("end", "", n))
    return toks


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

    def parse(self) -> Node:
        node = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise _error(self.src, tok.pos, f"expected 'and', 'or' or the end, got {tok.text!r}")
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
                raise _error(self.src, close.pos, "expected ')'")
            return node
        field = self.field()
        op_tok = self.next()
        if op_tok.kind == "op":
            op = op_tok.text
        elif op_tok.kind == "word" and op_tok.text.lower() == "like":
            op = "like"
        else:
            raise _error(self.src, op_tok.pos, "expected a comparison (= != < <= > >= like)")
        if op == "like" and field.numeric:
            raise _error(self.src, op_tok.pos, f"'like' needs a string field, {field} is numeric")
        lit = self.next()
        if lit.kind not in ("str", "num"):
            raise _error(self.src, lit.pos, "expected a 'quoted string' or a number")
        if field.numeric and lit.kind == "str":
            raise _error(self.src, lit.pos, f"{field} is numeric; compare it with a number")
        if not field.numeric and lit.kind == "num":
            raise _error(self.src, lit.pos, f"{field} is a string; quote the value: '{lit.text}'")
        return Comparison(field, op, lit.value)

    def field(self) -> Field:
        tok = self.next()
        if tok.kind != "word" or tok.text.lower() in ("and", "or", "like"):
            raise _error(
                self.src,
                tok.pos,
                "expected a field (metrics.<key>, params.<key>, tags.<key> or an attribute)",
            )
        word: str = tok.value
        prefix, dot, key = word.partition(".")
        if dot:
            kind = _PREFIXES.get(prefix.lower())
            if kind is None:
                raise _error(
                    self.src, tok.pos, f"unknown prefix {prefix!r}; use metrics., params., tags. or attributes."
                )
            if not key:
                raise _error(self.src, tok.pos + len(prefix) + 1, "expected a key after the dot")
        else:
            kind, key = "attributes", word
        if kind == "attributes":
            key = key.lower()
            if key not in ATTRIBUTES:
                raise _error(
                    self.src,
                    tok.pos,
                    f"unknown attribute {key!r}; attributes are {', '.join(sorted(ATTRIBUTES))}",
                )
        return Field(kind, key, tok.pos)


def parse(query: str) -> Node | None:
    """Parse a search string; ``None`` for an empty one (matches every run)."""
    if not query or not query.strip():
        return None
    return _Parser(query).parse()


def parse_order_by(item: str) -> tuple[Field, bool]:
    """``"metrics.auc desc"`` -> (field, descending)."""
    p = _Parser(item)
    field = p.field()
    desc = False
    if p.keyword("desc"):
        desc = True
    else:
        p.keyword("asc")
    tok = p.peek()
    if tok.kind != "end":
        raise _error(item, tok.pos, "expected 'asc', 'desc' or the end")
    return field, desc


# -- compilation -------------------------------------------------------------------------
_KV = {"metrics": s.run_latest_metrics, "params": s.run_params, "tags": s.run_tags}


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


def _compare(col: Any, op: str, value: Any, dialect: str, numeric: bool) -> Any:
    if op == "like":
        if dialect == "sqlite":
            return col.op("GLOB")(_like_sqlite(value))
        # PostgreSQL's LIKE escapes with backslash by default; make it a plain character
        return col.like(value.replace("\\", "\\\\"))
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
    if f.kind == "attributes":
        col = s.runs.c[ATTRIBUTES[f.key][0]]
        return _compare(col, node.op, node.value, dialect, f.numeric)
    t = _KV[f.kind]
    cond = _compare(t.c.value, node.op, node.value, dialect, f.numeric)
    return s.runs.c.id.in_(sa.select(t.c.run_id).where(t.c.key == f.key, cond))


def compile_joins(node: Node, dialect: str) -> tuple[list[tuple[Any, Any]], Any]:
    """Compile a filter to (inner joins, where clause) over ``runs``.

    The conditions of a top-level ``and`` on metrics, params and tags become inner joins
    ``kv AS k ON k.run_id = runs.id AND k.key = ? AND k.value <op> ?``: the planner can
    then start from the most selective (key, value) index range and probe the rest by
    primary key, instead of testing every run. Everything else (attributes, ``or``
    groups) stays in the where clause, compiled by :func:`compile_filter`.
    """
    parts = list(node.args) if isinstance(node, BoolOp) and node.op == "and" else [node]
    joins: list[tuple[Any, Any]] = []
    rest: list[Any] = []
    for part in parts:
        if isinstance(part, Comparison) and part.field.kind != "attributes":
            t = _KV[part.field.kind].alias(f"f{len(joins)}")
            cond = _compare(t.c.value, part.op, part.value, dialect, part.field.numeric)
            joins.append((t, sa.and_(t.c.run_id == s.runs.c.id, t.c.key == part.field.key, cond)))
        else:
            rest.append(compile_filter(part, dialect))
    return joins, (sa.and_(*rest) if rest else None)


def order_column(field: Field, joins: list[Any]) -> Any:
    """The SQL expression to order by ``field``; key-value fields add an outer join."""
    if field.kind == "attributes":
        return s.runs.c[ATTRIBUTES[field.key][0]]
    t = _KV[field.kind].alias(f"ord{len(joins)}")
    joins.append((t, sa.and_(t.c.run_id == s.runs.c.id, t.c.key == field.key)))
    return t.c.value


# -- a plain-Python evaluation (the reference for tests and for in-memory filtering) ----
def evaluate(node: Node | None, run: dict[str, Any]) -> bool:
    """Evaluate a filter on a run given as ``{"metrics": {...}, "params": {...}, "tags":
    {...}, "attributes": {...}}``; the brute-force reference of :func:`compile_filter`."""
    if node is None:
        return True
    if isinstance(node, BoolOp):
        results = (evaluate(a, run) for a in node.args)
        return all(results) if node.op == "and" else any(results)
    f = node.field
    key = ATTRIBUTES[f.key][0] if f.kind == "attributes" else f.key
    value = run[f.kind].get(key)
    if value is None:
        return False
    if node.op == "like":
        rx = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in str(node.value))
        return re.fullmatch(rx, value, flags=re.DOTALL) is not None
    lit = node.value
    return bool(
        {
            "=": lambda: value == lit,
            "!=": lambda: value != lit,
            "<": lambda: value < lit,
            "<=": lambda: value <= lit,
            ">": lambda: value > lit,
            ">=": lambda: value >= lit,
        }[node.op]()
    )
