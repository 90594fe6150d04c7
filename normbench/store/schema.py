"""The store's tables, as numbered migrations: a store at version N has run migrations 1..N.

A new store runs every migration in order, so the path an old store takes to the current
version is the path every store takes. A store newer than this normbench is refused; an older
one is migrated only by :func:`normbench.store.Store.migrate` (``normbench store migrate``), or,
for an embedded file, when it is opened for writing, with a copy of the old file kept beside it.

``{id}`` is the dialect's auto-numbered primary key. JSON is kept as text in both dialects, so
the two stores hold the same bytes.
"""
from __future__ import annotations

MIGRATIONS: list[tuple[str, list[str]]] = [
    ("runs, machines, measurements with raw samples, check results", [
        "CREATE TABLE normbench_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE machines (id {id}, fingerprint TEXT NOT NULL UNIQUE, name TEXT NOT NULL, facts TEXT NOT NULL)",
        "CREATE TABLE runs (id {id}, run_id TEXT NOT NULL, kind TEXT NOT NULL, "
        "machine BIGINT NOT NULL REFERENCES machines(id), started TEXT NOT NULL, ended TEXT NOT NULL, "
        "git_commit TEXT NOT NULL, normbench_version TEXT NOT NULL, header TEXT NOT NULL, source TEXT NOT NULL, "
        "UNIQUE (run_id, kind, machine))",
        "CREATE TABLE measurements (id {id}, run BIGINT NOT NULL REFERENCES runs(id), backend TEXT NOT NULL, "
        "norm TEXT NOT NULL, op TEXT NOT NULL, shape TEXT NOT NULL, dtype TEXT NOT NULL, layout TEXT NOT NULL, "
        "threads INTEGER NOT NULL, backend_version TEXT NOT NULL, memory_policy TEXT NOT NULL, "
        "median_s DOUBLE PRECISION NOT NULL, unstable INTEGER NOT NULL, contended INTEGER NOT NULL, "
        "samples TEXT NOT NULL, process_n TEXT NOT NULL, row TEXT NOT NULL)",
        "CREATE TABLE check_results (id {id}, run BIGINT NOT NULL REFERENCES runs(id), backend TEXT NOT NULL, "
        "norm TEXT NOT NULL, failed INTEGER NOT NULL, result TEXT NOT NULL)",
    ]),
    ("the branch of each run; an index on the series key", [
        "ALTER TABLE runs ADD COLUMN branch TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX measurements_series ON measurements (backend, norm, op, shape, dtype, layout, threads)",
        "CREATE INDEX measurements_run ON measurements (run)",
    ]),
]

#: the version this normbench writes
VERSION = len(MIGRATIONS)
