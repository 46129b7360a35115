"""``lakebed demo``: an end-to-end tour on the embedded default.

It generates a realistic event data set deterministically (users, sessions, card
transactions with duplicates, nulls and late events), lands it in bronze, cleans it into
silver, aggregates gold, travels back in time, and then runs each area of lakebed on it.

Example:
    >>> from lakebed.demo import generate_events
    >>> data = generate_events(n_users=10, n_transactions=50, seed=1)
    >>> sorted(data)
    ['late_transactions', 'sessions', 'transactions', 'users']
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

import lakebed

EPOCH = datetime(2026, 10, 1, tzinfo=UTC)
COUNTRIES = np.array(["DE", "FR", "US", "GB", "IN", "BR", "JP"])
PLANS = np.array(["free", "pro", "team"])
MERCHANTS = np.array(["grocer", "books", "travel", "games", "pharmacy", "fuel", "electronics"])
DEVICES = np.array(["ios", "android", "web"])


def generate_events(
    n_users: int = 2_000, n_transactions: int = 40_000, seed: int = 7
) -> dict[str, pa.Table]:
    """Deterministic raw data as it would arrive from an app's export: strings for times
    and amounts, about 2% duplicated transactions, 1% missing amounts, and a batch of
    late events that arrives a day after the rest."""
    rng = np.random.default_rng(seed)
    user_ids = np.arange(1, n_users + 1, dtype=np.int64)
    signup = EPOCH - pd_days(rng.integers(0, 365, n_users))
    users = pa.table(
        {
            "user_id": user_ids,
            "country": rng.choice(COUNTRIES, n_users, p=[0.2, 0.15, 0.3, 0.1, 0.1, 0.1, 0.05]),
            "plan": rng.choice(PLANS, n_users, p=[0.7, 0.25, 0.05]),
            "signup_at": pa.array(signup, pa.timestamp("us", tz="UTC")),
        }
    )
    # Heavy users spend more often: a Zipf-like activity weight per user.
    weight = 1.0 / np.arange(1, n_users + 1) ** 0.6
    weight /= weight.sum()
    n_late = n_transactions // 20
    total = n_transactions + n_late
    who = rng.choice(user_ids, total, p=weight)
    seconds = rng.integers(0, 14 * 86_400, total)
    ts = EPOCH + pd_seconds(seconds)
    base = np.round(rng.lognormal(3.0, 1.0, total), 2)
    refunds = rng.random(total) < 0.03
    amount = np.where(refunds, -base, base)
    amount_str = np.array([f"{a:.2f}" for a in amount], dtype=object)
    amount_str[rng.random(total) < 0.01] = ""  # missing in the export
    delay = rng.exponential(120, total).astype(np.int64)
    created = ts + pd_seconds(delay)
    late = np.zeros(total, dtype=bool)
    late[n_transactions:] = True
    # Late events happened during the two weeks but arrive after the day-15 load.
    created[late] = EPOCH + timedelta(days=15, hours=2)
    txn_ids = np.array([f"t{i:07d}" for i in range(total)], dtype=object)

    def txn_table(mask: np.ndarray) -> pa.Table:
        idx = np.flatnonzero(mask)
        dup = idx[rng.random(idx.size) < 0.02]  # the export repeats some rows
        idx = np.sort(np.concatenate([idx, dup]))
        return pa.table(
            {
                "txn_id": txn_ids[idx].tolist(),
                "user_id": [str(u) for u in who[idx]],
                "ts": [t.isoformat() for t in ts[idx]],
                "amount": amount_str[idx].tolist(),
                "merchant": rng.choice(MERCHANTS, idx.size).tolist(),
                "created_at": [t.isoformat() for t in created[idx]],
            }
        )

    n_sessions = n_transactions // 2
    sess_start = EPOCH + pd_seconds(rng.integers(0, 14 * 86_400, n_sessions))
    duration = rng.exponential(300, n_sessions).round().astype(np.int64)
    sessions = pa.table(
        {
            "session_id": [f"s{i:07d}" for i in range(n_sessions)],
            "user_id": rng.choice(user_ids, n_sessions, p=weight),
            "started_at": pa.array(sess_start, pa.timestamp("us", tz="UTC")),
            "duration_s": pa.array(duration, mask=rng.random(n_sessions) < 0.02),
            "device": rng.choice(DEVICES, n_sessions),
        }
    )
    return {
        "users": users,
        "sessions": sessions,
        "transactions": txn_table(~late),
        "late_transactions": txn_table(late),
    }


def _raw_batch(raw: pa.Table) -> pa.Table:
    """A bronze batch typed like silver but not cleaned: repeated ids and missing amounts stay."""
    return pa.table({
        "txn_id": raw.column("txn_id"),
        "user_id": pc.cast(raw.column("user_id"), pa.int64()),
        "ts": pc.cast(raw.column("ts"), pa.timestamp("us", tz="UTC")),
        "amount": pc.cast(pc.if_else(pc.equal(raw.column("amount"), ""), None,
                                                     raw.column("amount")), pa.float64()),
        "merchant": raw.column("merchant"),
        "created_at": pc.cast(raw.column("created_at"), pa.timestamp("us", tz="UTC")),
    })


def pd_days(days: np.ndarray) -> np.ndarray:
    return np.array([timedelta(days=int(d)) for d in days], dtype=object)


def pd_seconds(seconds: np.ndarray) -> np.ndarray:
    return np.array([timedelta(seconds=int(s)) for s in seconds], dtype=object)


CLEAN_TRANSACTIONS = """
SELECT txn_id,
       CAST(user_id AS BIGINT)                         AS user_id,
       CAST(ts AS TIMESTAMPTZ)                         AS ts,
       CAST(NULLIF(amount, '') AS DOUBLE)              AS amount,
       merchant,
       CAST(created_at AS TIMESTAMPTZ)                 AS created_at
