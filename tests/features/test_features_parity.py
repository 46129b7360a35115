"""Training–serving skew, property-based: for random events, a random materialization
time and later pushes, online reads at ``now`` equal the training set at ``now``."""

from __future__ import annotations

import math
from datetime import timedelta

import pyarrow as pa
import pytest
from features_helpers import T0, TX_SCHEMA, definitions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakebed

FEATURES = ["user_stats:amount", "user_stats:merchant", "user_spend:amount_sum_7d", "user_spend:amount_count_7d",
            "user_spend:amount_max_7d", "user_spend:n_items_sum_1d", "tx_ratio:amount_vs_now"]


@pytest.fixture(scope="module")
def parity_lake():
    with lakebed.connect(":memory:") as lake:
        lake.tables.create("silver.transactions", schema=TX_SCHEMA)
        lake.features.apply(list(definitions()))
        yield lake


events = st.lists(st.tuples(
    st.integers(0, 5),                                   # user
    st.integers(0, 24 * 12),                             # hour of the event
    st.integers(0, 3),                                   # created offset (s)
    st.one_of(st.none(), st.integers(1, 400).map(float)),  # amount
    st.integers(1, 5),                                   # n_items
), max_size=40, unique_by=lambda e: (e[0], e[1], e[2]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evs=events, split=st.integers(0, 24 * 12), after=st.integers(0, 24 * 10))
def test_online_equals_offline(parity_lake, evs, split, after):
    lake = parity_lake
    rows = [{"user_id": u, "ts": T0 + timedelta(hours=h), "amount": a,
             "created_at": T0 + timedelta(hours=h, seconds=c), "merchant": f"m{h % 3}", "n_items": n}
            for u, h, c, a, n in evs]
    table = pa.Table.from_pylist(rows, schema=TX_SCHEMA)
    lake.tables.write("silver.transactions", table, mode="overwrite")
    for view in ("user_stats", "user_spend"):
        lake.features.online_store.drop(view)
    cut = T0 + timedelta(hours=split)
    lake.features.materialize(end=cut)
    later = [r for r in rows if r["ts"] > cut]
    if later:  # events after the materialization reach the online store by push
        lake.features.push("user_stats", later, to="online")
        lake.features.push("user_spend", later, to="online")
    newest = max([r["ts"] for r in rows], default=cut)
    now = max(newest, cut) + timedelta(hours=after)
    users = list(range(7))
    ent = pa.table({"user_id": users, "event_timestamp": pa.array([now] * 7, pa.timestamp("us", tz="UTC")),
                    "amount_now": [50.0] * 7})
    off = lake.features.training_set(ent, FEATURES).to_arrow()
    on = lake.features.online([{"user_id": u, "amount_now": 50.0} for u in users], FEATURES, now=now)
    for name in off.column_names[3:]:
        for i, (a, b) in enumerate(zip(off[name].to_pylist(), on[name], strict=True)):
            if isinstance(a, float) and isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-12), (name, i)
            else:
                assert a == b, (name, i, a, b)
