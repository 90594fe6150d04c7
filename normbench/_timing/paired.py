"""``normbench ab``'s paired design: both versions timed alternately inside the same fresh processes.

Why. With one worker per version and round (``ab --unpaired``, the design of 0.14), every
configuration a worker measures moves with that worker: where its heap landed, the core and
frequency it ran at, its neighbours during its seconds. With a handful of rounds, the two versions'
workers differ by a shift that every configuration shares, and per-configuration intervals count
it once per configuration as if it were independent evidence. On 24 small calls that flagged 21%
of configurations in an A/A run and missed a third of a 1.3x slowdown
(reports/protocol/power/session18).

What. In every round and block, one fresh worker loads both backends (A, and B as its partner).
For each configuration it prepares both, each with its own placement drawn, in a random order,
then takes their samples interleaved one at a time, in blocks A B B A (or B A A B), so that a
slower stretch of the machine falls on both (:func:`interleaved_samples`; 0.15 took them in two
turns of half the budget each, which such stretches split). The unit of evidence is the process's
log ratio B/A, the median of its blocks' (:func:`normbench._results.stats.paired_ratio`): the
worker's own shift cancels in it. A configuration
gets more processes while the interval of that ratio, not of each version's time, is wider than
the rule's target (:func:`normbench._timing.sequential.assess` on the ratio's groups).

The trade: the two versions share a process, so a crash of one costs the other's measurement of
that configuration. ``ab`` needs both for any verdict, so nothing is lost that could have been
used; isolation between *backends* is unchanged everywhere else.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Any

from . import sequential
from .._results import stats
from ..backend import availability_of, probe_of, safe_call
from .bench import backend_facts, prepare_timing, sample_in_blocks
from .schedule import Manager, Pair
from .._runtime.worker import RemoteError, Worker, handler

def merge_scopes(*scopes: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
    """One worker scope that imports what each of ``scopes`` imports (None: everything)."""
    if any(s is None for s in scopes):
        return None
    only = list(dict.fromkeys(p for s in scopes for p in s.get("only", [])))
    exclude = list(dict.fromkeys(p for s in scopes for p in s.get("exclude", [])))
    return {"only": only, "exclude": exclude}


class PairedManager(Manager):
    """The scheduler of :mod:`normbench._timing.schedule` with both backends in every worker: rows are
    still one per (configuration, backend), but a configuration's processes are measured, kept,
    lost and stopped together, judged on their ratio."""

    def __init__(self, backends, todo, **kw):
        super().__init__(backends, todo, **kw)
        self.names = tuple(b.name for b in backends)
        if len(self.names) != 2:
            raise ValueError(f"a paired run times two backends, got {len(self.names)}")
        self.ratio_prior: sequential.Prior | None = None
        self._ratio: dict[int, tuple[int, sequential.Assessment]] = {}

    # -- the plan --------------------------------------------------------------------------------------
    def pairs(self) -> list[Pair]:
        if len(self.usable) < 2:
            return []
        return [(n, name) for n, cfg in enumerate(self.todo)
                if all(cfg.op.name in self.ops_of[x] for x in self.names) for name in self.names]

    def live(self, pair: Pair) -> bool:
        return all(super(PairedManager, self).live((pair[0], name)) for name in self.names)

    def ratio_groups(self, n: int) -> list[list[float]]:
        """Per process, its blocks' ratios B/A (:func:`normbench._results.stats.block_log_ratios`:
        :func:`interleaved_samples` keeps both backends' samples aligned)."""
        a, b = (self.results.procs.get((n, name), []) for name in self.names)
        return [[math.exp(v) for v in stats.block_log_ratios(pb["samples"], pa["samples"]) or []]
                for pa, pb in zip(a, b)]

    def ratio_assessment(self, n: int) -> sequential.Assessment:
        groups = self.ratio_groups(n)
        done = self._ratio.get(n)
        if done is None or done[0] != len(groups):
            procs = self.results.procs.get((n, self.names[1]), [])
            number = int(statistics.median(p["number"] for p in procs)) if procs else 1
            done = (len(groups), sequential.assess(groups, self.rule, number, self.ratio_prior))
            self._ratio[n] = done
        return done[1]

    def update_priors(self) -> None:
        super().update_priors()
        configs = {n for n, _ in self.results.procs}
        self.ratio_prior = sequential.prior_of([self.ratio_groups(n) for n in sorted(configs)])
        self._ratio.clear()

    def assessment_of(self, pair: Pair) -> sequential.Assessment:
        return self.ratio_assessment(pair[0])

    def expected_processes(self, pair: Pair) -> float:
        procs = self.results.procs.get(pair, [])
        if not self.live(pair) or len(procs) < 2:
            return super().expected_processes(pair)
        a = self.ratio_assessment(pair[0])
        return float(sequential.processes_needed(a, self.rule)) if a.needs_more else len(procs)

    # -- the loop --------------------------------------------------------------------------------------
    def run_round(self, pending: list[Pair]) -> None:
        """One fresh worker holding both backends per block, its configurations in a random order."""
        for block in self.blocks(sorted({n for n, _ in pending})):
            here = list(block)
            self.rng.shuffle(here)
            self.run_pair_worker(here)
            self.save()
        self.report_progress()

    def run_pair_worker(self, indices: list[int]) -> None:
        """One fresh worker with A and B loaded measures one process of each configuration, both
        versions alternately."""
        a, b = self.usable
        w = Worker(a.name, self.plugins, self.threads, merge_scopes(self.scopes.get(a.name), self.scopes.get(b.name)),
                   memory_policy=self.policy)
        partnered = None  # the worker process B was loaded into (a restart after a death needs it again)
        try:
            for n in indices:
                cfg = self.todo[n]
                if any(x in self.ledger.dropped for x in self.names):
                    break
                t0 = time.perf_counter()
                try:
                    started = w.ensure(self.timeout)
                    if started["available"] and partnered is not w.proc:
                        self.results.info[b.name] = w.request(partner_in_worker, (b.name, self.threads), self.timeout)
                        partnered = w.proc
                except Exception as exc:  # noqa: BLE001 - a worker that cannot start costs only this pair
                    self.fail_both(n, cfg, exc, at_start=True)
                    continue
                infos = [(a.name, started)] + ([(b.name, self.results.info[b.name])] if partnered else [])
                for name, info in infos:
                    if not info["available"]:
                        self.ledger.dropped.add(name)
                        self.ledger.skipped.append(f"{name}: unavailable in its worker ({info['reason']})")
                if any(x in self.ledger.dropped for x in self.names):
                    break
                t1 = time.perf_counter()
                if t1 - t0 > 1e-3:
                    self.start_s.setdefault(a.name, []).append(t1 - t0)
                self.results.info[a.name] = started
                self.measure_pair(w, n, cfg, t1)
        finally:
            w.stop()

    def fail_both(self, n: int, cfg, exc: BaseException, *, at_start: bool = False) -> None:
        """Configuration ``n`` gets no more processes on either backend: a worker that died or hung
        held both, and which of them took it down cannot be told, so the line names the two
        (``A+B``), and its deaths count against both."""
        joint = "+".join(self.names)
        self.ledger.fail((n, joint), cfg.label(), exc, at_start=at_start)
        self.ledger.lost.update((n, name) for name in self.names)
        if joint in self.ledger.dropped:
            self.ledger.dropped.update(self.names)

    def measure_pair(self, w: Worker, n: int, cfg, t1: float) -> None:
        """One process of configuration ``n`` on both backends, in a random order, or a failure."""
        order = list(self.names)
        self.rng.shuffle(order)
        pads = [(name, self.placement_pad()) for name in order]
        try:
            load = self.load()
            setups = w.request(paired_setup_in_worker, (cfg.op.name, cfg.pass_, cfg.shape, cfg.dtype, cfg.layout, pads),
                               self.timeout)
            failed = [(name, s["error"]) for name, s in setups.items() if "error" in s]
            if failed:
                for name, (kind, message) in failed:
                    self.ledger.fail((n, name), cfg.label(), RemoteError(kind, message))
                for name in self.names:  # its partner's process alone would say nothing about B/A
                    self.ledger.lost.add((n, name))
                return
            got = w.request(paired_samples_in_worker, (self.min_samples, self.budget_s, order), self.timeout)
            for name in order:
                if not self.results.has((n, name)):
                    got[name]["facts"] = w.request(paired_facts_in_worker, (name, setups[name]["nbytes"]), self.timeout)
        except Exception as exc:  # noqa: BLE001 - reported, the others go on
            self.fail_both(n, cfg, exc)
            return
        after = self.load()
        spent = (time.perf_counter() - t1) / 2
        for name in order:
            self.results.add((n, name), {**setups[name], **got[name], "load": load, "load_after": after,
                                         "round": self.round})
            self.step_s.setdefault(name, []).append(spent)
            if self.progress:
                self.progress.step(f"{name} {cfg.label()}")


