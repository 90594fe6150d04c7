"""Typed records of what a run writes: its header, and one measurement (a bench row).

Each field is declared once, here, with its type and meaning; the bench file's JSON is these
records serialized under a version (``normbench_bench``, :data:`BENCH_SCHEMA`), and reading a
file parses every header and row back through them. A file from a newer normbench, a row missing
what identifies it, or a value of the wrong type is refused in one line naming the file and the
row. Files of older schemas load, with the columns they lack left empty.

Rows travel as flat dicts (:meth:`Measurement.as_row`) where pandas takes them: tables, reports,
``compare``. The record, not the dict, is what bench makes and what a file is checked against.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .errors import InputError

#: version of the bench file layout: 3 = header per run ("runs"), raw samples and spread per row;
#: 4 = samples per process (``process_n``), memory policy, page faults and contention per row;
#: 5 = processes per row decided by a rule (``stop``, ``half_width``), modes, the cause of an
#: unstable row, placements (files of 4 read as before: their rows have none of these)
BENCH_SCHEMA = 5
#: version of ``check --json``
CHECK_SCHEMA = 3


@dataclass
class RunHeader:
    """One run: what made it and where (README, "What a result file says about its run")."""

    run_id: str
    started: str = ""
    ended: str = ""
    schema: int = BENCH_SCHEMA
    normbench_version: str = ""
    git_commit: str = ""
    command: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    environment_variables: dict[str, str] = field(default_factory=dict)
    #: the timing protocol: rigor (processes, samples, budget), memory policy, seed (bench runs only)
    protocol: dict[str, Any] | None = None
    #: backend name -> version, environment, threads, memory policy; bench fills it in as it goes
    backends: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if out["protocol"] is None:
            del out["protocol"]
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "run header") -> "RunHeader":
        if not isinstance(d, Mapping):
            raise InputError(f"{where}: a run header must be an object, got {type(d).__name__}")
        if not d.get("run_id"):
            raise InputError(f"{where}: the run header has no run_id")
        schema = d.get("schema", BENCH_SCHEMA)
        if not isinstance(schema, int) or schema > max(BENCH_SCHEMA, CHECK_SCHEMA):
            raise InputError(f"{where}: run header schema {schema!r} is newer than this normbench reads "
                             f"(up to {BENCH_SCHEMA}); upgrade normbench")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        for name in ("machine", "environment_variables", "backends"):
            if values.get(name) is None:
                values[name] = {}
            elif not isinstance(values[name], Mapping):
                raise InputError(f"{where}: {name!r} must be an object, got {type(values[name]).__name__}")
        return cls(**values)


def _blank(v: Any) -> bool:
    """An empty cell: None (JSON null), "" or NaN (what pandas reads from an empty CSV cell)."""
    return v is None or (isinstance(v, str) and v == "") or (isinstance(v, float) and math.isnan(v))


def _num(v: Any) -> float | None:
    return None if _blank(v) else float(v)


def _samples(v: Any) -> list[float]:
    """A sample list from JSON (a list) or CSV (a space-separated cell)."""
    if isinstance(v, list):
        return [float(x) for x in v]
    return [] if _blank(v) else [float(x) for x in str(v).split()]


@dataclass
class Measurement:
    """One (configuration, backend) of a bench run: the samples of every process and what they
    summarize to, the bandwidth floor, and what else ran (bench.py's module doc, "the protocol")."""

    norm: str
    backend: str
    op: str  # the pass
    shape: str
    dtype: str = ""
    layout: str = ""
    threads: int | str = ""
    median_s: float | None = None
    q1_s: float | None = None
    q3_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    n_samples: int | None = None
    #: IQR / median of all samples
    dispersion: float | None = None
    unstable: bool | None = None
    repeat: int | None = None
    #: calls per sample
    number: int | None = None
    bytes: int | None = None
    gbps: float | None = None
    #: a memory copy of the same bytes with the same threads, in the same run: the copy-floor row's
    #: GB/s under the protocol with ``bench --floor``, else one best-of-7 copy in the harness
    copy_gbps: float | None = None
    floor_fraction: float | None = None
    #: untimed preparation (JIT compilation, data, warm-up)
    compile_s: float | None = None
    #: 1-minute load average around the row
    load_before: float | None = None
    load_after: float | None = None
    memory_policy: str | None = None
    #: minor page faults per call: what allocation cost
    faults_per_call: float | None = None
    #: a process could not get its samples uncontended
    contended: bool | None = None
    #: samples taken while descheduled: re-taken, or kept in a contended row
    set_aside: int | None = None
    wait_fraction: float | None = None
    cpu_fraction: float | None = None
    runnable_tasks: float | None = None
    steal_fraction: float | None = None
    process_dispersion: float | None = None
    processes: int | None = None
    machine: str = ""
    cpu: str = ""
    backend_version: str = ""
    device: str = ""
    timestamp: str = ""
    run_id: str = ""
    #: what the timing includes beyond the pass, as the backend declares it (Backend.timing_notes)
    note: str = ""
    #: every sample (seconds), process after process
    samples_s: list[float] = field(default_factory=list)
    #: samples each process gave, in order
    process_n: list[int] = field(default_factory=list)
    #: relative half-width of the 95% interval of the row's location (normbench._timing.sequential)
    half_width: float | None = None
    #: why the row got no more processes: sure, cap, futile (its cap could not make it sure), fixed, lost,
    #: running (a run still going)
    stop: str = ""
    #: what makes an unstable row unstable: modes, within, between, short, few (run header: remedies)
    unstable_cause: str = ""
    #: groups of the processes' medians, flat triples (low_s, high_s, processes); empty: one group
    modes: list[float] = field(default_factory=list)
    #: each process's placement pad in bytes (empty: placement left to the heap)
    placements: list[int] = field(default_factory=list)
    #: the op's axes of the shape (batch, channels, hidden...), written after "shape"
    axes: dict[str, int] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        """The flat row: :data:`COLUMNS`, with the axes after "shape"."""
        out: dict[str, Any] = {}
        for name in COLUMNS:
            out[name] = getattr(self, name)
            if name == "shape":
                out.update(self.axes)
        return out

    @classmethod
    def from_row(cls, row: Mapping[str, Any], where: str = "row") -> "Measurement":
        """Parse a row read from a bench file (JSON or CSV); unknown columns are the op's axes."""
        missing = [k for k in IDENTITY if _blank(row.get(k))]
        if missing:
            raise InputError(f"{where}: no {missing[0]!r} (a bench row needs {', '.join(IDENTITY)})")
        values: dict[str, Any] = {}
        axes: dict[str, int] = {}
        for k, v in row.items():
            if k in _KINDS:
                try:
                    values[k] = _KINDS[k](v)
                except (TypeError, ValueError):
                    raise InputError(f"{where}: {k} = {v!r} is not {_KIND_NAMES.get(_KINDS[k], 'valid')}") from None
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and not _blank(v):
                axes[k] = int(v)
        m = cls(**values, axes=axes)
        n = len(m.samples_s)
        if n and m.n_samples is not None and n != m.n_samples:
            raise InputError(f"{where}: {n} samples recorded but n_samples says {m.n_samples} (a truncated or edited file?)")
        if n and m.process_n and sum(m.process_n) != n:
            raise InputError(f"{where}: {n} samples recorded but process_n adds up to {sum(m.process_n)} "
                             "(a truncated or edited file?)")
        return m


def _int(v: Any) -> int | None:
    n = _num(v)
    return None if n is None else int(n)


def _bool(v: Any) -> bool | None:
    if _blank(v):
        return None
    if isinstance(v, str):
        if v.lower() not in ("true", "false"):
            raise ValueError(v)
        return v.lower() == "true"
    return bool(v)


def _str(v: Any) -> str:
    return "" if _blank(v) else str(v)


def _threads(v: Any) -> int | str:
    n = _num(v) if not isinstance(v, str) or v.strip() else None
    return "" if n is None else int(n)


#: the columns of a row, in order (the axes follow "shape")
COLUMNS = ["norm", "backend", "op", "dtype", "layout", "shape"] + [
    f.name for f in dataclasses.fields(Measurement) if f.name not in ("norm", "backend", "op", "dtype", "layout", "shape",
                                                                       "axes")]
#: what a row cannot lack
IDENTITY = ("norm", "backend", "op", "shape")
#: what one configuration is, whoever measured it: the op, its pass, shape, dtype and layout. The
#: one definition: compare, the report, the store, the floor and bench --resume all key rows by it
#: (with the backend and threads where they tell measurements apart)
CONFIG = ("norm", "op", "shape", "dtype", "layout")


def key_value(v: Any) -> str:
    """One field of a key as text: None and NaN are "", a whole float (threads read back from CSV
    as 2.0) its integer."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def config_key(row: Mapping[str, Any], keys: Sequence[str] = CONFIG) -> tuple[str, ...]:
    """A row's ``keys`` (default: its configuration, :data:`CONFIG`) as a tuple of text."""
    return tuple(key_value(row.get(k)) for k in keys)


def columns_for(rows: list[dict[str, Any]]) -> list[str]:
    """:data:`COLUMNS` with the axes of every op in ``rows`` after "shape", in order of appearance."""
    axes = [k for r in rows for k in r if k not in COLUMNS]
    at = COLUMNS.index("shape") + 1
    return COLUMNS[:at] + list(dict.fromkeys(axes)) + COLUMNS[at:]
_KINDS = {f.name: {"float | None": _num, "int | None": _int, "bool | None": _bool, "str": _str,
                   "str | None": lambda v: _str(v) or None, "list[float]": _samples,
                   "list[int]": lambda v: [int(x) for x in _samples(v)], "int | str": _threads}[f.type]
          for f in dataclasses.fields(Measurement) if f.name != "axes"}
_KIND_NAMES = {_num: "a number", _int: "an integer", _bool: "true or false", _samples: "a list of numbers",
               _threads: "a thread count"}