FROM bronze.transactions
WHERE NULLIF(amount, '') IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY txn_id ORDER BY created_at) = 1
"""

GOLD_USER_FEATURES = """
SELECT u.user_id, u.country, u.plan,
       count(t.txn_id)                      AS txn_count,
       coalesce(sum(t.amount), 0)           AS total_spend,
       avg(t.amount)                        AS avg_amount,
       max(t.ts)                            AS last_txn_at,
       count(t.txn_id) FILTER (WHERE t.amount < 0) AS refunds
FROM silver.users u LEFT JOIN silver.transactions t USING (user_id)
GROUP BY ALL ORDER BY u.user_id
"""


class Tour:
    """Prints numbered steps with timings."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.step = 0
        self.started = time.perf_counter()

    @contextmanager
    def section(self, title: str) -> Iterator[None]:
        self.step += 1
        self.console.rule(f"[bold]{self.step}. {title}")
        t0 = time.perf_counter()
        yield
        self.console.print(f"[dim]   ({time.perf_counter() - t0:.2f} s)[/dim]")

    def say(self, text: str) -> None:
        self.console.print(f"   {text}")


def _table(rows: list[dict[str, Any]], title: str | None = None) -> RichTable:
    t = RichTable(title=title, show_edge=False, header_style="bold cyan")
    if not rows:
        return t
    for key in rows[0]:
        t.add_column(str(key))
    for row in rows:
        t.add_row(*[_fmt(v) for v in row.values()])
    return t


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    return str(v)


