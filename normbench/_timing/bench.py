"""Timing backends fairly: same inputs, same threads, same memory policy, fresh processes, device sync.

Op-agnostic: the op's record (:class:`~normbench.opinfo.OpInfo`) makes the data, converts it and
returns the call to time (``bench_call``), and says how many bytes a pass moves. The protocol
(README, "How normbench times"):

- **Memory policy**: every worker of every backend starts under one allocator policy
  (:mod:`normbench._runtime.memory`, default ``reuse``), recorded per row with the page faults per call.
- **Processes** (pyperf's model, :func:`run_grid`, :mod:`normbench._timing.schedule`): each
  (configuration, backend) is measured in fresh worker processes, backends interleaved per round
  in a random order, as many as the row needs between the rigor's minimum and cap
  (:mod:`normbench._timing.sequential`: until its interval is within the target; modes run to the cap),
  each process with its placement drawn at random.
- **Budget** (:func:`run_samples`): per process, samples of ``number`` calls (>= 2 ms each, as
  timeit and asv choose it) until both a minimum count and a minimum timed duration are in;
  samples taken while the process was descheduled are set aside and re-taken
  (:mod:`normbench._timing.contention`).
- **Intervals** (:mod:`normbench._results.stats`) model both levels: samples within a process, and
  processes within a run.

Preparation (JIT compilation), data, conversion and warm-up are untimed (``compile_s`` records
them). Output allocation is inside the timed call, as a user pays it. Each row also carries the
bandwidth floor: a memory copy of the same bytes with the same threads gives
``floor_fraction = achieved GB/s / copy GB/s`` (bytes: the op's byte model). Without ``--floor``
the copy is timed once per run in the harness (best of 7: a rough figure that drifts between
runs); with it, the copy is one more backend measured under this protocol (:mod:`normbench._timing.floor`).
"""
from __future__ import annotations

import datetime as _dt
import math
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable


from . import floor, sequential
from .._runtime import memory
from .. import records
from ..backend import Backend, safe_call, timing_note, why_unsupported
from ..errors import Unsupported
from ..opinfo import OpInfo, format_shape
from .._results.stats import summarize
from .._runtime.worker import handler

MIN_SAMPLE_S = 2e-3
#: a busy warm-up before a process's samples (calibration's calls count toward it): 20 ms moved no
#: quick-grid row's median beyond the noise of repeated 50 ms warm-ups, three runs of 129 configurations
#: (reports/protocol/settle), and saves 30 ms a process
SETTLE_S = 0.02
#: calibration's calls count toward SETTLE_S when the samples start within this of their end
WARM_GAP_S = 0.01
#: a process keeps taking samples, setting contended ones aside, for at most this times its budget
RETRY_FACTOR = 4
#: samples per process at most, whatever the budget (a 2 ms floor per sample bounds it anyway)
MAX_SAMPLES = 400
#: configurations measured by one worker process in a row (see blocks_of)
BLOCK = 128
#: a placement pad is this many bytes plus the drawn offset: above pymalloc's 512-byte limit, so
#: it comes from malloc's heap, where the call's output will come from
PAD_BASE = 1024


@dataclass(frozen=True)
class Rigor:
    """How hard to measure: per (configuration, backend) between ``min_processes`` and
    ``max_processes`` fresh processes, more while the row's 95% interval is wider than ``target``
    (relative) or its processes form modes (:mod:`normbench._timing.sequential`); per process the fewest
    samples and the least timed time (seconds of calls, contended samples not counted)."""

    name: str
    min_processes: int
    max_processes: int
    target: float
    min_samples: int
    budget_s: float
    #: stop a row early whose cap could not make it sure (:class:`normbench._timing.sequential.Rule`)
    futility: float = 0.0

    @property
    def processes(self) -> int:
        """The fewest processes a row has (a fixed count when min == max)."""
        return self.min_processes

    @property
    def rule(self) -> sequential.Rule:
        return sequential.Rule(self.min_processes, self.max_processes, self.target, futility=self.futility)


