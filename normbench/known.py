"""Known failures: a backend's recorded defects, matched on a case's fields, not on its id's spelling.

Like PyTorch's OpInfo ``DecorateInfo`` or array-api-tests' per-implementation xfail files, a known
failure names what it covers as data: the op, the passes it fails in, any fields of that op's case
(``dtype``, ``layout``, ``group``, ``data``...) and, where a list of values is not enough, a
predicate over the case (``where = "shape[-1] < 1000"``). Renaming a fragment of the id cannot turn
a known failure into an unexpected one, nor hide a real one.

Built-in and out-of-tree backends keep theirs in a TOML data file beside their code, one per plugin
(:func:`load_known_failures`). A user's own file (``--known-failures``, see
:mod:`normbench.conformance.knownfile`) may still use fnmatch or ``re:`` patterns over case ids,
and so may :class:`KnownFailure` ``(pattern, reason)`` for plugins written against earlier releases.

Data file format::

    [[failure]]
    backends = ["torch-cpu"]          # which backends of the plugin it is about
    op = "layernorm"                  # or a list of ops
    passes = ["backward"]             # optional: the failure must lie in these passes only
    dtype = ["float16", "bfloat16"]   # any other key is a field of the op's case; a list: any of
    where = "shape[-1] < 1000"        # optional: an expression over the case's fields
    reason = "what is wrong (no figure measured once: every run reports the error it measures)"
"""
from __future__ import annotations

import ast
import fnmatch
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import tomllib  # Python 3.11+ (pyproject's requires-python)

from .errors import InputError

#: keys of a data-file entry that are not case fields
RESERVED = frozenset({"backends", "op", "passes", "where", "reason"})
#: what a ``where`` expression may call
FUNCTIONS: Mapping[str, Any] = {"len": len, "min": min, "max": max, "prod": math.prod, "abs": abs}
_NODES = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare, ast.Eq,
          ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot, ast.Name, ast.Load,
          ast.Constant, ast.Tuple, ast.List, ast.Subscript, ast.Slice, ast.BinOp, ast.Add, ast.Sub, ast.Mult,
          ast.Div, ast.FloorDiv, ast.Mod, ast.Call, ast.IfExp)


