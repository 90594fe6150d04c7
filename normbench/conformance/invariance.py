"""Invariance: does the same input give the same bits?

Conformance asks whether a result is within tolerance of the float64 reference; this asks whether
it is the *same* every time, which an inference server (the same request batched with 1 or 37
others) and a reproducible training run need, and PyTorch's semantics do not promise. Each
property is decided bitwise on every output of a pass, gradients and saved statistics included:

* ``deterministic``: the same call twice in one process, and once in a fresh process, give the
  same bits (an unordered parallel accumulation of dW does not);
* ``batch-invariant``: a sample's (a row's) outputs do not depend on the batch around it: the
  first 1, 7 (a prime) and a power of two of the probe's samples, called alone, against the same
  samples inside the whole batch. Only the outputs that follow the batch axis are compared (dW and
  dB reduce over it by definition); a pass the op declares coupled to its batch (batch norm's
  training) is ``n/a``, with the op's reason;
* ``thread-invariant``: the same bits at 1 thread and at the usable cores (``n/a`` for a backend
  that takes no thread count);
* ``layout-invariant``: contiguous and channels_last (or strided) inputs give the same values.
  Reported, and required only when asked.

The probe is the op's (:attr:`normbench.opinfo.OpInfo.invariance_probe`): long reductions whose
lengths no vector width or block size divides (a row of 4099), values that are not exact sums,
every dtype the backend declares. None of this fails ``normbench check`` by default; ``--require``
makes chosen properties failures, and a backend's ``invariants`` (the properties it promises)
make a broken promise one.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from ..backend import declared_invariants, one_line
from ..dtypes import MACHINE_EPS, round_to_bfloat16, to_layout
from ..errors import InputError, Unsupported
from .._runtime.worker import RemoteError, Worker, WorkerError, handler
from . import checker
from .spec import Arg, Saved

#: property -> what it means (the table's legend)
PROPERTIES: dict[str, str] = {
    "deterministic": "the same call twice in one process, and in a fresh process, gives the same bits",
    "batch-invariant": "a sample's outputs do not depend on the batch around it (batches of 1, 7 and a power of two "
                       "against the whole probe)",
    "thread-invariant": "the same bits at 1 thread and at the usable cores",
    "layout-invariant": "contiguous and channels_last (or strided) inputs give the same bits",
}
#: short column heads
HEADS = {"deterministic": "deterministic", "batch-invariant": "batch", "thread-invariant": "threads",
         "layout-invariant": "layout"}
STATES = ("invariant", "variant", "n/a", "error")
#: the dtypes probed by default on a backend that compiles every configuration
COMPILED_DTYPES = ("float32",)

Outputs = list[tuple[str, Any]]  # (output name, host array or None), in call order


def parse_require(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``--require a,b``: the properties named, each one of :data:`PROPERTIES` (InputError if not)."""
    if not text:
        return ()
    items = [t for part in ([text] if isinstance(text, str) else text) for t in part.split(",") if t.strip()]
    names = tuple(dict.fromkeys(t.strip() for t in items))
    bad = [n for n in names if n not in PROPERTIES]
    if bad:
        raise InputError(f"unknown invariance property {bad[0]!r} in --require; expected one of {', '.join(PROPERTIES)}")
    return names


@dataclass(frozen=True)
class Verdict:
    """One property of one (backend, op, pass, dtype, layout): ``state`` is one of :data:`STATES`;
    for a variant one, the first output that differs and by how much."""

    state: str
    detail: str = ""
    output: str = ""
    #: the largest difference in ulps of each value (huge where a value is near zero)
    ulps: float | None = None
    #: the largest difference in ulps of the output's largest value: its size against the output
    scale_ulps: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Row:
    """The properties of one backend's pass at one dtype and layout. ``failed``: those required or
    promised that do not hold."""

    backend: str
    op: str
    pass_: str
    dtype: str
    layout: str
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    failed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"pass": self.pass_, "dtype": self.dtype, "layout": self.layout,
                "properties": {k: v.as_dict() for k, v in self.verdicts.items()}, "failed": list(self.failed)}

    @classmethod
    def from_dict(cls, backend: str, op: str, d: dict[str, Any]) -> "Row":
        return cls(backend, op, d["pass"], d["dtype"], d["layout"],
                   {k: Verdict(**v) for k, v in d.get("properties", {}).items()}, tuple(d.get("failed", ())))


def fmt_ulps(ulps: float | None) -> str:
    if ulps is None or not math.isfinite(ulps):
        return "non-finite"
    return f"{ulps:.3g} ulp"


