"""Lineage graphs over the catalog's ``lineage_edges``.

A ref names one version of one thing: ``table:gold.train@3``, ``featureview:user_stats@2``,
``run:<id>``, ``model:fraud@3``, ``predictions:fraud@3``, ``collection:docs@5``. Areas
record edges as they work (a training set from tables and feature views, a run from its
inputs, a model version from its run, a prediction log from a model version); this
module walks them.

Example:
    >>> import lakebed
    >>> with lakebed.connect(":memory:") as lake:
    ...     lake.catalog.add_lineage("table:bronze.tx@1", "table:gold.train@1", "derived")
    ...     lake.lineage.upstream("table:gold.train@1").nodes
    ['table:gold.train@1', 'table:bronze.tx@1']
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from lakebed.api._tracking import LineageAPI
from lakebed.catalog.schema import lineage_edges
from lakebed.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from rich.tree import Tree

    from lakebed.lake import Lake

KINDS = ("table", "featureview", "run", "model", "predictions", "collection", "quality")
_REF = re.compile(r"([a-z_]+):(.+)")


MAX_EDGE_PROPERTIES = 64 * 1024  # bytes of JSON
# what an edge recorded from outside may name (refs made by lakebed itself are its own)
_RECORDED_NAME = re.compile(r"(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_.\-/:]{0,511}")
_RECORDED_VERSION = re.compile(r"[A-Za-z0-9_\-]{1,128}")


def check_edge(src: str, dst: str, kind: str, properties: dict[str, Any] | None) -> tuple[
        str, str, str, dict[str, Any] | None]:
    """An edge a caller records: two refs (parsed), a kind (a label), properties (a JSON
    object of at most :data:`MAX_EDGE_PROPERTIES` bytes); InvalidArgument otherwise."""
    import json

    from lakebed._names import parse_name, validate_name

    for ref in (src, dst):
        kind_, name, version = parse_ref(ref)
        if kind_ == "table":
            parse_name(name)
        elif not _RECORDED_NAME.fullmatch(name):
            raise InvalidArgument(f"lineage ref {ref!r}: the name after '{kind_}:' is 1-512 letters, digits and "
                                  "'_ . - / :' with no '..' (e.g. 'model:fraud@3', 'run:3f2a')")
        if version is not None and not _RECORDED_VERSION.fullmatch(version):
            raise InvalidArgument(f"lineage ref {ref!r}: a version is a number or an alias, e.g. '@3'")
    if src == dst:
        raise InvalidArgument(f"a lineage edge joins two refs; got {src!r} twice")
    kind = validate_name("label", kind, "lineage kind")
    if properties is not None:
        if not isinstance(properties, dict) or not all(isinstance(k, str) for k in properties):
            raise InvalidArgument("properties must be a dict with string keys (a JSON object)")
        try:
            text = json.dumps(properties, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"properties must be JSON (strings, numbers, lists, objects): {exc}") from None
        if len(text.encode()) > MAX_EDGE_PROPERTIES:
            raise InvalidArgument(f"properties hold {len(text.encode()):,} bytes of JSON; the limit is "
                                  f"{MAX_EDGE_PROPERTIES:,}: record an id and keep the rest elsewhere")
    return src, dst, kind, properties


def parse_ref(ref: str) -> tuple[str, str, str | None]:
    """``"table:gold.train@3"`` -> ("table", "gold.train", "3")."""
    if not isinstance(ref, str):
        raise InvalidArgument(f"a lineage ref is a string like 'model:fraud@3', got {ref!r}")
    m = _REF.fullmatch(ref)
    if m is None:
        raise InvalidArgument(
            f"{ref!r} is not a lineage ref; write kind:name@version with kind one of "
            f"{', '.join(KINDS)} (e.g. 'table:gold.train@3', 'model:fraud@champion')"
        )
    kind, rest = m.group(1), m.group(2)
    if kind in ("run", "quality"):
        return kind, rest, None
    name, at, version = rest.rpartition("@")
    if not at:
        return kind, rest, None
    if not name or not version:
        raise InvalidArgument(f"{ref!r}: expected name@version")
    return kind, name, version


def input_ref(lake: Lake, source: Any) -> str:
    """The lineage ref of a run input: a training set object, ``"gold.train@3"``,
    ``("gold.train", 3)``, ``"table:gold.train@3"`` or any other lineage ref."""
    if isinstance(source, tuple):
        if len(source) != 2:
            raise InvalidArgument("a table input tuple is (name, version)")
        return f"table:{source[0]}@{int(source[1])}"
    if isinstance(source, str):
        if _REF.fullmatch(source) and source.split(":", 1)[0] in KINDS:
            kind, name, version = parse_ref(source)
            if version is None and kind == "table":
                return f"table:{name}@{lake.tables.version(name)}"
            return source
        name, at, version = source.rpartition("@")
        if not at:
            return f"table:{source}@{lake.tables.version(source)}"
        if not version.isdigit():
            raise InvalidArgument(f"{source!r}: the table version after '@' must be a number")
        return f"table:{name}@{int(version)}"
    ref = getattr(source, "ref", None)
    if isinstance(ref, str):
        return input_ref(lake, ref)
    for attr in ("table", "table_name", "name"):
        tname = getattr(source, attr, None)
        tversion = getattr(source, "version", None)
        if isinstance(tname, str) and isinstance(tversion, int):
            return f"table:{tname}@{tversion}"
    if callable(getattr(source, "save", None)) and hasattr(source, "spec"):
        raise InvalidArgument(
            "log a training set after saving it, by its table and version: "
            "v = ts.save('gold.train'); run.log_input(('gold.train', v))"
        )
    raise InvalidArgument(
        f"cannot log {type(source).__name__} as a run input; pass a saved training set, "
        "a table at a version ('gold.train@3' or ('gold.train', 3)) or a lineage ref"
    )


@dataclasses.dataclass(frozen=True)
class LineageEdge:
    src: str
    dst: str
    kind: str
    properties: dict[str, Any] | None = dataclasses.field(default=None, compare=False)


@dataclasses.dataclass
class LineageGraph:
    """The part of the lineage graph reachable from ``root`` in one ``direction``."""

    root: str
    direction: str  # "upstream" | "downstream"
    nodes: list[str]
    edges: list[LineageEdge]

    def __contains__(self, ref: object) -> bool:
        return ref in self.nodes

    def children(self, ref: str) -> list[LineageEdge]:
        """Edges leading away from ``ref`` in the walk's direction."""
        if self.direction == "upstream":
            return [e for e in self.edges if e.dst == ref]
        return [e for e in self.edges if e.src == ref]

    def of_kind(self, kind: str) -> list[str]:
        return [n for n in self.nodes if n.startswith(kind + ":")]

    def to_arrow(self) -> pa.Table:
        return pa.table(
            {
                "src": [e.src for e in self.edges],
                "dst": [e.dst for e in self.edges],
                "kind": [e.kind for e in self.edges],
            }
        )

    def to_tree(self) -> Tree:
        """A rich Tree (a node reached twice is shown once, then marked ``(see above)``)."""
        from rich.tree import Tree

        title = "made from" if self.direction == "upstream" else "used by"
        tree = Tree(f"[bold]{_style(self.root)}[/bold] [dim]{title}[/dim]")
        seen = {self.root}

        def add(parent: Tree, ref: str) -> None:
            for e in self.children(ref):
                nxt = e.src if self.direction == "upstream" else e.dst
                label = f"{_style(nxt)} [dim]({e.kind})[/dim]"
                if nxt in seen:
                    parent.add(label + " [dim](see above)[/dim]")
                    continue
                seen.add(nxt)
                add(parent.add(label), nxt)

        add(tree, self.root)
        return tree


