"""Attacks on ``where=`` and on ``lake.sql``, shared by the in-process tests and the HTTP
ones, and a snapshot of the files under some folders (to show that nothing changed)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

# Each was an attack or a silent mistake on where=; each must be refused and change nothing.
WHERE_INJECTIONS = [
    "false UNION ALL SELECT 0, column0, column6, 0 FROM read_csv('/etc/passwd', sep=':', header=false)",
    "false UNION ALL SELECT 0 FROM read_csv('/etc/passwd', sep=':', header=false)",
    "true; COPY (SELECT 'x') TO 'x.txt' (HEADER false)",
    "true; ATTACH 'evil.db' AS evil",
    "true; INSTALL httpfs",
    "true; LOAD httpfs",
    "true; SET enable_external_access = true",
    "true; PRAGMA threads = 1",
    "id = 1; DROP TABLE x",
    "id = 1;",
    "plan = 'trial' ANDD region = 'eu'",
    "id = 1 ANDD id = 2",
    "id = 1 x",
    "true -- the rest is a comment",
    "true -- comment",
    "true /* a comment */",
    "true /* comment */",
    "id = 1 /* ; DROP */ OR true",
    "id = 1 UNION SELECT 1",
    "id = 1 UNION SELECT * FROM range(3)",
    "id = 1 UNION ALL SELECT 1, 'a', 'b', 1.0",
    "id = 1 ORDER BY id",
    "id = 1 LIMIT 1",
    "id = 1 GROUP BY id",
    "id = 1 WINDOW w AS ()",
    "id = 1) OR (true",
    "(id = 1",
    "id IN (SELECT 1)",
    "EXISTS (SELECT 1)",
    "(SELECT count(*) FROM read_csv('/etc/passwd')) > 0",
    "read_csv('/etc/passwd') IS NOT NULL",
    "read_parquet('x.parquet') IS NULL",
    "read_parquet('../tables/gold/secret/x.parquet') IS NULL",
    "query('SELECT 1') IS NOT NULL",
    "getenv('HOME') = '/root'",
    "getenv('HOME') IS NOT NULL",
    "current_setting('TimeZone') = 'UTC'",
    "main.lower(plan) = 'pro'",
    "t.id = 1",
    "nope = 1",
    "id = ?",
    "id = $1",
    "CASE WHEN true THEN true END",
    "CAST(id AS BLOB) IS NULL",
]

# Each must be refused by lake.sql and change nothing; ``{lake}`` is the lake's folder.
SQL_INJECTIONS = [
    "INSTALL httpfs",
    "LOAD httpfs",
    "ATTACH 'evil.db'",
    "ATTACH 'evil.db' AS evil",
    "COPY (SELECT 1) TO 'x.csv'",
    "COPY (SELECT 'x') TO 'x.txt' (HEADER false)",
    "SELECT 1; COPY (SELECT 'x') TO 'x.txt'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv('/etc/passwd', sep=':', header=false)",
    "SELECT * FROM read_parquet('../lake/tables/gold/subs/*.parquet')",
    "SELECT * FROM read_parquet('{lake}/tables/gold/secret/*.parquet')",
    "SET enable_external_access = true",
    "PRAGMA threads = 1",
    "SELECT 1; SELECT 2",
    "SELECT * FROM gold.subs; COPY (SELECT 1) TO 'x.csv'",
    "SELECT * FROM silver.users; DROP VIEW silver.users",
    "CREATE TABLE t AS SELECT 1",
    "DROP VIEW gold.subs",
    "CALL pragma_version()",
    "EXPORT DATABASE 'out'",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('{lake}/tables/gold/secret/*.parquet')",
    "SELECT * FROM duckdb_secrets()",
    "SELECT getenv('HOME')",
]


def _shm(p: Path) -> bool:
    return p.name.endswith("-shm")


def snapshot(*roots: Path, skip: Callable[[Path], bool] = _shm) -> dict[str, tuple[int, int]]:
    """Every file under ``roots``: path -> (size, mtime); ``skip`` leaves files out (by
    default SQLite's shared-memory index)."""
    out = {}
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                p = Path(dirpath) / f
                if skip(p):
                    continue
                st = p.stat()
                out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out
