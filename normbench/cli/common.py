"""Helpers shared by every command: the parser class, option groups, loading plugins, types.

This module imports no command module, so commands never import each other.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from .._timing.bench import RIGORS, Rigor
from .._timing.contention import machine_busy
from ..errors import InputError
from .._results.runinfo import usable_cores


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump), like every other normbench error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def plugin_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--plugin", action="append", default=[], metavar="MODULE",
        help="import MODULE as a plugin (repeatable), like NORMBENCH_PLUGINS=mod1,mod2",
    )


def store_option(p: argparse.ArgumentParser, *, writes: bool = True) -> None:
    """``--store`` (and ``--no-store`` for commands that write to it by default)."""
    p.add_argument("--store", metavar="PATH_OR_URL", default=None,
                   help="the results store: an SQLite file or a postgresql:// URL (default: $NORMBENCH_STORE, else "
                        ".normbench/results.sqlite)")
    if writes:
        p.add_argument("--no-store", action="store_true", help="do not add this run to the results store")


def keep_in_store(args: argparse.Namespace, kind: str, *, header=None, rows=None, document=None) -> None:
    """Add a finished run to the store unless ``--no-store``; a store that cannot be written costs a
    warning, never the run's own results (its files are already written)."""
    if getattr(args, "no_store", False) or (args.store is None and _store_env_off()):
        return
    from ..errors import NormbenchError
    from .._results.runinfo import branch
    from ..store import open_store

    try:
        with open_store(args.store, write=True) as store:
            if store.migrated_from is not None:
                print(f"normbench: migrated store {store.name} from schema {store.migrated_from} (a copy of the old "
                      f"file is {store.backup})", file=sys.stderr)
            added = (store.add_bench_run(header, rows, branch=branch()) if kind == "bench"
                     else store.add_check_run(document, branch=branch()))
            if added:
                print(f"stored the {kind} run in {store.name} (normbench history, regressions)", file=sys.stderr)
    except (NormbenchError, OSError, RuntimeError, ValueError) as exc:  # the run's own files are written already
        from .._results.redact import redact

        print(f"normbench: warning: the run was not stored: {redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}",
              file=sys.stderr)


def _store_env_off() -> bool:
    """``NORMBENCH_STORE=off``: no store for any command (the test suite's default)."""
    import os

    return os.environ.get("NORMBENCH_STORE", "").lower() in ("off", "none", "0")


def norm_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--norm", action="append", default=[], metavar="OP",
                   help="only this op (repeatable; default: every installed op; normbench list shows them)")


def backend_option(p: argparse.ArgumentParser, what: str = "backend") -> None:
    p.add_argument("--backend", action="append", default=[], metavar="NAME", help=f"{what} (repeatable; default: all)")
    p.add_argument("--skip-backend", action="append", default=[], metavar="PATTERN",
                   help="leave out the backends whose name matches PATTERN (fnmatch, e.g. keras-* for every Keras backend; "
                        "repeatable)")


def load_registry(args):
    from .._runtime.discovery import discover

    return discover(args.plugin)


def warn_problems(registry, stream=None) -> None:
    """Broken plugins as warnings, v1 adaptations and similar as notices, on stderr."""
    stream = stream or sys.stderr
    for problem in registry.problems:
        print(f"normbench: warning: {problem}", file=stream)
    for notice in registry.notices:
        print(f"normbench: notice: {notice}", file=stream)


def selected(registry, args):
    """(ops, backends) named by --norm and --backend (all when not given)."""
    import fnmatch

    ops = registry.select_ops(getattr(args, "norm", []))
    backends = registry.select(getattr(args, "backend", []))
    skip = getattr(args, "skip_backend", [])
    for pattern in skip:  # a typo must not silently keep a backend in
        if not any(fnmatch.fnmatchcase(b.name, pattern) for b in backends):
            raise InputError(f"--skip-backend {pattern!r} matches none of the selected backends "
                             f"({', '.join(b.name for b in backends)})")
    return ops, [b for b in backends if not any(fnmatch.fnmatchcase(b.name, p) for p in skip)]


def checked_passes(ops, passes: Sequence[str]) -> list[str]:
    """``--op`` values, each a pass of at least one selected op."""
    known = list(dict.fromkeys(p for op in ops for p in op.passes))
    for p in passes:
        if p not in known:
            raise InputError(f"unknown op {p!r} (a pass); expected one of {', '.join(known)}")
    return list(passes)


