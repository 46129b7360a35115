"""A brute-force reference for stream feature views, computed from the log alone."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import lakebed
from lakebed.features._serving import aggregate


def log_records(lake: lakebed.Lake, stream: str) -> list[list[dict[str, Any]]]:
    """Every retained record of every partition, in log order (with ``_offset``)."""
    s = lake.streams.get(stream)
    out = []
    for k, (first, nxt) in enumerate(s.bounds()):
        rows: list[dict[str, Any]] = []
        off = first
        while off < nxt:
            b = s.read(k, off, 100_000)
            rows += b.to_pylist()
            off = rows[-1]["_offset"] + 1
        out.append(rows)
    return out


def us(t: Any) -> int:
    from lakebed.features._definitions import utc_us

    return utc_us(t)


def applied_events(
    parts: list[list[dict[str, Any]]], ts: str, watermark_us: int, upto: list[int] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(applied, too late): the events before ``upto`` (per partition), split by the
    watermark rule, in log order."""
    applied, late = [], []
    for k, rows in enumerate(parts):
        newest: int | None = None
        for r in rows:
            if upto is not None and r["_offset"] >= upto[k]:
                break
            t = us(r[ts])
            newest = t if newest is None else max(newest, t)
            (late if t < newest - watermark_us else applied).append(r)
    return applied, late


def window_values(
    events: list[dict[str, Any]], key: str, ts: str, aggs: list[tuple[str, str, int, str]], now_us: int
) -> dict[Any, dict[str, Any]]:
    """Per entity: each aggregation over ``(now - window, now]``."""
    by_key: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_key[e[key]].append(e)
    out = {}
    for k, evs in by_key.items():
        vals = {}
        for column, fn, window, name in aggs:
            inside = sorted((us(e[ts]), e[column]) for e in evs
                            if now_us - window < us(e[ts]) <= now_us and e[column] is not None)
            vals[name] = aggregate(fn, [v for _, v in inside])
        out[k] = vals
    return out