# -- the worker side -----------------------------------------------------------------------------------
def _backends(state) -> dict[str, Any]:
    return {state.backend.name: state.backend, **state.partners}


@handler
def partner_in_worker(state, payload) -> dict[str, Any]:
    """Load backend ``name`` beside the worker's own, from the same plugins; probe it and set its
    threads. ``payload``: (name, threads)."""
    name, threads = payload
    b = state.registry.get(name)
    avail = availability_of(b)
    if avail:
        avail = probe_of(b)
    in_effect = safe_call(lambda: b.set_threads(threads)) if avail else None
    state.partners = {name: b}
    return {"available": avail.available, "reason": avail.reason, "threads": in_effect,
            "memory_policy": state.memory_policy}


@handler
def paired_setup_in_worker(state, payload) -> dict[str, dict[str, Any]]:
    """Prepare and calibrate one configuration on each backend, in the order given, each with its
    own placement pad. ``payload``: (op, pass, shape, dtype, layout, [(backend, pad), ...]).
    A backend that raises gets ``{"error": (type name, message)}`` so the parent can name it."""
    op_name, pass_, shape, dtype, layout, pads = payload
    state.timing = None  # the previous configuration's arrays go first
    backends, timing, out = _backends(state), {}, {}
    for name, pad in pads:
        try:
            timing[name], out[name] = prepare_timing(backends[name], state.ops[op_name], pass_, shape, dtype, layout, pad)
        except Exception as exc:  # noqa: BLE001 - reported per backend
            out[name] = {"error": (type(exc).__name__, str(exc))}
    state.timing = timing
    return out


