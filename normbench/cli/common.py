"""Helpers shared by every command: the parser class, option groups, loading plugins, types.

This module imports no command module, so commands never import each other.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..errors import InputError


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


def norm_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--norm", action="append", default=[], metavar="OP",
                   help="only this op (repeatable; default: every installed op; normbench list shows them)")


def backend_option(p: argparse.ArgumentParser, what: str = "backend") -> None:
    p.add_argument("--backend", action="append", default=[], metavar="NAME", help=f"{what} (repeatable; default: all)")
    p.add_argument("--skip-backend", action="append", default=[], metavar="PATTERN",
                   help="leave out the backends whose name matches PATTERN (fnmatch, e.g. 'keras-*'; repeatable)")


def load_registry(args):
    from ..discovery import discover

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