_COLORS = {
    "table": "cyan",
    "featureview": "magenta",
    "run": "yellow",
    "model": "green",
    "predictions": "blue",
    "collection": "red",
    "quality": "bright_white",
}


def _style(ref: str) -> str:
    kind = ref.split(":", 1)[0]
    color = _COLORS.get(kind)
    return f"[{color}]{ref}[/{color}]" if color else ref


class Lineage(LineageAPI):
    """Walk lineage: ``lake.lineage``."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._catalog = lake.catalog

    def resolve(self, ref: str) -> str:
        kind, name, version = parse_ref(ref)
        if kind in ("model", "predictions") and (version is None or not version.isdigit()):
            name, v = self._lake.models.resolve(name if version is None else f"{name}@{version}")
            return f"{kind}:{name}@{v}"
        if kind == "table" and version is None:
            return f"table:{name}@{self._lake.tables.version(name)}"
        return ref

    def upstream(self, ref: str, depth: int | None = None) -> LineageGraph:
        return self._walk(self.resolve(ref), "upstream", depth)

    def record(self, src: str, dst: str, kind: str, properties: dict[str, Any] | None = None) -> None:
        self._lake.check_writable()
        src, dst, kind, properties = check_edge(src, dst, kind, properties)
        self._catalog.add_lineage(src, dst, kind, properties)

    def downstream(self, ref: str, depth: int | None = None) -> LineageGraph:
        return self._walk(self.resolve(ref), "downstream", depth)

    def _walk(self, root: str, direction: str, depth: int | None) -> LineageGraph:
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
            raise InvalidArgument(f"depth must be a non-negative integer or None, got {depth!r}")
        t = lineage_edges
        near = t.c.dst if direction == "upstream" else t.c.src
        nodes = [root]
        seen = {root}
        edges: list[LineageEdge] = []
        frontier = [root]
        level = 0
        # one query per level: graphs are shallow, and it keeps cycles harmless
        with self._catalog.connect() as conn:
            while frontier and (depth is None or level < depth):
                rows = conn.execute(
                    sa.select(t.c.src, t.c.dst, t.c.kind, t.c.properties).where(near.in_(frontier)).order_by(t.c.id)
                ).all()
                nxt: list[str] = []
                for src, dst, kind, props in rows:
                    edges.append(LineageEdge(src, dst, kind, props))
                    other = src if direction == "upstream" else dst
                    if other not in seen:
                        seen.add(other)
                        nodes.append(other)
                        nxt.append(other)
                frontier = nxt
                level += 1
        return LineageGraph(root, direction, nodes, edges)

    def edges(self, refs: Iterable[str] | None = None) -> list[LineageEdge]:
        t = lineage_edges
        stmt = sa.select(t.c.src, t.c.dst, t.c.kind, t.c.properties).order_by(t.c.id)
        if refs is not None:
            refs = list(refs)
            stmt = stmt.where(sa.or_(t.c.src.in_(refs), t.c.dst.in_(refs)))
        with self._catalog.connect() as conn:
            return [LineageEdge(*r) for r in conn.execute(stmt)]

    def training_set_of(self, model_ref: str) -> tuple[str, int]:
        ref = self.resolve(model_ref if model_ref.startswith("model:") else f"model:{model_ref}")
        graph = self.upstream(ref)
        tables: list[str] = []
        for run in graph.of_kind("run"):
            for e in graph.edges:
                if e.dst == run and e.kind == "input" and e.src.startswith("table:"):
                    tables.append(e.src)
        if not tables:
            raise NotFound(
                f"{ref} has no training set in its lineage; log it in the run with run.log_input(training_set)"
            )

        # prefer the table that came out of the feature store (it has feature view parents)
        def from_features(table_ref: str) -> bool:
            return any(e.dst == table_ref and e.src.startswith("featureview:") for e in graph.edges)

        chosen = next((t for t in tables if from_features(t)), tables[0])
        _, name, version = parse_ref(chosen)
        if version is None or not version.isdigit():
            raise NotFound(f"the training set {chosen} of {ref} has no version recorded")
        return name, int(version)

    def reproduce_training_set(self, model_ref: str) -> pa.Table:
        name, version = self.training_set_of(model_ref)
        graph = self.upstream(f"table:{name}@{version}", depth=1)
        made_by_features = any(n.startswith("featureview:") for n in graph.nodes)
        if made_by_features:
            features = self._lake.features
            rebuild = getattr(features, "reproduce_training_set", None)
            if rebuild is not None:
                result = rebuild(name, version)
                if isinstance(result, pa.Table):
                    return result
                to_arrow = getattr(result, "to_arrow", None)
                if callable(to_arrow):
                    return to_arrow()  # type: ignore[no-any-return]
                return pa.table(result)
        return self._lake.tables.read(name, version=version)
