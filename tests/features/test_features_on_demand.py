"""On-demand views: the same function offline and online, in every mode."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest
from features_helpers import T0, definitions

from lakebed.errors import InvalidArgument, SchemaError
from lakebed.features import Field, OnDemandFeatureView


def doubled_pandas(df):
    out = df[["amount"]].copy()
    out["amount_x2"] = df["amount"] * 2 + df["bonus"]
    return out[["amount_x2"]]


def doubled_python(cols):
    return {"amount_x2": [None if a is None else a * 2 + b for a, b in zip(cols["amount"], cols["bonus"],
                                                                         strict=True)]}


@pytest.mark.parametrize("mode, fn", [("pandas", doubled_pandas), ("python", doubled_python)])
def test_modes_agree_offline_and_online(tx_lake, mode, fn):
    lake = tx_lake
    _, stats, _, _ = definitions()
    odfv = OnDemandFeatureView("x2", sources=[stats[["amount"]]], udf=fn, mode=mode,
                               request_fields=[Field("bonus", "float64")], fields=[Field("amount_x2", "float64")])
    lake.features.apply([odfv])
    end = T0 + timedelta(days=20, hours=1)
    lake.features.materialize(end=end)
    users = list(range(30))
    ent = pa.table({"user_id": users, "event_timestamp": pa.array([end] * 30, pa.timestamp("us", tz="UTC")),
                    "bonus": [0.5] * 30})
    off = lake.features.training_set(ent, ["x2:amount_x2"])["amount_x2"].to_pylist()
    on = lake.features.online([{"user_id": u, "bonus": 0.5} for u in users], ["x2:amount_x2"], now=end)
    assert off == on["amount_x2"]
    assert any(v is not None for v in off)


def test_udf_errors_are_clear(tx_lake):
    lake = tx_lake
    _, stats, _, _ = definitions()

    def broken(t):
        raise RuntimeError("boom")

    def wrong_type(t):
        return {"y": pa.array(["a"] * t.num_rows)}

    ent = pa.table({"user_id": [1], "event_timestamp": pa.array([T0], pa.timestamp("us", tz="UTC"))})
    lake.features.apply([OnDemandFeatureView("b", sources=[stats[["amount"]]], udf=broken, fields=[Field("y")])])
    with pytest.raises(InvalidArgument, match="boom"):
        lake.features.training_set(ent, ["b:y"])
    lake.features.apply([OnDemandFeatureView("w", sources=[stats[["amount"]]], udf=wrong_type,
                                             fields=[Field("y", "float64")])])
    with pytest.raises(SchemaError):
        lake.features.training_set(ent, ["w:y"])
    # a changed function is a new version
    plan = lake.features.apply([OnDemandFeatureView("w", sources=[stats[["amount"]]], udf=doubled_python,
                                                    fields=[Field("y", "float64")])])
    assert [c.action for c in plan if c.name == "w"] == ["update"]
    # in a fresh registry (another process), a function that cannot be imported is a clear error
    lake.features.registry._udfs.clear()
    with pytest.raises(InvalidArgument, match="apply the view again"):
        lake.features.training_set(ent, ["b:y"])
    # a top-level function is found again by module and name
    ent = ent.append_column("amount_now", pa.array([1.0]))
    assert lake.features.training_set(ent, ["tx_ratio:big_spender"]).num_rows == 1
