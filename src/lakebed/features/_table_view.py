"""What a training set is besides its ``save``: an Arrow table (``.table``) with the calls
of one, and what it was made from (``.spec``). Shared by the embedded training set and the
HTTP client's; it depends on pyarrow alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa


class TrainingSetTable:
    """The read side of a training set: ``len``, ``[column]``, ``.schema``,
    ``.column_names``, ``.num_rows``, conversions and the Arrow PyCapsule stream protocol,
    plus the feature refs and the view and source versions it was made from.

    Example:
        >>> t = TrainingSetTable(pa.table({"user_id": [1, 2], "amount": [5.0, 7.5]}),
        ...                      {"features": ["user_stats:amount"], "view_versions": {"user_stats": 1},
        ...                       "source_versions": {"silver.tx": 3}})
        >>> len(t), t.column_names, t.view_versions
        (2, ['user_id', 'amount'], {'user_stats': 1})
    """

    def __init__(self, table: pa.Table, spec: dict[str, Any]) -> None:
        self.ref: str | None = None  # "table:<name>@<version>" once saved
        self.table = table
        self.spec = spec

    # -- the Arrow table --------------------------------------------------------------
    def to_arrow(self) -> pa.Table:
        return self.table

    def to_pandas(self, **kwargs: Any) -> Any:
        return self.table.to_pandas(**kwargs)

    def to_polars(self) -> Any:
        import polars as pl

        return pl.from_arrow(self.table)

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.table.__arrow_c_stream__(requested_schema)

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    @property
    def column_names(self) -> list[str]:
        return self.table.column_names

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def __len__(self) -> int:
        return self.table.num_rows

    def __getitem__(self, column: str | int) -> pa.ChunkedArray:
        return self.table[column]

    def __iter__(self) -> Iterator[pa.ChunkedArray]:
        return iter(self.table.columns)

    def __eq__(self, other: object) -> bool:
        """Equal to a training set (embedded or remote) or a table with the same rows."""
        if isinstance(other, TrainingSetTable):
            return self.table.equals(other.table)
        if isinstance(other, pa.Table):
            return self.table.equals(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    # -- what it was made from ----------------------------------------------------------
    @property
    def feature_refs(self) -> list[str]:
        return list(self.spec["features"])

    @property
    def view_versions(self) -> dict[str, int]:
        return dict(self.spec["view_versions"])

    @property
    def source_versions(self) -> dict[str, int]:
        return dict(self.spec["source_versions"])

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.num_rows} rows, features={self.feature_refs}, "
                f"views={self.view_versions}, sources={self.source_versions}>")