#: the presets; default's bounds and target from reports/protocol/sequential (a replay of the rule on
#: rows measured in 12 processes on a 2-core VM: 3-6 processes at ±10% cover the full-run location
#: in 95% of stopped rows, at about 5 processes a row where 2 threads share 2 cores); quick, a first
#: look, also stops a row its cap could not make sure (reports/protocol/sequential/futility)
RIGORS = {
    "quick": Rigor("quick", 2, 4, 0.15, 5, 0.05, futility=1.5),
    "default": Rigor("default", 3, 6, 0.10, 7, 0.05),
    "rigorous": Rigor("rigorous", 5, 20, 0.03, 10, 0.2),
}

#: columns of every row, declared with their types and meanings in :class:`normbench.records.Measurement`
#: (the axes of the row's op, OpInfo.axes, follow "shape")
COLUMNS = records.COLUMNS


def machine_info() -> dict[str, Any]:
    """Machine facts recorded with every run (:func:`normbench._results.runinfo.machine_facts`)."""
    from .._results.runinfo import machine_facts

    return machine_facts()


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none): a busy machine shows here."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


@dataclass
class Prepared:
    """A ready-to-time call on native arrays, plus what it needs around it."""

    call: Callable[[], Any]
    backend: Backend
    nbytes: int


def prepare_call(backend: Backend, op: OpInfo, pass_: str, shape: tuple[int, ...], dtype: str, layout: str,
                 seed: int = 0) -> Prepared:
    """Make inputs and convert them (untimed). Raises Unsupported for what the backend lacks."""
    why = why_unsupported(backend, op, pass_, dtype, layout, len(shape))
    if why:
        raise Unsupported(why)
    nbytes = op.bytes_moved(pass_, shape, dtype)
    if floor.is_floor(backend):  # bench --floor: a copy of the bytes this pass moves
        return Prepared(backend.copy_call(nbytes), backend, nbytes)
    return Prepared(op.bench_call(backend, pass_, shape, dtype, layout, seed), backend, nbytes)


def calibrate(p: Prepared) -> tuple[int, float]:
    """Warm up (timed separately) and choose ``number`` so a sample lasts >= 2 ms.

    Returns (number, warm-up seconds). One untimed call first: it may compile or allocate
    lazily. A second call of 10 ms or more settles it (``number`` = 1, as timeit's
    autorange stops at the first loop count long enough); shorter ones take the best of three.
    """
    sync = p.backend.synchronize
    t0 = time.perf_counter()
    p.call()
    sync()
    warmup = time.perf_counter() - t0
    once = _sample(p.call, sync, 1)
    if once < 5 * MIN_SAMPLE_S:
        once = min(once, *(_sample(p.call, sync, 1) for _ in range(2)))
    return max(1, min(1000, math.ceil(MIN_SAMPLE_S / max(once, 1e-7)))), warmup


def time_prepared(p: Prepared, repeat: int) -> tuple[list[float], int, float]:
    """Calibrate, then ``repeat`` samples; returns (samples, number, warmup_s)."""
    number, warmup = calibrate(p)
    return [_sample(p.call, p.backend.synchronize, number) for _ in range(repeat)], number, warmup


def _sample(call, sync, number: int) -> float:
    sync()
    t0 = time.perf_counter()
    for _ in range(number):
        call()
    sync()
    return (time.perf_counter() - t0) / number


_copy_cache: dict[tuple[int, int], float] = {}