# -- comparing bits --------------------------------------------------------------------------------
def _ulp(values: np.ndarray, dtype: str) -> np.ndarray:
    """The spacing of ``dtype`` at each of ``values`` (subnormals at the smallest normal's)."""
    eps = MACHINE_EPS[dtype]
    tiny = {"float64": 2.0**-1022, "float32": 2.0**-126, "float16": 2.0**-14, "bfloat16": 2.0**-126}[dtype]
    mag = np.maximum(np.abs(values), tiny)
    return eps * np.exp2(np.floor(np.log2(mag)))


def _unit(arr: np.ndarray, dtype: str) -> str:
    """The dtype whose ulps measure ``arr``: its own, or bfloat16 for the float32 host arrays that
    carry it (:mod:`normbench.dtypes`)."""
    own = str(arr.dtype)
    if own == "float32" and dtype == "bfloat16":
        finite = arr[np.isfinite(arr)]
        if np.array_equal(round_to_bfloat16(finite), finite):
            return "bfloat16"
    return own if own in MACHINE_EPS else "float64"


def difference(a: Outputs, b: Outputs, dtype: str) -> Verdict:
    """``invariant`` when every output of ``a`` has the bits of ``b``'s, else ``variant`` with the
    first output that differs: how many of its values, and the largest gap in ulps of its dtype."""
    if [n for n, _ in a] != [n for n, _ in b]:
        return Verdict("variant", f"outputs differ: {[n for n, _ in a]} against {[n for n, _ in b]}")
    for (name, x), (_, y) in zip(a, b):
        if x is None or y is None:
            if (x is None) != (y is None):
                return Verdict("variant", f"{name}: None in one run only", name)
            continue
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            return Verdict("variant", f"{name}: {x.dtype}{list(x.shape)} against {y.dtype}{list(y.shape)}", name)
        xb = np.ascontiguousarray(x).view(f"u{x.itemsize}") if x.dtype.kind == "f" else x
        yb = np.ascontiguousarray(y).view(f"u{y.itemsize}") if y.dtype.kind == "f" else y
        differs = xb != yb
        if not differs.any():
            continue
        count = int(differs.sum())
        xs, ys = x[differs].astype(np.float64), y[differs].astype(np.float64)
        unit = _unit(x, dtype)
        with np.errstate(invalid="ignore", over="ignore"):
            gap = np.abs(xs - ys)
            gaps = gap / _ulp(np.maximum(np.abs(xs), np.abs(ys)), unit)
            finite = np.abs(np.asarray(x, np.float64))[np.isfinite(x)]
            top = float(finite.max()) if finite.size else 0.0
            scaled = gap / _ulp(np.array(top), unit)
        ulps = float(np.nanmax(gaps)) if np.isfinite(gaps).any() else float("inf")
        scale_ulps = float(np.nanmax(scaled)) if np.isfinite(scaled).any() else float("inf")
        first = tuple(int(i) for i in np.argwhere(differs)[0])
        return Verdict("variant", f"{name}: {count} of {x.size} values differ, by up to {fmt_ulps(scale_ulps)} of its "
                                  f"largest value ({fmt_ulps(ulps)} of the value itself; first at {list(first)})",
                       name, ulps, scale_ulps)
    return Verdict("invariant")


def batch_difference(whole: Outputs, part: Outputs, k: int, m: int, dtype: str) -> Verdict | None:
    """The outputs of ``k`` samples called alone against the same samples' in the batch of ``m``;
    only the outputs whose first axis is the batch. None when no output follows the batch."""
    pairs = [((n, x[:k]), (n2, y)) for (n, x), (n2, y) in zip(whole, part)
             if x is not None and y is not None and np.ndim(x) and np.shape(x)[0] == m and np.shape(y)[0] == k]
    if not pairs:
        return None
    v = difference([p for p, _ in pairs], [q for _, q in pairs], dtype)
    if v.state == "variant":
        v = dataclasses.replace(v, detail=f"batch of {k} against {m}: {v.detail}")
    return v


def sub_batches(m: int) -> tuple[int, ...]:
    """1, a prime and a power of two below the probe's batch ``m``."""
    prime = next((p for p in (7, 5, 3, 2) if p < m), None)
    power = 2 ** int(math.log2(m - 1)) if m > 2 else None
    return tuple(sorted({k for k in (1, prime, power) if k and k < m}))


