"""Run conformance cases against backends: selection, time limits, known failures, summaries.

Shared by ``normbench check``, ``normbench run`` and the pytest suite, so all report the same
verdicts. Op-agnostic: cases, and how each is run, come from the op's :class:`OpInfo`.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..backend import KnownFailure, availability_of
from ..known import Usage
from ..records import CHECK_SCHEMA, RunHeader
from .._results.upgrade import upgrade_check
from ..dtypes import check_dtype
from ..errors import InputError
from .._runtime.limits import TimedOut, call_with_timeout
from ..opinfo import OpInfo
from ..results import FAILING, CaseResult
from .._runtime.progress import Progress
from .._runtime.worker import RemoteError, Worker, WorkerError, handler
from . import checker

DEFAULT_TIMEOUT = 120.0  # seconds per case: generous for a first JIT compilation


def select_cases(
    ops: Sequence[OpInfo], patterns: Sequence[str] = (), groups: Sequence[str] = (), dtypes: Sequence[str] = ()
) -> list[Any]:
    """Every case of ``ops``, filtered by case-id fnmatch patterns (or substrings), groups and dtypes."""
    known_groups = list(dict.fromkeys(g for op in ops for g in op.case_groups))
    unknown = [g for g in groups if g not in known_groups]
    if unknown:
        raise InputError(f"unknown case group {unknown[0]!r}; expected one of {', '.join(known_groups)}")
    wanted = {check_dtype(d) for d in dtypes}
    cases = [c for op in ops for c in op.cases()]
    if wanted:
        cases = [c for c in cases if c.dtype in wanted]
    if groups:
        cases = [c for c in cases if c.group in groups]
    if patterns:  # a pattern may leave out the op: "dtypes/*" matches every op's dtypes group
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.id, p) or fnmatch.fnmatchcase(c.id.partition("/")[2], p)
                                         or p in c.id for p in patterns)]
        if not cases:
            raise InputError(f"no conformance case matches {', '.join(patterns)} (see normbench check --list-cases)")
    return cases


def known_failure(backend: Any, result: CaseResult) -> KnownFailure | None:
    """The backend's known failure that covers ``result``: its case matches, and a failure lies
    within the passes the entry names."""
    for kf in getattr(backend, "known_failures", ()) or ():
        if kf.matches(result.case) and (result.status not in FAILING or kf.covers(result.failed_in)):
            return kf
    return None


def apply_known(backend: Any, result: CaseResult) -> CaseResult:
    """Turn a listed failure into "xfail" and an unexpected pass of a listed case into "xpass"."""
    kf = known_failure(backend, result)
    if kf is None:
        return result
    if result.status in FAILING:
        result.status, result.known_reason = "xfail", kf.reason
    elif result.status == "pass":
        result.status, result.known_reason = "xpass", kf.reason
        result.message = f"listed as a known failure{f' ({kf.source})' if kf.source else ''} but passes: remove the entry"
    return result


def run_with_timeout(fn: Callable[[], CaseResult], timeout: float | None) -> CaseResult | None:
    """``fn()``, or None if it did not finish within ``timeout`` seconds (see limits.py)."""
    try:
        return call_with_timeout(fn, timeout)
    except TimedOut:
        return None


@dataclass
class BackendReport:
    """One backend's results on one op."""

    name: str
    op: str
    available: bool
    reason: str = ""
    results: list[CaseResult] = field(default_factory=list)
    #: the invariance rows (:mod:`normbench.conformance.invariance`); None when not probed
    invariance: list | None = None

    def counts(self) -> Counter:
        return Counter(r.status for r in self.results)

    @property
    def invariance_failures(self) -> list:
        """Invariance rows with a required or promised property that does not hold."""
        return [row for row in self.invariance or () if row.failed]

    @property
    def failed(self) -> bool:
        return any(r.status in FAILING for r in self.results) or bool(self.invariance_failures)

    def as_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "available": self.available, "reason": self.reason, "counts": dict(self.counts()),
             "cases": [r.as_dict() for r in self.results]}
        if self.invariance is not None:
            d["invariance"] = [row.as_dict() for row in self.invariance]
        return d


def _run_cases(report: BackendReport, op: OpInfo, cases: Iterable[Any], run_one, on_result) -> BackendReport:
    """The loop both routes share: ``run_one(case)`` returns (result, reason to stop or "")."""
    stopped = ""
    for case in cases:
        if case.op != op.name:
            continue
        if stopped:
            result = CaseResult(case, "skipped", stopped)
        else:
            result, stopped = run_one(case)
            if result is None:  # the backend turned out to be unavailable
                report.available, report.reason = False, stopped
                return report
        report.results.append(result)
        if on_result:
            on_result(result)
    return report


