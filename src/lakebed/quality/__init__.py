"""Data quality: contracts enforced on writes, validation results tied to table versions,
column profiles, drift between any two datasets, model monitoring, and reports.

``lake.quality`` is the area object (:class:`Quality`); the checks are functions of this
module: :func:`not_null`, :func:`unique`, :func:`between`, :func:`isin`, :func:`matches`,
:func:`row_count`, :func:`freshness`, :func:`sql`. See docs/quality.md.

Example:
    >>> import lakebed
    >>> from lakebed.quality import not_null, unique
    >>> with lakebed.connect(":memory:") as lake:
    ...     _ = lake.tables.create("silver.users", data=[{"id": 1}, {"id": 2}])
    ...     _ = lake.quality.contract("silver.users", checks=[not_null("id"), unique("id")])
    ...     lake.quality.validate("silver.users").passed
    True
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakebed.api._quality import QualityAPI
from lakebed.errors import InvalidArgument, NotFound, QualityError
from lakebed.quality._checks import (
    Between,
    Check,
    Freshness,
    IsIn,
    Matches,
    NotNull,
    Outcome,
    RowCount,
    Sql,
    Unique,
    between,
    freshness,
    isin,
    matches,
    not_null,
    row_count,
    sql,
    unique,
)
from lakebed.quality._contracts import Contract, ContractPlan, Contracts, ValidationResult
from lakebed.quality._drift import ColumnDrift, DriftReport, MonitorReport
from lakebed.quality._profile import Profile

if TYPE_CHECKING:
    from lakebed.lake import Lake

CheckResult = Outcome

__all__ = [
    "Between",
    "Check",
    "CheckResult",
    "ColumnDrift",
    "Contract",
    "ContractPlan",
    "DriftReport",
    "Freshness",
    "IsIn",
    "Matches",
    "MonitorReport",
    "NotNull",
    "Profile",
    "Quality",
    "QualityError",
    "Report",
    "RowCount",
    "Sql",
    "Unique",
    "ValidationResult",
    "between",
    "freshness",
    "isin",
    "matches",
    "not_null",
    "row_count",
    "sql",
    "unique",
]


class Report:
    """A quality report: the same content as JSON (:meth:`to_dict`) and as one
    self-contained HTML page with plots (:attr:`html`, :meth:`save`)."""

    def __init__(self, content: dict[str, Any]) -> None:
        self.content = content

    def to_dict(self) -> dict[str, Any]:
        return self.content

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> Report:
        """The report whose :meth:`to_dict` is ``content``."""
        if not isinstance(content, dict):
            raise InvalidArgument(f"a report is a dict, got {type(content).__name__}")
        return cls(content)

    @property
    def html(self) -> str:
        from lakebed.quality._report import render_html

        return render_html(self.content)

    def save(self, path: str | Path) -> Path:
        """Write the HTML (``.html``) or the JSON (``.json``) to ``path``."""
        import json

        p = Path(path)
        if p.suffix == ".json":
            p.write_text(json.dumps(self.content, indent=1, default=str))
        else:
            p.write_text(self.html, encoding="utf-8")
        return p

    def __repr__(self) -> str:
        parts = [k for k in ("drift", "results", "profile", "performance") if self.content.get(k)]
        return f"<Report {self.content.get('title')!r}: {', '.join(parts) or 'empty'}>"


class Quality(Contracts, QualityAPI):
    """The quality area of a lake (``lake.quality``): contracts, validation, results,
    profiles, drift, monitoring and reports."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    # profiles
    def profile(self, target: Any, *, version: int | None = None, store: bool | None = None) -> Profile:
        from lakebed.quality import _schema as qs
        from lakebed.quality._contracts import _split_version, table_frame
        from lakebed.quality._profile import profile_frame

        if isinstance(target, str):
            name, at = _split_version(target)
            v = at if at is not None else (self._lake.tables.version(name) if version is None else version)
            p = profile_frame(table_frame(self._lake, name, v, None), name, v)
            if store is not False and not self._lake.read_only:
                with self._lake.catalog.begin() as conn:
                    p.id = int(conn.execute(qs.profiles.insert().values(
                        target=name, table_version=v, profile=p.to_dict(), created_at=time.time(),
                    )).inserted_primary_key[0])  # type: ignore[index]
            return p
        ref = getattr(target, "ref", None)
        return profile_frame(target, ref if isinstance(ref, str) else "data")

    def profiles(self, table: str, *, limit: int = 20) -> list[Profile]:
        import sqlalchemy as sa

        from lakebed.quality import _schema as qs

        t = qs.profiles
        with self._lake.catalog.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.target == table).order_by(t.c.id.desc()).limit(limit)).all()
        return [Profile(r.target, r.table_version, int(r.profile["rows"]), r.profile["columns"],
                        dt.datetime.fromtimestamp(r.created_at, tz=dt.UTC), r.id) for r in rows]

    # drift
    def drift(
        self,
        reference: Any,
        current: Any,
        columns: Sequence[str] | None = None,
        *,
        method: str | dict[str, str] | None = None,
        threshold: float | dict[str, float] | None = None,
        share: float = 0.5,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> DriftReport:
        from lakebed.quality._drift import drift_tables, resolve_side

        ref, ref_name = resolve_side(self._lake, reference, start=start, end=end)
        cur, cur_name = resolve_side(self._lake, current, start=start, end=end)
        return drift_tables(ref, cur, columns, method=method, threshold=threshold, share=share,
                            reference_ref=ref_name, current_ref=cur_name)

    def monitor(
        self,
        model: str,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        columns: Sequence[str] | None = None,
        labels: Any = None,
        on: str = "request_id",
        label: str | None = None,
        freq: str = "1d",
    ) -> MonitorReport:
        from lakebed.quality._drift import _prediction_inputs, drift_tables, log_ref, performance_by_period

        log = self._lake.predictions(model)
        if log.version is None:
            log = self._lake.predictions(f"{log.name}@{self._lake.models.resolve(log.name, 'latest')[1]}")
        ref = log_ref(log)
        name, version = self._lake.lineage.training_set_of(f"model:{ref}")
        train = self._lake.tables.read(name, version=version)
        served = _prediction_inputs(log.read(start=start, end=end))
        if served.num_rows == 0:
            raise NotFound(f"the prediction log of {ref} has no rows in that window; log predictions first")
        if columns is None:
            outputs = {"prediction"} | {c for c in served.column_names if c.startswith("output_")}
            columns = [c for c in served.column_names if c in set(train.column_names) and c not in outputs]
        report = drift_tables(train, served, columns, reference_ref=f"table:{name}@{version}",
                              current_ref=f"predictions:{ref}")
        perf = None
        if labels is not None:
            joined = log.join_labels(labels, on=on)
            lab = label or next((c for c in joined.column_names if c not in log.read().column_names), None)
            if lab is None or lab not in joined.column_names:
                raise InvalidArgument("name the label column with label=...; the labels add no column")
            if "prediction" not in joined.column_names:
                raise InvalidArgument("performance needs a single 'prediction' column in the log")
            perf = performance_by_period(joined, "prediction", lab, freq)
        return MonitorReport(ref, f"table:{name}@{version}", report, perf)

    # reports
    def report(
        self,
        *,
        table: str | None = None,
        drift: DriftReport | MonitorReport | None = None,
        profile: Profile | bool | None = None,
        results: int = 50,
        title: str | None = None,
        path: str | Path | None = None,
    ) -> Report:
        if table is None and drift is None and not isinstance(profile, Profile):
            raise InvalidArgument("report() needs table=, drift= or profile=")
        content: dict[str, Any] = {
            "title": title or _title(table, drift), "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "lake": None if self._lake.temporary else str(self._lake.path), "drift": None, "results": None,
            "profile": None, "performance": None,
        }
        if table is not None:
            rs = self.results(table, limit=results)
            content["results"] = [r.to_dict() for r in reversed(rs)]
            if profile is True:
                profile = self.profile(table)
        if isinstance(drift, MonitorReport):
            content["performance"] = drift.performance
            content["model"] = drift.model
            drift = drift.drift
        if drift is not None:
            content["drift"] = drift.to_dict()
        if isinstance(profile, Profile):
            content["profile"] = profile.to_dict()
        rep = Report(content)
        if path is not None:
            rep.save(path)
        return rep


def _title(table: str | None, drift: Any) -> str:
    if isinstance(drift, MonitorReport):
        return f"Monitoring of {drift.model}"
    if drift is not None:
        return f"Drift: {drift.reference} → {drift.current}"
    return f"Data quality of {table}"
