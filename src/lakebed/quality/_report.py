"""The data-quality report as one self-contained HTML page.

``render_html(report)`` turns the JSON-ready report dictionary (a title, when it was made, the lake,
and any of ``drift``, ``results`` and ``profile``; a model monitor adds ``model`` and ``performance``,
a list of ``{"period", "rows", <metric>: float}``) into a page with inline CSS and inline SVG plots
drawn here in Python: no script, no web font, no image or style sheet fetched when the page is
opened (a Content-Security-Policy in the page forbids all of them), so it can be mailed, attached to
a CI run or opened offline. Every string from the data is escaped. The same report gives the same
bytes: nothing random and no clock reading beyond ``report["created_at"]``.

Plots (each an ``<svg class="plot plot-…">`` with a ``<title>``):

- ``plot-hist``: per drift column, reference against current, as shares of their rows: overlaid
  bars over the histogram edges for a numeric column, grouped bars per label for a categorical one;
- ``plot-drift-scores``: the drift score of every column, its threshold marked, drifted columns red;
- ``plot-results``: failing rows per check across the validation results, oldest first;
- ``plot-profile``: a small histogram per numeric column, the top values of a categorical one;
- ``plot-performance``: a model's metrics (accuracy, MAE, RMSE…) per period.

Example:
    >>> from lakebed.quality._report import render_html
    >>> column = {"column": "amount", "kind": "numeric", "method": "psi", "score": 0.31, "threshold": 0.1,
    ...           "drifted": True, "reference_rows": 1000, "current_rows": 1200, "reference_nulls": 0,
    ...           "current_nulls": 4, "stats": {"reference_mean": 10.5, "current_mean": 14.25},
    ...           "histogram": {"edges": [0, 10, 20, 30], "reference": [500, 400, 100],
    ...                         "current": [300, 500, 396]}}
    >>> page = render_html({
    ...     "title": "orders <nightly>", "created_at": "2024-05-01T12:00:00+00:00", "lake": None,
    ...     "drift": {"reference": {"ref": "orders@3", "rows": 1000}, "current": {"ref": "orders@4", "rows": 1200},
    ...               "dataset": {"drifted": True, "drifted_columns": 1, "columns": 1, "share": 1.0,
    ...                           "threshold": 0.5},
    ...               "columns": [column]},
    ...     "results": None, "profile": None})
    >>> page.startswith("<!DOCTYPE html>"), page.count('<svg class="plot plot-hist')
    (True, 1)
    >>> "orders &lt;nightly&gt;" in page, "Dataset drift detected" in page, "<script" in page
    (True, True, False)
"""

from __future__ import annotations

import html
import itertools
import json
import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["render_html"]

# Colours (also in the CSS below, where the HTML legends use them).
REF = "#94a3b8"  # reference: slate
CUR = "#2563eb"  # current: blue
BAD = "#dc2626"
GOOD = "#16a34a"
OK_BAR = "#60a5fa"
INK = "#0f172a"
MUTED = "#64748b"
GRID = "#e9eef5"
AXIS = "#cbd5e1"
SERIES = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6",
          "#06b6d4", "#ec4899", "#84cc16", "#f97316", "#475569")
CHAR_W = 6.0  # rough width of one character of the 11px plot text, for fitting labels

CSS = """
:root{--bg:#f3f5f9;--card:#fff;--ink:#0f172a;--muted:#64748b;--line:#e5e9f0;--ref:#94a3b8;--cur:#2563eb;
--bad:#dc2626;--bad-bg:#fef2f2;--good:#16a34a;--good-bg:#f0fdf4;--warn:#b45309;--warn-bg:#fffbeb;--ok-bar:#60a5fa}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif;
-webkit-font-smoothing:antialiased}
.wrap{max-width:1200px;margin:0 auto;padding:0 24px}
header.top{background:linear-gradient(120deg,#0f172a,#1e293b);color:#f8fafc;padding:22px 0 0}
header.top .brand{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:#93c5fd;font-weight:600}
header.top h1{margin:4px 0 6px;font-size:24px;font-weight:650;word-break:break-word}
header.top .meta{color:#cbd5e1;font-size:13px}
header.top .meta code{background:#334155;color:#e2e8f0}
header.top .meta span+span:before{content:"·";margin:0 8px;color:#64748b}
header.top nav{display:flex;gap:4px;margin-top:14px}
header.top nav a{color:#cbd5e1;text-decoration:none;padding:8px 12px;border-radius:8px 8px 0 0;font-size:13px}
header.top nav a:hover{background:#334155;color:#fff}
main.wrap{padding-top:22px;padding-bottom:40px}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:14px;margin-bottom:20px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:14px 16px;
box-shadow:0 1px 2px rgba(15,23,42,.04)}
.kpi .label{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.05em;font-weight:600}
.kpi .value{font-size:22px;font-weight:650;margin:2px 0}
.kpi .sub{font-size:12.5px;color:var(--muted)}
.kpi.bad{border-left:4px solid var(--bad)}.kpi.good{border-left:4px solid var(--good)}
.kpi.bad .value{color:var(--bad)}.kpi.good .value{color:var(--good)}
section.block{margin-top:28px}
section.block>h2{font-size:18px;margin:0 0 12px;display:flex;align-items:center;gap:10px}
section.block>h2 small{font-size:13px;font-weight:400;color:var(--muted)}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:16px 18px;
box-shadow:0 1px 2px rgba(15,23,42,.04);margin-bottom:14px;min-width:0}
.card h3{margin:0 0 8px;font-size:14.5px;font-weight:600}
.card .hint{color:var(--muted);font-size:12.5px;margin:-4px 0 10px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px;margin-bottom:14px}
.grid.small{grid-template-columns:repeat(auto-fill,minmax(260px,1fr))}
.grid .card{margin-bottom:0}
.banner{border-radius:12px;padding:12px 16px;margin-bottom:14px;display:flex;gap:12px;align-items:baseline;
flex-wrap:wrap;border:1px solid}
.banner.bad{background:var(--bad-bg);border-color:#fecaca}.banner.good{background:var(--good-bg);border-color:#bbf7d0}
.banner strong{font-size:15px}.banner.bad strong{color:var(--bad)}.banner.good strong{color:var(--good)}
.banner span{color:#334155;font-size:13px}
.pill{display:inline-block;font-size:11px;font-weight:650;letter-spacing:.03em;padding:1px 8px;border-radius:999px;
text-transform:uppercase;white-space:nowrap;vertical-align:1px}
.pill.bad{background:#fee2e2;color:#b91c1c}.pill.good{background:#dcfce7;color:#15803d}
.pill.warn{background:#fef3c7;color:var(--warn)}.pill.neutral{background:#f1f5f9;color:#475569}
.colhead{display:flex;justify-content:space-between;align-items:center;gap:8px;margin-bottom:2px}
.colhead h3{margin:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.colmeta{font-size:12.5px;color:var(--muted);margin-bottom:6px}
.colmeta b{color:var(--ink);font-weight:600}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;font-size:12.5px;color:#334155;margin:4px 0 8px}
.legend span{display:inline-flex;align-items:center;gap:6px}
.sw{display:inline-block;width:11px;height:11px;border-radius:3px}
.sw.ref{background:var(--ref);opacity:.75}.sw.cur{background:var(--cur);opacity:.7}
.sw.bad{background:var(--bad)}.sw.ok{background:var(--ok-bar)}
.sw.line{width:14px;height:0;border-top:2px dashed var(--ink);border-radius:0}
.stats{display:grid;grid-template-columns:auto auto;gap:1px 12px;font-size:12px;margin-top:8px;
border-top:1px solid var(--line);padding-top:8px}
.stats dt{color:var(--muted);overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.stats dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
.empty{color:var(--muted);font-size:13px;padding:18px 0;text-align:center}
.tablewrap{overflow-x:auto}
table.data{border-collapse:collapse;width:100%;font-size:12.5px}
table.data>*>tr>th{text-align:left;font-weight:600;color:var(--muted);font-size:11.5px;text-transform:uppercase;
letter-spacing:.04em;border-bottom:1px solid var(--line);padding:7px 8px;white-space:nowrap;background:#f8fafc}
table.data>*>tr>td{border-bottom:1px solid #f1f5f9;padding:7px 8px;vertical-align:top}
table.data>*>tr>.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.data>*>tr:last-child>td{border-bottom:0}
table.data>*>tr>td.name{font-weight:600;max-width:260px;overflow-wrap:anywhere}
table.data>*>tr>td.detail{max-width:300px;overflow-wrap:anywhere;color:#334155}
table.samples{border-collapse:collapse;font-size:11.5px;margin-top:4px}
table.samples th,table.samples td{border:1px solid var(--line);padding:2px 6px;text-align:left;
max-width:180px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
table.samples th{background:#f8fafc;color:var(--muted);font-weight:600}
details summary{cursor:pointer;color:#1d4ed8;font-size:12px}
.muted{color:var(--muted)}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f5f9;padding:1px 5px;
border-radius:4px;overflow-wrap:anywhere}
svg.plot{display:block;width:100%;height:auto}
svg.plot text{font-size:11px;fill:#475569}
svg.plot text.lbl{fill:#1e293b}
svg.plot text.val{fill:#334155;font-variant-numeric:tabular-nums}
svg.plot text.bad{fill:#b91c1c;font-weight:600}
svg.plot .grid line{stroke:#e9eef5}
svg.plot .axis line{stroke:#cbd5e1}
footer{color:var(--muted);font-size:12px;text-align:center;padding:10px 0 30px}
@media print{body{background:#fff}.card,.kpi{box-shadow:none;break-inside:avoid}header.top nav{display:none}}
"""