# -- in the backend's worker -----------------------------------------------------------------------
def _sliced(steps: list, m: int, k: int) -> list:
    """The steps with every per-sample array (first axis ``m``) cut to its first ``k`` samples."""
    def cut(a):
        if isinstance(a, Arg) and a.host is not None and a.host.ndim and a.host.shape[0] == m:
            return dataclasses.replace(a, host=a.host[:k])
        if isinstance(a, Saved) and a.fallback.ndim and a.fallback.shape[0] == m:
            return dataclasses.replace(a, fallback=a.fallback[:k])
        return a
    return [dataclasses.replace(st, args=tuple(cut(a) for a in st.args)) for st in steps]


def _laid_out(steps: list, shape: tuple[int, ...], layout: str) -> list:
    """The steps with every array of the input's shape (x, dy) holding the same values in ``layout``:
    the layouts are compared on the same data, whatever the op's data generation keys on."""
    def move(a):
        if isinstance(a, Arg) and a.host is not None and a.host.shape == shape:
            return dataclasses.replace(a, host=to_layout(np.ascontiguousarray(a.host), layout))
        return a
    return [dataclasses.replace(st, args=tuple(move(a) for a in st.args)) for st in steps]


def _outputs(op: Any, backend: Any, steps: list) -> Outputs:
    got: Outputs = []
    checker.execute(op.name, checker.CaseSession(backend), steps, collect=got)
    return got


@handler
def probe_in_worker(state, payload) -> dict[str, Any]:
    """Run one probe: ``(op, pass, dtype, layout, full)``. Always the pass once; with ``full`` again,
    and on sub-batches. Returns {"outputs", "again", "batches": {k: outputs}, "m"}, or {"n/a": why}
    for what the backend does not declare, or {"error": one line} for a pass that raised."""
    op_name, pass_, dtype, layout, full = payload
    op, b = state.ops[op_name], state.backend
    passes, why = checker.supported_passes(op, b, op.invariance_probe(dtype, layout))
    if pass_ not in passes:
        return {"n/a": why or f"{pass_} not declared"}
    case = op.invariance_probe(dtype, "contiguous")
    try:
        steps = op.plan(case, (pass_,))
        if layout != "contiguous":
            steps = _laid_out(steps, tuple(case.shape), layout)
        out: dict[str, Any] = {"m": case.shape[0], "outputs": _outputs(op, b, steps)}
        if full:
            out["again"] = _outputs(op, b, steps)
            m = case.shape[0]
            out["batches"] = {k: _outputs(op, b, _sliced(steps, m, k)) for k in sub_batches(m)}
        return out
    except Unsupported as exc:
        return {"n/a": str(exc)}
    except Exception as exc:  # noqa: BLE001 - the backend's error is the finding
        return {"error": one_line(exc)}


# -- in the harness --------------------------------------------------------------------------------
def alternative_layout(op: Any) -> str | None:
    """The layout compared with contiguous: channels_last where the op has it, else strided."""
    return next((lay for lay in ("channels_last", "strided") if lay in op.layouts), None)


def _ask(worker: Worker, payload: tuple, timeout: float | None) -> dict[str, Any]:
    try:
        worker.ensure(timeout)
        return worker.request(probe_in_worker, payload, timeout)
    except WorkerError as exc:
        return {"error": f"{exc.kind}: {exc}"}
    except RemoteError as exc:
        return {"error": f"{exc.type_name}: {exc}"}


def probe_pair(name: str, op: Any, worker: Worker, *, plugins: Sequence[str] = (), threads: int | None = None,
               scope: dict | None = None, timeout: float | None = None, dtypes: Iterable[str] | None = None,
               require: Sequence[str] = (), promised: Sequence[str] = ()) -> list[Row]:
    """Every property of backend ``name`` on ``op``, each pass, dtype and layout it declares: the
    probes run in ``worker`` (the backend's, at ``threads``), in one fresh worker at the same
    threads (determinism across processes) and in one at a single thread. ``require`` and
    ``promised``: properties whose variant verdict is a failure (:attr:`Row.failed`)."""
    if op.invariance_probe is None:
        return []
    fresh = Worker(name, tuple(plugins), threads, scope)
    single = Worker(name, tuple(plugins), 1, scope)
    rows: list[Row] = []
    wanted = set(require) | set(promised)
    try:
        takes_threads = worker.ensure(timeout).get("threads") is not None
        alt = alternative_layout(op)
        for pass_ in op.passes:
            for dtype in dtypes or op.dtypes:
                base: dict[str, Any] | None = None
                for layout in ("contiguous",) + ((alt,) if alt else ()):
                    main = _ask(worker, (op.name, pass_, dtype, layout, True), timeout)
                    if "n/a" in main:
                        continue
                    row = Row(name, op.name, pass_, dtype, layout)
                    if "error" in main:
                        row.verdicts = {p: Verdict("error", main["error"]) for p in PROPERTIES}
                    else:
                        row.verdicts = _judge(op, pass_, dtype, layout, main, base,
                                              _ask(fresh, (op.name, pass_, dtype, layout, False), timeout),
                                              _ask(single, (op.name, pass_, dtype, layout, False), timeout)
                                              if takes_threads else None)
                        if layout == "contiguous":
                            base = main
                    row.failed = tuple(p for p, v in row.verdicts.items() if p in wanted and v.state in ("variant", "error"))
                    rows.append(row)
    finally:
        fresh.stop()
        single.stop()
    return rows


