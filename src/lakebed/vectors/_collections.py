"""``lake.collections``: create, open, list and drop vector collections."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lakebed.api._vectors import CollectionsAPI
from lakebed.errors import AlreadyExists, InvalidArgument, NotFound
from lakebed.vectors._collection import Collection, init_layout
from lakebed.vectors._index import METRICS, QUANTIZATIONS, normalize_index_config
from lakebed.vectors._schema import vector_collections
from lakebed.vectors._validate import check_name

if TYPE_CHECKING:
    from lakebed.lake import Lake


COLLECTIONS_DIR = "collections"


def collection_dir(lake_root: Path, location: str) -> Path:
    """Where a collection's files are, from its catalog ``location``.

    New lakes store ``collections/<name>``, relative to the lake root, so a lake can be
    copied or moved. Lakes made by older versions stored absolute paths; one that ends in
    ``collections/<name>`` is re-rooted under the lake it was found in (after a move or a
    copy it names the old place, whose files must not be written through the new lake).

    Example:
        >>> from pathlib import Path
        >>> collection_dir(Path("/data/lake"), "collections/docs").as_posix()
        '/data/lake/collections/docs'
        >>> collection_dir(Path("/data/moved"), "/data/lake/collections/docs").as_posix()
        '/data/moved/collections/docs'
    """
    p = PurePosixPath(str(location).replace("\\", "/"))
    if not p.is_absolute() and not PureWindowsPath(str(location)).is_absolute():
        return Path(lake_root, *p.parts)
    if len(p.parts) >= 2 and p.parts[-2] == COLLECTIONS_DIR:
        return Path(lake_root) / COLLECTIONS_DIR / p.parts[-1]
    return Path(location)  # an absolute location outside any collections/ dir: kept


def check_config(name: str, dim: int, metric: str, index: dict[str, Any] | None,
                 quantization: str | None) -> dict[str, Any]:
    """Validate a collection's configuration; its normalized index configuration.

    Example:
        >>> check_config("docs", 4, "cosine", None, None)["type"]
        'hnsw'
        >>> check_config("docs", 4, "cos", None, None)
        Traceback (most recent call last):
        ...
        lakebed.errors.InvalidArgument: unknown metric 'cos'; use one of cosine, l2, dot
    """
    check_name(name)
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 65536:
        raise InvalidArgument(f"dim must be an integer in 1..65536, got {dim!r}")
    if metric not in METRICS:
        raise InvalidArgument(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    if quantization not in QUANTIZATIONS:
        raise InvalidArgument(f"unknown quantization {quantization!r}; use None, 'fp16' or 'int8'")
    cfg = normalize_index_config(index, dim)
    if cfg["type"] == "ivf_pq" and quantization is not None:
        raise InvalidArgument("ivf_pq compresses vectors itself; leave quantization=None")
    return cfg


def _get_embedder(name: str) -> Any:
    try:
        from lakebed.rag.embedders import get_embedder
    except ImportError:
        raise InvalidArgument(
            f"embedder {name!r} needs lakebed.rag.embedders, which this build lacks; "
            "create the collection without embedder= and pass vectors yourself"
        ) from None
    return get_embedder(name)


class Collections(CollectionsAPI):
    """The vector collections of a lake (``lake.collections``).

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     _ = lake.collections.create("docs", dim=4, metric="cosine")
        ...     lake.collections.list()
        ['docs']
    """

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._open: dict[str, Collection] = {}
        self._versions: dict[tuple[str, int], Collection] = {}
        self._lock = threading.RLock()
        self._root = lake.path / "collections"
        lake.on_close(self.close)

    def _row(self, name: str) -> dict[str, Any] | None:
        t = vector_collections
        with self._lake.catalog.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.name == name)).mappings().first()
        if row is None:
            return None
        out = dict(row)
        out["location"] = str(collection_dir(self._lake.path, out["location"]))
        return out

    def create(
        self,
        name: str,
        dim: int,
        metric: str = "cosine",
        index: dict[str, Any] | None = None,
        quantization: str | None = None,
        text_field: bool = False,
        embedder: str | None = None,
    ) -> Collection:
        self._lake.check_writable()
        cfg = check_config(name, dim, metric, index, quantization)
        emb = None
        if embedder is not None:
            emb = _get_embedder(embedder)
            if int(emb.dim) != dim:
                raise InvalidArgument(f"embedder {embedder!r} makes {emb.dim}-d vectors but dim={dim}")
        with self._lock:
            if self.exists(name):
                raise AlreadyExists(f"collection {name!r} exists; open it, or drop it first")
            location = self._root / name
            if location.exists():  # left over by a crash between directory and catalog
                shutil.rmtree(location)
            init_layout(location, durable=self._lake.settings.fsync != "never")
            row = {
                "name": name,
                "dim": dim,
                "metric": metric,
                "index_config": cfg,
                "quantization": quantization,
                "text_field": bool(text_field),
                "embedder": embedder,
                # relative to the lake root: the lake can be copied or moved
                "location": f"{COLLECTIONS_DIR}/{name}",
                "created_at": time.time(),
                "properties": {},
            }
            try:
                with self._lake.catalog.begin() as conn:
                    conn.execute(vector_collections.insert().values(**row))
            except sa.exc.IntegrityError:
                shutil.rmtree(location, ignore_errors=True)
                raise AlreadyExists(f"collection {name!r} exists; open it, or drop it first") from None
            col = Collection(self._lake, name, {**row, "location": str(location)}, embedder=emb)
            self._open[name] = col
            return col

    def open(self, name: str, version: int | None = None) -> Collection:
        self._lake._check_open()
        with self._lock:
            if version is None and name in self._open:
                return self._open[name]
            if version is not None and (name, version) in self._versions:
                return self._versions[(name, version)]
            row = self._row(check_name(name))
            if row is None:
                raise NotFound(
                    f"no collection {name!r}; existing: {self.list() or 'none'}; "
                    "create it with lake.collections.create(name, dim=...)"
                )
            if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
                raise InvalidArgument(f"version must be an int, got {version!r}")
            emb = None
            if row.get("embedder"):
                emb = _get_embedder(row["embedder"])
                if int(emb.dim) != int(row["dim"]):
                    raise InvalidArgument(
                        f"collection {name!r} has dim {row['dim']} but its embedder "
                        f"{row['embedder']!r} makes {emb.dim}-d vectors"
                    )
            col = Collection(self._lake, name, row, version=version, embedder=emb)
            if version is None:
                self._open[name] = col
            else:
                self._versions[(name, version)] = col
            return col

    def list(self) -> list[str]:
        t = vector_collections
        with self._lake.catalog.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(t.c.name).order_by(t.c.name))]

    def exists(self, name: str) -> bool:
        return self._row(name) is not None

    def info(self, name: str) -> dict[str, Any]:
        row = self._row(name)
        if row is None:
            raise NotFound(f"no collection {name!r}")
        return row

    def drop(self, name: str) -> None:
        self._lake.check_writable()
        with self._lock:
            row = self._row(name)
            if row is None:
                raise NotFound(f"no collection {name!r} to drop")
            col = self._open.pop(name, None)
            if col is not None:
                col.close()
            for key in [k for k in self._versions if k[0] == name]:
                self._versions.pop(key).close()
            with self._lake.catalog.begin() as conn:
                conn.execute(vector_collections.delete().where(vector_collections.c.name == name))
            shutil.rmtree(row["location"], ignore_errors=True)

    def is_cached(self, name: str) -> bool:
        """Whether ``name`` is open in this lake object (the latest version)."""
        return name in self._open

    def forget(self, name: str | None = None) -> None:
        """Close the cached open collection ``name`` (all of them with None), so that the
        next :meth:`open` reads it again from disk: what a reader does after a writer in
        another process changed it (the server's read workers call it)."""
        with self._lock:
            for n in [name] if name is not None else list(self._open):
                col = self._open.pop(n, None)
                if col is not None:
                    col.close()

    def close(self) -> None:
        """Flush and close every opened collection (runs when the lake closes)."""
        with self._lock:
            errors = []
            for col in [*self._open.values(), *self._versions.values()]:
                try:
                    col.close()
                except Exception as exc:
                    errors.append(exc)
            self._open.clear()
            self._versions.clear()
            if errors:
                raise errors[0]
