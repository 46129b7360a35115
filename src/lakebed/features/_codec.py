"""Compact binary encoding of online rows: one value per (view, entity key).

Layout of a row of a field view (little-endian after the prefix)::

    [8B big-endian event time + 2**63][8B big-endian created time + 2**63]   order prefix
    [u32 view version][null bitmap][fixed-width fields...][u32 len + bytes per var field]

The 16-byte prefix compares (memcmp) in (event time, created time) order, so every
backend can keep "the newer row wins" inside its upsert without decoding. Fixed-width
fields decode with one ``struct.unpack_from``; batches are encoded with numpy, without a
Python loop per value. Aggregation views store the raw events of the window instead
(prefix, version, then JSON ``[[event_us, v1, v2, ...], ...]`` sorted by time).

Example:
    >>> import pyarrow as pa, numpy as np
    >>> c = RowCodec(["a", "b"], [pa.float64(), pa.string()], version=3)
    >>> [buf] = c.encode_batch(np.array([5]), np.array([6]), [pa.array([1.5]), pa.array(["x"])])
    >>> c.decode(buf)
    (5, 6, 3, [1.5, 'x'])
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakebed.errors import CorruptionError

SIGN = 1 << 63
NULL_TIME = -(1 << 63)  # a missing created time sorts first
_PREFIX = struct.Struct(">QQ")
_U32 = struct.Struct("<I")
_EPOCH_DATE = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)

_FIXED: dict[pa.DataType, tuple[str, str]] = {
    pa.bool_(): ("?", "?"),
    pa.int8(): ("b", "i1"),
    pa.int16(): ("h", "<i2"),
    pa.int32(): ("i", "<i4"),
    pa.int64(): ("q", "<i8"),
    pa.float32(): ("f", "<f4"),
    pa.float64(): ("d", "<f8"),
    pa.date32(): ("i", "<i4"),
}


def _fixed_code(t: pa.DataType) -> tuple[str, str] | None:
    if pa.types.is_timestamp(t):
        return ("q", "<i8")
    return _FIXED.get(t)


def _ts_decoder(t: pa.DataType) -> Callable[[int], datetime]:
    base = _EPOCH if t.tz is None else _EPOCH_UTC
    if t.tz not in (None, "UTC", "utc", "+00:00"):
        import zoneinfo

        zone = zoneinfo.ZoneInfo(t.tz)
        return lambda us: (base + timedelta(microseconds=us)).astimezone(zone)
    return lambda us: base + timedelta(microseconds=us)


def decode_prefix(buf: bytes) -> tuple[int, int]:
    ev, cr = _PREFIX.unpack_from(buf, 0)
    return ev - SIGN, cr - SIGN


class RowCodec:
    """Encoder/decoder of one view version's rows."""

    def __init__(self, names: Sequence[str], types: Sequence[pa.DataType], version: int) -> None:
        self.names = list(names)
        self.types = list(types)
        self.version = version
        n = len(self.names)
        self._nb = (n + 7) // 8
        self._zero = bytes(self._nb)
        self._bits = [(i >> 3, 1 << (i & 7)) for i in range(n)]
        fmt = ["<I", f"{self._nb}s"]
        np_fields: list[tuple[Any, ...]] = [("ev", ">u8"), ("cr", ">u8"), ("ver", "<u4"), ("nulls", "u1", (self._nb,))]
        self._fixed_idx: list[int] = []
        self._var_idx: list[int] = []
        self._convert: list[tuple[int, Callable[[Any], Any]]] = []
        for i, t in enumerate(self.types):
            code = _fixed_code(t)
            if code is not None:
                fmt.append(code[0])
                np_fields.append((f"f{i}", code[1]))
                self._fixed_idx.append(i)
                if pa.types.is_timestamp(t):
                    self._convert.append((i, _ts_decoder(t)))
                elif t == pa.date32():
                    self._convert.append((i, lambda d: _EPOCH_DATE + timedelta(days=d)))
            else:
                self._var_idx.append(i)
        self._struct = struct.Struct("".join(fmt))
        self._var_off = 16 + self._struct.size
        self._np_dtype = np.dtype(np_fields)
        self._in_order = not self._var_idx
        self._var_decoders = [self._var_decoder(self.types[i]) for i in self._var_idx]
        # a zero-length value is empty ("", b""); nulls come from the bitmap
        self._empty = ["" if pa.types.is_string(self.types[i]) else b"" if pa.types.is_binary(self.types[i])
                       else None for i in self._var_idx]

    @staticmethod
    def _var_decoder(t: pa.DataType) -> Callable[[bytes], Any]:
        if pa.types.is_string(t):
            return lambda b: b.decode("utf-8")
        if pa.types.is_binary(t):
            return bytes
        return json.loads

    @staticmethod
    def _var_encoder(t: pa.DataType) -> Callable[[Any], bytes]:
        if pa.types.is_string(t):
            return lambda v: v.encode("utf-8")
        if pa.types.is_binary(t):
            return bytes
        return lambda v: json.dumps(v, default=str).encode()

    def decode(self, buf: bytes) -> tuple[int, int | None, int, list[Any]]:
        """``(event_us, created_us or None, view version, values in field order)``."""
        try:
            ev, cr = _PREFIX.unpack_from(buf, 0)
            parts = self._struct.unpack_from(buf, 16)
        except struct.error as exc:
            raise CorruptionError(f"an online row cannot be decoded ({exc}); materialize the view again") from None
        nulls = parts[1]
        if self._in_order:
            vals = list(parts[2:])
        else:
            vals = [None] * len(self.names)
            for j, i in enumerate(self._fixed_idx):
                vals[i] = parts[2 + j]
            off = self._var_off
            for j, i in enumerate(self._var_idx):
                (size,) = _U32.unpack_from(buf, off)
                off += 4
                vals[i] = self._var_decoders[j](buf[off:off + size]) if size else self._empty[j]
                off += size
        if nulls != self._zero:
            for i, (b, m) in enumerate(self._bits):
                if nulls[b] & m:
                    vals[i] = None
        for i, fn in self._convert:
            if vals[i] is not None:
                vals[i] = fn(vals[i])
        created = cr - SIGN
        return ev - SIGN, (None if created == NULL_TIME else created), parts[0], vals

    def encode_batch(
        self, event_us: np.ndarray, created_us: np.ndarray, columns: Sequence[pa.Array | pa.ChunkedArray]
    ) -> list[bytes]:
        """Encode ``n`` rows: event/created times as int64 microseconds (created may use
        :data:`NULL_TIME`), one Arrow array per field in field order."""
        n = len(event_us)
        rec = np.zeros(n, dtype=self._np_dtype)
        rec["ev"] = np.asarray(event_us, dtype=np.int64).view(np.uint64) ^ np.uint64(SIGN)
        rec["cr"] = np.asarray(created_us, dtype=np.int64).view(np.uint64) ^ np.uint64(SIGN)
        rec["ver"] = self.version
        cols = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in columns]
        if any(c.null_count for c in cols):
            mat = np.zeros((n, self._nb * 8), dtype=bool)
            for i, c in enumerate(cols):
                if c.null_count:
                    mat[:, i] = c.is_null().to_numpy(zero_copy_only=False)
            rec["nulls"] = np.packbits(mat, axis=1, bitorder="little")
        for i in self._fixed_idx:
            c = cols[i]
            t = self.types[i]
            if pa.types.is_timestamp(c.type):
                c = c.cast(pa.timestamp("us", tz=c.type.tz)).cast(pa.int64())
            elif pa.types.is_date32(c.type):
                c = c.cast(pa.int32())
            elif c.type != t:
                c = pc.cast(c, t)
            if c.null_count:
                c = pc.fill_null(c, False if pa.types.is_boolean(c.type) else 0)
            rec[f"f{i}"] = c.to_numpy(zero_copy_only=False)
        raw = rec.tobytes()
        size = self._np_dtype.itemsize
        if not self._var_idx:
            return [raw[k * size:(k + 1) * size] for k in range(n)]
        var_values = []
        for i in self._var_idx:
            enc = self._var_encoder(self.types[i])
            var_values.append([None if v is None else enc(v) for v in cols[i].to_pylist()])
        out = []
        pack = _U32.pack
        for k in range(n):
            parts = [raw[k * size:(k + 1) * size]]
            for vals in var_values:
                b = vals[k]
                if b is None:
                    parts.append(b"\0\0\0\0")
                else:
                    parts.append(pack(len(b)))
                    parts.append(b)
            out.append(b"".join(parts))
        return out


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps would build an encoder per call


