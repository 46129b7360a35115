"""What travels through a cluster's log: shard routing and the encoding of one write.

A write on a shard stream is one JetStream message: ``[u32 header length][JSON header]
[little-endian float32 vectors]``. The header is ``{"op": "upsert", "ids": [...],
"payloads": [...], "texts": [...] | null}`` (the vectors follow, one row per id) or
``{"op": "delete", "ids": [...]}`` / ``{"op": "delete", "filter": {...}}``. Every
replica applies the same messages in the same order, so every replica ends with the same
points.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from typing import Any

import numpy as np

from lakebed.errors import CorruptionError

_HLEN = struct.Struct("<I")
# NATS takes messages of up to 1 MiB by default (max_payload): stay well below
MESSAGE_BYTES = 768 * 1024


def shard_of(point_id: int | str, shards: int) -> int:
    """The shard of a point id: CRC32 of its typed text modulo the shard count (``1``
    and ``"1"`` are different points, and may be on different shards).

    Example:
        >>> shard_of(1, 4), shard_of("1", 4), shard_of(1, 1)
        (2, 0, 0)
    """
    tag = b"i:" if isinstance(point_id, int) else b"s:"
    return zlib.crc32(tag + str(point_id).encode()) % shards


def encode_op(header: dict[str, Any], vectors: np.ndarray | None = None) -> bytes:
    """One write as a log message.

    Example:
        >>> raw = encode_op({"op": "upsert", "ids": [1], "payloads": [{}], "texts": None},
        ...                 np.ones((1, 2), dtype=np.float32))
        >>> h, v = decode_op(raw)
        >>> h["ids"], v.tolist()
        ([1], [[1.0, 1.0]])
    """
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    parts = [_HLEN.pack(len(head)), head]
    if vectors is not None:
        parts.append(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
    return b"".join(parts)


def decode_op(raw: bytes, where: str = "a cluster log message") -> tuple[dict[str, Any], np.ndarray | None]:
    """(header, vectors or None) of a message; CorruptionError naming ``where`` when it
    does not decode."""
    try:
        (hlen,) = _HLEN.unpack_from(raw, 0)
        header = json.loads(raw[4:4 + hlen])
        if not isinstance(header, dict) or header.get("op") not in ("upsert", "delete"):
            raise ValueError("no op")
        rest = raw[4 + hlen:]
        vectors = None
        if header["op"] == "upsert":
            n = len(header["ids"])
            if not n or len(rest) % (4 * n):
                raise ValueError("the vector bytes do not match the ids")
            vectors = np.frombuffer(rest, dtype="<f4").reshape(n, -1)
        return header, vectors
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise CorruptionError(f"{where} does not decode ({exc}); the log holds a message lakebed did not "
                              "write, or it is damaged") from None


def upsert_messages(ids: list[Any], vectors: np.ndarray, payloads: list[dict[str, Any]],
                    texts: list[str | None] | None, shards: int,
                    limit: int = MESSAGE_BYTES) -> dict[int, list[bytes]]:
    """The messages of one upsert, per shard, each under ``limit`` bytes (a batch is cut
    in halves until its parts fit; a single point over the limit is left whole, and the
    publisher refuses it with a clear error)."""
    by_shard: dict[int, list[int]] = {}
    for j, i in enumerate(ids):
        by_shard.setdefault(shard_of(i, shards), []).append(j)
    out: dict[int, list[bytes]] = {}

    def cut(rows: list[int], into: list[bytes]) -> None:
        msg = encode_op({"op": "upsert", "ids": [ids[j] for j in rows], "payloads": [payloads[j] for j in rows],
                         "texts": None if texts is None else [texts[j] for j in rows]}, vectors[rows])
        if len(msg) <= limit or len(rows) == 1:
            into.append(msg)
            return
        half = len(rows) // 2
        cut(rows[:half], into)
        cut(rows[half:], into)

    for s, rows in sorted(by_shard.items()):
        # start from pieces that should fit, then halve where payloads are larger
        step = max(1, limit // (vectors.shape[1] * 4 + 256))
        msgs: list[bytes] = []
        for a in range(0, len(rows), step):
            cut(rows[a:a + step], msgs)
        out[s] = msgs
    return out


def digest_next(prev: str, seq: int, message: bytes) -> str:
    """The running digest of a replica's log after applying ``message`` at ``seq``: replicas
    that applied the same messages have the same digest at the same sequence, so a replica
    fed other messages (a server that served writes a partition later discarded) is found
    by comparing digests.

    Example:
        >>> d1 = digest_next("", 1, b"a")
        >>> digest_next(d1, 2, b"b") == digest_next(d1, 2, b"b"), digest_next(d1, 2, b"b") == digest_next(d1, 2, b"c")
        (True, False)
    """
    return hashlib.blake2b(prev.encode() + seq.to_bytes(8, "little") + message, digest_size=8).hexdigest()