def check_backend(
    backend: Any,
    op: OpInfo,
    cases: Iterable[Any],
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    on_result: Callable[[CaseResult], None] | None = None,
) -> BackendReport:
    """Every case of ``op`` on a backend object, in this process (the Python API; no isolation:
    a crash takes the caller with it, and a hang leaves a thread behind). ``normbench check`` and
    the pytest route use :func:`check_backend_isolated`."""
    avail = availability_of(backend)
    report = BackendReport(backend.name, op.name, avail.available, avail.reason)
    if not avail:
        return report

    def run_one(case):
        result = run_with_timeout(lambda: checker.run_case(op, backend, case), timeout)
        if result is None:
            return (CaseResult(case, "timeout", f"did not finish within {timeout:g} s"),
                    f"skipped: backend hung on {case.id} (> {timeout:g} s)")
        return apply_known(backend, result), ""

    return _run_cases(report, op, cases, run_one, on_result)


#: a backend whose worker dies or hangs this many cases in a row is dropped for the rest of the run
MAX_CONSECUTIVE_DEATHS = 3


class IsolatedBackend:
    """One backend's worker for a series of cases (``check`` and the pytest route).

    A crash (signal, ``os._exit``, abort) or a case past its time limit kills only the worker:
    that case is reported as "crash" or "timeout" with the exit status, and a fresh worker runs
    the next case. After MAX_CONSECUTIVE_DEATHS in a row the backend is dropped: :attr:`dropped`
    says why, and later cases are not run.
    """

    def __init__(self, name: str, plugins: Sequence[str] = (), threads: int | None = None,
                 scope: dict | None = None):
        self.name = name
        self.worker = Worker(name, tuple(plugins), threads, scope)
        self.in_a_row, self.dropped = 0, ""
        self.known = None  # the user's known-failures file (a KnownFailuresFile), applied to every result

    def available(self, timeout: float | None = DEFAULT_TIMEOUT) -> tuple[bool, str]:
        info = self.worker.ensure(timeout)
        return info["available"], info["reason"]

    def run(self, op: OpInfo, case: Any, timeout: float | None = DEFAULT_TIMEOUT) -> CaseResult | None:
        """The case's result, or None when the backend is unavailable in the worker."""
        try:
            if not self.available(timeout)[0]:
                return None
            result = self.worker.request(run_case_in_worker, (op.name, case), timeout)
            self.in_a_row = 0
        except WorkerError as exc:
            self.in_a_row += 1
            if self.in_a_row >= MAX_CONSECUTIVE_DEATHS:
                self.dropped = f"skipped: backend dropped after {self.in_a_row} failed workers in a row (last: {exc})"
            result = CaseResult(case, exc.kind, f"{exc} on this case")
        except RemoteError as exc:  # the harness itself failed in the worker (e.g. loading plugins)
            result = CaseResult(case, "error", f"{exc.type_name}: {exc}")
        return self.known.apply(self.name, result) if self.known else result

    def close(self) -> None:
        self.worker.stop()


def check_backend_isolated(
    name: str,
    op: OpInfo,
    cases: Iterable[Any],
    *,
    plugins: Sequence[str] = (),
    threads: int | None = None,
    scope: dict | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    on_result: Callable[[CaseResult], None] | None = None,
    known: Any = None,
    worker: IsolatedBackend | None = None,
) -> BackendReport:
    """Every case of ``op`` on backend ``name``, in a worker process of its own (see IsolatedBackend);
    ``known``: the user's known-failures file (see knownfile.py), applied to each result. ``worker``:
    one of ``name``'s workers to use, and leave running, instead of a fresh one closed at the end."""
    iso = worker or IsolatedBackend(name, plugins, threads, scope)
    iso.known = known
    report = BackendReport(name, op.name, True)

    def run_one(case):
        result = iso.run(op, case, timeout)
        if result is None:
            return None, iso.available()[1]
        return result, iso.dropped

    try:
        return _run_cases(report, op, cases, run_one, on_result)
    finally:
        if worker is None:
            iso.close()