class EventsCodec:
    """Online rows of aggregation views: the raw events of the window."""

    def __init__(self, columns: Sequence[str], version: int) -> None:
        self.columns = list(columns)
        self.version = version

    def encode(self, events: list[list[Any]]) -> bytes:
        """``events``: ``[[event_us, v1, v2, ...], ...]`` sorted by time."""
        newest = events[-1][0] if events else NULL_TIME
        return (
            _PREFIX.pack(newest + SIGN, 0)
            + _U32.pack(self.version)
            + _COMPACT.encode(events).encode()
        )

    def encode_texts(self, newest: int, texts: Sequence[bytes]) -> bytes:
        """The same row from its events' JSON texts (see :class:`EventTexts`), sorted by
        time, ``newest`` being the last one's time."""
        pack, sign, head = self.row_head()
        return b"".join((pack(newest + sign, 0), head, b",".join(texts), b"]"))

    def row_head(self) -> tuple[Callable[[int, int], bytes], int, bytes]:
        """The parts of :meth:`encode_texts` for a caller that builds many rows: ``(pack,
        sign, head)``, a row being ``pack(newest + sign, 0) + head + b",".join(texts) +
        b"]"``."""
        return _PREFIX.pack, SIGN, _U32.pack(self.version) + b"["

    @staticmethod
    def decode(buf: bytes) -> tuple[int, list[list[Any]]]:
        """``(view version, events)``."""
        try:
            (version,) = _U32.unpack_from(buf, 16)
            return version, json.loads(buf[20:])
        except (struct.error, ValueError) as exc:
            raise CorruptionError(f"an online row cannot be decoded ({exc}); materialize the view again") from None