# --------------------------------------------------------------------------- formatting

def _e(value: Any) -> str:
    """Escaped text for an element or attribute."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _float(value: Any) -> float | None:
    """The value as a finite-or-not float, or None when it is not a number."""
    if not _is_number(value):
        return None
    return float(value)


def _finite(value: Any) -> float | None:
    f = _float(value)
    return f if f is not None and math.isfinite(f) else None


def fmt_num(value: Any, digits: int = 4) -> str:
    """A number for people: thousands separators, about ``digits`` significant digits.

    >>> fmt_num(1234567), fmt_num(0.123456), fmt_num(12345.678), fmt_num(3.0), fmt_num(2.5e-7), fmt_num(None)
    ('1,234,567', '0.1235', '12,346', '3', '2.500e-07', '—')
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if not isinstance(value, numbers.Real):
        return _e(value)
    x = float(value)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1e15 or a < 1e-4:
        return f"{x:.{digits - 1}e}"
    if x.is_integer():
        return f"{int(x):,}"
    if a >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def fmt_pct(share: Any) -> str:
    """A share in [0, 1] as a percentage: ``0.3333`` -> ``33.3%``."""
    f = _float(share)
    if f is None or math.isnan(f):
        return "—"
    p = f * 100
    if p == 0:
        return "0%"
    if abs(p) < 0.1:
        return f"{p:.2g}%"
    text = f"{p:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + "%"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 1)] + "…"