def stale_known_failures(reports: list[BackendReport], registry: Any) -> list[str]:
    """Warnings for a backend's own known failures that matched no case it ran, on the ops it ran
    (call it only when every case ran: a narrowed run leaves entries unmatched by design)."""
    usage: dict[str, Usage] = {}
    ops: dict[str, set[str]] = {}
    for rep in reports:
        if not rep.available:
            continue
        if rep.name not in usage:
            try:
                usage[rep.name] = Usage(tuple(getattr(registry.get(rep.name), "known_failures", ()) or ()))
            except Exception:  # noqa: BLE001 - a backend the registry no longer knows has nothing to warn about
                continue
        ops.setdefault(rep.name, set()).add(rep.op)
        for r in rep.results:
            if r.status not in ("unsupported", "skipped"):
                usage[rep.name].note(r.case)
    return [f"{name}'s known failure {kf.source or kf.case} ({kf.describe()}) matches no case that ran (stale entry?)"
            for name, u in usage.items() for kf in u.stale(ops[name])]


def summary_line(reports: list[BackendReport]) -> str:
    total: Counter = Counter()
    for r in reports:
        total.update(r.counts())
    failed = sum(total[s] for s in FAILING)
    variant = sum(len(r.invariance_failures) for r in reports)
    unavailable = list(dict.fromkeys(r.name for r in reports if not r.available))
    backends = list(dict.fromkeys(r.name for r in reports if r.available))
    ops = list(dict.fromkeys(r.op for r in reports))
    verdict = "FAILED" if failed or variant else "passed"
    text = (
        f"{verdict}: {len(backends)} backend(s) on {len(ops)} op(s), {total['pass']} passed, {failed} failed, "
        f"{total['xfail']} known failures, {total['xpass']} unexpectedly passing, {total['unsupported']} unsupported"
    )
    if total["skipped"]:
        text += f", {total['skipped']} skipped (backend dropped)"
    if variant:
        text += f", {variant} invariance failures (a required or promised property does not hold)"
    if unavailable:
        text += f", unavailable: {', '.join(unavailable)}"
    return text


def check_json(reports: list[BackendReport], registry: Any, *, run: RunHeader | None = None) -> dict[str, Any]:
    """The ``check --json`` document: a run header (``run``: :func:`normbench._results.runinfo.header`, made
    once per command; a new one when None), then results keyed by op (norm), then by backend (each
    with the version of the implementation behind it)."""
    from .._results.runinfo import header, new_run_id, now

    norms: dict[str, dict] = {}
    versions: dict[str, dict] = {}
    for rep in reports:
        entry = rep.as_dict()
        try:
            info = registry.get(rep.name)
            entry["version"] = getattr(info, "implementation_version", "") or ""
            versions[rep.name] = {"version": entry["version"]}
        except Exception:  # noqa: BLE001 - a backend the registry no longer knows: no version to give
            entry["version"] = ""
        norms.setdefault(rep.op, {"backends": []})["backends"].append(entry)
    run = run or header(new_run_id(), now(), schema=CHECK_SCHEMA)
    return {
        "normbench_check": CHECK_SCHEMA,
        "run": dataclasses.replace(run, ended=now(), backends=versions).as_dict(),
        "summary": summary_line(reports),
        "problems": [str(p) for p in registry.problems],
        "notices": list(registry.notices),
        "norms": norms,
    }


def first_of_each_group(cases: Iterable[Any]) -> list[Any]:
    """A sample: the first case of every (op, case group), in order (the test suite's)."""
    return _first_of_each(cases, lambda case: (case.op, case.group))


def first_of_each_data(cases: Iterable[Any]) -> list[Any]:
    """``normbench run``'s sample of a backend that compiles every case: the first case of every
    (op, kind of data), in order: normal, constant, offset, NaN, inf, large, tiny, huge.

    Half the cases of :func:`first_of_each_group` (37 against 68 over the five ops, at about 2 s of
    code generation a case on torch-compile), and as many of the field's defects: the hard data is
    where generated kernels part from eager ones. Cases that are known failures: torch-compile 6
    (against 2 in the group sample), flax 6 (2), keras-jax 13 (17). An op whose cases carry no
    ``data`` field is sampled by case group."""
    return _first_of_each(cases, lambda case: (case.op, getattr(case, "data", ("group", case.group))))


def _first_of_each(cases: Iterable[Any], key: Callable[[Any], Any]) -> list[Any]:
    seen, out = set(), []
    for case in cases:
        k = key(case)
        if k not in seen:
            seen.add(k)
            out.append(case)
    return out