# -- the timing protocol's options, shared by bench and run --------------------------------------------
def rigor_of(args) -> Rigor:
    """The measurement rigor asked for: ``--rigor``'s preset, with ``--processes`` (a fixed count),
    ``--min-processes``/``--max-processes``/``--target`` and ``--repeat`` over it."""
    import dataclasses

    r = RIGORS[getattr(args, "rigor", None) or "default"]
    fixed = getattr(args, "processes", None)
    lo = fixed or getattr(args, "min_processes", None) or r.min_processes
    hi = fixed or getattr(args, "max_processes", None) or max(r.max_processes, lo)
    if lo > hi:
        raise InputError(f"--min-processes {lo} is more than --max-processes {hi}")
    return dataclasses.replace(r, min_processes=lo, max_processes=hi, target=getattr(args, "target", None) or r.target,
                               min_samples=getattr(args, "repeat", None) or r.min_samples)


def parse_fraction(text: str) -> float | None:
    """``0.05`` or ``5%`` as 0.05; None when it is neither."""
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return None


def _fraction(text: str) -> float:
    """A relative width: ``0.05`` or ``5%``, between 0 and 1."""
    v = parse_fraction(text)
    if v is None or not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1 such as 0.05 or 5%, got {text!r}")
    return v


def timing_options(p, rigor: str = "default") -> None:
    """The timing protocol's options, shared by bench and run (``rigor``: the default preset)."""
    p.add_argument("--rigor", choices=sorted(RIGORS), default=rigor,
                   help=("how hard to measure: " + "; ".join(
                       f"{r.name}: {r.min_processes}-{r.max_processes} processes, until a row's 95% interval is within "
                       f"+-{r.target:.0%}" + (", none more for a row its cap could not make sure" if r.futility else "")
                       + f", each >= {r.min_samples} samples and >= {r.budget_s * 1e3:g} ms timed"
                       for r in RIGORS.values()) + f" (default: {rigor})").replace("%", "%%"))
    p.add_argument("--processes", type=positive_int, default=None, metavar="N",
                   help="a fixed count of fresh worker processes per configuration and backend (no sequential rule)")
    p.add_argument("--min-processes", type=positive_int, default=None, metavar="N",
                   help="fewest fresh processes per configuration and backend (overrides --rigor's)")
    p.add_argument("--max-processes", type=positive_int, default=None, metavar="N",
                   help="most fresh processes per configuration and backend: a row whose processes still disagree "
                        "stops here and is marked unstable with its cause (overrides --rigor's)")
    p.add_argument("--target", type=_fraction, default=None, metavar="W",
                   help="add processes to a row while its 95%% interval is wider than +-W of its time, e.g. 0.05 or 5%% "
                        "(overrides --rigor's)")
    p.add_argument("--repeat", type=positive_int, default=None, metavar="N",
                   help="fewest timed samples per process (overrides --rigor's)")
    p.add_argument("--placement", choices=["random", "heap"], default="random",
                   help="where each process's output lands relative to its inputs: random (default: drawn per process "
                        "with a pad of 0-4 KiB, so placement-sensitive kernels show modes) or heap (left to the heap's "
                        "history)")
    p.add_argument("--memory-policy", choices=["reuse", "system"], default="reuse",
                   help="allocator policy of every worker: reuse (default: glibc keeps freed memory, no page faults "
                        "per call) or system (the C library's defaults, as a plain process pays them)")
    p.add_argument("--wait-idle", type=positive_float, default=None, metavar="S",
                   help="before timing, wait up to S seconds for the machine to be idle (no other runnable tasks)")
    p.add_argument("--seed", type=int, default=None, help="seed of the random process and configuration order")


def wait_for_idle(limit: float | None) -> None:
    """Say so when the machine is busy before timing starts (as pyperf does); with ``--wait-idle S``
    wait up to S seconds for it to calm down."""
    cores = usable_cores()
    busy, why = machine_busy(cores)
    if busy and limit:
        end = time.monotonic() + limit
        print(f"normbench: machine busy ({why}); waiting up to {limit:g} s for it to be idle", file=sys.stderr)
        while busy and time.monotonic() < end:
            busy, why = machine_busy(cores, 2.0)
    if busy:
        print(f"normbench: warning: the machine is busy ({why}): contended samples are re-taken, rows that stay "
              "contended are marked and left out of every summary; --wait-idle S waits for quiet", file=sys.stderr)


def warn_threads(threads: int | None) -> None:
    usable = usable_cores()
    if threads and usable and threads > usable:
        print(f"normbench: warning: --threads {threads} is more than the {usable} usable cores: threads will share "
              "cores and the timings say little", file=sys.stderr)
