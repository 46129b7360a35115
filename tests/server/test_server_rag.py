"""RAG through the server: the remote ``lake.rag`` answers as the embedded one on the same
documents (files read on the client, uploaded, parsed and embedded by the server), and the
``/v1/rag`` routes check keys, grants, names and sizes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import lakebed
from lakebed._wire import table_to_ipc

MD = "# Lakebed guide\n\nLakebed keeps versioned tables and vector collections in one lake.\n\n" \
     "## Hybrid search\n\nHybrid search fuses BM25 keyword ranking with vector similarity.\n"
TXT = "Release notes\n\nVersion 0.1 adds time travel on tables: read any earlier version.\n"
HTML = "<html><head><title>Feature store</title></head><body><h1>Feature store</h1>" \
       "<p>Point-in-time joins never leak values from the future.</p></body></html>"


def _folder(root: Path) -> Path:
    d = root / "docs"
    (d / "sub").mkdir(parents=True)
    (d / "guide.md").write_text(MD)
    (d / "notes.txt").write_text(TXT)
    (d / "sub" / "features.html").write_text(HTML)
    (d / "image.png").write_bytes(b"\x89PNG not a document")  # not a document: left out of a folder
    (d / "broken.pdf").write_bytes(b"%PDF-1.4 broken")  # reported failed, the run goes on
    return d


def _plain(value: Any, root: Path) -> Any:
    """``value`` with the folder's path and the timings taken out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v, root) for k, v in value.items() if k not in ("ingested_at", "seconds", "embed_seconds")}
    if isinstance(value, list | tuple):
        return [_plain(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(str(root.resolve()), "<root>")
    if isinstance(value, float):
        return round(value, 5)
    return value


def _script(lake: Any, root: Path) -> list[Any]:
    folder = _folder(root)
    out: list[Any] = []

    def step(fn: Any) -> None:
        try:
            result = fn()
        except lakebed.LakebedError as exc:
            result = ("error", type(exc).__name__)
        out.append(_plain(result, root))

    seen: list[tuple[int, int]] = []
    first = lake.rag.ingest(folder, embedder="hash", progress=lambda r, done, total: seen.append((done, total)))
    step(lambda: sorted((f.source, f.status, f.chunks, f.removed, f.error is None, f.content_hash)
                        for f in first.files))
    out.append((first.collection, first.version is not None, len(first.added), first.chunks, seen[-1]))
    step(lambda: lake.rag.documents())
    step(lambda: lake.rag.retrieve("which search fuses keyword ranking?", k=3))
    step(lambda: lake.rag.retrieve("time travel", k=2, mode="text"))
    step(lambda: lake.rag.retrieve("time travel", k=2, mode="vector", filter={"title": "Release notes"}))
    step(lambda: lake.rag.retrieve("time travel", k=2, fusion="weighted", alpha=0.3))
    step(lambda: lake.rag.retrieve("time travel", mode="vector", alpha=0.3))
    step(lambda: lake.rag.retrieve("time travel", collection="nope"))
    step(lambda: [c.citation for c in lake.rag.retrieve("feature store joins", k=2)])
    step(lambda: lake.rag.context("feature store joins", k=2))
    step(lambda: lake.rag.context("time travel", k=1, mode="text", filter={"title": "Release notes"}))
    step(lambda: lake.rag.ingest(folder, embedder="minilm"))  # the collection is bound to "hash"
    step(lambda: lake.rag.ingest(folder, collection="other", embedder="nope"))
    step(lambda: lake.rag.ingest(folder, chunk_size=10, overlap=10))
    (folder / "notes.txt").write_text(TXT + "\nVersion 0.2 adds compaction.\n")
    again = lake.rag.ingest([folder, root / "missing.md", str(folder / "*.nothing"), folder / "image.png"])
    step(lambda: sorted((f.source, f.status, f.chunks, f.error) for f in again.files if f.status != "failed")
         + sorted(f.source for f in again.failed))
    step(lambda: lake.rag.ingest(str(folder / "**" / "*.html")).skipped)
    step(lambda: lake.rag.remove([folder / "guide.md", folder / "nothing.md"]))
    step(lambda: lake.rag.remove(folder / "notes.txt"))
    step(lambda: [d["source"] for d in lake.rag.documents()])
    step(lambda: lake.rag.documents("nope"))
    step(lambda: lake.rag.ingest(root / "missing.md", collection="empty").summary().split(";")[0])
    step(lambda: lake.collections.exists("empty"))
    return out


def test_rag_congruence(served_any: Any, tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    (tmp_path / "r").mkdir()
    with lakebed.connect(":memory:") as embedded:
        expected = _script(embedded, tmp_path / "e")
    with lakebed.connect(served_any.url) as remote:
        got = _script(remote, tmp_path / "r")
    assert got == expected
    assert ["error", "NotFound"] in got and ["error", "InvalidArgument"] in got
    assert expected[1] == ("docs", True, 3, 4, (4, 4))  # 3 documents added, 4 chunks; progress per file


def test_remote_ingest_uploads_in_batches_and_reports_files_over_the_limit(
        served: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files go up in batches (here one file per request); a file over the upload limit is
    reported failed, read on the client only."""
    from lakebed.client import _rag as client_rag
    from lakebed.rag import ingest as rag_ingest

    folder = _folder(tmp_path)
    (folder / "big.txt").write_text("big words " * 200)
    monkeypatch.setattr(client_rag, "UPLOAD_BATCH_FILES", 1)
    monkeypatch.setattr(rag_ingest, "MAX_UPLOAD_BYTES", 1500)
    with lakebed.connect(served.url) as remote:
        report = remote.rag.ingest(folder, embedder="hash")
    assert sorted(report.added) == sorted(str(p.resolve()) for p in (folder / "guide.md", folder / "notes.txt",
                                                                       folder / "sub" / "features.html"))
    failed = {Path(f.source).name: f.error for f in report.failed}
    assert set(failed) == {"big.txt", "broken.pdf"} and "over the upload limit" in str(failed["big.txt"])
    assert [d["source"] for d in served.lake.rag.documents()] == sorted(report.added)


def _upload(rows: dict[str, Any]) -> bytes:
    return table_to_ipc(pa.table(rows))


def test_rag_routes_keys_grants_injection_and_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient
    from tests._injections import snapshot

    from lakebed.rag import ingest as rag_ingest
    from lakebed.server import create_app
    from lakebed.server import keys as key_store

    arrow = {"content-type": "application/vnd.apache.arrow.stream"}
    doc = _upload({"source": ["/kb/guide.md"], "data": pa.array([MD.encode()], pa.binary())})
    with lakebed.connect(tmp_path / "lake") as lake:
        keys = {
            "reader": key_store.create(lake, "reader", scopes=["read"]).secret,
            "writer": key_store.create(lake, "writer", scopes=["write"]).secret,
            "docs": key_store.create(lake, "docs", scopes=["write"], grants=["rag:docs"]).secret,
            "other": key_store.create(lake, "other", scopes=["write"], grants=["rag:other", "collections:docs"]).secret,
        }
        h = {name: {"Authorization": f"Bearer {secret}"} for name, secret in keys.items()}
        c = TestClient(create_app(lake))
        ingest = "/v1/rag/docs/ingest?embedder=hash"
        assert c.post(ingest, content=doc, headers=arrow).status_code == 401
        assert c.post(ingest, content=doc, headers={**arrow, **h["reader"]}).status_code == 403
        assert c.post(ingest, content=doc, headers={**arrow, **h["other"]}).status_code == 403
        assert not lake.collections.exists("docs")
        got = c.post(ingest, content=doc, headers={**arrow, **h["docs"]})
        assert got.status_code == 200 and [f["status"] for f in got.json()["files"]] == ["added"]
        question = {"question": "hybrid search", "k": 2}
        for method, url, body in (("POST", "/v1/rag/docs/retrieve", question),
                                  ("POST", "/v1/rag/docs/context", question),
                                  ("GET", "/v1/rag/docs/documents", None)):
            assert c.request(method, url, json=body).status_code == 401
            assert c.request(method, url, json=body, headers=h["other"]).status_code == 403
            assert c.request(method, url, json=body, headers=h["reader"]).status_code == 200
        hits = c.post("/v1/rag/docs/retrieve", json=question, headers=h["docs"]).json()
        assert hits[0]["source"] == "/kb/guide.md" and "Hybrid search" in hits[0]["text"]
        remove = {"sources": ["/kb/guide.md"]}
        assert c.post("/v1/rag/docs/remove", json=remove, headers=h["reader"]).status_code == 403
        assert c.post("/v1/rag/docs/remove", json=remove, headers=h["other"]).status_code == 403
        # a JSON upload of texts, as curl would send it
        text = {"rows": [{"source": "faq.txt", "text": "Refunds take five days."}]}
        got = c.post("/v1/rag/docs/ingest", json=text, headers=h["writer"])
        assert got.status_code == 200 and got.json()["files"][0]["status"] == "added"

        # the server never opens a path a client names: the source is a name, the bytes are the upload
        secret_file = tmp_path / "secret.txt"
        secret_file.write_text("the server's own secret")
        named = _upload({"source": [str(secret_file)], "data": pa.array([b"harmless upload"], pa.binary())})
        assert c.post(ingest, content=named, headers={**arrow, **h["writer"]}).status_code == 200
        texts = [x["text"] for x in c.post("/v1/rag/docs/retrieve", json={"question": "secret", "k": 10},
                                           headers=h["reader"]).json()]
        assert "harmless upload" in texts and not any("own secret" in t for t in texts)

        before = snapshot(lake.path)
        docs_before = lake.rag.documents()
        bad_uploads = [
            _upload({"source": ["a\n.md"], "data": pa.array([b"x"], pa.binary())}),
            _upload({"source": ["a\x00.md"], "data": pa.array([b"x"], pa.binary())}),
            _upload({"source": [""], "data": pa.array([b"x"], pa.binary())}),
            _upload({"source": ["x" * 5000 + ".md"], "data": pa.array([b"x"], pa.binary())}),
            _upload({"source": ["a.md", "a.md"], "data": pa.array([b"x", b"y"], pa.binary())}),
            _upload({"source": ["a.md"], "data": pa.array([None], pa.binary())}),
            _upload({"source": ["a.md"], "data": [1]}),
            _upload({"source": ["a.md"], "data": pa.array([b"x"], pa.binary()), "text": ["x"]}),
            _upload({"source": ["a.md"], "data": pa.array([b"x"], pa.binary()), "path": ["/etc/passwd"]}),
            _upload({"path": ["/etc/passwd"]}),
            b"not arrow",
        ]
        for body in bad_uploads:
            got = c.post(ingest, content=body, headers={**arrow, **h["writer"]})
            assert got.status_code == 400, got.text
        for name in ("..", "..%2F..%2Fetc", "-rf", "a b", "x" * 300):
            got = c.post(f"/v1/rag/{name}/ingest?embedder=hash", content=doc, headers={**arrow, **h["writer"]})
            assert got.status_code in (400, 404), (name, got.status_code)
        for embedder in ("hash-99999999", "../../model", "Hash", "hash-0", "x" * 100):
            got = c.post("/v1/rag/new/ingest", params={"embedder": embedder}, content=doc,
                         headers={**arrow, **h["writer"]})
            assert got.status_code in (400, 422), embedder
        for body in ({"question": "x", "k": 0}, {"question": "x", "k": 100_000}, {"question": "x" * 200_000},
                     {"question": "x", "mode": "sql"}, {"question": "x", "options": {"vector": [1.0]}},
                     {"question": "x", "options": {"alpha": 2}}, {"question": "x", "filter": {"$where": "1"}}):
            got = c.post("/v1/rag/docs/retrieve", json=body, headers=h["reader"])
            assert got.status_code in (400, 422), body
        assert c.post("/v1/rag/docs/remove", json={"sources": ["a\nb"]}, headers=h["writer"]).status_code == 400
        assert c.post("/v1/rag/docs/remove", json={"sources": ["x"] * 10_001},
                      headers=h["writer"]).status_code == 422
        monkeypatch.setattr(rag_ingest, "MAX_UPLOAD_BYTES", 100)
        big = _upload({"source": ["big.txt"], "data": pa.array([b"word " * 50], pa.binary())})
        assert c.post(ingest, content=big, headers={**arrow, **h["writer"]}).status_code == 400
        assert snapshot(lake.path) == before and lake.rag.documents() == docs_before


CLIENT = """
import pathlib
import lakebed

with lakebed.connect(ARGS[0]) as lake:
    report = lake.rag.ingest(pathlib.Path(ARGS[1]), embedder="hash")
    top = lake.rag.retrieve("hybrid search", k=1)[0]
    log = lake.predictions("fraud@1")
    log.write({"x": [1.0]}, [1], request_ids=["a"])
    joined = log.join_labels({"request_id": ["a"], "label": [0]})
    out = {"added": len(report.added), "title": top.title, "rows": joined.num_rows,
           "model": lake.models.load("fraud"), "env": len(lake.runs.get(lake.models.get("fraud").run_id).environment)}
print(json.dumps(out))
"""


def test_remote_rag_and_prediction_logs_need_neither_the_server_nor_the_engine(served: Any, tmp_path: Path) -> None:
    from tests._blocked import run_blocked

    with served.lake.runs.start() as run:
        run.log_model({"w": 1})
    served.lake.models.register("fraud", run=run)
    out = run_blocked(CLIENT, served.url, str(_folder(tmp_path)))
    assert out == {"added": 3, "title": "Lakebed guide", "rows": 1, "model": {"w": 1}, "env": out["env"], "loaded": []}
    assert out["env"] > 0 and served.lake.predictions("fraud").read().num_rows == 1
