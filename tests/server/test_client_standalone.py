"""The HTTP client stands alone: a process where the server stack (FastAPI, Starlette,
uvicorn, prometheus-client) and the engine (FAISS, DuckDB, Delta Lake, tantivy, torch)
cannot be imported still connects to ``lakebed serve`` and uses every area; and importing
the client loads none of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from tests._blocked import BLOCKED, run_blocked

from lakebed.features import Entity, FeatureView, Field

CLIENT = """
import numpy as np
import lakebed

out = {}
with lakebed.connect(ARGS[0]) as lake:
    out["tables"] = lake.tables.list()
    out["rows"] = lake.tables.read("bronze.events").num_rows
    out["sql"] = lake.sql("SELECT count(*) AS n FROM bronze.events").column("n")[0].as_py()
    lake.tables.write("bronze.events", [{"id": 9, "kind": "buy"}])
    out["version"] = lake.tables.version("bronze.events")
    col = lake.collections.open("docs")
    hits = col.search(np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32), k=2)
    out["hits"] = [h.id for h in hits]
    online = lake.features.online([{"user_id": 1}], ["user_stats:amount"])
    out["online"] = online["amount"]
    with lake.runs.start("exp", name="standalone") as run:
        run.log_metric("auc", 0.9)
    out["runs"] = len(lake.runs.search("metrics.auc > 0.5", experiment="exp"))
    out["streams"] = lake.streams.list()
    out["lineage"] = lake.lineage.upstream("table:bronze.events") is not None
print(json.dumps(out))
"""


def test_the_client_works_where_the_server_and_engine_cannot_be_imported(served: Any) -> None:
    lake = served.lake
    lake.tables.create("bronze.events", data=[{"id": 1, "kind": "view"}, {"id": 2, "kind": "view"}])
    col = lake.collections.create("docs", dim=4, metric="cosine")
    col.upsert([1, 2, 3], np.eye(4, dtype=np.float32)[:3])
    now = datetime.now(UTC)
    lake.tables.create("silver.tx", data=[{"user_id": 1, "amount": 5.0, "ts": now - timedelta(minutes=1)}])
    user = Entity("user", join_keys=["user_id"])
    lake.features.apply([user, FeatureView("user_stats", entities=[user], source="silver.tx", timestamp_field="ts",
                                           ttl=timedelta(days=1), fields=[Field("amount", "float64")])])
    lake.features.materialize(end=now)
    lake.streams.create("clicks", schema={"user_id": "int64"}, key="user_id")

    out = run_blocked(CLIENT, served.url)

    assert out["loaded"] == []
    assert out["tables"] == lake.tables.list()
    assert out["rows"] == 2 and out["sql"] == 2
    assert out["version"] == lake.tables.version("bronze.events") == 1
    assert out["hits"] == [h.id for h in col.search(np.array([1.0, 0, 0, 0], dtype=np.float32), k=2)]
    assert out["hits"][0] == 1
    assert out["online"] == [5.0]
    assert out["runs"] == 1 == len(lake.runs.search("metrics.auc > 0.5", experiment="exp"))
    assert out["streams"] == ["clicks"]
    assert out["lineage"] is True


def test_importing_the_client_loads_neither_the_server_nor_the_engine() -> None:
    code = """
    import lakebed, lakebed.client
    from lakebed.client import RemoteLake
    lake = lakebed.connect("http://127.0.0.1:9")   # nothing listens: no request is made
    areas = [type(getattr(lake, a)).__name__ for a in
             ("tables", "collections", "features", "streams", "quality", "runs", "models", "lineage", "rag")]
    print(json.dumps({"areas": areas}))
    """
    out = run_blocked(code, blocked=[])  # nothing blocked: what does importing load by itself?
    assert out["loaded"] == []
    assert all(name.startswith("Remote") for name in out["areas"]), out
    out = run_blocked(code, blocked=BLOCKED)   # and with all of it missing, the same
    assert out["areas"][0] == "RemoteTables" and out["loaded"] == []
