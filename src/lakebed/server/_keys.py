"""API keys: created with scopes and optional grants, stored hashed in the catalog.

A key reads ``lb_<key_id>_<secret>``; the catalog keeps the key id, a random salt and
``sha256(salt + secret)``, never the secret. Scopes are ``read``, ``write`` and ``admin``
(each implies the ones before it), and ``metrics``: ``GET /metrics`` only (a Prometheus
scraper's key; ``read`` and above may scrape too). Grants narrow a key to some names:
``"tables:silver.*"``, ``"collections:docs"``, ``"features:*"``; a key without grants
reaches everything its scopes allow.

Creating the first key marks the lake as closed for good (``auth_required_since`` in the
catalog's ``lake_meta``): from then on every server process asks every request for a key,
even after every key is revoked (:func:`auth_required`).

Example:
    >>> import lakebed
    >>> from lakebed.server import keys
    >>> with lakebed.connect(":memory:") as lake:
    ...     k = keys.create(lake, "ci", scopes=["read"])
    ...     keys.verify(lake, k.secret).scopes
    ('read',)
    >>> with lakebed.connect(":memory:") as lake:
    ...     before = keys.auth_required(lake)
    ...     keys.revoke(lake, keys.create(lake, "tmp", scopes=["admin"]).key_id)
    ...     before, keys.auth_required(lake)
    (False, True)
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lakebed._names import validate_name
from lakebed.catalog.schema import lake_meta, metadata
from lakebed.errors import AuthError, InvalidArgument, NotFound, PermissionDenied

if TYPE_CHECKING:
    from lakebed.lake import Lake

SCOPES = ("read", "write", "admin")
METRICS = "metrics"
ALL_SCOPES = (*SCOPES, METRICS)
_CLOSED = "auth_required_since"  # lake_meta key: set with the first key, never removed
AREAS = ("tables", "collections", "features", "streams", "runs", "models", "lineage", "predictions", "rag")

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(128), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("grants", sa.JSON, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
)


@dataclasses.dataclass(frozen=True)
class ApiKey:
    """A key as the catalog knows it; ``secret`` is set only right after creation."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    grants: tuple[str, ...]
    created_at: float
    revoked_at: float | None = None
    secret: str | None = None

    def allows(self, scope: str, area: str | None = None, name: str | None = None) -> None:
        """Raise PermissionDenied unless the key has ``scope`` and a grant for ``area:name``
        (``metrics`` is held by a key with the ``metrics`` scope or any of the others)."""
        have = max((SCOPES.index(s) for s in self.scopes if s in SCOPES), default=-1)
        if scope == METRICS:
            enough = have >= 0 or METRICS in self.scopes
        else:
            enough = have >= SCOPES.index(scope)
        if not enough:
            raise PermissionDenied(
                f"key {self.name!r} has scopes {list(self.scopes)}; this request needs {scope!r}"
            )
        if scope == METRICS and self.grants:  # the metrics name every table and collection
            raise PermissionDenied(
                f"key {self.name!r} is limited by grants {list(self.grants)} and /metrics names everything; "
                "scrape with a key without grants (`lakebed keys create --scope metrics`)"
            )
        if self.grants and area is not None:
            target = f"{area}:{name or ''}"
            if not any(fnmatch.fnmatchcase(target, g) or g == f"{area}:*" for g in self.grants):
                raise PermissionDenied(
                    f"key {self.name!r} has no grant for {target!r} (grants: {list(self.grants)})"
                )


def _hash(salt: str, secret: str) -> str:
    return hashlib.sha256((salt + secret).encode()).hexdigest()


def _check(scopes: Sequence[str], grants: Sequence[str] | None) -> None:
    if isinstance(scopes, str):
        raise InvalidArgument(f"scopes is a list such as ['read'], got the string {scopes!r}")
    bad = [s for s in scopes if s not in ALL_SCOPES]
    if bad or not scopes:
        raise InvalidArgument(f"scopes must be a non-empty subset of {list(ALL_SCOPES)}, got {list(scopes)}")
    for g in grants or []:
        area = g.split(":", 1)[0]
        if ":" not in g or area not in AREAS:
            raise InvalidArgument(f"grant {g!r} must read 'area:pattern' with an area of {list(AREAS)}")