def copy_bandwidth(nbytes: int, threads: int, repeat: int = 7) -> float:
    """GB/s of a memory copy moving ``nbytes`` (half read, half written) with up to ``threads`` threads,
    timed once in this process: the faster of :func:`normbench._timing.floor.copy_calls`, best of
    ``repeat`` (the floor is what the machine *can* do). ``bench --floor`` times the same copies
    under the protocol instead."""
    key = (nbytes, threads)
    if key in _copy_cache:
        return _copy_cache[key]
    threads = max(1, threads)

    def best_of(copy) -> float:
        copy()
        number = max(1, math.ceil(MIN_SAMPLE_S / max(_sample(copy, lambda: None, 1), 1e-7)))
        return min(_sample(copy, lambda: None, number) for _ in range(repeat))

    with ThreadPoolExecutor(threads) as pool:
        best = min(best_of(c) for c in floor.copy_calls(nbytes, threads, pool))
    gbps = 2 * max(1, nbytes // 2 // 8) * 8 / best / 1e9
    _copy_cache[key] = gbps
    return gbps


def run_samples(p: Prepared, number: int, min_samples: int, budget_s: float, warm_s: float = 0.0) -> dict[str, Any]:
    """A busy warm-up, then samples of ``number`` calls until at least ``min_samples`` uncontended
    samples *and* ``budget_s`` seconds of uncontended timed calls are in (``blocked_autorange``'s
    and pyperf's idea: a time budget, not a count).

    Busy warm-up first: the previous work's OpenMP threads keep spin-waiting for milliseconds and
    the first calls run up to 3x slow (``warm_s``: seconds of calls that have just run, such as
    calibration's, which count toward it). Around every sample (outside its timed region) the
    process's run delay and preemptions are read (:mod:`normbench._timing.contention`); a sample taken
    while the kernel was descheduled is set aside and taken again, up to :data:`RETRY_FACTOR`
    times the budget. Returns the samples, how many were set aside, ``contended`` when the
    process still lacks ``min_samples`` uncontended samples (its contended ones are then kept
    too), and per-call page faults (``getrusage``'s minor-fault
    delta over every timed call: a timing dominated by allocation shows here).
    """
    return sample_in_blocks({"call": (p, number)}, ["call"], min_samples, budget_s, warm_s)["call"]


def sample_in_blocks(calls: dict[str, tuple[Prepared, int]], order: list[str], min_samples: int, budget_s: float,
                     warm_s: float = 0.0) -> dict[str, dict[str, Any]]:
    """:func:`run_samples` for one or more prepared calls (name: (prepared, calls per sample)),
    their samples taken in blocks: one sample of each in ``order``, then, for two or more, one of
    each in reverse (A B B A), so that each call's samples stay aligned with the others'. A block
    with a contended sample is set aside whole. Each call gets ``min_samples`` samples and
    ``budget_s`` seconds of timed calls, and the warm-up runs their calls in turn."""
    from . import contention

    block = list(order) if len(order) == 1 else list(order) + list(order)[::-1]
    per_block = len(block) // len(order)
    t_end = time.perf_counter() + SETTLE_S - warm_s
    while time.perf_counter() < t_end:
        for name in order:
            calls[name][0].call()
    for name in order:
        calls[name][0].backend.synchronize()
    kept: dict[str, list[float]] = {name: [] for name in order}
    aside: dict[str, list[float]] = {name: [] for name in order}
    waits: dict[str, list[float]] = {name: [] for name in order}
    cpus: dict[str, list[float]] = {name: [] for name in order}
    faults = {name: 0 for name in order}
    others: list[int] = []
    steal0, started, limit = contention.steal_ticks(), time.perf_counter(), None
    need = per_block * max(1, math.ceil(min_samples / per_block))
    while True:
        got, contended = [], False
        for name in block:
            p, number = calls[name]
            a = contention.read()
            s = _sample(p.call, p.backend.synchronize, number)
            b = contention.read()
            faults[name] += b.minflt - a.minflt
            state = contention.between(a, b)
            contended |= state.contended
            if state.wait_fraction is not None:
                waits[name].append(state.wait_fraction)
            cpus[name].append(state.cpu_fraction)
            got.append((name, s))
        n = contention.runnable_tasks()
        if n is not None:
            others.append(n)
        for name, s in got:
            (aside if contended else kept)[name].append(s)
        if limit is None:  # from the first block's length: slow calls get the time their samples need
            first = time.perf_counter() - started
            limit = started + RETRY_FACTOR * max(len(order) * budget_s, first * need / per_block) + 0.5
        have = len(kept[order[0]])
        done = have >= need and all(sum(kept[name]) * calls[name][1] >= budget_s for name in order)
        if done or have >= MAX_SAMPLES or time.perf_counter() > limit:
            break
    wall = time.perf_counter() - started
    steal1 = contention.steal_ticks()
    short = len(kept[order[0]]) < need and bool(aside[order[0]])  # short of samples because of the machine
    out = {}
    for name in order:
        number = calls[name][1]
        out[name] = {
            # a contended process keeps its contended samples too (its row is marked and left out of summaries)
            "samples": kept[name] + aside[name] if short else kept[name], "set_aside": len(aside[name]),
            "contended": short,
            "faults_per_call": faults[name] / max(1, (len(kept[name]) + len(aside[name])) * number),
            "wait_fraction": statistics.median(waits[name]) if waits[name] else None,
            "cpu_fraction": statistics.median(cpus[name]),
            "runnable_tasks": statistics.median(others) if others else None,
            "steal_fraction": (None if steal0 is None or steal1 is None
                               else (steal1 - steal0) / (os.sysconf("SC_CLK_TCK") * wall * (os.cpu_count() or 1))),
        }
    return out


def _row(op: OpInfo, pass_: str, shape, dtype: str, layout: str, backend: str, procs: list[dict[str, Any]], *,
         threads: int | None, asked_threads: int | None, machine: dict, run_id: str, policy: str,
         facts: dict | None = None, rule: sequential.Rule | None = None, stop: str = "",
         prior: sequential.Prior | None = None, shifts: list[float] | None = None) -> dict[str, Any]:
    """One row (a :class:`~normbench.records.Measurement`, flat) from the per-process results of one
    (configuration, backend). With the run's ``rule`` the row says whether it is sure, its
    interval's half-width, its modes and the cause of its instability (:mod:`normbench._timing.sequential`);
    ``stop`` is why it got no more processes (:meth:`normbench._timing.schedule.Manager.state`)."""
    facts = facts or {}
    samples = [s for p in procs for s in p["samples"]]
    spread = summarize(samples, [len(p["samples"]) for p in procs])
    judged: dict[str, Any] = {}
    if rule is not None:
        number = int(statistics.median(p["number"] for p in procs))
        a = sequential.assess([p["samples"] for p in procs], rule, number, prior, shifts)
        cause = sequential.diagnose(a, rule, lost=stop == "lost")
        spread["unstable"] = bool(cause)
        judged = {"half_width": a.half_width if math.isfinite(a.half_width) else None,
                  "modes": [v for m in a.modes for v in m.as_list()], "unstable_cause": cause, "stop": stop,
                  "placements": [] if any(p.get("placement") is None for p in procs)
                  else [p["placement"] for p in procs]}
    nbytes = procs[0]["nbytes"]
    gbps = nbytes / spread["median_s"] / 1e9
    # the machine's bandwidth with the threads asked for, whatever the backend managed to use;
    # a device backend measures its own memory (Backend.copy_gbps, optional)
    copy = facts.get("copy_gbps") or copy_bandwidth(nbytes, asked_threads or threads or 1)

    def med(key):
        vals = [p[key] for p in procs if p.get(key) is not None]
        return statistics.median(vals) if vals else None

    env = facts.get("environment", {})
    return records.Measurement(
        norm=op.name, backend=backend, op=pass_, dtype=dtype, layout=layout, shape=format_shape(shape),
        axes=dict(op.axes_of(shape)), threads=threads if threads is not None else "",
        **spread, repeat=len(samples), number=int(statistics.median(p["number"] for p in procs)),
        bytes=nbytes, gbps=gbps, copy_gbps=copy, floor_fraction=gbps / copy,
        compile_s=procs[0]["compile_s"], load_before=procs[0].get("load"), load_after=procs[-1].get("load_after"),
        memory_policy=policy, faults_per_call=med("faults_per_call"),
        contended=any(p["contended"] for p in procs), set_aside=sum(p["set_aside"] for p in procs),
        wait_fraction=med("wait_fraction"), cpu_fraction=med("cpu_fraction"),
        runnable_tasks=med("runnable_tasks"), steal_fraction=med("steal_fraction"),
        machine=machine["machine"], cpu=machine["cpu"],
        backend_version=facts.get("version", ""), device=env.get("device_name", env.get("device", "cpu")),
        timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), run_id=run_id,
        note=procs[0].get("note", ""), samples_s=samples, process_n=[len(p["samples"]) for p in procs], **judged,
    ).as_row()


