"""Known failures owned by the user: ``--known-failures FILE`` on ``check`` and the pytest route.

Like array-api-tests' ``--xfails-file``: whoever runs the suite against an implementation they do
not control lists its defects in a file of their own, instead of editing the backend. One entry
per line, ``#`` starts a comment::

    # BACKEND   CASE-PATTERN                          REASON (the rest of the line)
    torch-cpu   groupnorm/offset/*-float32-*          one-pass variance, pytorch/pytorch#NNNN
    mybackend   re:batchnorm/.*-bfloat16-.*           bfloat16 dbias summed in bfloat16

Patterns are those of :class:`~normbench.backend.KnownFailure` (fnmatch over case ids, or a
regular expression after ``re:``). A failure an entry matches becomes a known failure, a pass
an XPASS; an entry that matches no case run for its backend is reported as stale.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..backend import KnownFailure
from ..errors import InputError
from ..results import FAILING, CaseResult


@dataclass(frozen=True)
class Entry:
    backend: str
    failure: KnownFailure

    @property
    def where(self) -> str:
        """"FILE:LINE", for messages (the failure's own source)."""
        return self.failure.source


@dataclass
class KnownFailuresFile:
    path: Path
    entries: list[Entry] = field(default_factory=list)
    #: entries that matched at least one case (by index), and the backends whose cases were seen
    used: set[int] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, path: str | Path) -> "KnownFailuresFile":
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise InputError(f"--known-failures {path}: cannot read it ({exc.strerror or exc})") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"--known-failures {path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
        out = cls(path)
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
            if not line:
                continue
            parts = line.split(None, 2)
            if len(parts) < 2:
                raise InputError(f"{path}:{number}: expected 'BACKEND CASE-PATTERN [REASON]', got {line!r}")
            backend, pattern = parts[0], parts[1]
            if pattern.startswith("re:"):
                import re

                try:
                    re.compile(pattern[3:])
                except re.error as exc:
                    raise InputError(f"{path}:{number}: bad regular expression {pattern[3:]!r}: {exc}") from None
            reason = parts[2] if len(parts) > 2 else "listed in the known-failures file"
            out.entries.append(Entry(backend, KnownFailure(pattern, reason, source=f"{path}:{number}")))
        return out

    def apply(self, backend: str, result: CaseResult) -> CaseResult:
        """A failure an entry lists becomes "xfail"; a pass it lists, "xpass". The backend's own
        known failures (already applied in its worker) are left as they are."""
        self.seen.add(backend)
        match = None
        for i, entry in enumerate(self.entries):
            if entry.backend == backend and entry.failure.matches(result.case):
                self.used.add(i)
                match = match or entry
        if match is None or result.status in ("xfail", "xpass"):
            return result
        reason = f"{match.failure.reason} [{match.where}]"
        if result.status in FAILING:
            result.status, result.known_reason = "xfail", reason
        elif result.status == "pass":
            result.status, result.known_reason = "xpass", reason
            result.message = f"listed in {match.where} as a known failure but passes: remove the entry"
        return result

    def stale(self) -> list[str]:
        """Warnings for entries that matched no case of a backend that ran (or name no such backend)."""
        out = [f"{e.where}: {e.backend} {e.failure.case} matches no case that ran for {e.backend} (stale entry?)"
               for i, e in enumerate(self.entries) if i not in self.used and e.backend in self.seen]
        for backend in dict.fromkeys(e.backend for e in self.entries if e.backend not in self.seen):
            first = next(e for e in self.entries if e.backend == backend)
            out.append(f"{first.where}: backend {backend!r} ran no case here (unknown, unavailable or not selected)")
        return out
