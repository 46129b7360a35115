"""The interface of data quality, implemented by the embedded area and by the HTTP client
alike (see :mod:`lakebed.api`)."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakebed.quality import Report
    from lakebed.quality._checks import Check
    from lakebed.quality._contracts import Contract, ContractPlan, OnViolation, ValidationResult
    from lakebed.quality._drift import DriftReport, MonitorReport
    from lakebed.quality._profile import Profile


class QualityAPI(ABC):
    """Data quality of a lake (``lake.quality``): contracts enforced on writes, validation
    results tied to table versions, column profiles, drift between any two datasets, model
    monitoring through lineage, and reports.

    Embedded: :class:`lakebed.quality.Quality`; remote: the same methods over HTTP
    (``lakebed.connect("http://...").quality``), answering with the same classes
    (:class:`~lakebed.quality.Contract`, :class:`~lakebed.quality.ValidationResult`,
    :class:`~lakebed.quality.Profile`, :class:`~lakebed.quality.DriftReport`, ...).
    Contracts travel as their specs, data in memory as Arrow; the checks run where the
    lake is served. A key needs ``read`` on a table to look at its contract, results and
    profiles, and ``write`` on it to change its contract or store a result.

    Example:
        >>> import lakebed
        >>> from lakebed.quality import between, not_null
        >>> with lakebed.connect(":memory:") as lake:
        ...     _ = lake.tables.create("silver.users", data=[{"id": 1, "age": 30}, {"id": 2, "age": 41}])
        ...     c = lake.quality.contract("silver.users", checks=[not_null("id"), between("age", 0, 130)])
        ...     r = lake.quality.validate("silver.users")
        ...     c.version, r.passed, [o.name for o in r.checks], lake.quality.results("silver.users")[0].id == r.id
        (1, True, ['not_null(id)', 'between(age, 0, 130)'], True)
    """

    # -- profiles ---------------------------------------------------------------------------
    @abstractmethod
    def profile(self, target: Any, *, version: int | None = None, store: bool | None = None) -> Profile:
        """Profile a table version (``"silver.users"``, ``"silver.users@3"``), a training
        set or data in memory: per column type, nulls, distinct values (a HyperLogLog
        estimate above a million rows), min/max/mean/std, quantiles, a histogram and the
        most frequent values. Table profiles are stored with the version (unless
        ``store=False``).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     p = lake.quality.profile([{"x": 1}, {"x": 2}, {"x": None}])
            ...     p.rows, p.column("x")["nulls"], p.column("x")["max"]
            (3, 1, 2)

        Remote: data in memory is sent to the server as Arrow and profiled there; storing
        a table's profile needs a key with ``write`` on the table."""

    @abstractmethod
    def profiles(self, table: str, *, limit: int = 20) -> list[Profile]:
        """Stored profiles of ``table``, newest first.

        Example:
            >>> [p.version for p in lake.quality.profiles("silver.users")]  # doctest: +SKIP
            [3, 0]
        """

    # -- drift ------------------------------------------------------------------------------
    @abstractmethod
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
        """Drift from ``reference`` to ``current``, per column and for the dataset.

        Each side is a table version (``"silver.users@3"``, ``("silver.users", 3)``), a
        training set, a prediction log (``"predictions:fraud@2"`` or
        ``lake.predictions(...)``, windowed by ``start``/``end``), a collection
        (``"collection:docs"``, its vectors) or data (Arrow, pandas, polars). The default
        test per column follows the column's kind and size (normed Wasserstein or KS for
        numbers, Jensen-Shannon or chi-square for categories, MMD for embeddings);
        ``method`` and ``threshold`` choose others, for all columns or per column. The
        dataset drifts when at least ``share`` of the columns do.

        Example:
            >>> rep = lake.quality.drift("silver.users@0", "silver.users", columns=["age"])  # doctest: +SKIP
            >>> rep.drifted, rep.column("age").method                                        # doctest: +SKIP
            (False, 'wasserstein')

        Remote: data sides are sent to the server as Arrow (within its body limit); a side
        named by ref needs the key's ``read`` grant on that table, log or collection."""

    @abstractmethod
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
        """Monitor a model version (``"fraud@2"``, ``"fraud@champion"``; the latest when
        none is named): drift of its prediction log's inputs (between ``start`` and
        ``end``) against the training set found through lineage; with ``labels`` (a
        table name or data, joined on ``on``; ``label`` names the label column), the
        model's accuracy or error per ``freq`` period (``"1d"``, ``"6h"``, ``"1w"``).

        Example:
            >>> mon = lake.quality.monitor("fraud@2", labels="silver.labels", label="is_fraud")  # doctest: +SKIP
            >>> mon.training_set, mon.drift.drifted, mon.performance[0]["accuracy"]             # doctest: +SKIP
            ('table:gold.train@4', False, 0.97)

        Remote: labels given as data are sent to the server as Arrow; the key needs
        ``read`` on the model's prediction log and on its training set."""

    # -- reports ----------------------------------------------------------------------------
    @abstractmethod
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
        """A report of a table's validation results over versions (``table``; the last
        ``results`` of them), a drift report or a model monitor (``drift``), and a profile
        (``profile=True`` profiles ``table`` now, and stores that profile). ``path`` writes
        the HTML there; :meth:`Report.to_dict` holds the same content as JSON.

        Example:
            >>> rep = lake.quality.report(table="silver.users", path="quality.html")  # doctest: +SKIP
            >>> len(rep.to_dict()["results"]), "<svg" in rep.html                      # doctest: +SKIP
            (12, True)

        Remote: the server assembles the report (a drift or monitor report given here is
        sent as its dict; ``results`` is at most 10,000) and ``path`` is written on the
        client."""

    # -- contracts --------------------------------------------------------------------------
    @abstractmethod
    def contract(
        self,
        table: str,
        *,
        checks: Iterable[Check] = (),
        columns: dict[str, Any] | None = None,
        on_violation: OnViolation = "reject",
        description: str | None = None,
    ) -> Contract:
        """Define (or change) the data contract of ``table`` (or of a stream,
        ``"stream:clicks"``); enforced on every later ``tables.write`` and
        ``tables.merge``. A new version is stored when anything changed; the same contract
        again changes nothing. Returns it with its version.

        Example:
            >>> from lakebed.quality import not_null, unique
            >>> c = lake.quality.contract("silver.users", checks=[not_null("id"), unique("id")],
            ...                           on_violation="quarantine")    # doctest: +SKIP
            >>> c.version                                               # doctest: +SKIP
            1
        """

    @abstractmethod
    def plan(self, contracts: Iterable[Contract], *, prune: bool = False) -> ContractPlan:
        """What :meth:`apply` would change: new, changed and (``prune``) dropped contracts.
        Nothing is stored.

        Example:
            >>> print(lake.quality.plan([Contract("silver.users", (not_null("id"),))]))  # doctest: +SKIP
            + contract silver.users (v1)
                + not_null(id)
        """

    @abstractmethod
    def apply(self, contracts: Iterable[Contract] | ContractPlan, *, prune: bool = False) -> ContractPlan:
        """Store the contracts that changed (each as a new version); with ``prune=True``
        the contracts of tables not in ``contracts`` are dropped. Returns the plan.

        Example:
            >>> lake.quality.apply([Contract("silver.users", (not_null("id"),))]).empty  # doctest: +SKIP
            False

        Remote: the key needs ``write`` on every table whose contract changes."""

    @abstractmethod
    def get_contract(self, table: str, version: int | None = None) -> Contract:
        """The contract of ``table`` in force (or its ``version``); NotFound otherwise.

        Example:
            >>> lake.quality.get_contract("silver.users").on_violation  # doctest: +SKIP
            'quarantine'
        """

    @abstractmethod
    def contracts(self) -> list[Contract]:
        """Every contract in force, by table name.

        Remote: the contracts of the tables the key may read."""

    @abstractmethod
    def contract_history(self, table: str) -> list[dict[str, Any]]:
        """Every version of the contract of ``table``, newest first: ``version``, ``spec``
        (None: dropped), ``deleted`` and ``created_at`` (a UTC datetime).

        Example:
            >>> [h["version"] for h in lake.quality.contract_history("silver.users")]  # doctest: +SKIP
            [2, 1]
        """

    @abstractmethod
    def drop_contract(self, table: str) -> None:
        """Stop enforcing the contract of ``table`` (its versions stay in the history)."""

    # -- validation -------------------------------------------------------------------------
    @abstractmethod
    def validate(
        self,
        target: Any,
        *,
        version: int | None = None,
        checks: Iterable[Check] | None = None,
        samples: int = 5,
        store: bool | None = None,
    ) -> ValidationResult:
        """Run a contract on demand over a stored table version (the table's contract, or
        ``checks``), or run ``checks`` over data in memory (Arrow, pandas, polars, rows,
        a training set). Each failed check keeps up to ``samples`` example rows. Table
        results are stored (and linked in lineage) unless ``store=False``.

        Example:
            >>> import lakebed
            >>> from lakebed.quality import between
            >>> with lakebed.connect(":memory:") as lake:
            ...     r = lake.quality.validate([{"age": 30}, {"age": 200}], checks=[between("age", 0, 130)])
            ...     r.passed, r.summary()
            (False, 'between(age, 0, 130): 1 of 2 rows')

        Remote: data in memory is sent to the server as Arrow and checked there; a stored
        result needs a key with ``write`` on the table (``read`` with ``store=False``);
        ``samples`` is at most 1,000."""

    @abstractmethod
    def results(
        self,
        table: str | None = None,
        *,
        passed: bool | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[ValidationResult]:
        """Stored results, newest first, optionally of one table, by verdict, action
        (``validate``, ``accept``, ``reject``, ``quarantine``, ``warn``) or time.

        Example:
            >>> [r.action for r in lake.quality.results("silver.users", passed=False)]  # doctest: +SKIP
            ['reject']

        Remote: the results of the tables the key may read, at most 10,000 per call."""

    @abstractmethod
    def result(self, result_id: int) -> ValidationResult:
        """One stored result by id (as in ``quality:<id>``); NotFound otherwise."""
