"""Row predicates (``where=``) parsed into an expression tree and rendered back to SQL.

A predicate is one boolean expression over a table's columns. DuckDB's own parser reads
it (the text is a bound parameter of ``json_serialize_sql``, on a sandboxed connection,
so it is parsed and never run); the tree it returns is checked against an allow-list and
turned into lakebed's own nodes; lakebed then writes the SQL back out itself, with quoted
identifiers and escaped literals. Nothing the user typed reaches an engine unparsed, and
nothing can follow the expression: a second statement, a comment, a subquery, a table
function or a trailing word is refused with :class:`~lakebed.errors.InvalidArgument`.

Allowed: column names of the table, literals (numbers, strings, booleans, NULL),
comparisons (``= <> != < > <= >=``, ``IS [NOT] DISTINCT FROM``), ``AND``/``OR``/``NOT``,
arithmetic (``+ - * / %``) and ``||``, ``[NOT] IN (list)``, ``[NOT] LIKE``/``ILIKE``,
``IS [NOT] NULL``, ``IS [NOT] TRUE/FALSE``, ``[NOT] BETWEEN``, ``CAST``/``::``
to plain types, and the scalar functions in :data:`FUNCTIONS`.

Example:
    >>> p = parse("plan = 'trial' AND NOT (region IN ('eu', 'us'))", ["plan", "region"])
    >>> p.sql()
    '(("plan" = \\'trial\\') AND (NOT ("region" IN (\\'eu\\', \\'us\\'))))'
    >>> try:
    ...     parse("plan = 'trial' ANDD region = 'eu'", ["plan", "region"])
    ... except InvalidArgument as exc:
    ...     print(type(exc).__name__, "ANDD" in str(exc))
    InvalidArgument True
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import threading
from collections.abc import Sequence
from typing import Any, Literal

from lakebed.errors import InvalidArgument

MAX_LENGTH = 16_384
MAX_DEPTH = 128

# name -> (fewest, most) arguments (None: any number). Each is scalar, deterministic and
# side-effect free, and means the same in DuckDB (reads) and DataFusion (deletes).
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1), "ceil": (1, 1), "floor": (1, 1), "round": (1, 2),
    "lower": (1, 1), "upper": (1, 1), "length": (1, 1), "trim": (1, 1), "ltrim": (1, 1),
    "rtrim": (1, 1), "substr": (2, 3), "starts_with": (2, 2),
    "coalesce": (1, None), "nullif": (2, 2), "greatest": (1, None), "least": (1, None),
    "date_trunc": (2, 2), "date_part": (2, 2),
}
_FUNCTION_ALIASES = {"ceiling": "ceil", "substring": "substr", "char_length": "length",
                     "character_length": "length"}

# cast target spellings -> the type lakebed writes
TYPES = {
    "BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN", "TINYINT": "TINYINT", "INT1": "TINYINT",
    "SMALLINT": "SMALLINT", "INT2": "SMALLINT", "INTEGER": "INTEGER", "INT": "INTEGER",
    "INT4": "INTEGER", "BIGINT": "BIGINT", "INT8": "BIGINT", "FLOAT": "FLOAT", "REAL": "FLOAT",
    "FLOAT4": "FLOAT", "DOUBLE": "DOUBLE", "FLOAT8": "DOUBLE", "VARCHAR": "VARCHAR",
    "TEXT": "VARCHAR", "STRING": "VARCHAR", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP",
    "DECIMAL": "DECIMAL", "NUMERIC": "DECIMAL",
}

_COMPARISONS = {
    "COMPARE_EQUAL": "=", "COMPARE_NOTEQUAL": "<>", "COMPARE_LESSTHAN": "<",
    "COMPARE_GREATERTHAN": ">", "COMPARE_LESSTHANOREQUALTO": "<=",
    "COMPARE_GREATERTHANOREQUALTO": ">=", "COMPARE_DISTINCT_FROM": "IS DISTINCT FROM",
    "COMPARE_NOT_DISTINCT_FROM": "IS NOT DISTINCT FROM",
}
_OPERATORS = {"+": "+", "-": "-", "*": "*", "/": "/", "%": "%", "||": "||",
              "~~": "LIKE", "!~~": "NOT LIKE", "~~*": "ILIKE", "!~~*": "NOT ILIKE"}
_NUMBER = re.compile(r"^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")

ALLOWED = (
    "column names of the table, literals (numbers, 'strings', TRUE/FALSE, NULL), comparisons "
    "(= <> < > <= >=, IS [NOT] DISTINCT FROM), AND/OR/NOT, + - * / % ||, [NOT] IN (list), "
    "[NOT] LIKE/ILIKE, IS [NOT] NULL, [NOT] BETWEEN, CAST(x AS type) to "
    f"{sorted(set(TYPES.values()))}, and the functions {sorted(FUNCTIONS)}"
)

Dialect = Literal["duckdb", "datafusion"]


# -- the tree ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Column:
    name: str


@dataclasses.dataclass(frozen=True)
class Literal_:
    """A constant: ``value`` is an int, a str, a bool, None, or (for ``kind="number"``) the
    checked decimal text of a non-integer number."""

    kind: Literal["int", "number", "string", "bool", "null"]
    value: Any


@dataclasses.dataclass(frozen=True)
class Op:
    """An operator or function applied to ``args``: ``op`` is one of ``AND OR NOT``, a
    comparison, an arithmetic or LIKE operator, ``NEG``, ``IS NULL``, ``IS NOT NULL``,
    ``IN``, ``BETWEEN``, ``CAST`` (``type`` set) or ``CALL`` (``name`` set)."""

    op: str
    args: tuple[Node, ...]
    name: str = ""
    type: str = ""


Node = Column | Literal_ | Op


@dataclasses.dataclass(frozen=True)
class Predicate:
    """A checked predicate: the text as given, its tree, and the columns it reads."""

    text: str
    tree: Node
    columns: tuple[str, ...]

    def sql(self, dialect: Dialect = "duckdb") -> str:
        """The predicate as SQL written by lakebed, for DuckDB or for DataFusion (delta-rs)."""
        return _render(self.tree, dialect)


# -- parsing ----------------------------------------------------------------------------
def parse(where: str, columns: Sequence[str]) -> Predicate:
    """Parse ``where`` into a :class:`Predicate` over ``columns``, or raise InvalidArgument
    naming what was refused and what is allowed.

    Example:
        >>> parse("Amount >= 10 AND note IS NULL", ["amount", "note"]).columns
        ('amount', 'note')
    """
    if not isinstance(where, str) or not where.strip():
        raise InvalidArgument(
            f"a predicate is a non-empty string such as \"id = 1 AND kind = 'buy'\", got {where!r}"
        )
    if len(where) > MAX_LENGTH:
        raise InvalidArgument(
            f"the predicate is {len(where)} characters long; the limit is {MAX_LENGTH}; "
            "split the work or filter on fewer values"
        )
    tree = _parse_text(where)
    used: list[str] = []
    resolved = _resolve(tree, list(columns), used, where)
    return Predicate(where, resolved, tuple(dict.fromkeys(used)))


def _refuse(where: str, what: str) -> InvalidArgument:
    return InvalidArgument(
        f"the predicate {where!r} is not one plain expression over the table's columns: {what}. "
        f"Allowed: {ALLOWED}"
    )


def _scan(where: str) -> None:
    """Refuse statement separators, comments and unbalanced parentheses outside quoted
    text, before any parsing. With balanced parentheses, the text wrapped in one more pair
    can only parse as a single expression: nothing can close it early and follow it."""
    i, n, depth = 0, len(where), 0
    while i < n:
        c = where[i]
        if c in "'\"":
            j = i + 1
            while j < n:
                if where[j] == c:
                    if j + 1 < n and where[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            continue
        if c in "()":
            depth += 1 if c == "(" else -1
            if depth < 0:
                raise _refuse(where, "a ')' closes more than was opened")
        if c == ";":
            raise _refuse(where, "';' ends a statement, and a predicate is a single expression")
        if where.startswith("--", i) or where.startswith("/*", i):
            raise _refuse(where, "comments ('--', '/* */') are not accepted in a predicate")
        i += 1
    if depth != 0:
        raise _refuse(where, "a '(' is never closed")


_parser_lock = threading.Lock()
_parser_con: Any = None


def _serialize(sql: str) -> dict[str, Any]:
    global _parser_con
    from lakebed.tables._sandbox import connect

    with _parser_lock:
        if _parser_con is None:
            _parser_con = connect(timezone=None)
        row = _parser_con.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()
    out: dict[str, Any] = json.loads(row[0])
    return out


_LOCATION_KEYS = ("query_location", "query_location_length", "location", "position")


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in _LOCATION_KEYS}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


@functools.cache
def _frame() -> dict[str, Any]:
    """The statement ``SELECT * FROM t WHERE <predicate>`` must serialize to, bar the predicate."""
    return _strip(_serialize("SELECT * FROM __lakebed_rows WHERE TRUE")["statements"][0])  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=1024)
def _parse_text(where: str) -> Node:
    _scan(where)
    out = _serialize(f"SELECT * FROM __lakebed_rows WHERE ({where}\n)")
    if out.get("error"):
        msg = out.get("error_message", "it does not parse")
        raise _refuse(where, f"DuckDB's parser says: {msg}")
    statements = out.get("statements", [])
    if len(statements) != 1:
        raise _refuse(where, "it holds more than one statement")
    stmt = _strip(statements[0])
    node = stmt.get("node", {})
    clause = node.get("where_clause") if node.get("type") == "SELECT_NODE" else None
    frame = _frame()
    shaped = {**stmt, "node": {**node, "where_clause": frame["node"]["where_clause"]}}
    if clause is None or shaped != frame:
        raise _refuse(
            where, "text follows the expression (UNION, ORDER BY, LIMIT, GROUP BY, ... are not part of a predicate)"
        )
    return _convert(clause, where, 0)


def _literal(node: dict[str, Any], where: str) -> Literal_:
    lit = node.get("literal")
    if not isinstance(lit, dict):  # older serializations carry a typed value instead
        raise _refuse(where, "a constant of a kind lakebed does not read")
    kind, text = lit.get("kind"), lit.get("text", "")
    if kind == "INTEGER":
        return Literal_("int", int(text))
    if kind == "NUMERIC" and _NUMBER.match(text):
        return Literal_("number", text)
    if kind == "STRING":
        return Literal_("string", str(text))
    if kind == "BOOLEAN":
        return Literal_("bool", text.lower() == "true")
    if kind == "NULL_LITERAL":
        return Literal_("null", None)
    raise _refuse(where, f"the constant {text!r} ({kind})")


def _convert(node: dict[str, Any], where: str, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise _refuse(where, f"it nests deeper than {MAX_DEPTH} levels")
    cls, typ = node.get("class"), node.get("type")

    def sub(child: dict[str, Any]) -> Node:
        return _convert(child, where, depth + 1)

    if cls == "COLUMN_REF":
        names = node.get("column_names", [])
        if len(names) != 1:
            raise _refuse(where, f"{'.'.join(names)!r} names a column of another table or a field; "
                                 "use the table's own column names")
        return Column(names[0])
    if cls == "CONSTANT":
        return _literal(node, where)
    if cls == "COMPARISON" and typ in _COMPARISONS:
        return Op(_COMPARISONS[typ], (sub(node["left"]), sub(node["right"])))
    if cls == "CONJUNCTION" and typ in ("CONJUNCTION_AND", "CONJUNCTION_OR"):
        return Op(typ.removeprefix("CONJUNCTION_"), tuple(sub(c) for c in node["children"]))
    if cls == "OPERATOR":
        kids = node.get("children", [])
        if typ == "OPERATOR_NOT" and len(kids) == 1:
            return Op("NOT", (sub(kids[0]),))
        if typ == "OPERATOR_IS_NULL" and len(kids) == 1:
            return Op("IS NULL", (sub(kids[0]),))
        if typ == "OPERATOR_IS_NOT_NULL" and len(kids) == 1:
            return Op("IS NOT NULL", (sub(kids[0]),))
        if typ == "OPERATOR_COALESCE" and kids:
            return Op("CALL", tuple(sub(c) for c in kids), name="coalesce")
        if typ == "COMPARE_IN" and len(kids) >= 2:
            return Op("IN", tuple(sub(c) for c in kids))
        if typ == "COMPARE_NOT_IN" and len(kids) >= 2:
            return Op("NOT", (Op("IN", tuple(sub(c) for c in kids)),))
    if cls == "BETWEEN":
        return Op("BETWEEN", (sub(node["input"]), sub(node["lower"]), sub(node["upper"])))
    if cls == "CAST":
        if node.get("try_cast"):
            raise _refuse(where, "TRY_CAST (use CAST)")
        return Op("CAST", (sub(node["child"]),), type=_cast_type(node, where))
    if cls == "FUNCTION":
        return _function(node, where, sub)
    if cls == "SUBQUERY":
        raise _refuse(where, "subqueries (SELECT, EXISTS, IN (SELECT ...)) read other data")
    if cls == "PARAMETER":
        raise _refuse(where, "parameters ('?', '$1') have no value here; write the value itself")
    what = {"CASE": "CASE expressions", "COLLATE": "COLLATE", "STAR": "'*'", "LAMBDA": "lambdas",
            "WINDOW": "window functions"}.get(str(cls), f"{str(cls).lower()} expressions")
    raise _refuse(where, f"{what} are not accepted")


def _cast_type(node: dict[str, Any], where: str) -> str:
    t = node.get("type_expr") or {}
    name = str(t.get("type_name") or (node.get("cast_type") or {}).get("id") or "").upper()
    if name not in TYPES:
        raise _refuse(where, f"CAST to {name or 'this type'}")
    target = TYPES[name]
    params = t.get("children") or []
    if target == "DECIMAL" and params:
        nums = [c.get("literal", {}) for c in params]
        if len(nums) > 2 or not all(n.get("kind") == "INTEGER" for n in nums):
            raise _refuse(where, "DECIMAL takes (precision[, scale]) as integers")
        vals = [int(n["text"]) for n in nums]
        if not 1 <= vals[0] <= 38 or (len(vals) == 2 and not 0 <= vals[1] <= vals[0]):
            raise _refuse(where, f"DECIMAL{tuple(vals)} is out of range")
        return f"DECIMAL({', '.join(map(str, vals))})"
    if params:
        raise _refuse(where, f"{name} takes no parameters")
    return target


def _function(node: dict[str, Any], where: str, sub: Any) -> Node:
    name = str(node.get("function_name", ""))
    if node.get("schema") or node.get("catalog"):
        raise _refuse(where, f"the qualified function {node.get('schema')}.{name}")
    if node.get("distinct") or node.get("filter") or (node.get("order_bys") or {}).get("orders"):
        raise _refuse(where, f"DISTINCT, FILTER or ORDER BY inside {name}()")
    arguments = node.get("arguments")
    if arguments is None:
        arguments = [{"name": "", "expression": c} for c in node.get("children", [])]
    if any(a.get("name") for a in arguments):
        raise _refuse(where, f"named arguments in {name}()")
    args = tuple(sub(a["expression"]) for a in arguments)
    if node.get("is_operator"):
        op = _OPERATORS.get(name)
        if op is None:
            raise _refuse(where, f"the operator {name!r}")
        if op == "-" and len(args) == 1:
            return Op("NEG", args)
        if len(args) != 2:
            raise _refuse(where, f"{op} with {len(args)} operands")
        return Op(op, args)
    canonical = _FUNCTION_ALIASES.get(name.lower(), name.lower())
    if canonical not in FUNCTIONS:
        raise _refuse(where, f"the function {name}()")
    low, high = FUNCTIONS[canonical]
    if len(args) < low or (high is not None and len(args) > high):
        want = f"{low}" if low == high else f"{low} or more" if high is None else f"{low} to {high}"
        raise _refuse(where, f"{canonical}() takes {want} arguments, got {len(args)}")
    return Op("CALL", args, name=canonical)


def _resolve(node: Node, columns: list[str], used: list[str], where: str) -> Node:
    """Bind column names to the table's own (exact, else the one case-insensitive match)."""
    if isinstance(node, Column):
        if node.name in columns:
            used.append(node.name)
            return node
        folded = [c for c in columns if c.lower() == node.name.lower()]
        if len(folded) == 1:
            used.append(folded[0])
            return Column(folded[0])
        raise InvalidArgument(
            f"the predicate {where!r} names {node.name!r}, which is not a column of the table "
            f"(columns: {columns}); quote a name with double quotes, strings with single quotes"
        )
    if isinstance(node, Op):
        return dataclasses.replace(node, args=tuple(_resolve(a, columns, used, where) for a in node.args))
    return node