@handler
def paired_samples_in_worker(state, payload) -> dict[str, dict[str, Any]]:
    """:func:`interleaved_samples` of the prepared backends. ``payload``: (min_samples, budget_s, order)."""
    min_samples, budget_s, order = payload
    return interleaved_samples({name: state.timing[name] for name in order}, order, min_samples, budget_s)


def interleaved_samples(timing: dict[str, dict[str, Any]], order: list[str], min_samples: int,
                        budget_s: float) -> dict[str, dict[str, Any]]:
    """Samples of two prepared calls interleaved one sample at a time, in blocks A B B A (``order``
    then reversed), until each has ``min_samples`` uncontended samples *and* ``budget_s`` seconds
    of uncontended timed calls (:func:`normbench._timing.bench.sample_in_blocks`).

    Why one sample at a time. This project's VMs run for stretches of 0.1-1 s at a discrete
    slower level (the same 27 us call at 27, 43 or 56 us, with no run delay to show for it:
    reports/protocol/README.md, "ab interleaved"). Turns of 25 ms per version let such a stretch
    fall on one version's turns and not the other's: the process's ratio B/A then moved by up to
    2x in a tenth of processes. A block of four samples lasts a few milliseconds, so both versions
    see the same stretch, and the process's ratio is the median over its blocks, which a block
    that straddles a change of level cannot move. Randomized multiple interleaved trials are the
    design Abedi and Brecht (ICPE 2017) found repeatable on shared cloud machines.

    A block with a contended sample is set aside whole, so that the samples of the two backends
    stay aligned: sample ``2j`` and ``2j + 1`` of each backend are block ``j``
    (:func:`normbench._results.stats.block_log_ratios`).
    """
    got = sample_in_blocks({name: (timing[name]["prepared"], timing[name]["number"]) for name in order}, order,
                           min_samples, budget_s)
    return {name: {**res, "interleaved": True} for name, res in got.items()}


@handler
def paired_facts_in_worker(state, payload) -> dict[str, Any]:
    """:func:`normbench._timing.bench.facts_in_worker` for backend ``name``. ``payload``: (name, nbytes)."""
    name, nbytes = payload
    return backend_facts(_backends(state)[name], nbytes)