class Where:
    """A small, checked expression over a case's fields (no attribute access, no imports)."""

    def __init__(self, text: str, where: str = ""):
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise InputError(f"{where}: where = {text!r} is not an expression ({exc.msg})") from None
        for node in ast.walk(tree):
            if not isinstance(node, _NODES):
                raise InputError(f"{where}: where = {text!r} uses {type(node).__name__}, which is not allowed")
            if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
                raise InputError(f"{where}: where = {text!r} may call only {', '.join(FUNCTIONS)}")
        self.text = text
        self.names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - set(FUNCTIONS))
        self.code = compile(tree, "<where>", "eval")

    def __call__(self, case: Any) -> bool:
        scope = {name: getattr(case, name) for name in self.names}
        return bool(eval(self.code, {"__builtins__": {}, **FUNCTIONS}, scope))  # noqa: S307 - checked above

    def __reduce__(self):  # compiled code does not pickle; workers rebuild it from the text
        return (Where, (self.text,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Where) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


@dataclass(frozen=True)
class KnownFailure:
    """A defect of the implementation behind a backend, found by the conformance suite.

    Matched on fields: ``op``, ``passes`` (the failure must lie only in these), ``fields`` (case
    field -> the values it may take) and ``where`` (a predicate over the case). A matching failure
    is reported as *known*, with the error measured in the run, and does not fail ``check``; a
    matching case that passes is reported as *xpass* so the entry can be removed.

    ``case`` (an fnmatch pattern over case ids, or a regular expression after ``re:``) is the older
    form, kept for users' files and for plugins written against earlier releases.
    """

    case: str = ""
    reason: str = ""
    op: str = ""
    passes: tuple[str, ...] = ()
    fields: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    where: Where | None = None
    #: where it is written ("FILE, entry N"), for messages
    source: str = ""

    def __post_init__(self) -> None:
        if not self.case and not self.op:
            raise InputError(f"{self.source or 'known failure'}: names neither an op nor a case pattern")

    def matches(self, case: Any) -> bool:
        """Whether this entry covers ``case`` (a case record; a bare id matches patterns only).
        A field the case does not have is an error, never a silent mismatch."""
        if isinstance(case, str):
            return bool(self.case) and self._pattern(case)
        if self.case:
            return self._pattern(case.id)
        if case.op != self.op:
            return False
        for name, values in self.fields:
            if not hasattr(case, name):
                raise InputError(f"{self.source}: {self.op} cases have no field {name!r} (known failure: {self.reason[:60]})")
            if getattr(case, name) not in values:
                return False
        if self.where is not None:
            missing = [n for n in self.where.names if not hasattr(case, n)]
            if missing:
                raise InputError(f"{self.source}: where = {self.where.text!r}: {self.op} cases have no field {missing[0]!r}")
            return self.where(case)
        return True

    def covers(self, failed_in: Iterable[str]) -> bool:
        """Whether a failure in ``failed_in`` (passes; empty: not known) lies within this entry's passes."""
        failed = set(failed_in)
        return not self.passes or (bool(failed) and failed <= set(self.passes))

    def _pattern(self, case_id: str) -> bool:
        if self.case.startswith("re:"):
            return re.fullmatch(self.case[3:], case_id) is not None
        return fnmatch.fnmatchcase(case_id, self.case)

    @property
    def restricted_to_property_cases(self) -> bool:
        """Whether only the property tests (hypothesis, the pytest route) can reach this entry."""
        return dict(self.fields).get("group") == ("property",)

    def describe(self) -> str:
        """The entry in one line, for listings and warnings."""
        if self.case:
            return self.case
        parts = [self.op] + ([f"passes={'/'.join(self.passes)}"] if self.passes else [])
        parts += [f"{k}={'|'.join(map(str, v))}" for k, v in self.fields]
        parts += [f"where {self.where.text}"] if self.where else []
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        if self.case:
            return {"case": self.case, "reason": self.reason}
        return {"op": self.op, "passes": list(self.passes), "fields": {k: list(v) for k, v in self.fields},
                "where": self.where.text if self.where else "", "reason": self.reason, "source": self.source}


def load_known_failures(path: str | Path, backend: str) -> tuple[KnownFailure, ...]:
    """The entries of the TOML data file at ``path`` that name ``backend`` (see the module doc).
    A malformed file raises InputError naming the file and entry."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"known failures {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"known failures {path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"known failures {path}: not valid TOML ({exc})") from None
    unknown = set(data) - {"failure"}
    if unknown:
        raise InputError(f"known failures {path}: unknown table {sorted(unknown)[0]!r} (expected [[failure]] entries)")
    out = []
    for number, entry in enumerate(data.get("failure", []), start=1):
        where = f"{path.name}, failure {number}"
        for key in ("backends", "op", "reason"):
            if not entry.get(key):
                raise InputError(f"{where}: {key!r} is missing")
        backends = entry["backends"]
        if isinstance(backends, str) or not all(isinstance(b, str) for b in backends):
            raise InputError(f"{where}: 'backends' must be a list of backend names")
        if backend not in backends:
            continue
        fields = tuple((k, tuple(_frozen(x) for x in v) if isinstance(v, list) else (v,))
                       for k, v in entry.items() if k not in RESERVED)
        passes = entry.get("passes", ())
        ops = entry["op"]
        for op in [ops] if isinstance(ops, str) else ops:
            out.append(KnownFailure(reason=" ".join(str(entry["reason"]).split()), op=str(op),
                                    passes=(passes,) if isinstance(passes, str) else tuple(passes), fields=fields,
                                    where=Where(entry["where"], where) if entry.get("where") else None, source=where))
    return tuple(out)


def _frozen(value: Any) -> Any:
    """A TOML value as a hashable one (a shape is a list in TOML, a tuple on a case)."""
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


@dataclass
class Usage:
    """Which of a backend's known failures matched a case that ran (for stale-entry warnings)."""

    entries: tuple[KnownFailure, ...]
    used: set[int] = field(default_factory=set)

    def note(self, case: Any) -> None:
        for i, kf in enumerate(self.entries):
            try:
                if i not in self.used and kf.matches(case):
                    self.used.add(i)
            except InputError:  # a field the case lacks: reported on the case itself, in its worker
                continue

    def stale(self, ops: Iterable[str]) -> list[KnownFailure]:
        ran = set(ops)
        return [kf for i, kf in enumerate(self.entries)
                if i not in self.used and kf.op in ran and not kf.restricted_to_property_cases]
