from __future__ import annotations

import json
import random
import time
from typing import Any

import pyarrow as pa

from lakebed._wire import ARROW_STREAM, error_class, ipc_to_table, table_to_ipc
from lakebed.errors import BackendUnavailable, InvalidArgument, require


class Http:
    """A pooled HTTP session to a lakebed server: timeouts, retries with exponential
    backoff and jitter on idempotent calls, and errors mapped back to LakebedError classes."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0, retries: int = 3) -> None:
        httpx: Any = require("httpx", "server")
        headers = {"user-agent": "lakebed-client"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.url = url.rstrip("/")
        self.retries = retries
        self._httpx: Any = httpx
        self.client = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )

    def request(
        self, method: str, path: str, *, idempotent: bool | None = None, arrow: pa.Table | None = None,
        expect_arrow: bool = False, **kwargs: Any,
    ) -> Any:
        if arrow is not None:
            kwargs["content"] = table_to_ipc(arrow)
            kwargs.setdefault("headers", {})["content-type"] = ARROW_STREAM
        retry = method == "GET" if idempotent is None else idempotent
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                response = self.client.request(method, path, **kwargs)
            except (self._httpx.ConnectError, self._httpx.ReadError, self._httpx.RemoteProtocolError,
                    self._httpx.TimeoutException) as exc:
                if attempt + 1 < attempts:
                    time.sleep(min(2.0, 0.05 * 2**attempt) * (1 + random.random()))
                    continue
                raise BackendUnavailable(f"cannot reach the lakebed server at {self.url}: {exc}") from None
            if response.status_code in (502, 503, 504) and attempt + 1 < attempts:
                time.sleep(min(2.0, 0.05 * 2**attempt) * (1 + random.random()))
                continue
            return self._result(response, expect_arrow)
        raise AssertionError("unreachable")  # pragma: no cover

    def _result(self, response: Any, expect_arrow: bool) -> Any:
        if response.status_code >= 400:
            try:
                err = response.json()["error"]
                cls, message = error_class(err["type"], err.get("bases")), err["message"]
            except (ValueError, KeyError, TypeError):
                cls, message = BackendUnavailable, f"HTTP {response.status_code}: {response.text[:200]}"
            raise cls(message)
        if expect_arrow:
            return ipc_to_table(response.content)
        try:
            return response.json()
        except json.JSONDecodeError:
            raise InvalidArgument(f"the server sent no JSON: {response.text[:200]}") from None

    def close(self) -> None:
        self.client.close()
