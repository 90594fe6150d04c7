"""The results store's commands: ``store`` (import, info, migrate), ``history``, ``regressions``
and ``export`` (normbench.store; docs/store.md)."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..errors import InputError
from . import common


def add_parser(sub) -> None:
    p = sub.add_parser("store", help="the results store: import files into it, say what it holds, migrate it")
    ss = p.add_subparsers(dest="store_command", required=True, parser_class=common.Parser)
    i = ss.add_parser("import", help="add bench files, check --json documents or an asv results folder to the store")
    common.store_option(i, writes=False)
    common.plugin_options(i)
    i.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="a bench file (.json, .csv), a check --json document, or asv's results folder")
    i.set_defaults(func=cmd_import)
    n = ss.add_parser("info", help="the store's schema, machines and runs")
    common.store_option(n, writes=False)
    n.set_defaults(func=cmd_info)
    m = ss.add_parser("migrate", help="bring the store to this normbench's schema")
    common.store_option(m, writes=False)
    m.set_defaults(func=cmd_migrate)

    h = sub.add_parser("history", help="one series (backend, op, pass, configuration) over the runs, per machine")
    common.store_option(h, writes=False)
    h.add_argument("--backend", required=True, metavar="NAME")
    h.add_argument("--norm", required=True, metavar="OP")
    h.add_argument("--op", required=True, metavar="PASS", help="forward, backward, train, eval, ...")
    h.add_argument("--shape", required=True, metavar="SHAPE", help="as the bench table writes it, e.g. 256x1024")
    h.add_argument("--dtype", default="float32")
    h.add_argument("--layout", default=None, help="default: the only one stored, else an error naming them")
    h.add_argument("--threads", type=int, default=None, help="default: the only count stored, else an error")
    h.add_argument("--memory-policy", default=None, help="default: the only policy stored, else an error")
    h.add_argument("--machine", action="append", default=[], metavar="NAME_OR_FINGERPRINT", help="only this machine")
    h.add_argument("--plot", type=Path, default=None, metavar="FILE.png", help="also draw it: one line per machine")
    h.add_argument("--json", action="store_true", help="print the points as JSON")
    h.set_defaults(func=cmd_history)

    r = sub.add_parser("regressions", help="change points in every series of the store: regressions and improvements")
    common.store_option(r, writes=False)
    r.add_argument("--threshold", type=_fraction, default=0.10, metavar="FRACTION",
                   help="smallest change reported (default 0.10 = 10%%)")
    r.add_argument("--machine", action="append", default=[], metavar="NAME_OR_FINGERPRINT")
    r.add_argument("--backend", action="append", default=[], metavar="NAME")
    r.add_argument("--norm", action="append", default=[], metavar="OP")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_regressions)

    e = sub.add_parser("export", help="a run's results in another tool's format (bencher: Bencher Metric Format JSON)")
    common.store_option(e, writes=False)
    e.add_argument("source", nargs="?", default="run:latest",
                   help="a bench file, or run:ID / run:latest / run:latest~N from the store (default run:latest)")
    e.add_argument("--format", choices=["bencher"], required=True)
    e.add_argument("--output", "-o", type=Path, default=None, metavar="FILE", help="default: standard output")
    e.set_defaults(func=cmd_export)


def _fraction(text: str) -> float:
    from .compare import _fraction as parse

    return parse(text)


def _open(args, *, create: bool = False, write: bool = False):
    from ..store import open_store

    return open_store(args.store, create=create, write=write)


def cmd_import(args: argparse.Namespace) -> int:
    from .._runtime.discovery import discover
    from ..store.ingest import import_path

    ops = discover(args.plugin).select_ops([])
    with _open(args, create=True, write=True) as store:
        for path in args.paths:
            added, kept = import_path(store, path, ops)
            print(f"{path}: {added} run(s) added" + (f", {kept} already in the store" if kept else ""))
        print(f"store: {store.name}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from ..store import schema

    with _open(args) as store:
        runs = store.runs()
        print(f"store {store.name}: schema {store.version()} (this normbench: {schema.VERSION}), {len(runs)} runs")
        for fp, name, facts in store.machines():
            mine = [r for r in runs if r.machine == fp]
            kinds = ", ".join(f"{sum(r.kind == k for r in mine)} {k}" for k in ("bench", "check"))
            print(f"  machine {name} [{fp}]: {facts.get('cpu', '')}, {facts.get('cores', '')} cores, "
                  f"{facts.get('memory', '')}" + (f", {facts['accelerators']}" if facts.get("accelerators") else "")
                  + f"; runs: {kinds}" + (f"; latest {mine[-1].run_id} ({mine[-1].started})" if mine else ""))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from ..store import Store, schema, url

    store = Store(url.resolve(args.store), create=False, old=True)
    with store:
        before, after = store.migrate()
    print(f"store {store.name}: schema {before} -> {after}" if before < after else
          f"store {store.name}: already at schema {schema.VERSION}")
    return 0


def _points(store, args):
    """(machine name, fingerprint, run, row) of the series asked for, oldest first."""
    from .._results.compare import config_key

    want = {"backend": args.backend, "norm": args.norm, "op": args.op, "shape": args.shape, "dtype": args.dtype}
    points = []
    for run in store.runs("bench"):
        if args.machine and run.machine not in args.machine and run.machine_name not in args.machine:
            continue
        for row in store.rows([run]):
            if all(str(row.get(k)) == v for k, v in want.items()):
                points.append((run, row))
    if not points:
        raise InputError(f"no measurements of {args.backend} {args.norm} {args.op} {args.shape} {args.dtype} in "
                         f"{store.name}")
    for name, flag in (("layout", args.layout), ("threads", args.threads), ("memory_policy", args.memory_policy)):
        values = sorted({str(config_key(r, (name,))[0]) for _, r in points})
        if flag is not None:
            points = [(run, r) for run, r in points if config_key(r, (name,))[0] == str(flag)]
            if not points:
                raise InputError(f"no measurements with {name} {flag}; stored: {', '.join(values)}")
        elif len(values) > 1:
            raise InputError(f"the series has several {name} values ({', '.join(values)}): choose one with "
                             f"--{name.replace('_', '-')}")
    return points


def cmd_history(args: argparse.Namespace) -> int:
    from .._results.compare import location_interval
    from .._reporting.tables import render

    with _open(args) as store:
        points = _points(store, args)
    table = []
    for run, row in points:
        loc, lo, hi = location_interval(row)
        table.append({"machine": run.machine_name, "fingerprint": run.machine, "run_id": run.run_id,
                      "started": run.started, "git_commit": run.git_commit, "branch": run.branch,
                      "backend_version": row.get("backend_version", ""), "time_s": loc,
                      "low_s": None if math.isnan(lo) else lo, "high_s": None if math.isnan(hi) else hi,
                      "processes": len(row.get("process_n") or []) or None, "unstable": bool(row.get("unstable"))})
    if args.json:
        json.dump(table, sys.stdout, indent=1)
        print()
    else:
        print(render(["machine", "started", "run", "commit", "version", "ms [95% interval]", "processes"],
                     [[t["machine"], t["started"], t["run_id"], (t["git_commit"] or "")[:12], t["backend_version"],
                       f"{t['time_s'] * 1e3:.4f}" + (f" [{t['low_s'] * 1e3:.4f}, {t['high_s'] * 1e3:.4f}]"
                                                      if t["low_s"] else "")
                       + (" unstable" if t["unstable"] else ""), t["processes"] or ""] for t in table]))
    if args.plot:
        _plot(table, args)
        print(f"wrote {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _plot(table, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    machines = list(dict.fromkeys((t["machine"], t["fingerprint"]) for t in table))
    for name, fp in machines:  # one series per machine: side by side, never mixed
        mine = [t for t in table if t["fingerprint"] == fp]
        x = list(range(1, len(mine) + 1))
        y = [t["time_s"] * 1e3 for t in mine]
        err = [[(t["time_s"] - t["low_s"]) * 1e3 if t["low_s"] else 0 for t in mine],
               [(t["high_s"] - t["time_s"]) * 1e3 if t["high_s"] else 0 for t in mine]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"{name} [{fp[:8]}]")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # runs are counted, not measured
    ax.set_xlabel("run on that machine (oldest first)")
    ax.set_ylabel("ms (95% interval)")
    ax.set_title(f"{args.backend} {args.norm} {args.op} {args.shape} {args.dtype}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    plt.close(fig)


def cmd_regressions(args: argparse.Namespace) -> int:
    from ..store.changes import find_changes

    with _open(args) as store:
        found = find_changes(store, threshold=args.threshold, machines=args.machine, backends=args.backend,
                             norms=args.norm)
    if args.json:
        json.dump([{"kind": c.kind, "machine": c.machine_name, "fingerprint": c.machine, "run_id": c.at.run_id,
                    "git_commit": c.at.git_commit, "started": c.at.started, **c.key, "geometric_mean": c.geometric_mean,
                    "ratio": c.ratio, "low": c.low, "high": c.high, "runs_before": len(c.before),
                    "runs_after": len(c.after), "versions": c.versions} for c in found.changes], sys.stdout, indent=1)
        print()
        out = sys.stderr
    else:
        out = sys.stdout
        for c in found.changes:
            print(c.describe())
    for note in found.notes:
        print(f"tested: {note}", file=out)
    kinds = {k: sum(c.kind == k for c in found.changes) for k in ("regression", "improvement")}
    print(f"{found.series} series, {found.boundaries} candidate change point(s) tested: {kinds['regression']} "
          f"regression(s), {kinds['improvement']} improvement(s) beyond {1 + args.threshold:.2f}x slower or faster",
          file=out)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..store.bencher import bmf
    from .compare import side_runs

    runs = side_runs(args.source, args.store)  # compare's reader: a bench file, or run:ID from the store
    if len(runs) != 1:
        raise InputError(f"{args.source}: export takes one run, not {len(runs)}")
    rows = runs[0]
    text = json.dumps(bmf(rows), indent=1)
    if args.output:
        from .._results.output import atomic_write

        atomic_write(args.output, text + "\n")
        print(f"wrote {args.output}")
    else:
        print(text)
    return 0