_NUMERIC = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_null)


class EventTexts:
    """Each event of an aggregation view's window as its JSON text ``[event_us,v1,...]``,
    made once when the event arrives, so that a window's row is its texts joined.

    Numbers, booleans and nulls of a whole column are written by one ``orjson`` call when
    it is installed and the column holds no NaN or infinity (which orjson writes as null,
    the json module as ``NaN`` / ``Infinity``), then split at the commas; anything else
    goes through the json module value by value. Either way the texts read back as the
    json module's would.

    Example:
        >>> import pyarrow as pa
        >>> EventTexts().batch([5, 7], [pa.array([1.5, None]), pa.array(["a", "b"])])
        [b'[5,1.5,"a"]', b'[7,null,"b"]']
    """

    def __init__(self) -> None:
        try:
            import orjson
        except ImportError:  # the json module alone
            self._dumps: Callable[[Any], bytes] | None = None
        else:
            self._dumps = orjson.dumps

    def _column(self, values: list[Any], numbers: bool) -> list[bytes]:
        """Texts of one column's values; ``numbers``: all are numbers, booleans or nulls
        that orjson writes as the json module does."""
        if not values:
            return []
        if numbers and self._dumps is not None:
            return self._dumps(values)[1:-1].split(b",")
        enc = _COMPACT.encode
        return [enc(v).encode() for v in values]

    @staticmethod
    def _numbers(column: pa.Array | pa.ChunkedArray) -> bool:
        t = column.type
        if pa.types.is_floating(t):  # orjson writes NaN and infinities as null
            return column.null_count == len(column) or bool(pc.all(pc.is_finite(column)).as_py())
        return any(f(t) for f in _NUMERIC)

    def batch(self, times: list[int], columns: Sequence[pa.Array | pa.ChunkedArray]) -> list[bytes]:
        """The texts of a batch's events: their times and one array per aggregated column."""
        parts = [self._column(times, True), *(self._column(c.to_pylist(), self._numbers(c)) for c in columns)]
        fmt = b"[" + b",".join([b"%b"] * len(parts)) + b"]"
        return [fmt % row for row in zip(*parts, strict=True)]

    def many(self, events: list[list[Any]]) -> list[bytes]:
        """The texts of decoded events (``[[event_us, v1, ...], ...]``)."""
        enc = _COMPACT.encode
        return [enc(e).encode() for e in events]


def key_strings(columns: Sequence[pa.Array | pa.ChunkedArray]) -> list[str]:
    """Entity keys of a batch as the strings the online store is keyed by."""
    return key_array(columns).to_pylist()  # type: ignore[no-any-return]


def key_array(columns: Sequence[pa.Array | pa.ChunkedArray]) -> pa.Array:
    """:func:`key_strings` as an Arrow string array (null where a key column is null)."""
    parts = [pc.cast(c, pa.string()) for c in columns]
    out = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def key_string(values: Sequence[Any]) -> str | None:
    """The key of one entity row (same strings as :func:`key_strings`)."""
    if len(values) == 1:
        v = values[0]
        if type(v) is int or type(v) is str:
            return str(v)
        if v is None:
            return None
        return _slow_key(v)
    out = []
    for v in values:
        if v is None:
            return None
        out.append(str(v) if type(v) is int or type(v) is str else _slow_key(v))
    return "\x1f".join(out)


def _slow_key(v: Any) -> str:
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()  # numpy scalars
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | str):
        return str(v)
    return str(pc.cast(pa.array([v]), pa.string())[0].as_py())
