"""Schemathesis fuzzes every operation of the OpenAPI document: no input may cause a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

import lakebed
from lakebed.server import create_app


def _operations() -> list[str]:
    with lakebed.connect(":memory:") as lake:
        schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(lake))
        return sorted(op.ok().label for op in schema.get_all_operations())


@pytest.mark.slow
@pytest.mark.parametrize("label", _operations())
def test_no_server_errors(label: str) -> None:
    with lakebed.connect(":memory:") as lake:
        lake.tables.create("bronze.events", data=[{"id": 1, "kind": "view", "amount": 2.5}])
        lake.tables.create("silver.users", data=[{"id": 1, "name": "ada"}])
        app = create_app(lake, max_body_bytes=1024 * 1024)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        (operation,) = [op.ok() for op in schema.get_all_operations() if op.ok().label == label]

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case: Any) -> None:
            response = case.call()
            assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:500]}"

        fuzz()
