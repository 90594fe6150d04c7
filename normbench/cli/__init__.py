"""The ``normbench`` command line: list, check, selftest, bench, ab, compare, report, run, and the store's
commands (store, history, regressions, export); one module per command or family."""
from __future__ import annotations

import sys
from typing import Sequence

from .. import __version__
from ..errors import NormbenchError
from . import ab, bench, check, common, compare, listing, report, run, selftest, store


def build_parser() -> common.Parser:
    parser = common.Parser(prog="normbench", description="Is your normalization kernel right, and is it fast?")
    parser.add_argument("--version", action="version", version=f"normbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=common.Parser)
    for command in (listing, check, selftest, bench, ab, compare, report, run, store):
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .._results import runinfo

    parser = build_parser()
    runinfo.set_command(sys.argv[1:] if argv is None else list(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (already printed on one line) and --help, as a return value
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.func(args) or 0)
    except NormbenchError as exc:
        print(f"normbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("normbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