def create(lake: Lake, name: str, scopes: Sequence[str] = ("read",), grants: Sequence[str] | None = None) -> ApiKey:
    """Create a key; the returned ``secret`` is shown once and cannot be recovered."""
    lake.check_writable()
    validate_name("label", name, "key name")
    _check(scopes, grants)
    key_id = secrets.token_hex(6)
    secret_part = secrets.token_urlsafe(24)
    secret = f"lb_{key_id}_{secret_part}"
    salt = secrets.token_hex(16)
    now = time.time()
    with lake.catalog.begin() as conn:
        conn.execute(
            api_keys.insert().values(
                key_id=key_id, name=name, salt=salt, hash=_hash(salt, secret), scopes=list(scopes),
                grants=list(grants or []), created_at=now,
            )
        )
        if conn.execute(sa.select(lake_meta.c.key).where(lake_meta.c.key == _CLOSED)).first() is None:
            conn.execute(lake_meta.insert().values(key=_CLOSED, value=now))
    return ApiKey(key_id, name, tuple(scopes), tuple(grants or ()), now, None, secret)


def export_keys(lake: Lake) -> list[dict[str, Any]]:
    """The stored keys of ``lake`` (salted hashes, never secrets), for :func:`import_keys`:
    the nodes of a cluster answer the same keys when each lake holds the same rows."""
    with lake.catalog.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(api_keys)).mappings()]


def import_keys(lake: Lake, rows: Sequence[dict[str, Any]]) -> int:
    """Store keys exported from another lake (those it lacks); how many were added.

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as a, lakebed.connect(":memory:") as b:
        ...     key = create(a, "ops", ["read"])
        ...     import_keys(b, export_keys(a)), verify(b, key.secret).name
        (1, 'ops')
    """
    lake.check_writable()
    added = 0
    with lake.catalog.begin() as conn:
        have = {r[0] for r in conn.execute(sa.select(api_keys.c.key_id))}
        for row in rows:
            if row["key_id"] in have:
                continue
            _check(row["scopes"], row.get("grants"))
            conn.execute(api_keys.insert().values(**{c.name: row.get(c.name) for c in api_keys.columns}))
            added += 1
        if added and conn.execute(sa.select(lake_meta.c.key).where(lake_meta.c.key == _CLOSED)).first() is None:
            conn.execute(lake_meta.insert().values(key=_CLOSED, value=time.time()))
    return added


def _from_row(row: Any) -> ApiKey:
    return ApiKey(row.key_id, row.name, tuple(row.scopes), tuple(row.grants or ()), row.created_at, row.revoked_at)


def list_keys(lake: Lake, include_revoked: bool = False) -> list[ApiKey]:
    """Keys (without secrets), oldest first."""
    q = sa.select(api_keys).order_by(api_keys.c.created_at)
    if not include_revoked:
        q = q.where(api_keys.c.revoked_at.is_(None))
    with lake.catalog.connect() as conn:
        return [_from_row(r) for r in conn.execute(q)]


def revoke(lake: Lake, key_id: str) -> None:
    """Revoke a key by id (or by its name when unique); effective for the next request."""
    lake.check_writable()
    with lake.catalog.begin() as conn:
        rows = conn.execute(
            sa.select(api_keys.c.key_id).where(
                sa.or_(api_keys.c.key_id == key_id, api_keys.c.name == key_id), api_keys.c.revoked_at.is_(None)
            )
        ).all()
        if not rows:
            raise NotFound(f"no active key {key_id!r}; `lakebed keys ls` shows them")
        if len(rows) > 1:
            raise InvalidArgument(f"{key_id!r} names several keys; revoke by key id")
        conn.execute(api_keys.update().where(api_keys.c.key_id == rows[0].key_id).values(revoked_at=time.time()))


def any_active(lake: Lake) -> bool:
    """Whether some key is active (not revoked)."""
    with lake.catalog.connect() as conn:
        active = sa.select(api_keys.c.key_id).where(api_keys.c.revoked_at.is_(None)).limit(1)
        return conn.execute(active).first() is not None


def auth_required(lake: Lake) -> bool:
    """Whether a server of this lake asks every request for a key: true once the lake has
    had a key, revoked or not. The one source every server process decides from; a lake
    never falls back to open (a lake whose keys predate the flag counts its key rows)."""
    with lake.catalog.connect() as conn:
        if conn.execute(sa.select(lake_meta.c.key).where(lake_meta.c.key == _CLOSED)).first() is not None:
            return True
        return conn.execute(sa.select(api_keys.c.key_id).limit(1)).first() is not None


def verify(lake: Lake, secret: str | None) -> ApiKey:
    """The key behind ``secret``, or AuthError (missing, malformed, wrong or revoked)."""
    if not secret:
        raise AuthError("this server requires an API key: send 'Authorization: Bearer lb_...'")
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != "lb":
        raise AuthError("malformed API key; keys look like lb_<id>_<secret>")
    with lake.catalog.connect() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == parts[1])).first()
    if row is None or not hmac.compare_digest(row.hash, _hash(row.salt, secret)):
        raise AuthError("invalid API key")
    if row.revoked_at is not None:
        raise AuthError(f"API key {row.name!r} was revoked")
    return _from_row(row)