def run_tables_tour(lake: lakebed.Lake, tour: Tour, data: dict[str, pa.Table]) -> None:
    con = tour.console
    with tour.section("Bronze: land the raw export as it came"):
        for name in ("users", "sessions", "transactions"):
            lake.tables.create(f"bronze.{name}", data=data[name])
            tour.say(f"bronze.{name:<13} {data[name].num_rows:>7,} rows")
        dupes = lake.sql(
            "SELECT count(*) - count(DISTINCT txn_id) AS d, count(*) FILTER (WHERE amount = '') AS m "
            "FROM bronze.transactions"
        ).to_pylist()[0]
        tour.say(f"the export has {dupes['d']:,} duplicate transactions and {dupes['m']:,} missing amounts")

    with tour.section("Silver: types, deduplication, nulls (DuckDB SQL over the tables)"):
        lake.tables.create("silver.users", data=lake.sql("SELECT * FROM bronze.users"))
        clean = lake.sql(CLEAN_TRANSACTIONS)
        lake.tables.create("silver.transactions", data=clean, description="deduplicated, typed")
        tour.say(f"silver.transactions {clean.num_rows:,} rows; schema: "
                 + escape(", ".join(f"{f.name}:{f.type}" for f in clean.schema)))

    with tour.section("A data contract on silver: a bad batch is rejected, nothing written"):
        from lakebed.quality import between, isin, not_null, row_count, unique

        contract = lake.quality.contract(
            "silver.transactions",
            checks=[not_null("txn_id"), unique("txn_id"), not_null("amount"), between("amount", -100_000, 100_000),
                    isin("merchant", MERCHANTS.tolist()), row_count(min=1)],
            columns={"txn_id": "string", "user_id": "int64", "ts": "timestamp", "amount": "float64"},
        )
        tour.say(f"contract v{contract.version} on silver.transactions: "
                 + escape(", ".join(c.label for c in contract.checks)))
        # the late batch as it comes, without the cleaning step: repeats and missing amounts
        raw = _raw_batch(data["late_transactions"])
        try:
            lake.tables.write("silver.transactions", raw)
        except lakebed.QualityError as exc:
            result: Any = exc.result
            tour.say(f"[red]rejected[/red] a raw batch of {raw.num_rows:,} rows:")
            for o in result.failed:
                tour.say(f"  [red]✗[/red] {escape(o.name)}: {o.failing:,} rows")
            tour.say(f"silver.transactions is still at version {lake.tables.version('silver.transactions')}; "
                     f"the result is stored as {result.ref}")

    with tour.section("Gold: per-user aggregates"):
        gold = lake.sql(GOLD_USER_FEATURES)
        lake.tables.create("gold.user_features", data=gold)
        top = lake.sql(
            "SELECT user_id, country, plan, txn_count, total_spend FROM gold.user_features "
            "ORDER BY total_spend DESC LIMIT 3"
        ).to_pylist()
        con.print(_table(top, "top spenders"))
    before_late = datetime.now(UTC)
    time.sleep(0.01)

    with tour.section("Late events arrive: append to bronze, merge into silver, rebuild gold"):
        late = data["late_transactions"]
        lake.tables.write("bronze.transactions", late)
        v_silver = lake.tables.merge("silver.transactions", lake.sql(CLEAN_TRANSACTIONS), on="txn_id")
        v_gold = lake.tables.write("gold.user_features", lake.sql(GOLD_USER_FEATURES), mode="overwrite")
        tour.say(f"{late.num_rows:,} late rows; silver.transactions is at version {v_silver}, "
                 f"gold.user_features at version {v_gold}")

    with tour.section("Time travel: what did gold say before the late events?"):
        then = lake.tables.read("gold.user_features", version=0, columns=["user_id", "total_spend"])
        now = lake.tables.read("gold.user_features", columns=["user_id", "total_spend"])
        changed = sum(1 for a, b in zip(then.column(1).to_pylist(), now.column(1).to_pylist(), strict=True)
                      if abs((a or 0) - (b or 0)) > 1e-9)
        old_n = lake.tables.read("silver.transactions", as_of=before_late).num_rows
        new_n = lake.tables.read("silver.transactions").num_rows
        tour.say(f"silver.transactions as of {before_late:%H:%M:%S.%f} UTC: {old_n:,} rows; now {new_n:,}")
        tour.say(f"{changed:,} users' total spend changed between gold version 0 and the latest")
        hist = [
            {"version": h["version"], "operation": h["operation"]}
            for h in lake.tables.history("silver.transactions")
        ]
        con.print(_table(hist, "history of silver.transactions"))


# Area tours, in order; each module offers demo_section(lake, console).
AREA_TOURS = [
    ("Vector collections: filtered search with a query planner", "lakebed.vectors._demo"),
    ("Hybrid search and RAG over lakebed's own docs", "lakebed.rag._demo"),
    ("Feature store: point-in-time training set, materialization, online lookup", "lakebed.features._demo"),
    ("Tracking: a scikit-learn run, a registered model, predictions, lineage", "lakebed.tracking._demo"),
    ("Streams: clicks streaming into windowed features online, a model scoring with both", "lakebed.streams._demo"),
    ("Monitoring: the model's served inputs against its training set, a drift report", "lakebed.quality._demo"),
]


def run_demo(path: str | Path, console: Console | None = None, *, quick: bool = False) -> Path:
    """Run the whole tour into the lake at ``path`` (created; must not exist yet)."""
    console = console or Console()
    tour = Tour(console)
    root = Path(path)
    if root.exists() and any(root.iterdir()):
        raise lakebed.InvalidArgument(
            f"{root} exists and is not empty; the demo needs a new directory"
        )
    console.print(f"[bold green]lakebed {lakebed.__version__}[/] demo, lake at [bold]{root}[/]")
    with tour.section("Generate a realistic event data set (deterministic)"):
        data = generate_events(n_transactions=8_000 if quick else 40_000)
        tour.say(", ".join(f"{k}: {v.num_rows:,}" for k, v in data.items()))
    with lakebed.connect(root) as lake:
        run_tables_tour(lake, tour, data)
        for title, module in AREA_TOURS:
            section = _area_section(module)
            if section is None:
                continue
            with tour.section(title):
                section(lake, console)
    console.rule()
    console.print(
        f"[bold green]done[/] in {time.perf_counter() - tour.started:.1f} s. Explore it: "
        f"[bold]export LAKEBED_LAKE={root}[/], then [bold]lakebed tables ls[/], "
        "[bold]lakebed tables sql \"SELECT * FROM gold.user_features LIMIT 5\"[/], "
        "[bold]lakebed collections ls[/], [bold]lakebed runs ls[/], "
        f"or in a browser: [bold]lakebed ui {root}[/]"
    )
    return root


def _area_section(module: str) -> Callable[[lakebed.Lake, Console], None] | None:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:  # the area has no tour yet
            return None
        raise
    return getattr(mod, "demo_section", None)
