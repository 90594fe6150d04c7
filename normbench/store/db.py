"""The two kinds of store behind one interface: an embedded SQLite file (the default: no set-up)
and PostgreSQL (a team's store, several machines writing at once).

Each is a connection, a placeholder style and a way to open a transaction; everything else
(:class:`normbench.store.Store`) is the same SQL. SQLite runs in WAL mode with a busy timeout,
so concurrent writers queue rather than fail; PostgreSQL serializes the creation of its tables
with an advisory lock.
"""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..errors import InputError
from . import url as urls

#: how long a writer waits for another's transaction on an embedded store (seconds)
BUSY_TIMEOUT_S = 120


class Database:
    """A connection to one store, with the dialect's placeholders and transactions. Every driver
    error comes out as a one-line :class:`InputError` naming the store (never its password)."""

    kind = ""
    id_column = ""
    errors: tuple[type[BaseException], ...] = ()

    def __init__(self, where: str) -> None:
        self.where = where
        self.name = urls.display(where)
        self.secret = urls.password_of(where)

    def fail(self, exc: BaseException, doing: str) -> InputError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return InputError(f"store {self.name}: {doing} failed: {urls.redact(text, self.secret)}")

    def sql(self, text: str) -> str:
        return text

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Database"]:
        raise NotImplementedError

    def execute(self, text: str, params: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    def insert(self, text: str, params: Sequence[Any]) -> int:
        """Run an INSERT of one row and give its new id."""
        raise NotImplementedError

    def executemany(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def has_table(self, name: str) -> bool:
        raise NotImplementedError

    def lock_schema(self) -> None:
        """Within a transaction: keep other writers out while tables are made or migrated."""

    def close(self) -> None:
        raise NotImplementedError


class SQLite(Database):
    kind = "sqlite"
    id_column = "INTEGER PRIMARY KEY AUTOINCREMENT"
    errors = (sqlite3.Error,)

    def __init__(self, where: str, *, create: bool, write: bool = False) -> None:
        super().__init__(where)
        path = Path(where)
        if path.is_dir():
            raise InputError(f"store {where} is a folder; a store is a file (SQLite) or a postgresql:// URL")
        if not path.exists():
            if not create:
                raise InputError(f"no store at {where} (bench, check and run make one; `normbench store import` too)")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"cannot make store {where}: {exc.strerror or exc}") from None
        try:
            self.conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise InputError(f"cannot open store {where}: {exc}") from None
        try:
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise InputError(f"{where} is not a normbench store: not an SQLite database ({exc})") from None
            raise InputError(f"cannot read store {where}: {exc}") from None
        if write:  # WAL: writers queue behind one another without blocking readers (local disks only)
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error:
                pass  # a file system without WAL support: the default journal still serializes writers
        self.conn.execute("PRAGMA foreign_keys=ON")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self.fail(exc, "starting a transaction") from None
        try:
            yield self
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self.fail(exc, "committing") from None

    def execute(self, text: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self.conn.execute(text, tuple(params)).fetchall()
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise self.fail(exc, "a query") from None

    def insert(self, text: str, params: Sequence[Any]) -> int:
        try:
            return int(self.conn.execute(text, tuple(params)).lastrowid)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise self.fail(exc, "writing") from None

    def executemany(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self.conn.executemany(text, rows)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise self.fail(exc, "writing") from None

    def has_table(self, name: str) -> bool:
        return bool(self.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))

    def close(self) -> None:
        self.conn.close()


class Postgres(Database):
    kind = "postgresql"
    id_column = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"

    def __init__(self, where: str) -> None:
        super().__init__(where)
        try:
            import psycopg
        except ImportError:
            raise InputError(f"store {self.name}: PostgreSQL needs psycopg: pip install 'normbench[postgres]'") from None
        self.psycopg = psycopg
        try:
            self.conn = psycopg.connect(where, autocommit=True, connect_timeout=20)
        except (psycopg.Error, ValueError) as exc:
            raise self.fail(exc, "connecting") from None

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        try:
            with self.conn.transaction():
                yield self
        except self.psycopg.errors.UniqueViolation:
            raise
        except self.psycopg.Error as exc:
            raise self.fail(exc, "a transaction") from None

    def execute(self, text: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(self.sql(text), tuple(params))
                return cur.fetchall() if cur.description else []
        except self.psycopg.errors.UniqueViolation:
            raise
        except self.psycopg.Error as exc:
            raise self.fail(exc, "a query") from None

    def insert(self, text: str, params: Sequence[Any]) -> int:
        return int(self.execute(text + " RETURNING id", params)[0][0])

    def executemany(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.executemany(self.sql(text), rows)
        except self.psycopg.errors.UniqueViolation:
            raise
        except self.psycopg.Error as exc:
            raise self.fail(exc, "writing") from None

    def has_table(self, name: str) -> bool:
        try:
            # a catalog query (a fresh snapshot per statement), not to_regclass: its cache may not yet
            # have seen a table another writer created while this one waited for the schema lock
            return bool(self.execute("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
                                     "AND tablename = ?", (name,)))
        except self.psycopg.Error as exc:
            raise self.fail(exc, "reading its tables") from None

    def lock_schema(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(724242)")

    def close(self) -> None:
        self.conn.close()


def connect(where: str, *, create: bool = True, write: bool = False) -> Database:
    return Postgres(where) if urls.is_postgres(where) else SQLite(where, create=create, write=write)


def integrity_errors(db: Database) -> tuple[type[BaseException], ...]:
    """The exceptions a unique key's violation raises in ``db``'s driver."""
    return (db.psycopg.errors.UniqueViolation,) if isinstance(db, Postgres) else (sqlite3.IntegrityError,)
