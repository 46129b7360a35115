"""The server's JSON response encoding."""

from __future__ import annotations


def test_json_bytes_matches_the_json_module_rules() -> None:
    """The response encoder (orjson when installed) writes what the json-module path wrote:
    NaN and infinities as null, datetimes as isoformat, int keys as strings, and integers
    beyond 64 bits through the fallback."""
    import datetime
    import json

    from lakebed.server.routers._common import json_bytes

    payload = {
        "f": [1.5, float("nan"), float("inf"), -0.1],
        3: "int key",
        "t": datetime.datetime(2026, 1, 1, 12, 0, 0, 123),
        "tz": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        "d": datetime.date(2026, 1, 2),
        "big": 2**70,
        "nested": {"x": [True, None, "s"]},
    }
    assert json.loads(json_bytes(payload)) == {
        "f": [1.5, None, None, -0.1],
        "3": "int key",
        "t": "2026-01-01T12:00:00.000123",
        "tz": "2026-01-01T00:00:00+00:00",
        "d": "2026-01-02",
        "big": 2**70,
        "nested": {"x": [True, None, "s"]},
    }
