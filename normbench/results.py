"""Outcomes of conformance cases, shared by every op, the check runner, the CLI and reports."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

#: statuses that make ``check`` exit non-zero
FAILING = frozenset({"fail", "error", "timeout", "crash"})
#: statuses worth a line of their own in a report
NOTABLE = FAILING | {"xfail", "xpass"}


@dataclass
class Comparison:
    """One output of one case compared with the reference."""

    output: str
    ok: bool
    max_abs: float
    max_rel: float
    #: max of error / tolerance (<= 1 passes)
    worst: float
    detail: str = ""
    #: the pass whose output this is (known failures may be limited to passes)
    pass_: str = ""

    def summary(self) -> str:
        if self.detail:
            return f"{self.output}: {self.detail}"
        return f"{self.output}: max abs err {self.max_abs:.3g}, max rel err {self.max_rel:.3g} ({self.worst:.3g}x tolerance)"

    def as_dict(self) -> dict[str, Any]:
        return {"output": self.output, "ok": self.ok, "max_abs": self.max_abs, "max_rel": self.max_rel, "worst": self.worst,
                "pass": self.pass_}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Comparison":
        return cls(d["output"], bool(d["ok"]), float(d["max_abs"]), float(d["max_rel"]), float(d["worst"]),
                   pass_=d.get("pass", ""))


@dataclass
class CaseResult:
    case: Any
    #: "pass", "fail", "unsupported", "error" (raised when it should not), "timeout", "crash"
    #: (the worker died), "skipped" (not run: the backend was dropped after repeated crashes),
    #: and after known failures are applied "xfail"/"xpass"
    status: str
    message: str = ""
    comparisons: list[Comparison] = field(default_factory=list)
    passes_run: tuple[str, ...] = ()
    known_reason: str = ""
    #: the passes the failure lies in (empty when unknown, e.g. the worker died)
    failed_in: tuple[str, ...] = ()

    @property
    def failures(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.ok]

    @property
    def worst(self) -> Comparison | None:
        pool = self.failures or self.comparisons
        return max(pool, key=lambda c: c.worst) if pool else None

    @property
    def max_abs(self) -> float:
        return max((c.max_abs for c in self.failures), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((c.max_rel for c in self.failures), default=0.0)

    @classmethod
    def from_dict(cls, d: dict[str, Any], case: Any) -> "CaseResult":
        """A result read back from check JSON (``case``: the case object with that id)."""
        return cls(case, d["status"], d.get("message", ""), [Comparison.from_dict(c) for c in d.get("outputs", [])],
                   known_reason=d.get("known_reason", ""), failed_in=tuple(d.get("failed_in", ())))

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case.id, "group": self.case.group, "dtype": getattr(self.case, "dtype", ""),
            "layout": getattr(self.case, "layout", ""), "rank": len(getattr(self.case, "shape", ()) or ()) or None,
            **({"key": self.case.key.as_dict()} if hasattr(self.case, "key") else {}),
            "status": self.status, "message": self.message, "failed_in": list(self.failed_in),
            "known_reason": self.known_reason, "max_abs": self.max_abs, "max_rel": self.max_rel,
            "outputs": [c.as_dict() for c in self.comparisons],
        }


def group_cell(results: Iterable[dict[str, Any]]) -> str:
    """One table cell for a backend x case group, e.g. ``ok 12``, ``FAIL 2/12 (abs 0.13, rel 0.2)``.

    ``results`` are case dicts (:meth:`CaseResult.as_dict`, or read back from check JSON), so the
    terminal and the report format cells the same way.
    """
    results = list(results)
    if not results:
        return "-"
    c = Counter(r["status"] for r in results)
    parts = []
    bad = [r for r in results if r["status"] in FAILING]
    if bad:
        err = max((r.get("max_abs") or 0.0 for r in bad), default=0.0)
        rel = max((r.get("max_rel") or 0.0 for r in bad), default=0.0)
        parts.append(f"FAIL {len(bad)}/{len(results)}" + (f" (abs {err:.2g}, rel {rel:.2g})" if err else ""))
    if c["xfail"]:
        err = max(r.get("max_abs") or 0.0 for r in results if r["status"] == "xfail")
        parts.append(f"known {c['xfail']}" + (f" ({err:.2g})" if err else ""))
    if c["xpass"]:
        parts.append(f"XPASS {c['xpass']}")
    if c["pass"]:
        parts.append(f"ok {c['pass']}")
    if c["skipped"]:
        parts.append(f"skipped {c['skipped']}")
    if c["unsupported"]:
        parts.append(f"n/a {c['unsupported']}" if parts else "n/a")
    return ", ".join(parts)