def measure(
    backend: Backend, op: OpInfo, pass_: str, shape: tuple[int, ...], dtype: str, layout: str, *,
    rigor: str | Rigor = "default", threads: int | None = None, machine: dict | None = None, repeat: int | None = None,
) -> dict[str, Any]:
    """One benchmark row (a flat :class:`normbench.records.Measurement`) measured in *this*
    process, for the Python API and asv (which isolates benchmarks itself): one process only,
    under whatever allocator policy the caller's process has (recorded as ``caller``), with
    ``rigor`` (``"quick"``, ``"default"`` or ``"rigorous"``) setting the samples. ``normbench
    bench`` and ``run`` measure in fresh processes instead. Raises :class:`normbench.Unsupported`
    for what the backend lacks."""
    r = rigor if isinstance(rigor, Rigor) else RIGORS[rigor]
    in_effect = safe_call(lambda: backend.set_threads(threads))
    t0 = time.perf_counter()
    backend.prepare(op.name, dtype, layout, len(shape))
    compile_s = time.perf_counter() - t0
    p = prepare_call(backend, op, pass_, shape, dtype, layout)
    number, warmup = calibrate(p)
    got = run_samples(p, number, repeat or r.min_samples, r.budget_s)
    from ..backend import timing_note

    proc = {**got, "nbytes": p.nbytes, "number": number, "compile_s": compile_s + warmup,
            "note": timing_note(backend, op.name, pass_), "load": load_average(), "load_after": load_average()}
    return _row(op, pass_, shape, dtype, layout, backend.name, [proc], threads=in_effect, asked_threads=threads,
                machine=machine or machine_info(), run_id="", policy="caller",
                facts={"version": safe_call(backend.version, "")})


