"""The HTML quality report opened in a real browser (headless Debian chromium, driven by its command line):
the plots are in the DOM, user strings stay text, nothing is fetched, and the page paints.

Without chromium these tests skip (``apt-get install chromium``), unless ``LAKEBED_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import struct
import subprocess
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lakebed.quality._report import render_html

HOSTILE = "<script>alert(1)</script>"
WIDTH, HEIGHT = 1280, 2400


# --------------------------------------------------------------------------- a realistic report

def _hist(rng: random.Random, mu: float, sigma: float, n: int, edges: list[float]) -> list[int]:
    counts = [0] * (len(edges) - 1)
    for _ in range(n):
        v = rng.gauss(mu, sigma)
        for i in range(len(counts)):
            if edges[i] <= v < edges[i + 1] or (i == len(counts) - 1 and v >= edges[-1]) or (i == 0 and v < edges[0]):
                counts[i] += 1
                break
    return counts


def _numeric(rng: random.Random, name: str, mu: float, sigma: float, shift: float, drifted: bool,
             score: float) -> dict[str, Any]:
    lo, hi = mu - 3 * sigma, mu + 3 * sigma + shift
    edges = [lo + (hi - lo) * i / 20 for i in range(21)]
    return {"column": name, "kind": "numeric", "method": "psi", "score": score, "threshold": 0.1,
            "drifted": drifted, "reference_rows": 5000, "current_rows": 4800, "reference_nulls": 12,
            "current_nulls": 40, "stats": {"reference_mean": mu, "current_mean": mu + shift,
                                           "reference_std": sigma, "current_std": sigma * 1.1, "ks_pvalue": None},
            "histogram": {"edges": edges, "reference": _hist(rng, mu, sigma, 1500, edges),
                          "current": _hist(rng, mu + shift, sigma * 1.1, 1400, edges)}}


def _categorical(name: str, labels: list[str], ref: list[int], cur: list[int], drifted: bool,
                 score: float) -> dict[str, Any]:
    return {"column": name, "kind": "categorical", "method": "jensenshannon", "score": score, "threshold": 0.1,
            "drifted": drifted, "reference_rows": sum(ref), "current_rows": sum(cur), "reference_nulls": 0,
            "current_nulls": 3, "stats": {"reference_categories": len(labels), "current_categories": len(labels)},
            "categories": {"labels": labels, "reference": ref, "current": cur}}


def build_report() -> dict[str, Any]:
    rng = random.Random(7)
    columns = [
        _numeric(rng, "amount", 120.0, 35.0, 40.0, True, 0.412),
        _numeric(rng, "latency_ms", 250.0, 60.0, 4.0, False, 0.031),
        _numeric(rng, "age", 41.0, 12.0, 0.5, False, 0.008),
        _numeric(rng, HOSTILE, 0.0, 1.0, 1.2, True, 0.27),
        _categorical("country", ["DE", "FR", "US", "GB", "NL", "ES"], [1800, 1200, 900, 600, 300, 200],
                     [1100, 1000, 1700, 500, 300, 200], True, 0.18),
        _categorical("channel", ["web", "ios", "android"], [2500, 1300, 1200], [2400, 1350, 1050], False, 0.02),
        _categorical("segment", [f"seg-{i}" for i in range(16)], [100 + 30 * i for i in range(16)],
                     [110 + 29 * i for i in range(16)], False, 0.015),
        {"column": "embedding", "kind": "embedding", "method": "mmd", "score": 0.05, "threshold": 0.1,
         "drifted": False, "reference_rows": 5000, "current_rows": 4800, "reference_nulls": 0, "current_nulls": 0,
         "stats": {"mean_cosine": 0.93}},
    ]
    drifted = sum(1 for c in columns if c["drifted"])
    checks_by_version = []
    for k, version in enumerate([3, 4, 5, 6, 7]):
        bad_amount = [0, 0, 14, 250, 1203][k]
        checks = [
            {"name": "amount_non_negative", "kind": "range", "column": "amount", "passed": bad_amount == 0,
             "failing": bad_amount, "rows": 5000 + 100 * k, "detail": "amount >= 0",
             "samples": [{"id": 10 + i, "amount": -1.5 * (i + 1), "country": "DE"} for i in range(min(bad_amount, 3))]},
            {"name": "id_unique", "kind": "unique", "column": "id", "passed": True, "failing": 0,
             "rows": 5000 + 100 * k, "detail": None, "samples": []},
            {"name": "country_in_set", "kind": "in_set", "column": "country", "passed": k != 3,
             "failing": [5, 0, 0, 31, 0][k], "rows": 5000 + 100 * k, "detail": "country in {DE, FR, US, GB, NL, ES}",
             "samples": [{"id": 99, "country": HOSTILE}] if k == 3 else []},
        ]
        if k >= 2:
            checks.append({"name": "latency_p99", "kind": "quantile", "column": "latency_ms", "passed": k != 4,
                           "failing": [0, 0, 2, 7, 40][k], "rows": 5000 + 100 * k,
                           "detail": "p99 latency below 900 ms", "samples": []})
        checks_by_version.append({
            "id": 100 + k, "table": "orders", "table_version": version, "contract_version": 2,
            "passed": all(c["passed"] for c in checks), "action": "quarantine" if k == 4 else "validate",
            "rows": 5000 + 100 * k, "created_at": f"2024-05-0{k + 1}T08:00:00+00:00", "checks": checks})
    profile_cols = [
        {"name": "amount", "type": "double", "count": 4800, "nulls": 40, "null_fraction": 40 / 4800,
         "distinct": 4123, "distinct_approx": True, "min": -12.5, "max": 512.25, "mean": 160.3, "std": 38.77,
         "quantiles": {"0.01": 70.1, "0.25": 133.0, "0.5": 158.9, "0.75": 185.2, "0.99": 260.4},
         "histogram": {"edges": [0, 50, 100, 150, 200, 250, 300], "counts": [40, 310, 1500, 1900, 800, 210]},
         "top": None},
        {"name": "country", "type": "string", "count": 4800, "nulls": 3, "null_fraction": 3 / 4800, "distinct": 6,
         "distinct_approx": False, "min": "DE", "max": "US", "mean": None, "std": None, "quantiles": None,
         "histogram": None, "top": [{"value": "US", "count": 1700}, {"value": "DE", "count": 1100},
                                    {"value": HOSTILE, "count": 7}]},
        {"name": "created", "type": "timestamp[us]", "count": 4800, "nulls": 0, "null_fraction": 0.0,
         "distinct": 4800, "distinct_approx": False, "min": "2024-05-01T00:00:00", "max": "2024-05-07T23:59:00",
         "mean": None, "std": None, "quantiles": None, "top": None,
         "histogram": {"edges": [1.7145216e15 + 86_400e6 * i for i in range(8)],
                       "counts": [610, 700, 680, 720, 650, 690, 750], "unit": "epoch"}},
        {"name": "note", "type": "string", "count": 4800, "nulls": 4500, "null_fraction": 4500 / 4800,
         "distinct": 300, "distinct_approx": False, "min": "a", "max": "zz", "mean": None, "std": None,
         "quantiles": None, "histogram": None, "top": None},
    ]
    return {
        "title": "orders — nightly quality", "created_at": "2024-05-07T09:00:00+00:00", "lake": "/data/lake",
        "drift": {"reference": {"ref": "orders@v3", "rows": 5000}, "current": {"ref": "orders@v7", "rows": 4800},
                  "dataset": {"drifted": True, "drifted_columns": drifted, "columns": len(columns),
                              "share": drifted / len(columns), "threshold": 0.25},
                  "columns": columns},
        "results": checks_by_version,
        "profile": {"target": "orders@v7", "rows": 4800, "columns": profile_cols},
    }


# --------------------------------------------------------------------------- a small DOM from the dump

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.text: list[str] = []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self) -> Any:
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str, cls: str | None = None) -> list[Node]:
        return [n for n in self.iter() if n.tag == tag and (cls is None or cls in n.classes)]

    def all_text(self) -> str:
        return "".join("".join(n.text) for n in self.iter())


class DomBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.cur.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.cur))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.cur
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.cur = node.parent

    def handle_data(self, data: str) -> None:
        self.cur.text.append(data)


def parse(markup: str) -> Node:
    builder = DomBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root


# --------------------------------------------------------------------------- PNG without Pillow

def png_info(path: Path, rows: int = 1000) -> tuple[int, int, int]:
    """Width, height and the number of distinct colours in the top ``rows`` rows of an 8-bit RGB(A) PNG
    (decoding every row of a 1280x2400 page in Python takes seconds; the top of the page has plenty)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = depth = ctype = 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", chunk[:10])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    assert depth == 8 and ctype in (2, 6), f"unexpected PNG format: depth {depth}, colour type {ctype}"
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev = np.zeros(stride, dtype=np.uint8)
    colours: set[bytes] = set()
    for y in range(min(rows, height)):  # undo the PNG row filters
        start = y * (stride + 1)
        ftype = raw[start]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=start + 1).copy()
        if ftype == 1:  # sub: a running sum per channel
            line = (line.reshape(width, bpp).astype(np.int64).cumsum(axis=0) & 255).astype(np.uint8).ravel()
        elif ftype == 2:  # up
            line += prev
        elif ftype in (3, 4):  # average, paeth: left to right
            cur, up = bytearray(line.tobytes()), prev.tobytes()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = up[i]
                if ftype == 3:
                    cur[i] = (cur[i] + (a + b) // 2) & 255
                else:
                    c = up[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            line = np.frombuffer(bytes(cur), dtype=np.uint8)
        if y % 4 == 0:
            colours.update(map(bytes, line.reshape(width, bpp)[:, :3]))
        prev = line
    return width, height, len(colours)


# --------------------------------------------------------------------------- chromium

def chromium() -> str:
    exe = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if exe is None:
        msg = "chromium is not installed: apt-get install chromium"
        if os.environ.get("LAKEBED_REQUIRE_SERVICES") == "1":
            pytest.fail(f"LAKEBED_REQUIRE_SERVICES=1 but {msg}")
        pytest.skip(msg)
    return exe


def chromium_cmd(exe: str, profile: Path, *args: str) -> list[str]:
    """A headless chromium command line with a profile of its own (so two can run at once)."""
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--mute-audio", "--hide-scrollbars", f"--user-data-dir={profile}", *args]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The report rendered to a file, its DOM after load in chromium, and a screenshot of it."""
    exe = chromium()
    tmp = tmp_path_factory.mktemp("report")
    report = build_report()
    page = tmp / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    shot = tmp / "report.png"
    procs = {  # both at once
        name: subprocess.Popen(chromium_cmd(exe, tmp / f"profile-{name}", *args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        for name, args in (("dom", ("--dump-dom", page.as_uri())),
                           ("shot", (f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri())))}
    outs = {}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        assert proc.returncode == 0, f"chromium ({name}) exited {proc.returncode}: {err[-2000:]}"
        outs[name] = out
    assert "<svg" in outs["dom"], f"no DOM dumped: {outs['dom'][:500]!r}"
    return {"report": report, "html": page.read_text(encoding="utf-8"), "dom": parse(outs["dom"]), "shot": shot}


# --------------------------------------------------------------------------- tests

def test_plots_are_in_the_loaded_dom(rendered: dict[str, Any]) -> None:
    report, dom = rendered["report"], rendered["dom"]
    columns = report["drift"]["columns"]
    with_dist = [c for c in columns if c.get("histogram") or c.get("categories")]
    svgs = dom.find_all("svg")
    assert all(s.find_all("title") for s in svgs), "every plot has a <title>"

    hists = dom.find_all("svg", "plot-hist")
    assert len(hists) == len(with_dist) == 7
    numeric = [h for h in hists if "plot-hist-numeric" in h.classes]
    assert len(numeric) == 4 and all(len(h.find_all("rect")) == 2 * 20 for h in numeric)

    scores = dom.find_all("svg", "plot-drift-scores")
    assert len(scores) == 1
    bars = [r for r in scores[0].find_all("rect") if "bar" in r.classes]
    assert len(bars) == len(columns)
    assert sum("bar-drifted" in b.classes for b in bars) == sum(c["drifted"] for c in columns)
    assert scores[0].find_all("line", "threshold"), "the threshold is marked"

    charts = dom.find_all("svg", "plot-results")
    assert len(charts) == 1
    series = charts[0].find_all("g", "series")
    assert len(series) == 4  # amount_non_negative, id_unique, country_in_set, latency_p99
    assert len(charts[0].find_all("circle")) == 3 * 5 + 3  # latency_p99 from the third result on
    assert len(charts[0].find_all("rect", "status")) == len(report["results"])

    profile_plots = dom.find_all("svg", "plot-profile")
    assert len(profile_plots) == 3  # amount, created (histograms) and country (top values); note has none


def test_key_text_and_escaping(rendered: dict[str, Any]) -> None:
    dom, markup = rendered["dom"], rendered["html"]
    text = dom.all_text()
    for expected in ("Dataset drift detected", "latency_ms", "country_in_set", "amount_non_negative",
                     "orders — nightly quality", "3 of 8 columns drifted", "1,203"):
        assert expected in text, expected
    assert HOSTILE in text, "the hostile column name is shown as text"
    assert not dom.find_all("script"), "no script element made it into the DOM"
    assert "<script" not in markup.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup


def test_screenshot_paints(rendered: dict[str, Any]) -> None:
    shot: Path = rendered["shot"]
    assert shot.exists() and shot.stat().st_size > 10_000
    width, height, colours = png_info(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    assert colours > 10, f"the screenshot looks blank ({colours} colours)"


def test_nothing_is_fetched() -> None:
    markup = render_html(build_report())
    without_ns = markup.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not re.search(r"https?://", without_ns, re.IGNORECASE), "no URL other than the SVG namespace"
    for external in ("<script", "<link", "<img", "<iframe", "<object", "@import", "url("):
        assert external not in markup.lower(), external
    assert "default-src 'none'" in markup  # the page forbids fetching anything itself


def test_deterministic_and_fast() -> None:
    report = build_report()
    rng = random.Random(1)
    extra = [_numeric(rng, f"feature_{i}", 10.0 * i, 1.0 + i, 0.3, i % 3 == 0, 0.01 * i) for i in range(20)]
    report["drift"]["columns"] = extra
    base = report["results"]
    report["results"] = [dict(base[i % len(base)], id=i, table_version=i) for i in range(50)]
    start = time.perf_counter()
    first = render_html(report)
    elapsed = time.perf_counter() - start
    assert render_html(report) == first
    assert elapsed < 0.5, f"rendering took {elapsed:.2f} s"
    assert first.count('<svg class="plot plot-hist') == 20


def test_sections_are_optional() -> None:
    markup = render_html({"title": "empty", "created_at": "2024-01-01T00:00:00Z", "lake": None,
                          "drift": None, "results": None, "profile": None})
    assert "<svg" not in markup and "no drift, performance, validation results" in markup
    report = build_report()
    only_results = render_html({**report, "drift": None, "profile": None})
    assert 'class="plot plot-results"' in only_results and "plot-hist" not in only_results


def test_model_performance() -> None:
    """A model monitor's report adds the model and its metrics per period."""
    performance = [{"period": f"2024-05-0{d}T00:00:00+00:00", "rows": 100 * d, "mae": 1.5 + d / 10,
                    "rmse": 2.0 + d / 8} for d in range(1, 6)]
    markup = render_html({**build_report(), "model": "fraud@3", "performance": performance})
    dom = parse(markup)
    charts = dom.find_all("svg", "plot-performance")
    assert len(charts) == 1 and len(charts[0].find_all("g", "series")) == 2
    assert len(charts[0].find_all("circle")) == 10
    assert "fraud@3" in dom.all_text() and "2024-05-03" in dom.all_text()
