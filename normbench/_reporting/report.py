"""Reports: benchmark rows (``normbench bench`` files and/or asv results) -> Markdown + PNG.

Everything is loaded into one pandas frame with the columns of :data:`normbench._timing.bench.COLUMNS`,
keyed by machine and run (a bench run's id, an asv commit), so results from several machines and
several runs of one machine sit side by side and are never averaged together, and by norm (the
op), whose record supplies the axes of each shape, the byte model and the plots. Conformance
results (``normbench check --json``) can be included: backends that failed conformance for a
dtype and layout are then marked in every speed table and left out of the "fastest" claims.

The report does not oversell: speed-ups carry their interval (normbench._results.stats; "no clear
difference" when it straddles 1), unstable rows are marked, failure lists come after the summary.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import sys
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from . import defects
from .._timing import floor
from .._timing.bench import COLUMNS
from ..errors import InputError
from ..opinfo import OpInfo, format_shape, rank_of
from .. import records
from ..records import RunHeader
from ..results import FAILING, NOTABLE, group_cell
from .._results.stats import UNSTABLE
from .model import Block, Bullets, Figure, Heading, Paragraph, Table, to_markdown

#: asv compare's default factor: a regression is a significant change of at least 10%
REGRESSION_THRESHOLD = 1.10


def _with_axes(df: pd.DataFrame, ops: Sequence[OpInfo]) -> pd.DataFrame:
    """Rows of known ops only, each with its op's axis columns filled in from the shape."""
    by_name = {op.name: op for op in ops}
    df = df[df["norm"].isin(list(by_name))].copy()
    for op in ops:
        mask = df["norm"] == op.name
        if not mask.any():
            continue
        axes = pd.DataFrame([op.axes_of(tuple(int(v) for v in str(s).split("x"))) for s in df.loc[mask, "shape"]],
                            index=df.index[mask])
        for col in axes:
            df.loc[mask, col] = axes[col]
    return df


# -- loading ------------------------------------------------------------------------------------
def load_bench(paths: Iterable[Path], ops: Sequence[OpInfo], runs: list | None = None) -> pd.DataFrame:
    """Rows of bench files (``runs``, when given, receives each file's run headers)."""
    from .._results import benchfile

    frames = []
    for path in map(Path, paths):
        rows, headers = benchfile.read(path)
        if runs is not None:
            runs += headers
        df = pd.DataFrame(rows)
        if not df.empty and df["median_s"].isna().all():
            raise InputError(f"{path} has no timings (median_s): not a normbench bench file")
        if not df.empty:  # bench --floor's copy rows live on in the others' floor_fraction; no implementation to rank
            df = df[df["backend"] != floor.NAME]
        df["source"] = f"bench:{path.name}"
        df["commit"] = ""
        # rows of normbench 0.4 and older carry no run id: each file is then one run
        run_ids = df["run_id"].astype(object).where(df["run_id"].notna(), "") if "run_id" in df else pd.Series("", index=df.index)
        df["run"] = [r if r else path.name for r in run_ids.astype(str)]
        frames.append(df)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    if out.empty:
        return out
    # Files from the shards of one grid (bench --shard K/N --run-id ID) merge here. The same
    # measurement of the same run in two files (a shard run twice) would count twice: keep the
    # later file's, and say so. Different runs are kept apart, never merged.
    key = [c for c in (*records.CONFIG, "backend", "threads", "machine", "run") if c in out.columns]
    dup = out.duplicated(subset=key, keep="last")
    if dup.any():
        print(f"normbench: warning: {int(dup.sum())} measurement(s) of one run appear in more than one input file; "
              "keeping the last file's", file=sys.stderr)
        out = out[~dup].reset_index(drop=True)
    return _with_axes(out, ops)


#: asv benchmark classes are named after the op: ``Grid_<op>`` (parameters: backend, pass, the
#: op's axes, dtype, layout) and ``Standard_<op>`` (backend, pass, shape, layout); see benchmarks/
ASV_GRID, ASV_STANDARD = "Grid_", "Standard_"


def load_asv(results_dir: Path, ops: Sequence[OpInfo]) -> pd.DataFrame:
    """asv result files (``<results_dir>/<machine>/<commit>-<env>.json``) -> rows, read with asv's own API."""
    import asv.results
    import asv.util

    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise InputError(f"asv results directory {results_dir} does not exist (run asv first, see README)")
    by_name = {op.name: op for op in ops}
    rows = []
    for machine_dir in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        info = {}
        if (machine_dir / "machine.json").exists():
            info = json.loads((machine_dir / "machine.json").read_text())
        try:
            results = list(asv.results.iter_results(str(machine_dir)))
        except asv.util.UserError as exc:
            raise InputError(f"cannot read asv results in {machine_dir}: {exc}") from None
        for res in results:
            rows += _asv_rows(res, machine_dir.name, info, by_name)
    return _with_axes(pd.DataFrame(rows), ops) if rows else pd.DataFrame(columns=COLUMNS)


#: what each asv benchmark method of ours fills in a row (time_op is the row itself)
_ASV_EXTRA = {"track_gbps": "gbps", "track_floor_fraction": "floor_fraction", "track_threads": "threads",
              "peakmem_op": "peakmem_bytes"}


def _asv_rows(res, machine: str, info: dict, ops: dict[str, OpInfo]) -> list[dict]:
    """One row per (benchmark class, parameter combination) that has a time_op result, with the
    statistics asv kept (quartiles, 99% interval, samples if recorded) and our track_/peakmem_ values."""
    import ast
    import itertools

    date = _dt.datetime.fromtimestamp((res.date or 0) / 1000, _dt.timezone.utc).isoformat(timespec="seconds")
    by_config: dict[tuple, dict] = {}
    for name in sorted(res.get_all_result_keys()):
        cls, method = name.rsplit(".", 2)[-2:] if name.count(".") >= 2 else ("", "")
        if method != "time_op" and method not in _ASV_EXTRA:
            continue
        kind, _, op_name = cls.partition("_")
        op = ops.get(op_name)
        if op is None or f"{kind}_" not in (ASV_GRID, ASV_STANDARD):
            continue
        raw = res.get_result_params(name) or []
        params = [[ast.literal_eval(v) for v in p] for p in raw]
        values = res.get_result_value(name, raw) or []
        stats = res.get_result_stats(name, raw) or [None] * len(values)
        samples = res.get_result_samples(name, raw) or [None] * len(values)
        for combo, value, st, smp in zip(itertools.product(*params), values, stats, samples):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue  # skipped (NotImplementedError) or failed
            row = by_config.setdefault((cls, combo), {})
            if method != "time_op":
                row[_ASV_EXTRA[method]] = float(value)
                continue
            if f"{kind}_" == ASV_GRID:
                backend, pass_, *axis_values, dtype, layout = combo
                try:
                    shape = op.sweep_shape(dict(zip(op.axes, axis_values)))
                except InputError:
                    continue
            else:
                backend, pass_, shape_text, layout = combo
                shape, dtype = op.parse_shape(shape_text), "float32"
            nbytes = op.bytes_moved(pass_, shape, dtype)
            st = st or {}
            row.update({
                "norm": op.name, "backend": backend, "op": pass_, "dtype": dtype, "layout": layout,
                "shape": format_shape(shape), "machine": machine, "cpu": info.get("cpu", ""),
                "commit": (res.commit_hash or "")[:8], "run": (res.commit_hash or "")[:8], "timestamp": date,
                "source": f"asv:{name}", "bytes": nbytes, "median_s": float(value),
                "q1_s": st.get("q_25", math.nan), "q3_s": st.get("q_75", math.nan),
                "n_samples": st.get("repeat", math.nan), "asv_stats": st or None,
                "samples_s": [float(x) for x in smp] if smp else [],
            })
    out = []
    for row in by_config.values():
        if "median_s" not in row:
            continue  # track_ values without a time: nothing to report them against
        row.setdefault("gbps", row["bytes"] / row["median_s"] / 1e9)
        if row["median_s"] > 0 and not math.isnan(row.get("q1_s", math.nan)):
            row["dispersion"] = (row["q3_s"] - row["q1_s"]) / row["median_s"]
            row["unstable"] = row["dispersion"] > UNSTABLE
        if "threads" in row:
            row["threads"] = int(row["threads"])
        out.append(row)
    return out