@dataclass
class Config:
    """One measurement to make: an op's pass on a shape, dtype and layout."""

    op: OpInfo
    pass_: str
    shape: tuple[int, ...]
    dtype: str
    layout: str

    def label(self) -> str:
        return f"{self.op.name} {self.pass_} {format_shape(self.shape)} {self.dtype} {self.layout}"

    def key(self) -> tuple[str, ...]:
        """The key of the rows this configuration makes (:func:`normbench.records.config_key`)."""
        return records.config_key({"norm": self.op.name, "op": self.pass_, "shape": format_shape(self.shape),
                                   "dtype": self.dtype, "layout": self.layout})

    def __hash__(self) -> int:
        return hash((self.op.name, self.pass_, self.shape, self.dtype, self.layout))

    def __eq__(self, other) -> bool:
        return isinstance(other, Config) and (self.op.name, self.pass_, self.shape, self.dtype, self.layout) == (
            other.op.name, other.pass_, other.shape, other.dtype, other.layout)


def blocks_of(todo: list[Config], size: int = BLOCK) -> list[list[Config]]:
    """The plan cut into consecutive blocks of at most ``size`` configurations, as even as can be
    (ops may share a block): in every round, one fresh worker per backend measures the block's
    configurations of the ops it implements, so process start-up is paid per block, not per
    configuration or per op, while the backends of a configuration are still measured within a
    minute or so of each other."""
    if not todo:
        return []
    count = -(-len(todo) // size)
    bounds = [round(i * len(todo) / count) for i in range(count + 1)]
    return [todo[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def run_grid(backends, todo: list[Config], *, rigor: Rigor, threads: int | None, timeout: float | None = 300.0,
             plugins: tuple[str, ...] = (), scopes: dict | None = None, policy: str = "reuse", run_id: str = "",
             progress=None, on_rows=None, facts: dict | None = None, seed: int | None = None,
             placement: str = "random", scheduler: type | None = None):
    """Measure every configuration on every backend that implements its op until each row is sure
    or at its cap (pyperf's process model, :class:`normbench._timing.schedule.Manager`, or the
    ``scheduler`` given: :class:`normbench._timing.paired.PairedManager` times two backends alternately
    in the same workers).

    The plan is cut into blocks (:func:`blocks_of`) and measured in rounds; in each round and block
    every backend with a row that needs another process gets a **fresh worker process** (started
    under the memory ``policy``, start-up untimed), the backends in a new random order, and that
    worker measures its configurations in a random order too. Each row has between
    ``rigor.min_processes`` and ``rigor.max_processes`` processes (:mod:`normbench._timing.sequential`),
    none of which inherits another's allocator or cache state, and with ``placement="random"``
    each draws where its output lands relative to its inputs. A worker that crashes or runs past
    ``timeout`` costs that (configuration, backend) and is replaced; after MAX_DEATHS the backend
    is dropped. ``on_rows(rows)`` gets every row so far (with the processes each has had) after
    each worker; ``facts`` receives each measured backend's version, environment, threads and
    memory policy for the run's header. Returns (rows, skipped lines).
    """
    from .schedule import Manager

    machine = machine_info()
    rule = rigor.rule

    def make_row(cfg: Config, name: str, procs: list[dict], *, info: dict, facts: dict, stop: str,
                 prior: sequential.Prior | None, shifts: list[float] | None) -> dict:
        return _row(cfg.op, cfg.pass_, cfg.shape, cfg.dtype, cfg.layout, name, procs, threads=info.get("threads"),
                    asked_threads=threads, machine=machine, run_id=run_id, policy=info.get("memory_policy", policy),
                    facts=facts, rule=rule, stop=stop, prior=prior, shifts=shifts)

    manager = (scheduler or Manager)(backends, todo, rule=rule, min_samples=rigor.min_samples, budget_s=rigor.budget_s,
                      requests=(setup_in_worker, samples_in_worker, facts_in_worker), load=load_average,
                      threads=threads, timeout=timeout, plugins=plugins, scopes=scopes or {}, policy=policy,
                      make_row=make_row, progress=progress, on_rows=on_rows, facts=facts, seed=seed,
                      placement=placement, blocks=blocks_of)
    manager.report_progress()
    return manager.run()


def configurations(op: OpInfo, shapes, dtypes, layouts, passes) -> list[Config]:
    """Every (pass, shape, dtype, layout) of one op, without repeats; layouts the shape has only."""
    out = [Config(op, p, tuple(shape), dtype, layout) for shape in shapes for dtype in dtypes
           for layout in op.layouts_for(tuple(shape), layouts) for p in passes]
    return list(dict.fromkeys(out))


def planned_steps(backends, todo: list[Config], rigor: Rigor) -> int:
    """Measurements the plan is expected to make: per (configuration, implementing backend) the
    rule's minimum of processes, plus the extra ones rows are expected to need
    (:data:`normbench._timing.schedule.EXTRA_PRIOR`), within its cap."""
    from .schedule import EXTRA_PRIOR

    per = rigor.min_processes if rigor.rule.fixed else min(rigor.max_processes, rigor.min_processes * (1 + EXTRA_PRIOR))
    return round(per * sum(1 for cfg in todo for b in backends if cfg.op.name in getattr(b, "ops", {})))


def protocol(rigor: Rigor, policy: str, seed: int | None, placement: str = "random") -> dict:
    """The timing protocol of a run, for its header: the rule that decides each row's processes,
    the per-process budget, the memory policy and placement, the seed, and what each cause of an
    unstable row means with its remedy."""
    return {"rigor": rigor.name, **rigor.rule.as_dict(), "rule_text": rigor.rule.describe(),
            "min_samples": rigor.min_samples, "budget_s": rigor.budget_s, "memory_policy": policy,
            "memory_policy_detail": memory.describe(policy), "placement": placement, "seed": seed,
            "unstable_causes": {k: f"{why}; remedy: {fix}" for k, (why, fix) in sequential.CAUSES.items()}}


def run_bench(backends, todo: list[Config], *, rigor: Rigor | None = None, repeat: int | None = None,
              threads: int | None, progress=None, timeout: float | None = 300.0, plugins: tuple[str, ...] = (),
              on_rows=None, scopes=None, run_id: str = "", facts: dict | None = None, policy: str = "reuse",
              seed: int | None = None, placement: str = "random", scheduler: type | None = None):
    """Measure every configuration on every backend under the timing protocol (:func:`run_grid`).

    ``repeat`` (fewest samples per process) overrides ``rigor``'s. Returns (rows, skipped lines)."""
    r = rigor or RIGORS["default"]
    if repeat:
        r = dataclasses.replace(r, min_samples=repeat)
    return run_grid(backends, todo, rigor=r, threads=threads, timeout=timeout, plugins=plugins, scopes=scopes,
                    policy=policy, run_id=run_id, progress=progress, on_rows=on_rows, facts=facts, seed=seed,
                    placement=placement, scheduler=scheduler)


# -- the worker side of a measurement -------------------------------------------------------------------
@handler
def setup_in_worker(state, payload) -> dict[str, Any]:
    """Prepare and calibrate one configuration; it stays ready for ``samples`` requests.

    ``payload``: (op, pass, shape, dtype, layout[, pad]). A ``pad`` (bytes, None: none) is
    allocated after the inputs are made and before the first call, and kept alive with the
    configuration, so the output the call allocates lands ``pad`` bytes further along the heap
    than it would have: the process's placement, drawn by the scheduler
    (:meth:`normbench._timing.schedule.Manager.placement_pad`)."""
    op_name, pass_, shape, dtype, layout, *rest = payload
    state.timing = None  # the previous configuration's arrays and pad go before this one's are made
    state.timing, out = prepare_timing(state.backend, state.ops[op_name], pass_, shape, dtype, layout,
                                       rest[0] if rest else None)
    return out


def prepare_timing(b: Backend, op: OpInfo, pass_: str, shape, dtype: str, layout: str,
                   pad: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the prepared, calibrated call a worker keeps for its ``samples`` requests, what the parent
    records of it): the body of :func:`setup_in_worker`, for one backend."""
    t0 = time.perf_counter()
    b.prepare(op.name, dtype, layout, len(shape))
    compile_s = time.perf_counter() - t0
    p = prepare_call(b, op, pass_, shape, dtype, layout)
    # a bytearray above 512 bytes comes from malloc, where the call's output will come from next
    held = bytearray(PAD_BASE + pad) if pad is not None else None
    t1 = time.perf_counter()
    number, warmup = calibrate(p)
    timing = {"prepared": p, "number": number, "busy": (t1, time.perf_counter()), "pad": held}
    return timing, {"compile_s": compile_s + warmup, "number": number, "nbytes": p.nbytes,
                    "note": timing_note(b, op.name, pass_), "placement": pad}


@handler
def samples_in_worker(state, payload) -> dict[str, Any]:
    """Samples within a budget: ``(min_samples, budget_s)`` (:func:`run_samples`)."""
    min_samples, budget_s = payload
    start, end = state.timing["busy"]
    # calibration's calls warm up as well as the settling loop would, when they ended a moment ago
    warm = end - start if time.perf_counter() - end < WARM_GAP_S else 0.0
    return run_samples(state.timing["prepared"], state.timing["number"], min_samples, budget_s, warm_s=warm)


@handler
def facts_in_worker(state, nbytes) -> dict[str, Any]:
    """Version, environment, and a device's own copy bandwidth, from inside the worker."""
    return backend_facts(state.backend, nbytes)


def backend_facts(b: Backend, nbytes: int) -> dict[str, Any]:
    """The body of :func:`facts_in_worker`, for one backend."""
    copy = getattr(b, "copy_gbps", None)
    return {"version": safe_call(b.version, ""), "environment": safe_call(b.environment, {}) or {},
            "copy_gbps": safe_call(lambda: copy(nbytes)) if callable(copy) else None}
