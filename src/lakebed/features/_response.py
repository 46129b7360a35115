"""The answer of an online read: values and a status per feature. It depends on pyarrow
alone, so the HTTP client builds the same object as the embedded store."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

PRESENT = "present"
MISSING = "missing"
EXPIRED = "expired"


class OnlineResponse:
    """Feature values for entity rows: ``values`` (column -> list, join keys first) and
    ``statuses`` (feature column -> list of ``present``/``missing``/``expired``).

    Example:
        >>> r = OnlineResponse({"user_id": [1], "amount": [5.0]}, {"amount": ["present"]})
        >>> r["amount"], r.status("amount"), r.to_dict()
        ([5.0], ['present'], {'user_id': [1], 'amount': [5.0]})
    """

    __slots__ = ("statuses", "values")

    def __init__(self, values: dict[str, list[Any]], statuses: dict[str, list[str]]) -> None:
        self.values = values
        self.statuses = statuses

    def __getitem__(self, column: str) -> list[Any]:
        return self.values[column]

    def status(self, feature: str) -> list[str]:
        return self.statuses[feature]

    def __len__(self) -> int:
        return len(next(iter(self.values.values()))) if self.values else 0

    def to_dict(self, statuses: bool = False) -> dict[str, list[Any]]:
        """Columns of values; with ``statuses=True`` also ``<feature>__status`` columns."""
        out = dict(self.values)
        if statuses:
            for k, v in self.statuses.items():
                out[f"{k}__status"] = v
        return out

    def to_arrow(self, statuses: bool = False) -> pa.Table:
        return pa.table(self.to_dict(statuses))

    def to_pandas(self, statuses: bool = False) -> Any:
        return self.to_arrow(statuses).to_pandas()

    def __repr__(self) -> str:
        return f"<OnlineResponse {len(self)} rows, columns={list(self.values)}>"