def _plain(value: Any) -> str:
    """Any data value as plain (unescaped) text."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or _is_number(value):
        return fmt_num(value)
    if isinstance(value, dict | list | tuple):
        try:
            return json.dumps(value, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _val(value: Any, limit: int = 40) -> str:
    """A data value as escaped HTML, clipped to ``limit`` characters (the whole value in a tooltip)."""
    if value is None:
        return '<span class="muted">—</span>'
    text = _plain(value)
    if len(text) <= limit:
        return _e(text)
    return f'<span title="{_e(text)}">{_e(_clip(text, limit))}</span>'


def _short_time(text: str) -> str:
    """An ISO timestamp shortened for an axis: the date, and the minute when it is not midnight."""
    date, sep, time = text.partition("T")
    if not sep or len(date) != 10:
        return _clip(text, 16)
    return date if time.startswith("00:00:00") or not time else f"{date} {time[:5]}"


def _c(x: float) -> str:
    """A coordinate."""
    return f"{x:.1f}"


def _int(value: Any) -> int:
    f = _finite(value)
    return int(f) if f is not None else 0


# --------------------------------------------------------------------------- scales and axes

def _nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = mag * 10
    for m in (1, 2, 2.5, 5, 10):
        if (hi - lo) / (m * mag) <= count:
            step = m * mag
            break
    if integer:
        step = max(1.0, math.ceil(step))
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _nice_max(top: float, count: int = 4, integer: bool = False) -> tuple[float, list[float]]:
    """An upper bound at a round tick at or above ``top`` (at least ``1`` for counts), and the ticks up to it."""
    if not math.isfinite(top) or top <= 0:
        top = 1.0
    ticks = _nice_ticks(0.0, top, count, integer)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else top
    hi = ticks[-1]
    if hi < top - 1e-12:
        hi = round(hi + step, 12)
        ticks.append(hi)
    return hi, ticks


class _Lin:
    """A linear scale from a domain to a pixel range."""

    def __init__(self, d0: float, d1: float, r0: float, r1: float) -> None:
        if d1 == d0:
            d0, d1 = d0 - 0.5, d1 + 0.5
        self.d0, self.d1, self.r0, self.r1 = d0, d1, r0, r1

    def __call__(self, v: float) -> float:
        return self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)


def _svg_open(cls: str, width: float, height: float, title: str) -> str:
    return (f'<svg class="plot {cls}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_c(width)} {_c(height)}" '
            f'width="{_c(width)}" height="{_c(height)}" role="img" aria-label="{_e(title)}">'
            f"<title>{_e(title)}</title>")


def _y_grid(out: list[str], ticks: Sequence[float], y: _Lin, x0: float, x1: float, label: Any) -> None:
    out.append('<g class="grid">')
    for t in ticks:
        out.append(f'<line x1="{_c(x0)}" x2="{_c(x1)}" y1="{_c(y(t))}" y2="{_c(y(t))}"/>')
    out.append("</g><g class=\"axis\">")
    for t in ticks:
        out.append(f'<text x="{_c(x0 - 6)}" y="{_c(y(t) + 3.5)}" text-anchor="end">{_e(label(t))}</text>')
    out.append("</g>")


def _x_grid(out: list[str], ticks: Sequence[float], x: _Lin, y0: float, y1: float, label: Any,
            below: float) -> None:
    out.append('<g class="grid">')
    for t in ticks:
        out.append(f'<line x1="{_c(x(t))}" x2="{_c(x(t))}" y1="{_c(y0)}" y2="{_c(y1)}"/>')
    out.append('</g><g class="axis">')
    for t in ticks:
        out.append(f'<text x="{_c(x(t))}" y="{_c(below)}" text-anchor="middle">{_e(label(t))}</text>')
    out.append("</g>")


def _shares(counts: Sequence[Any]) -> list[float]:
    values = [max(_finite(c) or 0.0, 0.0) for c in counts]
    total = sum(values)
    return [v / total if total > 0 else 0.0 for v in values]


# --------------------------------------------------------------------------- plots

def _bin_positions(edges: Sequence[Any], n: int) -> tuple[list[float], bool]:
    """The x positions of ``n`` bins' edges, and whether they are bin numbers (edges missing, not finite or
    not increasing) rather than the edges themselves."""
    fe = [_finite(v) for v in edges[: n + 1]]
    xs = [v for v in fe if v is not None]
    if n > 0 and len(xs) == n + 1 and all(a < b for a, b in itertools.pairwise(xs)):
        return xs, False
    return [float(i) for i in range(n + 1)], True


def _numeric_hist(name: str, hist: dict[str, Any]) -> str:
    """Reference and current shares over the histogram edges, overlaid."""
    edges = list(hist.get("edges") or [])
    ref_c, cur_c = list(hist.get("reference") or []), list(hist.get("current") or [])
    n = max(min(len(edges) - 1, len(ref_c), len(cur_c)), 0)
    ref, cur = _shares(ref_c[:n]), _shares(cur_c[:n])
    xs, by_index = _bin_positions(edges, n)
    width, height, ml, mr, mt, mb = 340.0, 180.0, 40.0, 12.0, 10.0, 26.0
    top, yt = _nice_max(max([*ref, *cur, 0.0]) or 1.0, 4)
    y = _Lin(0.0, top, height - mb, mt)
    x = _Lin(xs[0] if xs else 0.0, xs[-1] if xs else 1.0, ml, width - mr)
    title = f"Distribution of {name}: reference and current share of rows per bin"
    out = [_svg_open("plot-hist plot-hist-numeric", width, height, title)]
    _y_grid(out, yt, y, ml, width - mr, fmt_pct)
    sides = (("reference", ref, ref_c, REF, 0.6), ("current", cur, cur_c, CUR, 0.5))
    for label, shares, counts, colour, opacity in sides:
        out.append(f'<g class="series-{label}" fill="{colour}" fill-opacity="{opacity}">')
        for i in range(n):
            x0, x1 = x(xs[i]), x(xs[i + 1])
            y0 = y(shares[i])
            lo, hi = _plain(edges[i]), _plain(edges[i + 1])
            tip = f"{label} [{lo}, {hi}): {fmt_num(counts[i])} rows ({fmt_pct(shares[i])})"
            out.append(f'<rect x="{_c(x0 + 0.4)}" y="{_c(y0)}" width="{_c(max(x1 - x0 - 0.8, 0.6))}" '
                       f'height="{_c(height - mb - y0)}"><title>{_e(tip)}</title></rect>')
        out.append("</g>")
    out.append(f'<g class="axis"><line x1="{_c(ml)}" x2="{_c(width - mr)}" y1="{_c(height - mb)}" '
               f'y2="{_c(height - mb)}"/>')
    if by_index:
        ticks = [float(i) for i in range(0, n + 1, max(1, math.ceil(n / 6)))]
        labels = {t: _plain(edges[int(t)]) if int(t) < len(edges) else "" for t in ticks}
        for t in ticks:
            out.append(f'<text x="{_c(x(t))}" y="{_c(height - mb + 15)}" text-anchor="middle">'
                       f"{_e(_clip(labels[t], 8))}</text>")
    else:
        for t in _nice_ticks(xs[0], xs[-1], 5):
            out.append(f'<line x1="{_c(x(t))}" x2="{_c(x(t))}" y1="{_c(height - mb)}" y2="{_c(height - mb + 4)}"/>'
                       f'<text x="{_c(x(t))}" y="{_c(height - mb + 16)}" text-anchor="middle">'
                       f"{_e(fmt_num(t, 3))}</text>")
    out.append("</g></svg>")
    return "".join(out)


def _fold_categories(labels: Sequence[Any], columns: Sequence[Sequence[float]], keep: int,
                     rank: int = 2) -> tuple[list[str], list[list[float]]]:
    """The ``keep`` largest categories (by the largest value in the first ``rank`` columns), the rest folded
    into one row."""
    n = len(labels)
    if n <= keep + 1:
        chosen = list(range(n))
    else:
        chosen = sorted(sorted(range(n), key=lambda i: -max(col[i] for col in columns[:rank]))[:keep])
    names = [_plain(labels[i]) for i in chosen]
    values = [[col[i] for i in chosen] for col in columns]
    if len(chosen) < n:
        picked = set(chosen)
        rest = [i for i in range(n) if i not in picked]
        names.append(f"({len(rest)} more)")
        for col, vals in zip(columns, values, strict=True):
            vals.append(sum(col[i] for i in rest))
    return names, values


def _categorical_hist(name: str, cats: dict[str, Any]) -> str:
    """Grouped horizontal bars: reference and current share of rows per label."""
    labels = list(cats.get("labels") or [])
    ref_c, cur_c = list(cats.get("reference") or []), list(cats.get("current") or [])
    n = min(len(labels), len(ref_c), len(cur_c))
    ref, cur = _shares(ref_c[:n]), _shares(cur_c[:n])
    counts = [[max(_finite(v) or 0.0, 0.0) for v in side[:n]] for side in (ref_c, cur_c)]
    names, (ref_s, cur_s, ref_n, cur_n) = _fold_categories(labels[:n], [ref, cur, *counts], 10)
    row, ml, mr, mt, mb, width = 24.0, 96.0, 44.0, 6.0, 22.0, 340.0
    height = mt + max(len(names), 1) * row + mb
    top, xt = _nice_max(max([*ref_s, *cur_s, 0.0]) or 1.0, 4)
    x = _Lin(0.0, top, ml, width - mr)
    title = f"Categories of {name}: reference and current share of rows per label"
    out = [_svg_open("plot-hist plot-hist-categorical", width, height, title)]
    _x_grid(out, xt, x, mt, height - mb, fmt_pct, height - mb + 14)
    for i, label in enumerate(names):
        y0 = mt + i * row
        out.append(f'<text class="lbl" x="{_c(ml - 6)}" y="{_c(y0 + row / 2 + 3.5)}" text-anchor="end">'
                   f"<title>{_e(label)}</title>{_e(_clip(label, int((ml - 10) / CHAR_W)))}</text>")
        for j, (side, shares, rows, colour, opacity) in enumerate((("reference", ref_s, ref_n, REF, 0.8),
                                                                     ("current", cur_s, cur_n, CUR, 0.75))):
            by = y0 + 4 + j * 8
            w = max(x(shares[i]) - ml, 0.0)
            tip = f"{label} · {side}: {fmt_num(round(rows[i]))} rows ({fmt_pct(shares[i])})"
            out.append(f'<rect x="{_c(ml)}" y="{_c(by)}" width="{_c(w)}" height="7.5" rx="1.5" fill="{colour}" '
                       f'fill-opacity="{opacity}"><title>{_e(tip)}</title></rect>')
        delta = cur_s[i] - ref_s[i]
        if abs(delta) >= 0.005:
            sign = "+" if delta > 0 else "−"
            out.append(f'<text class="val" x="{_c(x(max(ref_s[i], cur_s[i])) + 4)}" y="{_c(y0 + row / 2 + 3.5)}">'
                       f"{sign}{_e(fmt_pct(abs(delta)))}</text>")
    out.append(f'<g class="axis"><line x1="{_c(ml)}" x2="{_c(ml)}" y1="{_c(mt)}" y2="{_c(height - mb)}"/></g>')
    out.append("</svg>")
    return "".join(out)


def _drift_scores(columns: Sequence[dict[str, Any]]) -> str:
    """One horizontal bar per column: its drift score, its threshold as a tick, drifted ones red."""
    def key(c: dict[str, Any]) -> tuple[int, float]:
        s = _float(c.get("score"))
        return (1, 0.0) if s is None or math.isnan(s) else (0, -s)

    rows = sorted(columns, key=key)
    finite = [v for c in rows for v in (_finite(c.get("score")), _finite(c.get("threshold"))) if v is not None]
    lo = min([0.0, *finite])
    hi = max([*finite, 0.0]) or 1.0
    ticks = _nice_ticks(lo, hi, 6)
    if ticks and ticks[-1] < hi:
        step = ticks[1] - ticks[0] if len(ticks) > 1 else hi
        ticks.append(round(ticks[-1] + step, 12))
    if ticks and ticks[0] > lo:
        ticks.insert(0, lo)
    d0, d1 = (ticks[0], ticks[-1]) if ticks else (0.0, 1.0)
    width, ml, mr, mt, mb, row = 1100.0, 190.0, 120.0, 22.0, 26.0, 24.0
    height = mt + max(len(rows), 1) * row + mb
    x = _Lin(d0, d1, ml, width - mr)
    out = [_svg_open("plot-drift-scores", width, height,
                     "Drift score per column, threshold marked; drifted columns in red")]
    _x_grid(out, ticks, x, mt, height - mb, lambda t: fmt_num(t, 3), height - mb + 15)
    thresholds = {_finite(c.get("threshold")) for c in rows}
    for i, c in enumerate(rows):
        y0 = mt + i * row
        name, drifted = _plain(c.get("column")), bool(c.get("drifted"))
        score, thr = _float(c.get("score")), _finite(c.get("threshold"))
        if i % 2 == 0:
            out.append(f'<rect class="row-bg" x="0" y="{_c(y0)}" width="{_c(width)}" height="{_c(row)}" '
                       'fill="#f8fafc"/>')
        cls = "bad" if drifted else "lbl"
        out.append(f'<text class="{cls}" x="{_c(ml - 10)}" y="{_c(y0 + row / 2 + 4)}" text-anchor="end">'
                   f"<title>{_e(name)}</title>{_e(_clip(name, int((ml - 16) / CHAR_W)))}</text>")
        if score is None or math.isnan(score):
            w, x0, shown = 0.0, x(0.0), "n/a"
        else:
            s = min(max(score, d0), d1)
            x0, x1 = sorted((x(0.0), x(s)))
            w, shown = x1 - x0, fmt_num(score)
        fill, state = (BAD, "drifted") if drifted else (OK_BAR, "not drifted")
        tip = (f"{name}: {c.get('method', '')} score {shown}, threshold {fmt_num(thr)}; {state}"
               f" ({c.get('kind', '')})")
        out.append(f'<rect class="bar bar-{"drifted" if drifted else "ok"}" x="{_c(x0)}" y="{_c(y0 + 5)}" '
                   f'width="{_c(w)}" height="{_c(row - 10)}" rx="2" fill="{fill}" fill-opacity="0.85">'
                   f"<title>{_e(tip)}</title></rect>")
        if x0 + w + 5 + len(shown) * CHAR_W > width - mr:  # no room after the bar: inside its end, in white
            out.append(f'<text x="{_c(x0 + w - 5)}" y="{_c(y0 + row / 2 + 4)}" text-anchor="end" '
                       f'style="fill:#fff;font-weight:600">{_e(shown)}</text>')
        else:
            out.append(f'<text class="{"bad" if drifted else "val"}" x="{_c(x0 + w + 5)}" '
                       f'y="{_c(y0 + row / 2 + 4)}">{_e(shown)}</text>')
        if thr is not None and len(thresholds) > 1:
            tx = x(thr)
            out.append(f'<line class="threshold" x1="{_c(tx)}" x2="{_c(tx)}" y1="{_c(y0 + 2)}" '
                       f'y2="{_c(y0 + row - 2)}" stroke="{INK}" stroke-width="2"><title>threshold '
                       f"{_e(fmt_num(thr))}</title></line>")
        out.append(f'<text x="{_c(width - mr + 10)}" y="{_c(y0 + row / 2 + 4)}">'
                   f"{_e(_clip(_plain(c.get('method', '')), 18))}</text>")
    if len(thresholds) == 1 and None not in thresholds:
        thr = next(iter(thresholds))
        assert thr is not None
        tx = x(thr)
        out.append(f'<line class="threshold" x1="{_c(tx)}" x2="{_c(tx)}" y1="{_c(mt - 4)}" y2="{_c(height - mb)}" '
                   f'stroke="{INK}" stroke-width="1.5" stroke-dasharray="4 3"/>'
                   f'<text class="lbl" x="{_c(tx)}" y="{_c(mt - 8)}" text-anchor="middle">'
                   f"threshold {_e(fmt_num(thr))}</text>")
    out.append(f'<text x="{_c(width - mr + 10)}" y="{_c(mt - 8)}" class="lbl">method</text>')
    out.append("</svg>")
    return "".join(out)


def _check_series(results: Sequence[dict[str, Any]]) -> tuple[list[str], list[dict[str, dict[str, Any]]]]:
    """Check names in order of first appearance, and per result its checks by name (repeated names numbered)."""
    names: list[str] = []
    seen: set[str] = set()
    per: list[dict[str, dict[str, Any]]] = []
    for r in results:
        mine: dict[str, dict[str, Any]] = {}
        for ch in r.get("checks") or []:
            base = _plain(ch.get("name"))
            key, k = base, 1
            while key in mine:
                k += 1
                key = f"{base} ({k})"
            mine[key] = ch
            if key not in seen:
                seen.add(key)
                names.append(key)
        per.append(mine)
    return names, per


def _result_label(r: dict[str, Any]) -> str:
    v = r.get("table_version")
    return f"v{_plain(v)}" if v is not None else f"#{_plain(r.get('id'))}"


def _results_chart(results: Sequence[dict[str, Any]], names: Sequence[str],
                   per: Sequence[dict[str, dict[str, Any]]]) -> str:
    """Failing rows per check (one line each) across the results, oldest first; pass/fail marks below."""
    n = len(results)
    width, height, ml, mr, mt, mb = 1100.0, 270.0, 64.0, 18.0, 14.0, 58.0
    pw = width - ml - mr
    top_value = max([_finite(ch.get("failing")) or 0.0 for m in per for ch in m.values()] + [0.0])
    top, yt = _nice_max(top_value, 5, integer=True)
    y = _Lin(0.0, top, height - mb, mt)

    def xc(i: int) -> float:
        return ml + (i + 0.5) * pw / max(n, 1)

    out = [_svg_open("plot-results", width, height, "Failing rows per check across validation results")]
    _y_grid(out, yt, y, ml, width - mr, fmt_num)
    out.append(f'<text x="14" y="{_c(mt + (height - mb - mt) / 2)}" text-anchor="middle" '
               f'transform="rotate(-90 14 {_c(mt + (height - mb - mt) / 2)})">failing rows</text>')
    every = max(1, math.ceil(n / max(int(pw / 48), 1)))
    labelled = set(range(0, n, every))
    if n and n - 1 not in labelled:  # the newest is always labelled, its neighbour gives way
        labelled.discard(max(labelled))
        labelled.add(n - 1)
    out.append('<g class="axis">')
    out.append(f'<line x1="{_c(ml)}" x2="{_c(width - mr)}" y1="{_c(height - mb)}" y2="{_c(height - mb)}"/>')
    for i, r in enumerate(results):
        if i in labelled:
            out.append(f'<text x="{_c(xc(i))}" y="{_c(height - mb + 15)}" text-anchor="middle">'
                       f"{_e(_clip(_result_label(r), 9))}</text>")
        passed = bool(r.get("passed"))
        tip = (f"result #{_plain(r.get('id'))} ({_result_label(r)}): {'passed' if passed else 'failed'}, "
               f"action {_plain(r.get('action'))}, {fmt_num(r.get('rows'))} rows")
        mark_w = min(12.0, pw / max(n, 1) * 0.6)
        out.append(f'<rect class="status" x="{_c(xc(i) - mark_w / 2)}" y="{_c(height - mb + 24)}" '
                   f'width="{_c(mark_w)}" height="7" rx="2" fill="{GOOD if passed else BAD}">'
                   f"<title>{_e(tip)}</title></rect>")
    out.append(f'<text x="{_c(ml - 6)}" y="{_c(height - mb + 31)}" text-anchor="end">status</text>')
    out.append("</g>")
    for k, name in enumerate(names):
        colour = SERIES[k % len(SERIES)]
        dash = "" if k < len(SERIES) else ' stroke-dasharray="5 3"'
        out.append(f'<g class="series" data-check="{_e(name)}">')
        segment: list[str] = []
        segments: list[list[str]] = []
        points: list[str] = []
        for i, m in enumerate(per):
            ch = m.get(name)
            failing = _finite(ch.get("failing")) if ch is not None else None
            if ch is None or failing is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            px, py = xc(i), y(failing)
            segment.append(f"{_c(px)},{_c(py)}")
            rows = ch.get("rows")
            share = f" ({fmt_pct(failing / rows)})" if _is_number(rows) and rows else ""
            tip = (f"{name} · {_result_label(results[i])}: {fmt_num(failing)} failing of {fmt_num(rows)} rows{share}"
                   f" — {'passed' if ch.get('passed') else 'failed'}")
            fill = colour if failing > 0 else "#fff"
            points.append(f'<circle cx="{_c(px)}" cy="{_c(py)}" r="3.5" fill="{fill}" stroke="{colour}" '
                          f'stroke-width="1.8"><title>{_e(tip)}</title></circle>')
        if segment:
            segments.append(segment)
        for seg in segments:
            if len(seg) > 1:
                out.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{colour}" stroke-width="2" '
                           f'stroke-linejoin="round"{dash}/>')
        out.extend(points)
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _profile_hist(name: str, hist: dict[str, Any], ends: tuple[Any, Any] = (None, None)) -> str:
    """Counts per bin; a temporal histogram (``unit: "epoch"``) labels its ends with ``ends`` (min, max)."""
    edges = list(hist.get("edges") or [])
    counts = list(hist.get("counts") or [])
    n = max(min(len(edges) - 1, len(counts)), 0)
    xs, by_index = _bin_positions(edges, n)
    values = [max(_finite(c) or 0.0, 0.0) for c in counts[:n]]
    width, height, ml, mr, mt, mb = 240.0, 120.0, 40.0, 10.0, 8.0, 22.0
    top, yt = _nice_max(max([*values, 0.0]) or 1.0, 3, integer=True)
    y = _Lin(0.0, top, height - mb, mt)
    x = _Lin(xs[0] if xs else 0.0, xs[-1] if xs else 1.0, ml, width - mr)
    out = [_svg_open("plot-profile plot-profile-hist", width, height, f"Histogram of {name}")]
    _y_grid(out, yt, y, ml, width - mr, lambda t: fmt_num(t, 3))
    out.append(f'<g fill="{CUR}" fill-opacity="0.7">')
    for i in range(n):
        x0, x1, y0 = x(xs[i]), x(xs[i + 1]), y(values[i])
        tip = f"[{_plain(edges[i])}, {_plain(edges[i + 1])}): {fmt_num(counts[i])} rows"
        out.append(f'<rect x="{_c(x0 + 0.4)}" y="{_c(y0)}" width="{_c(max(x1 - x0 - 0.8, 0.6))}" '
                   f'height="{_c(height - mb - y0)}"><title>{_e(tip)}</title></rect>')
    out.append("</g>")
    out.append(f'<g class="axis"><line x1="{_c(ml)}" x2="{_c(width - mr)}" y1="{_c(height - mb)}" '
               f'y2="{_c(height - mb)}"/>')
    if n and hist.get("unit") == "epoch":
        for t, v, anchor in ((xs[0], ends[0], "start"), (xs[-1], ends[1], "end")):
            if v is not None:
                out.append(f'<text x="{_c(x(t))}" y="{_c(height - mb + 14)}" text-anchor="{anchor}">'
                           f"{_e(_short_time(_plain(v)))}</text>")
    elif n and not by_index:
        for t in _nice_ticks(xs[0], xs[-1], 4):
            out.append(f'<text x="{_c(x(t))}" y="{_c(height - mb + 14)}" text-anchor="middle">'
                       f"{_e(fmt_num(t, 3))}</text>")
    elif n:
        for i in (0, n):
            out.append(f'<text x="{_c(x(float(i)))}" y="{_c(height - mb + 14)}" text-anchor="middle">'
                       f"{_e(_clip(_plain(edges[i]), 10))}</text>")
    out.append("</g></svg>")
    return "".join(out)


def _profile_top(name: str, top_values: Sequence[dict[str, Any]]) -> str:
    items = [t for t in top_values if isinstance(t, dict)][:8]
    counts = [max(_finite(t.get("count")) or 0.0, 0.0) for t in items]
    width, ml, mr, mt, mb, row = 240.0, 84.0, 44.0, 4.0, 6.0, 18.0
    height = mt + max(len(items), 1) * row + mb
    x = _Lin(0.0, max([*counts, 0.0]) or 1.0, ml, width - mr)
    out = [_svg_open("plot-profile plot-profile-top", width, height, f"Most frequent values of {name}")]
    for i, (t, cnt) in enumerate(zip(items, counts, strict=True)):
        y0 = mt + i * row
        label = _plain(t.get("value"))
        out.append(f'<text class="lbl" x="{_c(ml - 6)}" y="{_c(y0 + row / 2 + 3.5)}" text-anchor="end">'
                   f"<title>{_e(label)}</title>{_e(_clip(label, int((ml - 10) / CHAR_W)))}</text>"
                   f'<rect x="{_c(ml)}" y="{_c(y0 + 3)}" width="{_c(max(x(cnt) - ml, 0.0))}" height="{_c(row - 6)}" '
                   f'rx="1.5" fill="{CUR}" fill-opacity="0.7"><title>{_e(label)}: {_e(fmt_num(t.get("count")))}'
                   f"</title></rect>"
                   f'<text class="val" x="{_c(x(cnt) + 4)}" y="{_c(y0 + row / 2 + 3.5)}">'
                   f"{_e(fmt_num(t.get('count')))}</text>")
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------- sections

def _pill(text: str, kind: str) -> str:
    return f'<span class="pill {kind}">{_e(text)}</span>'


def _kpi(label: str, value: str, sub: str, kind: str = "") -> str:
    return (f'<div class="kpi {kind}"><div class="label">{_e(label)}</div><div class="value">{value}</div>'
            f'<div class="sub">{sub}</div></div>')


def _kpis(report: dict[str, Any]) -> str:
    tiles: list[str] = []
    drift = report.get("drift")
    if isinstance(drift, dict):
        ds = drift.get("dataset") or {}
        drifted = bool(ds.get("drifted"))
        tiles.append(_kpi("Dataset drift", "Drift detected" if drifted else "No drift",
                          f"{fmt_num(ds.get('drifted_columns'))} of {fmt_num(ds.get('columns'))} columns drifted "
                          f"({fmt_pct(ds.get('share'))})", "bad" if drifted else "good"))
        ref, cur = drift.get("reference") or {}, drift.get("current") or {}
        tiles.append(_kpi("Compared", f"{fmt_num(ref.get('rows'))} → {fmt_num(cur.get('rows'))}",
                          f"rows · {_val(ref.get('ref'), 30)} → {_val(cur.get('ref'), 30)}"))
    results = report.get("results")
    if isinstance(results, list) and results:
        last = results[-1]
        passed = bool(last.get("passed"))
        checks = last.get("checks") or []
        failed = sum(1 for c in checks if not c.get("passed"))
        tiles.append(_kpi("Latest validation", "Passed" if passed else "Failed",
                          f"{_e(_result_label(last))} · {len(checks) - failed} of {len(checks)} checks passed · "
                          f"action {_val(last.get('action'), 20)}", "good" if passed else "bad"))
        n_pass = sum(1 for r in results if r.get("passed"))
        tiles.append(_kpi("Validation history", f"{n_pass} / {len(results)}",
                          f"results passed ({fmt_pct(n_pass / len(results))})"))
    profile = report.get("profile")
    if isinstance(profile, dict):
        cols = profile.get("columns") or []
        tiles.append(_kpi("Profile", f"{fmt_num(profile.get('rows'))} rows",
                          f"{len(cols)} columns · {_val(profile.get('target'), 40)}"))
    return f'<div class="kpis">{"".join(tiles)}</div>' if tiles else ""


def _stats_list(items: Iterable[tuple[str, str]]) -> str:
    body = "".join(f'<dt title="{_e(k)}">{_e(k)}</dt><dd>{v}</dd>' for k, v in items)
    return f'<dl class="stats">{body}</dl>' if body else ""


def _drift_section(drift: dict[str, Any]) -> str:
    ds = drift.get("dataset") or {}
    ref, cur = drift.get("reference") or {}, drift.get("current") or {}
    columns = [c for c in drift.get("columns") or [] if isinstance(c, dict)]
    drifted = bool(ds.get("drifted"))
    verdict = "Dataset drift detected" if drifted else "No dataset drift"
    parts = [f'<section class="block" id="drift"><h2>Drift <small>{_val(ref.get("ref"), 60)} '
             f'({fmt_num(ref.get("rows"))} rows) → {_val(cur.get("ref"), 60)} ({fmt_num(cur.get("rows"))} rows)'
             "</small></h2>",
             f'<div class="banner {"bad" if drifted else "good"}"><strong>{verdict}</strong>'
             f"<span>{fmt_num(ds.get('drifted_columns'))} of {fmt_num(ds.get('columns'))} columns drifted "
             f"({fmt_pct(ds.get('share'))}); the dataset drifts when the share reaches "
             f"{fmt_pct(ds.get('threshold'))}.</span></div>"]
    if columns:
        parts.append('<div class="card"><h3>Drift score per column</h3>'
                     '<div class="legend"><span><i class="sw bad"></i>drifted</span>'
                     '<span><i class="sw ok"></i>not drifted</span>'
                     '<span><i class="sw line"></i>threshold</span></div>'
                     f"{_drift_scores(columns)}</div>")
        parts.append('<div class="legend"><span><i class="sw ref"></i>reference</span>'
                     '<span><i class="sw cur"></i>current</span>'
                     '<span class="muted">bars are shares of each side\'s non-null rows</span></div>')
        ordered = [c for c in columns if c.get("drifted")] + [c for c in columns if not c.get("drifted")]
        cards = [_drift_card(c) for c in ordered]
        parts.append(f'<div class="grid">{"".join(cards)}</div>')
    else:
        parts.append('<div class="card empty">No columns were compared.</div>')
    parts.append("</section>")
    return "".join(parts)


def _drift_card(c: dict[str, Any]) -> str:
    name = _plain(c.get("column"))
    drifted = bool(c.get("drifted"))
    kind = _plain(c.get("kind", ""))
    head = (f'<div class="colhead"><h3 title="{_e(name)}">{_e(name)}</h3><span>{_pill(kind, "neutral")} '
            f'{_pill("drifted", "bad") if drifted else _pill("ok", "good")}</span></div>')
    meta = (f'<div class="colmeta">{_e(_plain(c.get("method", "")))} <b>{_e(fmt_num(c.get("score")))}</b> '
            f'· threshold {_e(fmt_num(c.get("threshold")))}</div>')
    hist, cats = c.get("histogram"), c.get("categories")
    if isinstance(hist, dict):
        plot = _numeric_hist(name, hist)
    elif isinstance(cats, dict):
        plot = _categorical_hist(name, cats)
    else:
        plot = '<div class="empty">no distribution to plot</div>'
    items = [("rows (ref → cur)", f"{fmt_num(c.get('reference_rows'))} → {fmt_num(c.get('current_rows'))}"),
             ("nulls (ref → cur)", f"{fmt_num(c.get('reference_nulls'))} → {fmt_num(c.get('current_nulls'))}")]
    stats = c.get("stats") or {}
    if isinstance(stats, dict):
        items += [(_plain(k), _e(fmt_num(v) if v is None or _is_number(v) else _clip(_plain(v), 30)))
                  for k, v in stats.items()]
    return f'<div class="card">{head}{meta}{plot}{_stats_list(items)}</div>'


def _samples(samples: Sequence[Any]) -> str:
    rows = [s for s in samples if isinstance(s, dict)][:5]
    if not rows:
        return '<span class="muted">—</span>'
    cols: list[str] = []
    for s in rows:
        for k in s:
            if k not in cols:
                cols.append(k)
    cols = cols[:8]
    head = "".join(f"<th>{_e(_clip(_plain(k), 24))}</th>" for k in cols)
    body = "".join("<tr>" + "".join(f"<td>{_val(s.get(k), 28)}</td>" for k in cols) + "</tr>" for s in rows)
    more = f" of {len(samples)}" if len(samples) > len(rows) else ""
    return (f"<details open><summary>{len(rows)}{more} sample row{'s' if len(rows) != 1 else ''}</summary>"
            f'<table class="samples"><tr>{head}</tr>{body}</table></details>')


def _results_section(results: list[dict[str, Any]]) -> str:
    results = [r for r in results if isinstance(r, dict)]
    if not results:
        return ('<section class="block" id="results"><h2>Validation</h2>'
                '<div class="card empty">No validation results yet.</div></section>')
    names, per = _check_series(results)
    tables = sorted({_plain(r.get("table")) for r in results})
    legend = "".join(f'<span><i class="sw" style="background:{SERIES[k % len(SERIES)]}"></i>{_e(n)}</span>'
                     for k, n in enumerate(names))
    parts = [f'<section class="block" id="results"><h2>Validation <small>{_e(", ".join(tables))} · '
             f"{len(results)} result{'s' if len(results) != 1 else ''}</small></h2>",
             '<div class="card"><h3>Failing rows per check</h3>'
             '<div class="hint">One line per check across results, oldest first (x: table version, or result id);'
             ' filled points have failing rows; the marks below the axis are each result\'s verdict.</div>'
             f'<div class="legend">{legend}</div>{_results_chart(results, names, per)}</div>']
    last = results[-1]
    passed = bool(last.get("passed"))
    rows = []
    for ch in last.get("checks") or []:
        ok = bool(ch.get("passed"))
        failing, total = ch.get("failing"), ch.get("rows")
        share = fmt_pct(failing / total) if _is_number(failing) and _is_number(total) and total else "—"
        rows.append(f"<tr><td>{_pill('pass', 'good') if ok else _pill('fail', 'bad')}</td>"
                    f'<td class="name">{_e(_plain(ch.get("name")))}</td><td>{_val(ch.get("kind"), 24)}</td>'
                    f"<td>{_val(ch.get('column'), 32)}</td>"
                    f'<td class="num">{_e(fmt_num(failing))}</td><td class="num">{_e(fmt_num(total))}</td>'
                    f'<td class="num">{_e(share)}</td><td class="detail">{_val(ch.get("detail"), 160)}</td>'
                    f"<td>{_samples(ch.get('samples') or [])}</td></tr>")
    body = "".join(rows) or '<tr><td colspan="9" class="empty">no checks</td></tr>'
    parts.append(f'<div class="card"><h3>Latest result · #{_e(_plain(last.get("id")))} · '
                 f"{_e(_plain(last.get('table')))} {_e(_result_label(last))} "
                 f"{_pill('passed', 'good') if passed else _pill('failed', 'bad')}</h3>"
                 f'<div class="hint">contract v{_e(_plain(last.get("contract_version")))} · action '
                 f'{_val(last.get("action"), 20)} · {_e(fmt_num(last.get("rows")))} rows · '
                 f'{_val(last.get("created_at"), 40)}</div>'
                 '<div class="tablewrap"><table class="data"><tr><th>status</th><th>check</th><th>kind</th>'
                 '<th>column</th><th class="num">failing</th><th class="num">rows</th><th class="num">share</th>'
                 f"<th>detail</th><th>samples</th></tr>{body}</table></div></div>")

    def history_row(r: dict[str, Any]) -> str:
        checks = r.get("checks") or []
        failed = sum(1 for c in checks if not c.get("passed"))
        ok = bool(r.get("passed"))
        return (f'<tr><td class="num">#{_e(_plain(r.get("id")))}</td><td>{_val(r.get("table"), 30)}</td>'
                f'<td class="num">{_e(fmt_num(r.get("table_version")))}</td>'
                f'<td class="num">{_e(fmt_num(r.get("contract_version")))}</td>'
                f"<td>{_val(r.get('created_at'), 32)}</td><td class=\"num\">{_e(fmt_num(r.get('rows')))}</td>"
                f"<td>{_val(r.get('action'), 20)}</td>"
                f"<td>{_pill('passed', 'good') if ok else _pill('failed', 'bad')}</td>"
                f'<td class="num">{failed} / {len(checks)}</td></tr>')

    newest = list(reversed(results))
    head = ('<tr><th class="num">result</th><th>table</th><th class="num">version</th><th class="num">contract</th>'
            '<th>created</th><th class="num">rows</th><th>action</th><th>verdict</th>'
            '<th class="num">failed checks</th></tr>')
    shown = "".join(history_row(r) for r in newest[:10])
    older = ""
    if len(newest) > 10:
        older = (f"<details><summary>{len(newest) - 10} older results</summary><div class=\"tablewrap\">"
                 f'<table class="data">{head}{"".join(history_row(r) for r in newest[10:])}</table></div></details>')
    parts.append('<div class="card"><h3>History <small class="muted">newest first</small></h3>'
                 f'<div class="tablewrap"><table class="data">{head}{shown}</table></div>{older}</div>')
    parts.append("</section>")
    return "".join(parts)


def _q(col: dict[str, Any], key: str) -> Any:
    q = col.get("quantiles")
    return q.get(key) if isinstance(q, dict) else None


def _profile_section(profile: dict[str, Any]) -> str:
    cols = [c for c in profile.get("columns") or [] if isinstance(c, dict)]
    parts = [f'<section class="block" id="profile"><h2>Profile <small>{_val(profile.get("target"), 60)} · '
             f'{_e(fmt_num(profile.get("rows")))} rows · {len(cols)} columns</small></h2>']
    cards = []
    for c in cols:
        name = _plain(c.get("name"))
        hist, top = c.get("histogram"), c.get("top")
        if isinstance(hist, dict) and hist.get("counts"):
            plot = _profile_hist(name, hist, (c.get("min"), c.get("max")))
        elif isinstance(top, list) and top:
            plot = _profile_top(name, top)
        else:
            continue
        approx = "≈" if c.get("distinct_approx") else ""
        cards.append(f'<div class="card"><div class="colhead"><h3 title="{_e(name)}">{_e(name)}</h3>'
                     f'{_pill(_plain(c.get("type", "")), "neutral")}</div>'
                     f'<div class="colmeta">nulls <b>{_e(fmt_pct(c.get("null_fraction")))}</b> · distinct '
                     f"<b>{approx}{_e(fmt_num(c.get('distinct')))}</b></div>{plot}</div>")
    if cards:
        parts.append(f'<div class="grid small">{"".join(cards)}</div>')
    rows = []
    for c in cols:
        nf = _finite(c.get("null_fraction"))
        null_cls = ' style="color:var(--bad);font-weight:600"' if nf is not None and nf >= 0.5 else ""
        approx = "≈" if c.get("distinct_approx") else ""
        cells = [f'<td class="name">{_e(_plain(c.get("name")))}</td><td><code>{_val(c.get("type"), 30)}</code></td>',
                 f'<td class="num">{_e(fmt_num(c.get("count")))}</td>',
                 f'<td class="num"{null_cls}>{_e(fmt_num(c.get("nulls")))} '
                 f'<span class="muted">({_e(fmt_pct(c.get("null_fraction")))})</span></td>',
                 f'<td class="num">{approx}{_e(fmt_num(c.get("distinct")))}</td>']
        for v in (c.get("mean"), c.get("std"), c.get("min"), _q(c, "0.01"), _q(c, "0.25"), _q(c, "0.5"),
                  _q(c, "0.75"), _q(c, "0.99"), c.get("max")):
            cells.append(f'<td class="num">{_val(v, 22)}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = "".join(f'<th class="num">{h}</th>' for h in ("count", "nulls", "distinct", "mean", "std", "min", "p1",
                                                           "p25", "median", "p75", "p99", "max"))
    if not cols:
        parts.append('<div class="card empty">No columns were profiled.</div></section>')
        return "".join(parts)
    parts.append('<div class="card"><h3>Column statistics</h3><div class="tablewrap"><table class="data">'
                 f"<tr><th>column</th><th>type</th>{head}</tr>{''.join(rows)}</table></div></div>")
    parts.append("</section>")
    return "".join(parts)


def _performance_chart(rows: Sequence[dict[str, Any]], metrics: Sequence[str]) -> str:
    """One line per metric across the periods."""
    n = len(rows)
    width, height, ml, mr, mt, mb = 1100.0, 230.0, 64.0, 18.0, 14.0, 34.0
    pw = width - ml - mr
    values = [v for r in rows for m in metrics if (v := _finite(r.get(m))) is not None]
    lo = min([0.0, *values])
    top, yt = _nice_max(max([*values, 0.0]) or 1.0, 5)
    if lo < 0:
        yt = _nice_ticks(lo, top, 6)
        lo = min(lo, yt[0]) if yt else lo
    y = _Lin(lo, top, height - mb, mt)

    def xc(i: int) -> float:
        return ml + (i + 0.5) * pw / max(n, 1)

    out = [_svg_open("plot-performance", width, height, "Model performance per period")]
    _y_grid(out, yt, y, ml, width - mr, lambda t: fmt_num(t, 3))
    every = max(1, math.ceil(n / max(int(pw / 90), 1)))
    out.append(f'<g class="axis"><line x1="{_c(ml)}" x2="{_c(width - mr)}" y1="{_c(height - mb)}" '
               f'y2="{_c(height - mb)}"/>')
    for i, r in enumerate(rows):
        if i % every == 0:
            out.append(f'<text x="{_c(xc(i))}" y="{_c(height - mb + 15)}" text-anchor="middle">'
                       f"{_e(_short_time(_plain(r.get('period'))))}</text>")
    out.append("</g>")
    for k, m in enumerate(metrics):
        colour = SERIES[k % len(SERIES)]
        pts = [(i, v) for i, r in enumerate(rows) if (v := _finite(r.get(m))) is not None]
        out.append(f'<g class="series" data-metric="{_e(m)}">')
        if len(pts) > 1:
            line = " ".join(f"{_c(xc(i))},{_c(y(v))}" for i, v in pts)
            out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2" '
                       'stroke-linejoin="round"/>')
        for i, v in pts:
            tip = f"{m} {fmt_num(v)} · {_plain(rows[i].get('period'))} · {fmt_num(rows[i].get('rows'))} rows"
            out.append(f'<circle cx="{_c(xc(i))}" cy="{_c(y(v))}" r="3.5" fill="{colour}">'
                       f"<title>{_e(tip)}</title></circle>")
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _performance_section(performance: list[Any]) -> str:
    rows = [r for r in performance if isinstance(r, dict)]
    metrics: list[str] = []
    for r in rows:
        for k, v in r.items():
            if k not in ("period", "rows") and _is_number(v) and k not in metrics:
                metrics.append(k)
    parts = ['<section class="block" id="performance"><h2>Model performance '
             f"<small>{len(rows)} period{'s' if len(rows) != 1 else ''}</small></h2>"]
    if not rows or not metrics:
        parts.append('<div class="card empty">No labelled predictions to measure.</div></section>')
        return "".join(parts)
    legend = "".join(f'<span><i class="sw" style="background:{SERIES[k % len(SERIES)]}"></i>{_e(m)}</span>'
                     for k, m in enumerate(metrics))
    head = "".join(f'<th class="num">{_e(m)}</th>' for m in metrics)
    body = "".join(f"<tr><td>{_val(r.get('period'), 32)}</td><td class=\"num\">{_e(fmt_num(r.get('rows')))}</td>"
                   + "".join(f'<td class="num">{_e(fmt_num(r.get(m)))}</td>' for m in metrics) + "</tr>"
                   for r in reversed(rows[-12:]))
    parts.append(f'<div class="card"><h3>Per period</h3><div class="legend">{legend}</div>'
                 f"{_performance_chart(rows, metrics)}"
                 '<div class="tablewrap"><table class="data"><tr><th>period</th><th class="num">rows</th>'
                 f"{head}</tr>{body}</table></div></div></section>")
    return "".join(parts)


# --------------------------------------------------------------------------- page

def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no script, nothing fetched)."""
    title = _plain(report.get("title") or "Data quality report")
    created = report.get("created_at")
    lake = report.get("lake")
    drift, results, profile = report.get("drift"), report.get("results"), report.get("profile")
    meta = [f'<span>created <time datetime="{_e(_plain(created))}">{_e(_plain(created))}</time></span>'
            if created else ""]
    if report.get("model"):
        meta.append(f"<span>model <code>{_e(_plain(report['model']))}</code></span>")
    if lake:
        meta.append(f"<span>lake <code>{_e(_plain(lake))}</code></span>")
    nav = []
    body: list[str] = [_kpis(report)]
    if isinstance(drift, dict):
        nav.append('<a href="#drift">Drift</a>')
        body.append(_drift_section(drift))
    if isinstance(report.get("performance"), list):
        nav.append('<a href="#performance">Performance</a>')
        body.append(_performance_section(report["performance"]))
    if isinstance(results, list):
        nav.append('<a href="#results">Validation</a>')
        body.append(_results_section(results))
    if isinstance(profile, dict):
        nav.append('<a href="#profile">Profile</a>')
        body.append(_profile_section(profile))
    if len(body) == 1:
        body.append('<div class="card empty">This report holds no drift, performance, validation results '
                    "or profile.</div>")
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="lakebed">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>\n"
        '<body><header class="top"><div class="wrap"><div class="brand">lakebed · data quality</div>'
        f'<h1>{_e(title)}</h1><div class="meta">{"".join(meta)}</div><nav>{"".join(nav)}</nav></div></header>\n'
        f'<main class="wrap">{"".join(body)}</main>\n'
        '<footer>Made by lakebed · a self-contained page: no scripts, nothing loaded from the network</footer>'
        "</body></html>\n"
    )
