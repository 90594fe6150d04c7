"""The results store: every run's header, measurements (raw samples included) and check results,
kept across runs, in an embedded SQLite file by default or in PostgreSQL for a team.

``bench``, ``check`` and ``run`` add their runs to it (``--store``, ``$NORMBENCH_STORE``, else
``.normbench/results.sqlite``; ``--no-store`` to skip); ``store import`` loads existing files;
``history``, ``regressions``, ``compare run:ID`` and ``export`` read it. docs/store.md says how.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ..errors import InputError
from ..records import CONFIG, RunHeader
from . import db as _db
from . import fingerprint as _fp
from . import schema as _schema
from . import url as urls

__all__ = ["Store", "StoredRun", "open_store", "SERIES_KEYS"]

#: what identifies a series within one machine: a configuration of a backend under a memory policy
SERIES_KEYS = ("backend", *CONFIG, "threads", "memory_policy")
_COLUMNS = ("backend", "norm", "op", "shape", "dtype", "layout", "threads", "backend_version", "memory_policy",
            "median_s", "unstable", "contended", "samples", "process_n", "row")


@dataclass(frozen=True)
class StoredRun:
    """One run in the store (newest last when listed)."""

    pk: int
    run_id: str
    kind: str
    machine: str  # fingerprint
    machine_name: str
    started: str
    git_commit: str
    branch: str
    source: str
    size: int  # measurements (bench) or (backend, op) results (check)


def open_store(where: str | None = None, *, create: bool = True, write: bool = False) -> "Store":
    """The store at ``where`` (a path or a postgresql:// URL; default :func:`url.resolve`)."""
    return Store(urls.resolve(where), create=create, write=write)


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class Store:
    """One store. Open with :func:`open_store`; a ``with`` block closes it."""

    def __init__(self, where: str, *, create: bool = True, write: bool = False, old: bool = False) -> None:
        """``write``: an older embedded store is migrated (with a copy kept); ``old``: an older
        store is opened as it is (to migrate it)."""
        self.db = _db.connect(where, create=create, write=write or old)
        self.name = self.db.name
        self.migrated_from: int | None = None
        self.backup = ""
        try:
            self._prepare(write, old)
        except BaseException:
            self.db.close()
            raise

    # -- schema --------------------------------------------------------------------------------
    def version(self) -> int:
        got = self.db.execute("SELECT value FROM normbench_meta WHERE key = 'schema_version'")
        return int(got[0][0]) if got else 0

    def _foreign(self) -> bool:
        """An SQLite file with tables but none of ours: another program's database."""
        return self.db.kind == "sqlite" and bool(
            self.db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")[0][0])

    def _prepare(self, write: bool, old: bool) -> None:
        if not self.db.has_table("normbench_meta"):
            if self._foreign():
                raise InputError(f"{self.name} is an SQLite database but not a normbench store (no normbench_meta table)")
            with self.db.transaction():
                self.db.lock_schema()
                if not self.db.has_table("normbench_meta"):  # another writer may have made it meanwhile
                    if self._foreign():
                        raise InputError(f"{self.name} is an SQLite database but not a normbench store")
                    self._run_migrations(0)
            return
        version = self.version()
        if version > _schema.VERSION:
            raise InputError(f"store {self.name} has schema {version}, newer than this normbench writes "
                             f"({_schema.VERSION}); upgrade normbench")
        if version < _schema.VERSION and not old:
            if not (write and self.db.kind == "sqlite"):
                raise InputError(f"store {self.name} has schema {version}; this normbench reads and writes "
                                 f"{_schema.VERSION}: run `normbench store migrate --store URL` first")
            self.migrate(backup=True)  # an embedded store is the user's own: migrate it, keep the old, say so

    def _copy(self, version: int) -> str:
        """A copy of an embedded store's file before its migration, under a name not yet taken."""
        import itertools
        import os

        for n in itertools.count():
            path = f"{self.db.where}.schema{version}.bak" + (f".{n}" if n else "")
            if not os.path.exists(path):
                break
        src, dst = _db.sqlite3.connect(self.db.where), _db.sqlite3.connect(path)
        try:
            src.backup(dst)  # a reader's snapshot: this connection's write lock keeps writers out meanwhile
        finally:
            src.close()
            dst.close()
        return path

    def _run_migrations(self, start: int) -> None:
        for number, (_, statements) in enumerate(_schema.MIGRATIONS[start:], start=start + 1):
            for statement in statements:
                self.db.execute(statement.format(id=self.db.id_column))
            if number == 1:
                self.db.execute("INSERT INTO normbench_meta (key, value) VALUES ('schema_version', '1')")
            else:
                self.db.execute("UPDATE normbench_meta SET value = ? WHERE key = 'schema_version'", (str(number),))

    def migrate(self, backup: bool = False) -> tuple[int, int]:
        """Bring the store to this normbench's schema in one transaction: (from, to). ``backup``:
        copy an embedded store's file first (``self.backup``), under the same lock."""
        with self.db.transaction():
            self.db.lock_schema()
            start = self.version()
            if start > _schema.VERSION:
                raise InputError(f"store {self.name} has schema {start}, newer than this normbench; upgrade normbench")
            if start < _schema.VERSION:
                if backup and self.db.kind == "sqlite":
                    self.backup = self._copy(start)
                self._run_migrations(start)
                self.migrated_from = start
        return start, _schema.VERSION

    # -- writing -------------------------------------------------------------------------------
    def _machine(self, header: RunHeader) -> int:
        fp = _fp.fingerprint(header)
        self.db.execute("INSERT INTO machines (fingerprint, name, facts) VALUES (?, ?, ?) ON CONFLICT (fingerprint) "
                        "DO NOTHING", (fp, _text(header.machine.get("machine")) or "?",
                                       json.dumps(_fp.facts(header), sort_keys=True, default=str)))
        return int(self.db.execute("SELECT id FROM machines WHERE fingerprint = ?", (fp,))[0][0])

    def _add_run(self, kind: str, header: RunHeader, source: str, branch: str) -> tuple[int, bool]:
        """(the run's key, whether it is new). A run is one (run id, kind, machine): the shards of
        one run id on one machine are one run, on two machines two."""
        machine = self._machine(header)
        got = self.db.execute("SELECT id FROM runs WHERE run_id = ? AND kind = ? AND machine = ?",
                              (header.run_id, kind, machine))
        if got:
            return int(got[0][0]), False
        as_dict = header.as_dict()
        as_dict["command"] = urls.redact(_text(as_dict.get("command")))
        pk = self.db.insert(
            "INSERT INTO runs (run_id, kind, machine, started, ended, git_commit, normbench_version, header, source, "
            "branch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (header.run_id, kind, machine, _text(header.started) or _text(header.ended), _text(header.ended),
             _text(header.git_commit), _text(header.normbench_version), json.dumps(as_dict, default=str),
             urls.redact(source), _text(branch)))
        return pk, True

    def add_bench_run(self, header: RunHeader, rows: Sequence[dict[str, Any]], *, source: str = "",
                      branch: str = "") -> int:
        """Keep one bench run's rows (one transaction: all or nothing): the number of rows added.
        Rows of a configuration the run already holds are not added again, so importing a file
        twice adds nothing, and the shards of one run id fill one run."""
        policy = _text((header.protocol or {}).get("memory_policy"))
        for attempt in (1, 2):  # a second writer of the same new run may win the race once
            try:
                with self.db.transaction():
                    pk, new = self._add_run("bench", header, source, branch)
                    have = set() if new else {tuple(k) for k in self.db.execute(
                        f"SELECT {', '.join(SERIES_KEYS)} FROM measurements WHERE run = ?", (pk,))}
                    at = [_COLUMNS.index(k) + 1 for k in SERIES_KEYS]  # a measurement's key within its run
                    todo = [m for m in (_measurement(pk, r, policy) for r in rows)
                            if tuple(m[i] for i in at) not in have]
                    if todo:
                        self.db.executemany(f"INSERT INTO measurements (run, {', '.join(_COLUMNS)}) "
                                            f"VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})", todo)
                    return len(todo)
            except _db.integrity_errors(self.db):
                if attempt == 2:
                    raise
        return 0

    def add_check_run(self, document: dict[str, Any], *, source: str = "", branch: str = "") -> bool:
        """Keep one ``check --json`` document: its run and one result per (backend, op)."""
        header = RunHeader.from_dict(document.get("run") or {}, f"{source or 'check results'}: run")
        entries = [(norm, entry) for norm, block in (document.get("norms") or {}).items()
                   for entry in (block or {}).get("backends", [])]
        try:
            with self.db.transaction():
                pk, new = self._add_run("check", header, source, branch)
                if not new:
                    return False
                self.db.executemany(
                    "INSERT INTO check_results (run, backend, norm, failed, result) VALUES (?, ?, ?, ?, ?)",
                    [(pk, _text(e.get("backend") or e.get("name")), norm, int(_failed(e)),
                      json.dumps(e, default=str)) for norm, e in entries])
        except _db.integrity_errors(self.db):
            return False
        return True

    # -- reading -------------------------------------------------------------------------------
    def runs(self, kind: str | None = None) -> list[StoredRun]:
        """Every run (of ``kind``), oldest first by start time."""
        got = self.db.execute(
            "SELECT r.id, r.run_id, r.kind, m.fingerprint, m.name, r.started, r.git_commit, r.branch, r.source, "
            "(SELECT count(*) FROM measurements x WHERE x.run = r.id) + "
            "(SELECT count(*) FROM check_results c WHERE c.run = r.id) "
            "FROM runs r JOIN machines m ON m.id = r.machine"
            + (" WHERE r.kind = ?" if kind else "") + " ORDER BY r.started, r.id", (kind,) if kind else ())
        return [StoredRun(int(a), b, c, d, e, f, g, h, i, int(j)) for a, b, c, d, e, f, g, h, i, j in got]

    def run(self, ref: str, kind: str = "bench") -> StoredRun:
        """A run by id, unique id prefix, ``latest`` or ``latest~N`` (N runs before the latest on
        the latest's machine: a shared store's runs of other machines are not its history), each
        optionally ``@MACHINE`` (a machine's name or fingerprint)."""
        ref, _, machine = ref.partition("@")
        runs = [r for r in self.runs(kind) if not machine or machine in (r.machine_name, r.machine)]
        if not runs:
            raise InputError(f"store {self.name} holds no {kind} runs" + (f" of machine {machine!r}" if machine else ""))
        if ref == "latest" or ref.startswith("latest~"):
            runs = [r for r in runs if r.machine == runs[-1].machine]
            back = ref.partition("~")[2] or "0"
            if not back.isdigit() or int(back) >= len(runs):
                raise InputError(f"{ref!r}: the store holds {len(runs)} {kind} run(s) of machine {runs[-1].machine_name}")
            return runs[-1 - int(back)]
        hits = [r for r in runs if r.run_id == ref] or [r for r in runs if r.run_id.startswith(ref)]
        if len(hits) != 1:
            machines = sorted({r.machine_name for r in hits})
            raise InputError(f"run {ref!r}: " + ("no such run in " + self.name if not hits else
                                                 f"{len(hits)} runs match (machines {', '.join(machines)}); give more "
                                                 "of the id, or name the machine: ID@MACHINE"))
        return hits[0]

    def header(self, run: StoredRun) -> RunHeader:
        return RunHeader.from_dict(json.loads(self.db.execute("SELECT header FROM runs WHERE id = ?", (run.pk,))[0][0]))

    def rows(self, runs: Iterable[StoredRun]) -> list[dict[str, Any]]:
        """The bench rows of ``runs``, as ``bench --output`` wrote them (samples included)."""
        out = []
        for run in runs:
            for row, samples, process_n in self.db.execute(
                    "SELECT row, samples, process_n FROM measurements WHERE run = ? ORDER BY id", (run.pk,)):
                r = json.loads(row)
                r["samples_s"], r["process_n"] = json.loads(samples), json.loads(process_n)
                out.append(r)
        return out

    def machine_facts(self, name: str, cpu: str = "") -> dict[str, Any] | None:
        """The facts of the stored machine called ``name`` (with this ``cpu`` where given), when
        exactly one matches: how a CSV file's rows, which name only their machine and CPU, find
        the machine their JSON twin or an earlier run recorded."""
        hits = [facts for _, n, facts in self.machines() if n == name and (not cpu or facts.get("cpu") == cpu)]
        return hits[0] if len(hits) == 1 else None

    def machines(self) -> list[tuple[str, str, dict]]:
        return [(fp, name, json.loads(facts)) for fp, name, facts in
                self.db.execute("SELECT fingerprint, name, facts FROM machines ORDER BY id")]

    def check_results(self, run: StoredRun) -> list[dict[str, Any]]:
        return [json.loads(r) for (r,) in self.db.execute("SELECT result FROM check_results WHERE run = ? ORDER BY id",
                                                          (run.pk,))]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _failed(entry: dict[str, Any]) -> bool:
    """A check entry failed: a case failed, errored, timed out or crashed, or a required invariance."""
    from ..results import FAILING

    counts = entry.get("counts") or {}
    return any(counts.get(status) for status in FAILING) or bool(entry.get("failed"))


def _measurement(pk: int, r: dict[str, Any], policy: str) -> tuple:
    samples = [float(x) for x in (r.get("samples_s") or [])]
    process_n = [int(k) for k in (r.get("process_n") or [])]
    rest = {k: v for k, v in r.items() if k not in ("samples_s", "process_n")}
    row_policy = _text(r.get("memory_policy")) or policy
    return (pk, _text(r.get("backend")), _text(r.get("norm")), _text(r.get("op")), _text(r.get("shape")),
            _text(r.get("dtype")), _text(r.get("layout")), int(float(r.get("threads") or 0)),
            _text(r.get("backend_version")), row_policy, float(r["median_s"]), int(bool(r.get("unstable"))),
            int(bool(r.get("contended")) and r.get("contended") == r.get("contended")), json.dumps(samples),
            json.dumps(process_n), json.dumps(rest, default=_json_default))


def _json_default(v: Any) -> Any:
    try:
        return v.item()  # numpy scalars
    except AttributeError:
        return str(v)
