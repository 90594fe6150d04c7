"""The benchmark scheduler: fresh worker processes in randomized rounds until every row is sure.

Modelled on pyperf's ``Manager``: the run's state lives on the object, and the loop is a few
small steps. A round gives every row that needs one more process (:mod:`normbench._timing.sequential`)
one fresh worker process per backend and block of configurations, backends and configurations
in a new random order (a seedable schedule). Rows that are sure drop out after their minimum;
rows whose processes disagree come back, round after round, up to their cap. Each round judges
every row again against its backend's prior as it stands then, so a row that looked sure on
three processes before its backend's spread was known can come back for more. Rounds are the
outer loop, so a row's processes are spread over the run and the machine's drift over minutes
shows as spread between them, which the intervals carry.

Three pieces keep it legible:

- :class:`Ledger`: what failed (deaths, dropped backends, pairs that lost their processes) and
  the skipped lines a run prints;
- :class:`Accumulator`: the processes each (configuration, backend) has had, turned into rows;
- :class:`Manager`: the loop, and the estimate of what is left (:meth:`Manager.seconds_left`).
"""
from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from . import floor, sequential
from ..errors import Unsupported
from .._runtime.worker import RemoteError, Worker, WorkerError

#: a backend whose worker dies or runs past the time limit this often is dropped for the run
MAX_DEATHS = 2
#: before any row has had two processes, the extra processes a row is expected to need beyond the
#: rule's minimum, as a fraction of it: measured on this project's 2-core VMs under the default
#: rule (reports/protocol/sequential/README.md); replaced by each row's own prediction as soon as
#: it has two processes
EXTRA_PRIOR = 0.7
#: seconds per step (a measurement's fresh process: start, calibration, samples) before the run has
#: measured its own, on this project's 2-core VMs (reports/protocol, "The first report"), and how
#: many steps' weight it keeps against the measured median: the first steps carry lazy imports and
#: JIT builds, and two of them once made the ETA 28:49 for a three-minute phase. 0.16-0.17 s a
#: process in session 21's three first reports (rigor quick with its 20 ms warm-up and futility stop)
STEP_PRIOR_S = 0.17
PRIOR_STEPS = 20
#: a placement pad is drawn from [0, PLACEMENT_SPAN) in steps of PLACEMENT_STEP bytes (a cache line)
PLACEMENT_SPAN = 4096
PLACEMENT_STEP = 64

Pair = tuple[int, str]  # (index of the configuration in the plan, backend name)


@dataclass
class Ledger:
    """What went wrong: every skipped line, worker deaths per backend, dropped backends, and the
    pairs that get no more processes (a failure in any process of theirs)."""

    skipped: list[str] = field(default_factory=list)
    deaths: dict[str, int] = field(default_factory=dict)
    dropped: set[str] = field(default_factory=set)
    lost: set[Pair] = field(default_factory=set)

    def death(self, name: str) -> str:
        """Count one death of ``name``'s worker; drop the backend at :data:`MAX_DEATHS`."""
        self.deaths[name] = self.deaths.get(name, 0) + 1
        if self.deaths[name] >= MAX_DEATHS:
            self.dropped.add(name)
            return f"; dropped for the rest of the run after {self.deaths[name]} failures"
        return ""

    def fail(self, pair: Pair, label: str, exc: BaseException, *, at_start: bool = False) -> None:
        """``pair`` gets no more processes; the line says why (its finished processes stay). A dead
        or timed-out worker counts as a death of its backend, and so does any error while a worker
        starts (``at_start``: a plugin that fails at start-up)."""
        self.lost.add(pair)
        name = pair[1]
        if isinstance(exc, RemoteError) and exc.type_name == "Unsupported":
            exc = Unsupported(str(exc))
        dropped = self.death(name) if isinstance(exc, WorkerError) or at_start else ""
        if isinstance(exc, Unsupported):
            line = f"{name} {label}: unsupported ({exc})"
        elif isinstance(exc, WorkerError):
            line = f"{name} {label}: {exc.kind}, {exc}"
        else:
            kind = exc.type_name if isinstance(exc, RemoteError) else type(exc).__name__
            line = f"{name} {label}: error {kind} ({exc})"
        self.skipped.append(line + dropped)


