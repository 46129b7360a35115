"""Fixtures of the streams tests: every backend, against real servers."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["embedded", "nats", "redis"])
def streams_url(request: pytest.FixtureRequest) -> str | None:
    """Each streams backend: None (the embedded log), a NATS JetStream URL, a Redis URL."""
    if request.param == "embedded":
        return None
    if request.param == "nats":
        return str(request.getfixturevalue("nats_url"))
    return str(request.getfixturevalue("redis_url"))
