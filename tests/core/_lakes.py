"""Lake contents shared by the core tests."""

from __future__ import annotations

import datetime as dt

import lakebed
from lakebed.features import Entity, FeatureView, Field


def add_stats_view(lake: lakebed.Lake, ts: dt.datetime) -> None:
    """A table ``silver.tx`` (users 1 and 2 at ``ts``) and the feature view ``stats`` of its
    ``amount``, applied and materialized."""
    lake.tables.create("silver.tx", data=[{"user_id": 1, "amount": 2.5, "ts": ts},
                                          {"user_id": 2, "amount": 1.0, "ts": ts}])
    user = Entity("user", join_keys=["user_id"])
    view = FeatureView("stats", entities=[user], source="silver.tx", timestamp_field="ts",
                       fields=[Field("amount", "float64")])
    lake.features.apply([user, view])
    lake.features.materialize()