class Accumulator:
    """The processes of every (configuration, backend) so far, and the rows they make."""

    def __init__(self, todo: Sequence, rule: sequential.Rule, make_row: Callable[..., dict]):
        self.todo, self.rule, self.make_row = todo, rule, make_row
        self.procs: dict[Pair, list[dict]] = {}
        self._assessed: dict[Pair, tuple[int, sequential.Assessment]] = {}
        #: backend name -> what its rows so far say about the spread between its processes
        self.priors: dict[str, sequential.Prior | None] = {}
        #: backend name -> round -> the log shift every row of the backend saw in that round
        self.shifts: dict[str, dict[int, float]] = {}
        #: backend name -> what its worker reported at start (threads in effect, memory policy)
        self.info: dict[str, dict] = {}

    def add(self, pair: Pair, proc: dict) -> None:
        self.procs.setdefault(pair, []).append(proc)

    def has(self, pair: Pair) -> bool:
        return pair in self.procs

    def update_priors(self) -> None:
        """Each backend's prior from its rows so far (:func:`normbench._timing.sequential.prior_of`); once a
        round, so every row of a round is judged against the same prior."""
        rows: dict[str, list] = {}
        for (_, name), procs in self.procs.items():
            rows.setdefault(name, []).append([p["samples"] for p in procs])
        self.priors = {name: sequential.prior_of(groups) for name, groups in rows.items()}
        rounds: dict[str, list] = {}
        for (_, name), procs in self.procs.items():
            rounds.setdefault(name, []).append([(p.get("round", 0), statistics.median(p["samples"])) for p in procs])
        self.shifts = {name: sequential.round_shifts(r) for name, r in rounds.items()}
        self._assessed.clear()

    def shifts_of(self, pair: Pair) -> list[float] | None:
        """The round shift of each of the pair's processes (None before the backend has any)."""
        shifts = self.shifts.get(pair[1])
        if not shifts:
            return None
        return [shifts.get(p.get("round", 0), 0.0) for p in self.procs.get(pair, [])]

    def assessment(self, pair: Pair) -> sequential.Assessment:
        """The rule's view of the pair (kept until it gets another process)."""
        procs = self.procs.get(pair, [])
        done = self._assessed.get(pair)
        if done is None or done[0] != len(procs):
            number = int(statistics.median(p["number"] for p in procs)) if procs else 1
            done = (len(procs), sequential.assess([p["samples"] for p in procs], self.rule, number,
                                                  self.priors.get(pair[1]), self.shifts_of(pair)))
            self._assessed[pair] = done
        return done[1]

    def rows(self, state: Callable[[Pair], str], facts: dict | None) -> list[dict]:
        """Every row so far, each with the processes it has had; ``state(pair)`` is its stop reason."""
        out = []
        for pair, procs in sorted(self.procs.items()):
            n, name = pair
            f = next((p["facts"] for p in procs if "facts" in p), {})
            info = self.info.get(name, {})
            out.append(self.make_row(self.todo[n], name, procs, info=info, facts=f, stop=state(pair),
                                     prior=self.priors.get(name), shifts=self.shifts_of(pair)))
            if facts is not None and name not in facts and f:
                facts[name] = {"version": f.get("version", ""), "environment": f.get("environment", {}),
                               "threads": info.get("threads"), "memory_policy": info.get("memory_policy")}
        return floor.attach(out)


