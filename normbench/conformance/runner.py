"""Run conformance cases against backends: time limits, known failures, summaries.

Shared by ``normbench check`` and the pytest suite, so both report the same verdicts.
"""
from __future__ import annotations

import fnmatch
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from ..backend import Backend, KnownFailure, availability_of
from ..dtypes import check_dtype
from ..errors import InputError
from ..limits import TimedOut, call_with_timeout
from ..ops import batchnorm
from ..ops.batchnorm import Case, CaseResult

#: statuses that make ``check`` exit non-zero
FAILING = frozenset({"fail", "error", "timeout"})
DEFAULT_TIMEOUT = 120.0  # seconds per case: generous for a first JIT compilation


def select_cases(patterns: Sequence[str] = (), groups: Sequence[str] = (), dtypes: Sequence[str] = ()) -> list[Case]:
    """All cases, filtered by case-id fnmatch patterns, group names and/or dtypes."""
    cases = batchnorm.all_cases()
    if dtypes:
        wanted = {check_dtype(d) for d in dtypes}
        cases = [c for c in cases if c.dtype in wanted]
    unknown = [g for g in groups if g not in batchnorm.GROUPS]
    if unknown:
        raise InputError(f"unknown case group {unknown[0]!r}; expected one of {', '.join(batchnorm.GROUPS)}")
    if groups:
        cases = [c for c in cases if c.group in groups]
    if patterns:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.id, p) or p in c.id for p in patterns)]
        if not cases:
            raise InputError(f"no conformance case matches {', '.join(patterns)} (see normbench check --list-cases)")
    return cases


def known_failure(backend: Backend, case: Case) -> KnownFailure | None:
    for kf in getattr(backend, "known_failures", ()) or ():
        if kf.matches(case.id):
            return kf
    return None


def apply_known(backend: Backend, result: CaseResult) -> CaseResult:
    """Turn a listed failure into "xfail" and an unexpected pass of a listed case into "xpass"."""
    kf = known_failure(backend, result.case)
    if kf is None:
        return result
    if result.status in FAILING:
        result.status, result.known_reason = "xfail", kf.reason
    elif result.status == "pass":
        result.status, result.known_reason = "xpass", kf.reason
        result.message = f"listed as a known failure ({kf.reason}) but passes: remove the entry"
    return result


def run_with_timeout(fn: Callable[[], CaseResult], timeout: float | None) -> CaseResult | None:
    """``fn()``, or None if it did not finish within ``timeout`` seconds (see limits.py)."""
    try:
        return call_with_timeout(fn, timeout)
    except TimedOut:
        return None


@dataclass
class BackendReport:
    name: str
    available: bool
    reason: str = ""
    results: list[CaseResult] = field(default_factory=list)

    def counts(self) -> Counter:
        return Counter(r.status for r in self.results)

    @property
    def failed(self) -> bool:
        return any(r.status in FAILING for r in self.results)


def check_backend(
    backend: Backend,
    cases: Iterable[Case],
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    on_result: Callable[[CaseResult], None] | None = None,
) -> BackendReport:
    """Run every case on one backend. A backend that raises or hangs is reported, not fatal."""
    avail = availability_of(backend)
    report = BackendReport(backend.name, avail.available, avail.reason)
    if not avail:
        return report
    hung = ""
    for case in cases:
        if hung:
            result = CaseResult(case, "timeout", hung)
        else:
            result = run_with_timeout(lambda: batchnorm.run_case(backend, case), timeout)
            if result is None:
                hung = f"skipped: backend hung on {case.id} (> {timeout:g} s)"
                result = CaseResult(case, "timeout", f"did not finish within {timeout:g} s")
        result = apply_known(backend, result)
        report.results.append(result)
        if on_result:
            on_result(result)
    return report


CELL = {"pass": "ok", "fail": "FAIL", "error": "ERROR", "timeout": "TIMEOUT", "xfail": "known", "xpass": "XPASS", "unsupported": "n/a"}


def group_cell(results: list[CaseResult]) -> str:
    """One table cell for a backend x group, e.g. ``ok 12``, ``FAIL 2/12 (max abs 0.13)``."""
    if not results:
        return "-"
    c = Counter(r.status for r in results)
    parts = []
    bad = [r for r in results if r.status in FAILING]
    if bad:
        err = max((r.max_abs for r in bad), default=0.0)
        rel = max((r.max_rel for r in bad), default=0.0)
        parts.append(f"FAIL {len(bad)}/{len(results)}" + (f" (abs {err:.2g}, rel {rel:.2g})" if err else ""))
    if c["xfail"]:
        err = max(r.max_abs for r in results if r.status == "xfail")
        parts.append(f"known {c['xfail']}" + (f" ({err:.2g})" if err else ""))
    if c["xpass"]:
        parts.append(f"XPASS {c['xpass']}")
    if c["pass"]:
        parts.append(f"ok {c['pass']}")
    if c["unsupported"] and not parts:
        parts.append("n/a")
    elif c["unsupported"]:
        parts.append(f"n/a {c['unsupported']}")
    return ", ".join(parts)


def summary_line(reports: list[BackendReport]) -> str:
    total = Counter()
    for r in reports:
        total.update(r.counts())
    failed = sum(total[s] for s in FAILING)
    unavailable = [r.name for r in reports if not r.available]
    verdict = "FAILED" if failed else "passed"
    text = (
        f"{verdict}: {len([r for r in reports if r.available])} backend(s), {total['pass']} passed, {failed} failed, "
        f"{total['xfail']} known failures, {total['xpass']} unexpectedly passing, {total['unsupported']} unsupported"
    )
    if unavailable:
        text += f", unavailable: {', '.join(unavailable)}"
    return text