# -- rendering --------------------------------------------------------------------------
def quote_ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier.

    Example:
        >>> quote_ident('a"b')
        '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'


def quote_string(value: str) -> str:
    """``value`` as a single-quoted SQL string literal.

    Example:
        >>> quote_string("it's")
        "'it''s'"
    """
    return "'" + value.replace("'", "''") + "'"


def _render(node: Node, dialect: Dialect) -> str:
    if isinstance(node, Column):
        return quote_ident(node.name)
    if isinstance(node, Literal_):
        if node.kind == "int":
            return str(int(node.value))
        if node.kind == "number":
            if not _NUMBER.match(node.value):  # built by hand with a bad value
                raise InvalidArgument(f"{node.value!r} is not a number")
            if dialect == "datafusion":
                # DataFusion (delta-rs's delete) casts a bare decimal literal to an integer
                # column's type: `i < 1.5` would read as `i < 1`. A double compares as DuckDB does.
                return f"CAST({node.value} AS DOUBLE)"
            return str(node.value)
        if node.kind == "string":
            return quote_string(str(node.value))
        if node.kind == "bool":
            return "TRUE" if node.value else "FALSE"
        return "NULL"
    args = [_render(a, dialect) for a in node.args]
    op = node.op
    if op in ("AND", "OR"):
        return "(" + f" {op} ".join(args) + ")"
    if op == "NOT":
        return f"(NOT {args[0]})"
    if op == "NEG":
        return f"(- {args[0]})"
    if op in ("IS NULL", "IS NOT NULL"):
        return f"({args[0]} {op})"
    if op == "IN":
        if dialect == "datafusion":
            # DataFusion hashes IN lists with floats' bit patterns (-0.0 misses 0); the
            # same test as a disjunction of equalities, NULLs included, compares as DuckDB does.
            return "(" + " OR ".join(f"({args[0]} = {a})" for a in args[1:]) + ")"
        return f"({args[0]} IN ({', '.join(args[1:])}))"
    if op == "BETWEEN":
        return f"({args[0]} BETWEEN {args[1]} AND {args[2]})"
    if op == "CAST":
        return f"CAST({args[0]} AS {node.type})"
    if op == "CALL":
        name = "character_length" if node.name == "length" and dialect == "datafusion" else node.name
        return f"{name}({', '.join(args)})"
    if op == "/" and dialect == "datafusion":
        # DuckDB divides integers as doubles; DataFusion would truncate
        return f"(CAST({args[0]} AS DOUBLE) / CAST({args[1]} AS DOUBLE))"
    return f"({args[0]} {op} {args[1]})"