class Manager:
    """One run of the protocol over a plan (:func:`normbench._timing.bench.run_grid` is its front door)."""

    def __init__(self, backends: Sequence, todo: Sequence, *, rule: sequential.Rule, min_samples: int,
                 budget_s: float, threads: int | None, timeout: float | None, plugins: tuple[str, ...],
                 scopes: dict, policy: str, make_row: Callable[..., dict], progress=None, on_rows=None,
                 facts: dict | None = None, seed: int | None = None, placement: str = "random",
                 blocks: Callable[[list], list[list]], requests: tuple = (), load: Callable[[], Any] = lambda: None):
        """``requests``: the worker-side handlers of one measurement (set up, samples, facts;
        :mod:`normbench._timing.bench` owns them), ``load``: the load average read around each process."""
        from ..backend import availability_of

        self.rng = random.Random(seed)
        self.todo, self.rule = list(todo), rule
        self.min_samples, self.budget_s = min_samples, budget_s
        self.threads, self.timeout, self.plugins, self.scopes, self.policy = threads, timeout, plugins, scopes, policy
        self.progress, self.on_rows, self.facts, self.placement, self.blocks = progress, on_rows, facts, placement, blocks
        self.requests, self.load = requests, load
        self.ledger = Ledger()
        self.results = Accumulator(self.todo, rule, make_row)
        self.usable = []
        for b in backends:
            avail = availability_of(b)
            if avail:
                self.usable.append(b)
            else:
                self.ledger.skipped.append(f"{b.name}: unavailable ({avail.reason})")
        self.ops_of = {b.name: set(getattr(b, "ops", {})) for b in self.usable}
        #: seconds spent per backend: starting workers, and measuring (with the steps measured)
        self.start_s: dict[str, list[float]] = {}
        self.step_s: dict[str, list[float]] = {}
        self.round = 0

    # -- the plan --------------------------------------------------------------------------------------
    def pairs(self) -> list[Pair]:
        """Every (configuration, backend) the plan measures."""
        return [(n, b.name) for n, cfg in enumerate(self.todo) for b in self.usable
                if cfg.op.name in self.ops_of[b.name]]

    def live(self, pair: Pair) -> bool:
        return pair not in self.ledger.lost and pair[1] not in self.ledger.dropped

    def assessment_of(self, pair: Pair) -> sequential.Assessment:
        """What the rule says of the pair (:class:`normbench._timing.paired.PairedManager`: of its
        configuration's ratio)."""
        return self.results.assessment(pair)

    def needs_more(self, pair: Pair) -> bool:
        return self.live(pair) and self.assessment_of(pair).needs_more

    def state(self, pair: Pair) -> str:
        """Why a pair stopped (or that it has not): sure, cap, futile (the cap could not make it
        sure), fixed, lost, or running."""
        if not self.live(pair):
            return "lost"
        a = self.assessment_of(pair)
        if a.needs_more:
            return "running"
        if self.rule.fixed:
            return "fixed"
        if a.futile:
            return "futile"
        return "sure" if a.sure and a.half_width <= self.rule.target else "cap"

    # -- the loop --------------------------------------------------------------------------------------
    def run(self) -> tuple[list[dict], list[str]]:
        try:
            while True:
                self.update_priors()
                pending = [p for p in self.pairs() if self.needs_more(p)]
                if not pending:
                    break
                self.run_round(pending)
                self.round += 1
        except KeyboardInterrupt:
            self.save()  # the worker in progress too: every finished process is kept
            raise
        if self.progress is not None and hasattr(self.progress, "note"):
            self.progress.note(self.account())
        return self.rows(), self.ledger.skipped

    def update_priors(self) -> None:
        """Once a round: what the rows so far say about their backends (:meth:`Accumulator.update_priors`)."""
        self.results.update_priors()

    def rows(self) -> list[dict]:
        return self.results.rows(self.state, self.facts)

    def account(self) -> str:
        """Where the run's time went: processes, rounds, worker start-ups and measuring."""
        steps = sum(len(v) for v in self.step_s.values())
        starts = sum(len(v) for v in self.start_s.values())
        return (f"{steps} processes in {self.round} rounds: {sum(map(sum, self.step_s.values())):.0f} s measuring, "
                f"{starts} worker start-ups {sum(map(sum, self.start_s.values())):.0f} s")

    def save(self) -> None:
        if self.on_rows and self.results.procs:
            self.on_rows(self.rows())

    def run_round(self, pending: list[Pair]) -> None:
        """One fresh worker per backend and block for the pending pairs, in a random order."""
        by_cfg: dict[int, list[str]] = {}
        for n, name in pending:
            by_cfg.setdefault(n, []).append(name)
        for block in self.blocks(sorted(by_cfg)):
            order = [b for b in self.usable if any(b.name in by_cfg[n] for n in block)]
            self.rng.shuffle(order)
            for b in order:
                here = [n for n in block if b.name in by_cfg[n]]
                self.rng.shuffle(here)
                self.run_worker(b, here)
                # after each worker: every row so far, so even a killed run keeps what finished
                self.save()
        self.report_progress()

    def run_worker(self, b, indices: list[int]) -> None:
        """One fresh worker of backend ``b`` measures one process of each configuration in ``indices``."""
        setup_in_worker, samples_in_worker, facts_in_worker = self.requests
        load_average = self.load
        w = Worker(b.name, self.plugins, self.threads, self.scopes.get(b.name), memory_policy=self.policy)
        try:
            for n in indices:
                pair, cfg = (n, b.name), self.todo[n]
                if b.name in self.ledger.dropped:
                    break
                t0 = time.perf_counter()
                try:
                    started = w.ensure(self.timeout)
                except Exception as exc:  # noqa: BLE001 - a worker that cannot start costs only itself
                    self.ledger.fail(pair, cfg.label(), exc, at_start=True)
                    continue
                if not started["available"]:
                    self.ledger.dropped.add(b.name)
                    self.ledger.skipped.append(f"{b.name}: unavailable in its worker ({started['reason']})")
                    break
                t1 = time.perf_counter()
                if t1 - t0 > 1e-3:
                    self.start_s.setdefault(b.name, []).append(t1 - t0)
                self.results.info[b.name] = started
                pad = self.placement_pad()
                try:
                    load = load_average()
                    setup = w.request(setup_in_worker, (cfg.op.name, cfg.pass_, cfg.shape, cfg.dtype, cfg.layout, pad),
                                      self.timeout)
                    res = w.request(samples_in_worker, (self.min_samples, self.budget_s), self.timeout)
                    if not self.results.has(pair):
                        res["facts"] = w.request(facts_in_worker, setup["nbytes"], self.timeout)
                except Exception as exc:  # noqa: BLE001 - reported, the others go on
                    self.ledger.fail(pair, cfg.label(), exc)
                    continue
                self.results.add(pair, {**setup, **res, "load": load, "load_after": load_average(), "round": self.round})
                self.step_s.setdefault(b.name, []).append(time.perf_counter() - t1)
                if self.progress:
                    self.progress.step(f"{b.name} {cfg.label()}")
        finally:
            w.stop()

    def placement_pad(self) -> int | None:
        """Bytes a worker allocates between a configuration's inputs and its first call, drawn at
        random per process (``placement="random"``), so that where the output lands relative to
        the inputs is sampled on purpose, as Stabilizer randomizes layout (Curtsinger and Berger,
        2013), instead of being left to each process's heap history; None: no pad (``fixed``)."""
        if self.placement != "random":
            return None
        return PLACEMENT_STEP * self.rng.randrange(PLACEMENT_SPAN // PLACEMENT_STEP)

    # -- what is left ----------------------------------------------------------------------------------
    def expected_processes(self, pair: Pair) -> float:
        """Processes this pair is expected to have in the end: its own prediction once it has two
        (:func:`normbench._timing.sequential.processes_needed`), else the rule's minimum plus the prior."""
        if not self.live(pair):
            return len(self.results.procs.get(pair, []))
        procs = self.results.procs.get(pair, [])
        if len(procs) < 2:
            return min(self.rule.max_processes, self.rule.min_processes * (1 + EXTRA_PRIOR))
        a = self.results.assessment(pair)
        if not a.needs_more:
            return len(procs)
        return float(sequential.processes_needed(a, self.rule))

    def steps_left(self) -> dict[str, float]:
        """Expected processes still to measure, per backend."""
        left: dict[str, float] = {}
        for pair in self.pairs():
            more = max(0.0, self.expected_processes(pair) - len(self.results.procs.get(pair, [])))
            left[pair[1]] = left.get(pair[1], 0.0) + more
        return left

    def seconds_left(self) -> float:
        """The rest of the run from measured times: each backend's steps left at its own median
        seconds per step (median: a backend's first step may carry a lazy import or a JIT build;
        fewer than three steps, or a backend not yet seen: the median of every step so far, blended
        with :data:`STEP_PRIOR_S` at :data:`PRIOR_STEPS` steps' weight), plus its worker start-ups
        (one per block and round still to come)."""
        left = self.steps_left()
        every = [v for vs in self.step_s.values() for v in vs]
        pooled = ((len(every) * statistics.median(every) if every else 0.0) + PRIOR_STEPS * STEP_PRIOR_S) \
            / (len(every) + PRIOR_STEPS)
        starts = [v for vs in self.start_s.values() for v in vs]
        pooled_start = statistics.median(starts) if starts else 0.0
        rounds_left = max(0.0, max((self.expected_processes(p) for p in self.pairs()), default=0.0) - self.round)
        blocks = len(self.blocks(list(range(len(self.todo))))) or 1
        total = 0.0
        for name, steps in left.items():
            own = self.step_s.get(name, [])
            step = statistics.median(own) if len(own) >= 3 else pooled
            start = statistics.median(self.start_s[name]) if self.start_s.get(name) else pooled_start
            total += steps * step + (start * blocks * min(rounds_left, steps) if steps else 0.0)
        return total

    def total_steps(self) -> int:
        """Steps done plus steps expected, for the progress line."""
        done = sum(len(v) for v in self.results.procs.values())
        return done + round(sum(self.steps_left().values()))

    def report_progress(self) -> None:
        if self.progress is not None and hasattr(self.progress, "replan"):
            self.progress.replan(self.total_steps(), self.seconds_left)