def _judge(op: Any, pass_: str, dtype: str, layout: str, main: dict, base: dict | None, fresh: dict,
           single: dict | None) -> dict[str, Verdict]:
    out = main["outputs"]
    det = difference(out, main["again"], dtype)
    if det.state == "invariant":
        det = ("error" in fresh and Verdict("error", f"fresh process: {fresh['error']}")) or \
            _labelled(difference(out, fresh.get("outputs", []), dtype), "fresh process")
    else:
        det = _labelled(det, "twice in one process")
    if pass_ in op.batch_coupled:
        batch = Verdict("n/a", op.batch_coupled[pass_])
    else:
        found = [batch_difference(out, part, int(k), main["m"], dtype) for k, part in main["batches"].items()]
        found = [v for v in found if v is not None]
        batch = next((v for v in found if v.state != "invariant"), None) or \
            (Verdict("invariant") if found else Verdict("n/a", "no output follows the batch"))
    if single is None:
        threads = Verdict("n/a", "the backend takes no thread count")
    elif "error" in single:
        threads = Verdict("error", f"1 thread: {single['error']}")
    else:
        threads = _labelled(difference(out, single.get("outputs", []), dtype), "1 thread against the cores")
    if layout == "contiguous":
        lay = Verdict("n/a", "the contiguous row is the one compared against")
    elif base is None:
        lay = Verdict("n/a", "contiguous not declared")
    else:
        lay = _labelled(difference(base["outputs"], out, dtype), f"contiguous against {layout}")
    return {"deterministic": det, "batch-invariant": batch, "thread-invariant": threads, "layout-invariant": lay}


def _labelled(v: Verdict, what: str) -> Verdict:
    return dataclasses.replace(v, detail=f"{what}: {v.detail}") if v.state == "variant" else v


def promised_by(backend: Any) -> tuple[str, ...]:
    """The properties a backend promises (its ``invariants``), those this module knows."""
    return tuple(p for p in declared_invariants(backend) if p in PROPERTIES)


@dataclass(frozen=True)
class Request:
    """What ``check`` asks of each (backend, op) pair after its cases: the properties required of
    every backend (``--require``), and the dtypes probed (None: every dtype the op has, but float32
    alone on a backend that compiles every configuration, where each probe shape is a compilation:
    about 2 s each on torch.compile, 20 minutes for every dtype of the five ops)."""

    require: tuple[str, ...] = ()
    dtypes: tuple[str, ...] | None = None

    def probe(self, name: str, op: Any, worker: Worker, registry: Any, *, plugins: Sequence[str] = (),
              threads: int | None = None, timeout: float | None = None) -> list[Row]:
        backend = registry.get(name)
        dtypes = self.dtypes or (COMPILED_DTYPES if getattr(backend, "compiles_per_configuration", False) else None)
        return probe_pair(name, op, worker, plugins=plugins, threads=threads, scope=registry.worker_scope(name),
                          timeout=timeout, dtypes=dtypes, require=self.require, promised=promised_by(backend))


# -- summaries -------------------------------------------------------------------------------------
def summary_cells(rows: Sequence[Row]) -> dict[str, str]:
    """One (backend, op)'s rows as one cell per property: yes when every pass, dtype and layout is
    invariant; else the first variant one, with how many of the rows are variant."""
    cells = {}
    for p in PROPERTIES:
        vs = [(r, r.verdicts[p]) for r in rows if p in r.verdicts]
        bad = [(r, v) for r, v in vs if v.state in ("variant", "error")]
        if not vs or all(v.state == "n/a" for _, v in vs):
            cells[p] = "n/a"
        elif bad:
            r, v = bad[0]
            where = f"{r.pass_} {r.dtype}" + ("" if r.layout == "contiguous" else f" {r.layout}")
            what = f"{v.output} {fmt_ulps(v.scale_ulps)}" if v.state == "variant" and v.scale_ulps is not None else \
                (v.output or v.state)
            cells[p] = f"no: {where}: {what}" + (f" (+{len(bad) - 1})" if len(bad) > 1 else "")
        else:
            cells[p] = "yes"
    return cells