def load_check(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such check results file: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not JSON ({exc})") from None
    if isinstance(data, dict) and "backends" in data and "norms" not in data:
        from .._results.upgrade import upgrade_check

        data = upgrade_check(data)  # written by normbench 0.1, before ops
    if not isinstance(data, dict) or "norms" not in data:
        raise InputError(f"{path} is not a 'normbench check --json' file")
    return data


def merge_checks(paths: Sequence[Path]) -> dict:
    """One check result from several files (backends checked on different machines or CI runners:
    each file holds its own backends). The same (op, backend) in two files is refused, naming both."""
    checks = [(Path(p), load_check(p)) for p in paths]
    if len(checks) == 1:
        return checks[0][1]
    merged: dict = {"norms": {}, "summary": "merged from " + "; ".join(f"{p.name}: {c.get('summary', '')}"
                                                                      for p, c in checks)}
    merged["run"] = checks[0][1].get("run", {})
    seen: dict[tuple[str, str], Path] = {}
    for path, check in checks:
        for op, entry in check["norms"].items():
            into = merged["norms"].setdefault(op, {**{k: v for k, v in entry.items() if k != "backends"}, "backends": []})
            for backend in entry.get("backends", []):
                key = (op, backend["name"])
                if key in seen:
                    raise InputError(f"{op} on backend {backend['name']} is in both {seen[key]} and {path}: give each "
                                     "backend's results once")
                seen[key] = path
                into["backends"].append(backend)
    return merged


# -- analysis -----------------------------------------------------------------------------------
CONFIG = list(records.CONFIG)
#: a measurement: one configuration of one backend in one run of one machine
KEYS = ["machine", "run", "commit", "backend", *CONFIG]


def _pool(series) -> list:
    out: list = []
    for v in series:
        if isinstance(v, (list, tuple)):
            out += list(v)
    return out


def timing_rows(df: pd.DataFrame, ops: Sequence[OpInfo]) -> pd.DataFrame:
    """One row per measurement (:data:`KEYS`): median time, spread, bandwidth, pooled raw samples."""
    if df.empty or "median_s" not in df:
        return df
    t = df.dropna(subset=["median_s"]).copy()
    for col in ("floor_fraction", "gbps", "copy_gbps", "threads", "commit", "run", "source", "timestamp", "q1_s",
                "q3_s", "dispersion", "unstable", "n_samples", "peakmem_bytes", "asv_stats", "note", "contended",
                "half_width", "processes"):
        if col not in t:
            t[col] = np.nan
    for col in ("unstable_cause", "stop"):
        t[col] = t[col].astype(object).fillna("").astype(str) if col in t else ""
    if "modes" not in t:
        t["modes"] = [[] for _ in range(len(t))]
    if "samples_s" not in t:
        t["samples_s"] = [[] for _ in range(len(t))]
    if "process_n" not in t:
        t["process_n"] = [[] for _ in range(len(t))]
    # rows pooled below keep their process structure only when every one of them has it
    t["process_n"] = [n if isinstance(n, (list, tuple)) and n else [len(x)] if isinstance(x, (list, tuple)) and x else []
                      for n, x in zip(t["process_n"], t["samples_s"])]
    t["contended"] = t["contended"].astype(object).map(lambda v: bool(v) if isinstance(v, (bool, np.bool_)) else
                                                       str(v).lower() == "true")
    t["commit"] = t["commit"].astype(object).fillna("").astype(str)
    t["note"] = t["note"].astype(object).fillna("").astype(str)
    t["run"] = t["run"].astype(object).fillna("").astype(str)
    t["threads"] = t["threads"].astype(object).fillna("").astype(str).str.replace(r"\.0$", "", regex=True)
    t["unstable"] = t["unstable"].astype(object).map(lambda v: bool(v) if isinstance(v, (bool, np.bool_)) else
                                                     str(v).lower() == "true")
    axes = list(dict.fromkeys(a for op in ops for a in op.axes if a in t))
    agg = dict(median_s=("median_s", "median"), q1_s=("q1_s", "median"), q3_s=("q3_s", "median"),
               gbps=("gbps", "median"), copy_gbps=("copy_gbps", "median"), floor_fraction=("floor_fraction", "median"),
               dispersion=("dispersion", "max"), unstable=("unstable", "any"), n_samples=("n_samples", "sum"),
               peakmem_bytes=("peakmem_bytes", "max"), threads=("threads", "first"), source=("source", "first"),
               timestamp=("timestamp", "max"), samples_s=("samples_s", _pool), asv_stats=("asv_stats", "first"),
               note=("note", "first"), process_n=("process_n", _pool), contended=("contended", "any"),
               half_width=("half_width", "max"), processes=("processes", "sum"), unstable_cause=("unstable_cause", "first"),
               modes=("modes", "first"), stop=("stop", "first"))
    agg.update({a: (a, "first") for a in axes})
    return t.groupby(KEYS, as_index=False, dropna=False, sort=False).agg(**agg)


def _cfg_key(r) -> tuple:
    return records.config_key(r, ("machine", "run", "commit", *CONFIG))


def speedups(t: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Adds ``speedup`` (baseline time / backend time, same machine and run), its interval
    ``sp_low``/``sp_high`` (NaN without samples) and ``sp_clear`` (the interval excludes 1)."""
    from .._results.compare import speedups as pair_speedups

    ups = pair_speedups(t.to_dict(orient="records"), baseline, keys=["machine", "run", "commit", *CONFIG])
    ratios = [ups.get(i) for i in range(len(t))]
    base_busy = {_cfg_key(r): bool(r["contended"]) for _, r in t[t["backend"] == baseline].iterrows()}
    return t.assign(
        speedup=[r.ratio if r else np.nan for r in ratios],
        sp_low=[r.low if r and r.resolved else np.nan for r in ratios],
        sp_high=[r.high if r and r.resolved else np.nan for r in ratios],
        sp_clear=[bool(r and r.resolved and r.significant) for r in ratios],
        sp_se=[r.se if r and r.se is not None else np.nan for r in ratios],
        sp_df=[r.df if r and r.df is not None else np.nan for r in ratios],
        # a contended row, or a row whose baseline was, says nothing about the kernels
        sp_busy=[bool(r is not None and (t.iloc[i]["contended"] or base_busy.get(_cfg_key(t.iloc[i]), False)))
                 for i, r in enumerate(ratios)],
    )


class Failures(dict):
    """(norm, backend, dtype, layout, rank) -> cases failed there, known failures included (a known
    defect is still a wrong answer for whoever picks that backend). Rank keeps a defect of the 2-D
    kernel from marking 4-D rows; check files without ranks (normbench 0.4) count for every rank."""

    def failed(self, norm: str, backend: str, dtype: str, layout: str, shape: str | None = None) -> int:
        rank = rank_of(shape) if shape is not None else None
        if rank is None:
            return sum(n for k, n in self.items() if k[:4] == (norm, backend, dtype, layout))
        return self.get((norm, backend, dtype, layout, rank), 0) + self.get((norm, backend, dtype, layout, None), 0)


def conformance_failures(check: dict | None) -> Failures:
    out = Failures()
    for norm, entry in ((check or {}).get("norms") or {}).items():
        for b in entry.get("backends", []):
            for c in b.get("cases", []):
                if c["status"] in FAILING or c["status"] == "xfail":
                    key = (norm, b["name"], c.get("dtype", ""), c.get("layout", ""), c.get("rank"))
                    out[key] = out.get(key, 0) + 1
    return out


#: conformance verdicts of a backend on an op, worst first (normbench._reporting.plots.VERDICT_STYLE draws them)
VERDICTS = ("fail", "error", "known", "pass")


def accuracy_of(check: dict | None, norm: str) -> dict[str, dict]:
    """Per backend checked on ``norm``: its worst error over the op's cases as a multiple of the
    tolerance, the case it came from, the failures that have no error figure (``unmeasured``: an
    exception where none was due, none where one was, a crash), the verdict (:data:`VERDICTS`: unexpected failures, errors or crashes, known failures only, or
    every case passing) and the counts behind it."""
    out: dict[str, dict] = {}
    for b in (((check or {}).get("norms") or {}).get(norm) or {}).get("backends", []):
        worst, where, counts, unmeasured = -1.0, "", {"pass": 0, "known": 0, "fail": 0, "error": 0}, 0
        for c in b.get("cases", []):
            status = c.get("status")
            kind = {"pass": "pass", "xpass": "pass", "xfail": "known", "fail": "fail"}.get(
                status, "error" if status in FAILING else None)
            if kind is None:
                continue
            counts[kind] += 1
            errs = [o.get("worst") for o in c.get("outputs", []) if o.get("worst") is not None]
            if not errs and kind != "pass":
                unmeasured += 1  # raised where it should not, no error where it should, crashed: no figure
                continue
            w = max(errs) if errs else 0.0
            if w > worst:
                worst, where = w, c["case"]
        if sum(counts.values()):
            verdict = next(v for v in VERDICTS if counts[v])
            out[b["name"]] = {"worst": worst if worst >= 0 else math.nan, "worst_case": where, "verdict": verdict,
                              "unmeasured": unmeasured, **counts}
    return out


def accuracy_speed(s: pd.DataFrame, check: dict | None, op: OpInfo, baseline: str) -> pd.DataFrame:
    """One row per backend measured on ``op`` in the newest run of each machine: its geometric-mean
    speed-up over ``baseline`` across every configuration of the op (contended and too-wide ones
    left out, as in the summaries) with its 95% interval, beside :func:`accuracy_of`'s worst
    error and verdict. The baseline is 1x by definition; backends checked but not benchmarked
    follow, without a speed-up."""
    from .._results.compare import summarize_ratios

    acc = accuracy_of(check, op.name)
    so = s[s["norm"] == op.name]
    if so.empty:
        return pd.DataFrame()
    so = so[so["run"] == so.groupby("machine")["run"].transform("max")]
    several = so["machine"].nunique() > 1
    rows = []
    for (machine, backend), g in so.groupby(["machine", "backend"], sort=True):
        if backend == baseline:
            speed, low, high, used = 1.0, np.nan, np.nan, len(g)
        else:
            g = g.dropna(subset=["speedup"])
            busy = g["sp_busy"].astype(bool) if "sp_busy" in g else pd.Series(False, index=g.index)
            rs = _row_ratios(g[~busy])
            summ = summarize_ratios(rs, int(busy.sum())) if rs else {"geomean": None, "used": 0}
            gm = summ["geomean"]
            speed = gm.ratio if gm else np.nan
            low, high = (gm.low, gm.high) if gm and gm.resolved else (np.nan, np.nan)
            used = summ["used"]
        a = acc.get(backend, {})
        rows.append({"machine": machine, "backend": backend + (f" ({machine})" if several else ""),
                     "speedup": speed, "low": low, "high": high, "configurations": used,
                     "worst": a.get("worst", np.nan), "worst_case": a.get("worst_case", ""),
                     "verdict": a.get("verdict", ""),
                     **{k: a.get(k, 0) for k in ("pass", "known", "fail", "error", "unmeasured")}})
    for backend in sorted(set(acc) - set(so["backend"])):  # checked, not benchmarked: in the table only
        rows.append({"machine": "", "backend": backend, "speedup": np.nan, "low": np.nan, "high": np.nan,
                     "configurations": 0, **acc[backend]})
    return pd.DataFrame(rows)


def _accuracy_section(s: pd.DataFrame, check: dict | None, op: OpInfo, baseline: str, out_dir: Path,
                      plots: bool) -> tuple[list[Block], list[Path]]:
    """Accuracy beside speed for one op: the figure (inline) and the same numbers as a table."""
    if check is None or not baseline:
        return [], []
    pts = accuracy_speed(s, check, op, baseline)
    if pts.empty or pts["verdict"].eq("").all():
        return [], []
    images = []
    lines: list[Block] = [Heading(3, f"{op.name}: accuracy against speed", op=op.name)]
    if plots:
        from . import plots as plotting

        img = plotting.accuracy_speed_plot(pts, out_dir / f"accuracy-vs-speed-{op.name}.png", op.name, baseline)
        if img:
            images.append(img)
            lines.append(Figure(f"accuracy against speed, {op.name}", img.name))
    rows = []
    for _, r in pts.sort_values("speedup", ascending=False, na_position="last").iterrows():
        worst = "" if pd.isna(r["worst"]) else "inf" if math.isinf(r["worst"]) else f"{r['worst']:.3g}x"
        if r["unmeasured"]:
            worst += f" (+{r['unmeasured']} failed without an error figure)"
        counts = ", ".join(f"{r[k]} {k}" for k in ("pass", "known", "fail", "error") if r[k])
        speed = "1x (baseline)" if r["backend"].split(" (")[0] == baseline else (
            "not measured" if pd.isna(r["speedup"]) else _interval(r["speedup"], r["low"], r["high"]))
        rows.append([r["backend"], speed, worst, r["worst_case"], r["verdict"] or "not checked", counts])
    lines += [Paragraph(f"Speed-up over **{baseline}**: geometric mean over every configuration of {op.name} measured "
                        "(95% interval). Worst error: the largest error on any of the op's conformance cases, as a "
                        "multiple of that case's tolerance (above 1 is a wrong answer; inf: an infinite value where a "
                        "finite one was due; known failures count, since a recorded defect is still wrong for whoever "
                        "picks that backend)."),
              Table(["backend", "speed-up", "worst error / tolerance", "on case", "verdict", "cases"], rows)]
    return lines, images


def regressions(t: pd.DataFrame, threshold: float = REGRESSION_THRESHOLD) -> pd.DataFrame:
    """Configurations slower at the newest asv commit than at the previous one, per machine.

    asv's own rule (``asv compare``): the change must be statistically significant
    (``asv._stats.is_different``: Mann-Whitney U on recorded samples, else non-overlapping 99%
    intervals) *and* at least ``threshold``. Results saved without statistics fall back to the
    threshold alone, and the row says so.
    """
    asv = t[t["commit"] != ""]
    if asv.empty or asv["commit"].nunique() < 2:
        return pd.DataFrame()
    from asv import _stats

    out = []
    keys = ["machine", "backend", *CONFIG]
    for key, g in asv.groupby(keys):
        if g["commit"].nunique() < 2:
            continue
        g = g.sort_values("timestamp")  # asv's run date of each commit's results
        prev, last = g.iloc[-2], g.iloc[-1]
        ratio = last["median_s"] / prev["median_s"]
        if ratio < threshold:
            continue
        sa, sb = prev["asv_stats"], last["asv_stats"]
        if isinstance(sa, dict) and isinstance(sb, dict) and "ci_99_a" in sa and "ci_99_a" in sb:
            if not _stats.is_different(prev["samples_s"] or None, last["samples_s"] or None, sa, sb):
                continue
            basis = "significant (asv statistics)"
        else:
            basis = "no statistics recorded: threshold only"
        out.append({**dict(zip(keys, key)), "from": prev["commit"], "to": last["commit"], "slower_by": ratio,
                    "basis": basis})
    return pd.DataFrame(out)


# -- writing ------------------------------------------------------------------------------------
#: names of the PNGs a report writes; older ones in the output folder are removed first
PLOT_PREFIXES = ("summary", "time-vs-", "gbps-vs-", "speedup-", "speedups-", "bars-", "accuracy-vs-speed-")
MARK_FAIL, MARK_UNSTABLE, MARK_NOTE, MARK_CONTENDED = "†", "!", "‡", "§"


def _run_label(machine: str, run: str, n_machines: int) -> str:
    return run if n_machines == 1 else f"{machine} {run}"


def _with_order(s: pd.DataFrame) -> tuple[pd.DataFrame, int, bool]:
    """``s`` with ``_n`` (elements of the shape, to sort by size), the number of machines, and
    whether tables need a run column (more than one machine or run)."""
    several = len(s[["machine", "run"]].drop_duplicates()) > 1
    return s.assign(_n=s["shape"].map(lambda x: math.prod(int(v) for v in str(x).split("x")))), \
        s["machine"].nunique(), several


def write_report(
    df: pd.DataFrame, out_dir: Path, ops: Sequence[OpInfo], *, baseline: str | None = "torch-cpu",
    check: dict | None = None, runs: list[RunHeader] | None = None, title: str = "normbench report", plots: bool = True,
    not_measured: Sequence[str] = (),
) -> Path:
    """Write ``out_dir/README.md`` (and PNGs). ``baseline=None``: torch-cpu if it was measured, else no speed-ups.
    ``not_measured``: lines on what the run left out of its benchmarks, and how to measure it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.png"):
        if old.name.startswith(PLOT_PREFIXES):
            old.unlink()
    if "run" not in df and not df.empty:  # rows straight from a run, not through load_bench
        df = df.assign(run=df["run_id"] if "run_id" in df else "")
    t = timing_rows(df, ops)
    if t.empty and check is None:
        raise InputError("no results to report: the inputs hold no timing rows")
    measured = sorted(set(t["backend"])) if not t.empty else []
    if baseline is None:
        baseline = "torch-cpu" if "torch-cpu" in measured else ""
    elif measured and baseline not in measured:
        raise InputError(f"--baseline {baseline!r} was not measured; the results hold {', '.join(measured)}")
    failing = conformance_failures(check)
    lines: list[Block] = [Heading(1, title),
                          Paragraph(f"Generated {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M UTC} by `normbench report`.")]
    images: list[Path] = []
    s = speedups(t, baseline) if not t.empty and baseline else t.assign(speedup=np.nan, sp_low=np.nan, sp_high=np.nan,
                                                                      sp_clear=False)
    if not_measured:
        lines += [Heading(2, "Not measured in this run"), Bullets([(0, line) for line in not_measured])]
    if not t.empty:
        lines += _trust(s, ops, baseline)
        lines += _summary(s, ops, baseline, failing)
        if plots and baseline:
            from . import plots as plotting

            img = plotting.summary_plot(_geomeans(s, ops), out_dir / "summary.png", baseline,
                                        _failed_ops(s, failing))
            if img:
                images.append(img)
                lines.append(Figure("summary", img.name))
    if check is not None:
        lines += _check_table(check)
        lines += _invariance_section(check)
    if not t.empty:
        for op in ops:
            so = s[s["norm"] == op.name]
            if so.empty:
                continue
            lines.append(Heading(2, f"{op.name}: {op.title}", op=op.name))
            lines += _op_summary(so, op, baseline, failing)
            acc_lines, acc_images = _accuracy_section(so, check, op, baseline, out_dir, plots)
            lines += acc_lines
            images += acc_images
            for pass_ in [p for p in op.passes if p in set(so["op"])]:
                lines += _pass_section(so[so["op"] == pass_], op, pass_, baseline, failing)
            lines += _which_one(so, op, failing)
            if plots:
                from . import plots as plotting

                op_images = plotting.make_plots(so, op, out_dir, baseline, failing)
                images += op_images
                if op_images:
                    lines.append(Paragraph("Plots: " + ", ".join(f"[{p.stem}]({p.name})" for p in op_images)))
    if check is not None:
        lines += _failure_list(check)
    if not t.empty:
        lines += _regression_section(t)
        lines += _runs_section(df, runs)
    lines += _how_to_read(t, ops, baseline)
    path = out_dir / "README.md"
    path.write_text(to_markdown(lines))
    from . import html

    def mark(r) -> str:
        marks = [MARK_FAIL if failing.failed(r["norm"], r["backend"], r["dtype"], r["layout"], r["shape"]) else "",
                 MARK_UNSTABLE if r.get("unstable") else "", MARK_CONTENDED if r.get("contended") else ""]
        return " ".join(m for m in marks if m)

    html.write_index(out_dir, title, lines, html.measurement_rows(s, baseline, mark) if not t.empty else None,
                     top_images=[p for p in images if p.name.startswith("accuracy-vs-speed-")], header_key="runs")
    return path


def _fmt_ms(v) -> str:
    return "" if pd.isna(v) else f"{v * 1e3:.3f}"


def _interval(sp, lo, hi) -> str:
    """``1.52x [1.40, 1.61]``; ``~1.02x [0.97, 1.08]`` when it straddles 1; ``1.5x`` without an interval."""
    if pd.isna(sp):
        return ""
    if pd.isna(lo):
        return f"{sp:.2f}x"
    tilde = "~" if lo <= 1 <= hi else ""
    return f"{tilde}{sp:.2f}x [{lo:.2f}, {hi:.2f}]"


def _row_ratios(g: pd.DataFrame) -> list:
    """Each row's speed-up as a :class:`normbench._results.stats.Ratio` (an open interval where it has none),
    what :func:`normbench._results.compare.summarize_ratios` averages."""
    from .._results import stats

    return [stats.Ratio(r.speedup, r.sp_low if not pd.isna(r.sp_low) else 0.0,
                        r.sp_high if not pd.isna(r.sp_high) else math.inf, math.nan, 1, 1,
                        None if pd.isna(getattr(r, "sp_se", np.nan)) else r.sp_se,
                        None if pd.isna(getattr(r, "sp_df", np.nan)) else r.sp_df) for r in g.itertuples()]


def _geomeans(s: pd.DataFrame, ops: Sequence[OpInfo], *, keep_all: bool = False) -> pd.DataFrame:
    """Geometric-mean speed-up with its interval per machine, run, backend, op and pass, as
    :func:`normbench._results.compare.summarize_ratios` makes it: contended configurations and those with
    an interval too wide are left out (counted), and the verdict cannot contradict the rows.
    ``keep_all``: every configuration in, contended and wide ones too (what the run would have
    said without those rules; the trust section compares the two)."""
    from .._results import stats
    from .._results.compare import summarize_ratios

    out = []
    for (machine, run, backend, norm, pass_), g in s.dropna(subset=["speedup"]).groupby(
            ["machine", "run", "backend", "norm", "op"], sort=False):
        busy = g["sp_busy"].astype(bool) if "sp_busy" in g and not keep_all else pd.Series(False, index=g.index)
        rs = _row_ratios(g[~busy])
        if keep_all:
            rs = [r for r in rs if r.resolved]  # an unresolved ratio has no interval to average in
        summ = summarize_ratios(rs, int(busy.sum()))
        if keep_all:
            gm = stats.geomean(rs) if rs else None
        else:
            gm = summ["geomean"]
        out.append({"machine": machine, "run": run, "backend": backend, "norm": norm, "op": pass_,
                    "speedup": gm.ratio if gm else np.nan, "low": gm.low if gm and gm.resolved else np.nan,
                    "high": gm.high if gm and gm.resolved else np.nan, "n": len(g), "used": summ["used"],
                    "wide": summ["wide"], "contended": summ["contended"], "verdict": summ["verdict"],
                    "faster": summ["faster"], "slower": summ["slower"]})
    order = {op.name: i for i, op in enumerate(ops)}
    df = pd.DataFrame(out)
    return df.sort_values("norm", key=lambda c: c.map(order), kind="stable") if not df.empty else df


def _failed_ops(s: pd.DataFrame, failing) -> frozenset:
    """(backend, op) where the backend failed conformance for some dtype, layout and rank measured."""
    cfgs = s[["backend", "norm", "dtype", "layout", "shape"]].drop_duplicates().itertuples(index=False)
    return frozenset((b, n) for b, n, d, lay, sh in cfgs if failing.failed(n, b, d, lay, sh))


def _summary_cell(r) -> str:
    """A summary's geomean, or why there is none, and what was left out of it."""
    if pd.isna(r["speedup"]):
        text = "no summary"
    else:
        text = _interval(r["speedup"], r["low"], r["high"])
        if r["verdict"] == "no clear difference" and not text.startswith("~"):
            text = "~" + text  # the rows do not back a clear verdict, whatever the mean's interval says
    left = int(r["n"] - r["used"])
    return text + (f" ({left} of {int(r['n'])} left out)" if left else "")


def _trust(s: pd.DataFrame, ops: Sequence[OpInfo], baseline: str) -> list[Block]:
    """How far the run can be trusted, at the top: unstable and contended rows, and the
    summaries that they, or configurations with too-wide intervals, would have changed."""
    from .._results.compare import WIDE

    n = len(s)
    unstable, contended = int(s["unstable"].sum()), int(s["contended"].sum())
    items = Bullets()
    items.add(f"{n} measurements; {unstable} unstable ({MARK_UNSTABLE}: not sure after their last process, or "
              f"in modes), {contended} contended ({MARK_CONTENDED}: the machine was busy while "
              "they were timed, even after re-measuring; shown, left out of every summary).")
    items.items += _unstable_causes(s)
    if baseline and "sp_busy" in s:
        strict, loose = _geomeans(s, ops), _geomeans(s, ops, keep_all=True)
        changed = []
        for (a, b) in zip(strict.itertuples(), loose.itertuples()):
            if a.used == a.n:
                continue
            before = _interval(b.speedup, b.low, b.high) if not pd.isna(b.speedup) else "none"
            changed.append(f"{a.backend} {a.norm} {a.op}: {_summary_cell(a._asdict())} here; with every configuration "
                           f"averaged in it would read {before}")
        if changed:
            items.add(f"Summaries that leave configurations out (contended, or an interval wider than {WIDE:g}x):")
            items.items += [(1, c) for c in changed]
        else:
            items.add("Every summary averages all of its configurations: none was contended or too uncertain.")
    return [Heading(2, "How far this run can be trusted"), items]


def _unstable_causes(s: pd.DataFrame) -> list[tuple[int, str]]:
    """Unstable rows counted by cause, each cause with its remedy; the processes the rows had
    (bullet items: depth, text)."""
    from .._timing.sequential import CAUSES

    out = []
    if "processes" in s and s["processes"].notna().any():
        p = s["processes"].dropna().astype(int)
        futile = int((s["stop"] == "futile").sum())
        out.append((0, f"Processes per measurement: {p.min()}-{p.max()}, {p.mean():.1f} on average "
                   f"({int((s['stop'] == 'sure').sum())} sure at the rule's target, "
                   f"{int((s['stop'] == 'cap').sum())} stopped at its cap"
                   + (f", {futile} stopped early, their cap could not have made them sure" if futile else "")
                   + ")."))
    bad = s[s["unstable"].astype(bool)]
    if bad.empty:
        return out
    counts = bad["unstable_cause"].replace("", "unnamed").value_counts()
    for cause, k in counts.items():
        why, fix = CAUSES.get(cause, ("spread above 10% of the median, from a file without causes (normbench 0.12)",
                                      "measure again with this normbench"))
        out.append((1, f"{k} {cause}: {why}; what to do: {fix}."))
    modal = bad[bad["unstable_cause"] == "modes"]
    if len(modal):
        out.append((0, f"{len(modal)} measurements fall into modes (placement-sensitive kernels); each pass's table "
                       "lists them with the modes' ranges and shares."))
    return out


def _summary(s: pd.DataFrame, ops, baseline: str, failing) -> list[Block]:
    lines: list[Block] = [Heading(2, "Summary")]
    if not baseline:
        return lines + [Paragraph("No speed-ups: the baseline backend (torch-cpu) was not measured; give --baseline.")]
    gm = _geomeans(s, ops)
    if gm.empty:
        return lines + [Paragraph(f"No configuration was measured on both {baseline} and another backend.")]
    n_machines = gm["machine"].nunique()
    lines.append(Paragraph(f"Geometric-mean speed-up over **{baseline}** per op and pass (same run, same "
                           "configurations; > 1 is faster), with its 95% interval (measurement noise only); `~`: the "
                           f"interval contains 1, no clear difference. {MARK_FAIL}: the backend failed conformance "
                           "for some of the dtypes and layouts measured."))
    cols = list(dict.fromkeys(f"{r.norm} {r.op}" for r in gm.itertuples()))
    rows = []
    for (machine, run, backend), g in gm.sort_values(["machine", "run"], kind="stable").groupby(
            ["machine", "run", "backend"], sort=False):
        cells = {f"{r.norm} {r.op}": _summary_cell(r._asdict()) for r in g.itertuples()}
        bad = any(failing.failed(n, backend, d, lay, sh) for n, d, lay, sh in
                  s[(s["backend"] == backend)][["norm", "dtype", "layout", "shape"]].drop_duplicates().itertuples(index=False))
        rows.append([_run_label(machine, run, n_machines), backend + (f" {MARK_FAIL}" if bad else ""),
                     *[cells.get(c, "") for c in cols]])
    lines.append(Table(["run", "backend", *cols], rows))
    return lines


def _check_table(check: dict) -> list[Block]:
    lines: list[Block] = [Heading(2, "Conformance"), Paragraph(f"`normbench check`: {check.get('summary', '')}")]
    for norm, entry in check["norms"].items():
        backends = entry["backends"]
        groups = list(dict.fromkeys(c["group"] for b in backends for c in b.get("cases", [])))
        rows = []
        for b in backends:
            if not b["available"]:
                rows.append([b["name"], f"unavailable: {b['reason']}"] + [""] * max(len(groups) - 1, 0))
                continue
            rows.append([b["name"], *[group_cell(c for c in b["cases"] if c["group"] == g) for g in groups]])
        lines += [Heading(3, norm), Table(["backend", *groups], rows)]
    found = defects.summarize(check)
    if found:
        lines += [Heading(3, "Known defects"),
                  Paragraph("Per backend and known failure: the ops and cases it covered in this run, the outputs that "
                            "were off and the range of the worst output's error over those cases, in multiples of its "
                            "tolerance (`inf`: a non-finite value where the reference is finite; blank: no numeric "
                            "error, such as a wrong dtype or a refused call)."),
                  Table(*defects.table(found))]
    lines.append(Paragraph("Each failure and known failure, with its measured error: "
                           "[at the end](#failures-and-known-failures)."))
    return lines


def _invariance_section(check: dict) -> list[Block]:
    """The invariance table of a check file (when it was probed): one row per (backend, op), then
    every property that does not hold, once per (backend, op, property) with its first instance."""
    from ..conformance.invariance import HEADS, PROPERTIES, Row, summary_cells

    probed = [(norm, b["name"], [Row.from_dict(b["name"], norm, d) for d in b["invariance"]])
              for norm, e in check.get("norms", {}).items() for b in e["backends"] if b.get("invariance")]
    if not probed:
        return []
    lines: list[Block] = [
        Heading(2, "Invariance"),
        Paragraph("Does the same input give the same bits? Decided bitwise on every output, gradients and saved "
                  "statistics included, per pass, dtype and layout: "
                  + "; ".join(f"**{HEADS[p]}**: {PROPERTIES[p]}" for p in PROPERTIES)
                  + ". `yes`: on everything probed; `no`: the first pass and dtype that differ, the output and its "
                    "largest difference in ulps of the output's largest value (1 ulp: the last bit at the output's "
                    "scale), and how many more rows differ. None of this is a conformance failure unless "
                    "required (`normbench check --require ...`) or promised by the backend.")]
    rows = [[name, norm, *(summary_cells(rs)[p] for p in PROPERTIES)] for norm, name, rs in probed]
    lines.append(Table(["backend", "op", *(HEADS[p] for p in PROPERTIES)], rows))
    found = []
    for norm, name, rs in probed:
        for p in PROPERTIES:
            bad = [r for r in rs if r.verdicts.get(p) and r.verdicts[p].state in ("variant", "error")]
            if bad:
                r = bad[0]
                found.append([name, norm, HEADS[p], f"{len(bad)} of {len(rs)}", f"{r.pass_} {r.dtype} {r.layout}",
                              r.verdicts[p].detail + (" **(required or promised)**" if p in r.failed else "")])
    if found:
        lines += [Heading(3, "Where the bits differ"),
                  Table(["backend", "op", "property", "rows", "first", "what differs"], found)]
    return lines


def _failure_list(check: dict) -> list[Block]:
    notable = [(n, b["name"], c) for n, e in check["norms"].items() for b in e["backends"] for c in b.get("cases", [])
               if c["status"] in NOTABLE]
    lines: list[Block] = [Heading(2, "Failures and known failures")]
    if not notable:
        return lines + [Paragraph("None: every case passed or was outside a backend's declared support.")]
    lines.append(Paragraph("Known failures are defects of the implementation behind a backend (with the error measured "
                           "in this run); the others are unexpected results."))
    lines.append(Table(["norm", "backend", "case", "status", "measured", "reason"],
                       [[n, b, c["case"], c["status"], c["message"], c.get("known_reason", "")] for n, b, c in notable]))
    return lines


def protocol_text(p: dict) -> str:
    """A run header's timing protocol in one line (files of 0.12 and older: a fixed count)."""
    rule = p.get("rule_text") or f"a fixed {p.get('processes', '?')} processes per row"
    parts = [f"rigor {p.get('rigor', '?')}: {rule}"]
    if p.get("min_samples") is not None:
        parts.append(f"per process >= {p['min_samples']} samples and >= {float(p.get('budget_s') or 0) * 1e3:g} ms timed")
    parts += [f"memory policy {p.get('memory_policy', '?')}", f"placement {p.get('placement', 'heap')}",
              f"seed {p.get('seed')}"]
    return "; ".join(parts)


def _runs_section(df: pd.DataFrame, runs: list[RunHeader] | None) -> list[Block]:
    """Each run's header (machine facts, versions, settings), and the threads each backend ran with."""
    lines: list[Block] = [Heading(2, "Runs and machines", key="runs")]
    for h in runs or []:
        facts = [["run id", h.run_id], ["started / ended", f"{h.started} / {h.ended}"],
                 ["normbench", f"{h.normbench_version} {h.git_commit}".strip()], ["command", f"`{h.command}`"]]
        facts += [[k, v] for k, v in h.machine.items() if v not in ("", None)]
        if h.protocol:
            facts.append(["timing protocol", protocol_text(h.protocol)])
        facts += [[f"env {k}", v] for k, v in h.environment_variables.items()]
        facts += [[f"backend {k}", f"{v.get('version', '')}, threads {v.get('threads', '')}"]
                  for k, v in h.backends.items()]
        lines += [Heading(3, f"run {h.run_id}"), Table(["", ""], facts)]
    if "machine" in df:
        cols = [c for c in ("machine", "run", "cpu", "backend", "threads") if c in df]
        m = df[cols].astype(object).fillna("").astype(str).replace(r"\.0$", "", regex=True).drop_duplicates()
        lines += [Paragraph("Threads each backend ran with (NumPy uses one, whatever is asked):"),
                  Table(cols, m.values.tolist())]
        if "load_before" in df:
            load = df[["machine", "run", "load_before", "load_after"]].dropna()
            if not load.empty:
                g = load.groupby(["machine", "run"]).agg(lo=("load_before", "min"), hi=("load_after", "max"))
                lines.append(Paragraph("1-minute load average during each run (above the core count, timings are "
                                       "shared with other work): "
                                       + "; ".join(f"{m} {r}: {v.lo:.2f}–{v.hi:.2f}" for (m, r), v in g.iterrows())))
    return lines


def _regression_section(t: pd.DataFrame) -> list[Block]:
    reg = regressions(t)
    lines: list[Block] = [Heading(2, "Regressions")]
    if reg.empty:
        return lines + [Paragraph(f"None: no configuration is significantly and >= {REGRESSION_THRESHOLD - 1:.0%} slower "
                                  "than at the previous commit (asv's rule; needs asv results from two or more commits "
                                  "on one machine).")]
    lines.append(Paragraph(f"**REGRESSIONS** (newest commit significantly and >= {REGRESSION_THRESHOLD - 1:.0%} slower "
                           "than the previous one, same machine):"))
    lines.append(Table(list(reg.columns), [[f"{v:.2f}x" if isinstance(v, float) else v for v in r]
                                           for r in reg.itertuples(index=False)]))
    return lines


def _how_to_read(t: pd.DataFrame, ops, baseline: str) -> list[Block]:
    items = [
             "*time* is the median of timed samples (each the mean of enough back-to-back calls to last >= 2 ms), "
             "taken in several fresh worker processes per backend under one memory policy (README, \"How normbench "
             "times\"), device synchronized, output allocation included, JIT compilation and warm-up excluded; *IQR* "
             "is the samples' interquartile range over the median.",
             f"Each measurement had as many fresh processes as it needed: at least the rule's minimum, more while "
             "its 95% interval was wider than the rule's target or its processes formed groups, up to a cap (the "
             "rule is in *Runs and machines*). "
             f"{MARK_UNSTABLE} marks an unstable measurement: still not sure at its cap, or in modes (its processes "
             "fall into separate groups, listed under each table with their ranges and shares: a placement-sensitive "
             "kernel). Each names its cause (modes, within: samples spread inside processes, drift: every row of "
             "the backend measured in the same round moved together, between: processes disagree without groups "
             "or drift, short: samples too short for the clock, few: too few processes) and what to do.",
             f"{MARK_CONTENDED} marks a contended measurement: the machine was busy (its threads waited for a CPU) "
             "even after re-measuring; it is shown, but left out of every geometric mean and of the *fastest* columns.",
             f"*speed-up* is the baseline's ({baseline or 'none'}) time over the backend's time in the same run (> 1: "
             "faster), with a 95% interval over both levels of the measurement (Welch's t on the processes' median "
             "log times; one process a side: Mann-Whitney on the samples); `~` marks an interval that contains 1: no "
             "clear difference. Geometric means combine the intervals' widths, leave out contended configurations "
             "and intervals wider than 2x (saying how many), and carry `~` whenever no configuration backs a "
             "clear verdict.",
             f"{MARK_FAIL} marks a backend that failed conformance (unexpectedly or as a known failure) for that "
             "dtype, layout and rank (in any pass: a backward defect matters to whoever trains); it is left out of "
             "the *fastest* columns.",
             f"{MARK_NOTE} marks a timing that includes more than the pass, as its backend declares (e.g. a "
             "backward that reruns the forward because the library keeps no saved statistics); the note is under "
             "the table.",
             "*% floor* is the achieved bandwidth over a memory copy of the same bytes measured in the same run "
             "with the same threads (the faster of a one-thread and a threaded copy). Bytes per pass:"]
    bullets = Bullets([(0, text) for text in items])
    bullets.items += [(1, f"{op.name}: {op.byte_model}") for op in ops if not t.empty and op.name in set(t["norm"])]
    return [Heading(2, "How to read this"), bullets]


def _op_summary(s: pd.DataFrame, op: OpInfo, baseline: str, failing) -> list[Block]:
    passes = [p for p in op.passes if p in set(s["op"])]
    n_machines = s["machine"].nunique()
    rows = []
    for (machine, run, backend), g in s.sort_values(["machine", "run"], kind="stable").groupby(
            ["machine", "run", "backend"], sort=False):
        cells = []
        gm = _geomeans(g, [op])
        for pass_ in passes:
            r = gm[gm["op"] == pass_] if not gm.empty else gm
            cells.append(f"{_summary_cell(r.iloc[0])} (n={int(r.iloc[0]['n'])})" if len(r) else "")
        frac = g["floor_fraction"].dropna()
        bad = sorted({f"{d} {lay} {rank_of(sh)}-D" for d, lay, sh in
                      g[["dtype", "layout", "shape"]].drop_duplicates().itertuples(index=False)
                      if failing.failed(op.name, backend, d, lay, sh)})
        rows.append([_run_label(machine, run, n_machines), backend, *cells,
                     f"{100 * frac.median():.0f}%" if len(frac) else "", ", ".join(bad)])
    head = ["run", "backend", *[f"{p} (n)" for p in passes], "median % floor", f"{MARK_FAIL} fails conformance in"]
    return [Paragraph(f"Geometric-mean speed-up over **{baseline}** (same run, same configurations; > 1 is faster; "
                      "95% interval):" if baseline else "Per backend:"), Table(head, rows)]


def _cell(r, baseline: str, failing, op: OpInfo) -> str:
    text = _fmt_ms(r["median_s"])
    if not pd.isna(r.get("dispersion")):
        text += f" IQR {100 * r['dispersion']:.0f}%"
    extra = []
    if r["backend"] != baseline and not pd.isna(r["speedup"]):
        extra.append(_interval(r["speedup"], r["sp_low"], r["sp_high"]))
    if not pd.isna(r["floor_fraction"]):
        extra.append(f"{100 * r['floor_fraction']:.0f}%")
    if not pd.isna(r.get("peakmem_bytes")):  # asv's peakmem_op: the process's peak, imports included
        extra.append(f"peak {r['peakmem_bytes'] / 2**20:.0f} MiB")
    if extra:
        text += f" ({', '.join(extra)})"
    if r.get("unstable"):
        text += f" {MARK_UNSTABLE}"
    if r.get("contended"):
        text += f" {MARK_CONTENDED}"
    if r.get("note"):
        text += f" {MARK_NOTE}"
    if failing.failed(op.name, r["backend"], r["dtype"], r["layout"], r["shape"]):
        text += f" {MARK_FAIL}"
    return text


def _pass_section(s: pd.DataFrame, op: OpInfo, pass_: str, baseline: str, failing) -> list[Block]:
    backends = sorted(s["backend"].unique(), key=lambda b: (b != baseline, b))
    lines: list[Block] = [
        Heading(3, f"{op.name} {pass_}", op=op.name, pass_=pass_),
        Paragraph(f"Time in ms, IQR as % of it (speed-up over {baseline} [95% interval], % of bandwidth floor); "
                  f"{MARK_UNSTABLE} unstable, {MARK_FAIL} failed conformance for this dtype, layout and rank:")]
    s, n_machines, several_runs = _with_order(s)
    rows = []
    keys = (["run"] if several_runs else []) + ["dtype", "layout", "shape"]
    for (machine, run, *key), g in s.sort_values(["machine", "run", "dtype", "layout", "_n"]).groupby(
            ["machine", "run", "dtype", "layout", "shape"], sort=False):
        cells = []
        for b in backends:
            r = g[g["backend"] == b]
            cells.append(_cell(r.iloc[0], baseline, failing, op) if len(r) else "")
        label = [_run_label(machine, run, n_machines)] if several_runs else []
        rows.append([*label, *key, *cells])
    lines.append(Table([*keys, *backends], rows))
    return lines + _unstable_list(s) + _notes(s)


def _unstable_list(s: pd.DataFrame) -> list[Block]:
    """Each unstable measurement of a pass: its cause, and its modes where it has them."""
    from .._timing.sequential import unstable_text

    out = [(0, f"{MARK_UNSTABLE} {r['backend']} {r['dtype']} {r['layout']} {r['shape']}: "
            + unstable_text(r.get("unstable_cause"), r.get("modes"),
                            None if pd.isna(r.get("processes")) else int(r["processes"])))
           for _, r in s[s["unstable"].astype(bool)].iterrows()]
    return [Bullets(out)] if out else []


def _notes(s: pd.DataFrame) -> list[Block]:
    """The backends' own notes on what their timings include (Backend.timing_notes), one line each."""
    notes = s.loc[s["note"] != "", ["backend", "note"]].drop_duplicates()  # timing_rows always has the column
    return [Paragraph(*(f"{MARK_NOTE} {b}: {n.rstrip('.')}." for b, n in notes.itertuples(index=False)))] \
        if len(notes) else []


def _which_one(s: pd.DataFrame, op: OpInfo, failing) -> list[Block]:
    """Per configuration: the fastest backend that passed conformance there, and its lead."""
    from .._results.compare import row_ratio

    rows = []
    s, n_machines, several_runs = _with_order(s)
    order = {p: i for i, p in enumerate(op.passes)}
    s = s.assign(_p=s["op"].map(order))
    for (machine, run, pass_, dtype, layout, shape), g in s.sort_values(["machine", "run", "_p", "dtype", "layout", "_n"]).groupby(
            ["machine", "run", "op", "dtype", "layout", "shape"], sort=False):
        if g["backend"].nunique() < 2:
            continue
        bad = sorted(b for b in g["backend"] if failing.failed(op.name, b, dtype, layout, shape))
        busy = sorted(set(g.loc[g["contended"].astype(bool), "backend"]) - set(bad))  # timed on a busy machine
        ok = g[~g["backend"].isin(bad + busy)].sort_values("median_s")
        if ok.empty:
            lead, best = "", "(none passed)"
        else:
            best = ok.iloc[0]["backend"] + (f" {MARK_NOTE}" if ok.iloc[0].get("note") else "")
            if len(ok) > 1:
                r = row_ratio(ok.iloc[1].to_dict(), ok.iloc[0].to_dict())
                lead = f"{_interval(r.ratio, r.low if r.resolved else np.nan, r.high if r.resolved else np.nan)} over {ok.iloc[1]['backend']}"
            else:
                lead = "only one passed"
        label = [_run_label(machine, run, n_machines)] if several_runs else []
        rows.append([*label, pass_, dtype, layout, shape, best, lead,
                     ", ".join(bad + [f"{b} {MARK_CONTENDED}" for b in busy])])
    if not rows:
        return []
    head = (["run"] if several_runs else []) + ["pass", "dtype", "layout", "shape", "fastest that passed",
                                                "ahead of the runner-up by", f"excluded (failed conformance; {MARK_CONTENDED} contended)"]
    return [Heading(3, f"{op.name}: which one is fastest", op=op.name),
            Paragraph("Per configuration, the fastest backend among those that passed conformance for its dtype and "
                      f"layout and were not contended ({MARK_CONTENDED}) there (`~`: the lead is within the noise). "
                      "Without conformance results (`--check`), no backend is excluded for conformance."),
            Table(head, rows)] + _notes(s)