def run_checks(registry, ops, backends, cases, *, timeout, threads=None, progress=True, plugins=(), on_report=None,
               done=None, known=None, jobs: int = 1, step: Callable[[], None] | None = None,
               sampled: Sequence[str] = (), pace: Any = None, invariance: Any = None):
    """Every (op, backend) pair the backend declares, each backend in a worker process of its
    own: a list of BackendReport, in backend then op order whatever ``jobs`` is. ``on_report(reports)``
    after each pair (to save them: the pairs finished so far, in that order). ``done`` maps
    (backend, op) to a BackendReport kept from an earlier run (``--resume``); ``known`` is the
    user's known-failures file (a KnownFailuresFile), applied to every result.

    ``jobs`` > 1 checks that many (backend, op) pairs at once. A pair runs in a worker of its
    backend's own, handed on from that backend's previous pair where one is idle (:class:`_Workers`).
    Conformance is not timed, so nothing is measured while it runs. ``step``: called after every
    case (a run-wide progress line), in place of a progress bar per backend and op; ``pace``: a
    :class:`~normbench.conformance.pace.Pace` told when each pair starts and ends, and of every case
    (the run's ETA). ``sampled``: backends checked on :func:`first_of_each_data` of the cases only.
    With ``jobs`` > 1 the backends that compile every configuration start first, so the longest
    checks overlap the others instead of running alone at the end. ``invariance``: an
    :class:`~normbench.conformance.invariance.Request`; each pair's invariance is probed after its
    cases, in the same worker (the backends in ``sampled`` are not probed)."""
    done = done or {}
    results: dict[int, BackendReport] = {}
    todo: dict[str, list[tuple[int, Any]]] = {}  # backend name -> [(position, op)]
    position = 0
    for b in backends:
        avail = availability_of(b)
        for op in ops:
            if not registry.supports(b, op.name):
                continue
            if (b.name, op.name) in done:
                results[position] = done[(b.name, op.name)]
            elif not avail:
                results[position] = BackendReport(b.name, op.name, False, avail.reason)
            else:
                todo.setdefault(b.name, []).append((position, op))
            position += 1
    lock = threading.Lock()
    pairs = [(name, pos, op) for name, items in todo.items() for pos, op in items]
    parallel = jobs > 1 and len(pairs) > 1
    pool = _Workers({name: len(items) for name, items in todo.items()},
                    lambda name: IsolatedBackend(name, plugins, threads, registry.worker_scope(name)))

    def check_pair(item: tuple[str, int, Any]) -> None:
        name, pos, op = item
        op_cases = [c for c in cases if c.op == op.name]
        if name in sampled:
            op_cases = first_of_each_data(op_cases)
        bar = Progress(f"check {name} {op.name}", len(op_cases), enabled=progress and step is None,
                       redraw=not parallel)

        def stepped(_result, bar=bar) -> None:
            bar.step()
            if pace is not None:
                pace.case((name, op.name))
            if step is not None:
                step()

        worker = pool.take(name)
        if pace is not None:
            pace.started((name, op.name))
        try:
            rep = check_backend_isolated(name, op, op_cases, known=known, timeout=timeout, on_result=stepped,
                                         worker=worker)
            if invariance is not None and rep.available and name not in sampled and not worker.dropped:
                rep.invariance = invariance.probe(name, op, worker.worker, registry, plugins=plugins, threads=threads,
                                                  timeout=timeout)
        finally:
            pool.give(name, worker)
            if pace is not None:
                pace.finished((name, op.name))
        bar.done()
        with lock:
            results[pos] = rep
            if on_report:
                on_report([results[i] for i in sorted(results)])

    try:
        if not parallel:
            for item in pairs:
                check_pair(item)
        else:
            # the unit of work is a (backend, op) pair, taken in order: those that compile every
            # configuration first (the longest checks overlap the others instead of running alone at
            # the end), then one backend after another. A backend's pairs run one after another while
            # other backends' pairs are left: its next pair takes over its idle worker, where two at
            # once would start a second worker and pay its imports (1-4 s) and torch-compile's cold
            # Inductor probe twice (a simulation on a cold run's pair times: 6 of 16 start-ups fewer)
            slow = {b.name for b in backends if getattr(b, "compiles_per_configuration", False)}
            order = {name: k for k, name in enumerate(todo)}
            _in_threads(check_pair, sorted(pairs, key=lambda p: (p[0] not in slow, order[p[0]], p[1])), jobs,
                        group=lambda p: p[0])
    finally:
        pool.close()
    return [results[i] for i in sorted(results)]


class _Workers:
    """Each backend's idle workers, handed from one of its (backend, op) pairs to the next: a backend
    starts as many workers as it has pairs running at once, not one per pair. A worker whose backend
    was dropped (it died too often) is not handed on; the next pair starts afresh, as it would alone.
    A backend's workers stop when its last pair is done."""

    def __init__(self, pairs_left: dict[str, int], start: Callable[[str], IsolatedBackend]):
        self.left, self.start = dict(pairs_left), start
        self.idle: dict[str, list[IsolatedBackend]] = {}
        self.stopping: list[threading.Thread] = []
        self.guard = threading.Lock()

    def take(self, name: str) -> IsolatedBackend:
        with self.guard:
            if self.idle.get(name):
                return self.idle[name].pop()
        return self.start(name)

    def give(self, name: str, worker: IsolatedBackend) -> None:
        with self.guard:
            self.left[name] -= 1
            keep = self.left[name] > 0 and not worker.dropped
            if keep:
                self.idle.setdefault(name, []).append(worker)
            retired = [] if self.left[name] > 0 else self.idle.pop(name, [])
        for w in retired + ([] if keep else [worker]):
            # a worker's exit (its interpreter's shutdown: up to 2 s with torch or keras loaded) does
            # not hold up the next pair
            stopping = threading.Thread(target=w.close, name=f"normbench-stop-{name}", daemon=True)
            stopping.start()
            self.stopping.append(stopping)

    def close(self) -> None:
        with self.guard:
            workers = [w for ws in self.idle.values() for w in ws]
            self.idle.clear()
        for w in workers:
            w.close()
        for t in self.stopping:
            t.join()


def _in_threads(fn: Callable[[Any], None], items: list[Any], jobs: int,
                group: Callable[[Any], Any] | None = None) -> None:
    """``fn(item)`` for every item, ``jobs`` at a time, in daemon threads (a Ctrl-C in the main
    thread is not held up by them; their workers die with the process). The first error is raised.

    With ``group``, a thread takes the first pending item whose group has none running, and only
    when every pending item's group is busy, the first item: work goes on in the given order, but
    two items of one group run at once only when nothing else is left to do."""
    pending = list(items)
    running: dict[Any, int] = {}
    errors: list[BaseException] = []
    guard = threading.Lock()

    def loop() -> None:
        while True:
            with guard:
                if not pending or errors:
                    return
                at = 0 if group is None else next(
                    (i for i, it in enumerate(pending) if not running.get(group(it))), 0)
                item = pending.pop(at)
                key = None if group is None else group(item)
                running[key] = running.get(key, 0) + 1
            try:
                fn(item)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                with guard:
                    errors.append(exc)
            finally:
                with guard:
                    running[key] -= 1

    pool = [threading.Thread(target=loop, name=f"normbench-check-{i}", daemon=True) for i in range(min(jobs, len(items)))]
    for t in pool:
        t.start()
    for t in pool:
        while t.is_alive():
            t.join(0.2)  # joined in slices: Ctrl-C reaches the main thread
    if errors:
        raise errors[0]


def kept_reports(path: Path, cases) -> dict:
    """(backend, op) -> BackendReport from an earlier ``check --output`` file, for those that ran
    every case selected now (a partial or different selection is run again)."""
    try:
        data = json.loads(path.read_text())
        data = data if "norms" in data else upgrade_check(data)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot resume from {path}: {exc}") from None
    by_id = {c.id: c for c in cases}
    out = {}
    for op, entry in (data.get("norms") or {}).items():
        wanted = {c.id for c in cases if c.op == op}
        for b in entry.get("backends", []):
            stored = {d["case"]: d for d in b.get("cases", [])}
            if b.get("available", True) and not wanted <= set(stored):
                continue
            rep = BackendReport(b["name"], op, bool(b.get("available", True)), b.get("reason", ""))
            rep.results = [CaseResult.from_dict(stored[i], by_id[i]) for i in by_id if i in wanted and i in stored]
            if "invariance" in b:
                from .invariance import Row
                rep.invariance = [Row.from_dict(b["name"], op, d) for d in b["invariance"]]
            out[(b["name"], op)] = rep
    return out


@handler
def run_case_in_worker(state, payload) -> CaseResult:
    """Worker side of a conformance case: check it, with the backend's own known failures applied."""
    op_name, case = payload
    return apply_known(state.backend, checker.run_case(state.ops[op_name], state.backend, case))
