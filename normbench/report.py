"""Reports: benchmark rows (``normbench bench`` files and/or asv results) -> Markdown + PNG.

Everything is loaded into one pandas frame with the columns of :data:`normbench.bench.COLUMNS`
(asv rows lack the copy baseline, so their ``floor_fraction`` is empty), keyed by machine, so
results from several machines sit side by side, and by norm (the op), whose record supplies the
axes of each shape, the byte model and the plots. Conformance results (``normbench check
--json``) can be included, so known failures and their measured errors are in the same report.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .bench import COLUMNS
from .errors import InputError
from .opinfo import OpInfo, format_shape
from .results import NOTABLE, group_cell
from .tables import markdown

REGRESSION_THRESHOLD = 1.10  # 10 % slower than the previous commit on the same machine


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
def load_bench(paths: Iterable[Path], ops: Sequence[OpInfo]) -> pd.DataFrame:
    frames = []
    for path in map(Path, paths):
        if not path.exists():
            raise InputError(f"no such results file: {path}")
        if path.suffix.lower() == ".csv":
            df = pd.read_csv(path)
        elif path.suffix.lower() == ".json":
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or "rows" not in data:
                raise InputError(f"{path} is not a normbench bench JSON file (no 'rows')")
            df = pd.DataFrame(data["rows"])
        else:
            raise InputError(f"unknown results file type {path.name!r}; expected .csv or .json")
        if "norm" not in df.columns and not df.empty:
            from .compat_v1 import upgrade_bench_rows

            df = upgrade_bench_rows(df)  # written by normbench 0.1, before ops
        missing = {"norm", "backend", "op", "shape", "median_s"} - set(df.columns)
        if missing and not df.empty:
            raise InputError(f"{path} lacks the columns {', '.join(sorted(missing))}: not a normbench bench file")
        df["source"] = f"bench:{path.name}"
        df["commit"] = ""
        frames.append(df)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    if out.empty:
        return out
    # Files from the shards of one grid (bench --shard K/N) merge here. The same measurement in
    # two files (a shard run twice) would count twice: keep the later file's, and say so.
    key = [c for c in ("norm", "backend", "op", "shape", "dtype", "layout", "threads", "machine") if c in out.columns]
    dup = out.duplicated(subset=key, keep="last")
    if dup.any():
        print(f"normbench: warning: {int(dup.sum())} measurement(s) appear in more than one input file; "
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


def _asv_rows(res, machine: str, info: dict, ops: dict[str, OpInfo]) -> list[dict]:
    import ast
    import itertools

    out = []
    date = _dt.datetime.fromtimestamp((res.date or 0) / 1000, _dt.timezone.utc).isoformat(timespec="seconds")
    for name in sorted(res.get_all_result_keys()):
        cls, method = name.rsplit(".", 2)[-2:] if name.count(".") >= 2 else ("", "")
        if method != "time_op":
            continue  # GB/s follows from the time and the byte model; peakmem is per process
        kind, _, op_name = cls.partition("_")
        op = ops.get(op_name)
        if op is None or f"{kind}_" not in (ASV_GRID, ASV_STANDARD):
            continue
        params = [[ast.literal_eval(v) for v in p] for p in (res.get_result_params(name) or [])]
        values = res.get_result_value(name, res.get_result_params(name)) or []
        for combo, value in zip(itertools.product(*params), values):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue  # skipped (NotImplementedError) or failed
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
            out.append({
                "norm": op.name, "backend": backend, "op": pass_, "dtype": dtype, "layout": layout,
                "shape": format_shape(shape), "machine": machine, "cpu": info.get("cpu", ""),
                "commit": (res.commit_hash or "")[:8], "timestamp": date, "source": f"asv:{name}", "bytes": nbytes,
                "threads": "", "median_s": float(value), "gbps": nbytes / float(value) / 1e9,
            })
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
        from .compat_v1 import upgrade_check

        data = upgrade_check(data)  # written by normbench 0.1, before ops
    if not isinstance(data, dict) or "norms" not in data:
        raise InputError(f"{path} is not a 'normbench check --json' file")
    return data


# -- analysis -----------------------------------------------------------------------------------
CONFIG = ["norm", "op", "dtype", "layout", "shape"]


def timing_rows(df: pd.DataFrame, ops: Sequence[OpInfo]) -> pd.DataFrame:
    """One row per (machine, commit, backend, norm, op, dtype, layout, shape), median time."""
    if df.empty or "median_s" not in df:
        return df
    t = df.dropna(subset=["median_s"]).copy()
    for col in ("floor_fraction", "gbps", "threads", "commit", "source", "timestamp"):
        if col not in t:
            t[col] = np.nan
    t["commit"] = t["commit"].astype(object).fillna("").astype(str)
    t["threads"] = t["threads"].astype(object).fillna("").astype(str).str.replace(r"\.0$", "", regex=True)
    keys = ["machine", "commit", "backend", *CONFIG]
    axes = list(dict.fromkeys(a for op in ops for a in op.axes if a in t))
    agg = dict(median_s=("median_s", "median"), gbps=("gbps", "median"), floor_fraction=("floor_fraction", "median"),
               threads=("threads", "first"), source=("source", "first"), timestamp=("timestamp", "max"))
    agg.update({a: (a, "first") for a in axes})
    return t.groupby(keys, as_index=False, dropna=False).agg(**agg)


def speedups(t: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Adds ``speedup`` = baseline time / backend time for configurations the baseline has."""
    keys = ["machine", "commit", *CONFIG]
    base = t[t["backend"] == baseline][keys + ["median_s"]].rename(columns={"median_s": "baseline_s"})
    out = t.merge(base, on=keys, how="left")
    out["speedup"] = out["baseline_s"] / out["median_s"]
    return out


def regressions(t: pd.DataFrame, threshold: float = REGRESSION_THRESHOLD) -> pd.DataFrame:
    """Configurations slower at the newest commit than at the previous one, per machine."""
    asv = t[t["commit"] != ""]
    if asv.empty or asv["commit"].nunique() < 2:
        return pd.DataFrame()
    out = []
    keys = ["machine", "backend", *CONFIG]
    for key, g in asv.groupby(keys):
        if g["commit"].nunique() < 2:
            continue
        g = g.sort_values("timestamp")  # asv's run date of each commit's results
        prev, last = g.iloc[-2], g.iloc[-1]
        ratio = last["median_s"] / prev["median_s"]
        if ratio >= threshold:
            out.append({**dict(zip(keys, key)), "from": prev["commit"], "to": last["commit"], "slower_by": ratio})
    return pd.DataFrame(out)


# -- writing ------------------------------------------------------------------------------------
def write_report(
    df: pd.DataFrame, out_dir: Path, ops: Sequence[OpInfo], *, baseline: str = "torch-cpu", check: dict | None = None,
    machines: dict | None = None, title: str = "normbench report", plots: bool = True,
) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t = timing_rows(df, ops)
    if t.empty and check is None:
        raise InputError("no results to report: the inputs hold no timing rows")
    lines = [f"# {title}", "", f"Generated {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M UTC} by `normbench report`.", ""]
    if machines:
        lines += ["## Machine", "", markdown(["key", "value"], [[k, v] for k, v in machines.items()]), ""]
    if check is not None:
        lines += _check_section(check)
    images: list[Path] = []
    if not t.empty:
        s = speedups(t, baseline)
        lines += _machines_section(df)
        for op in ops:
            so = s[s["norm"] == op.name]
            if so.empty:
                continue
            lines += [f"## {op.name}: {op.title}", ""]
            lines += _summary_section(so, op, baseline)
            for pass_ in [p for p in op.passes if p in set(so["op"])]:
                lines += _pass_section(so[so["op"] == pass_], op, pass_, baseline)
            if plots:
                from . import plots as plotting

                images += plotting.make_plots(so, op, out_dir, baseline)
        reg = regressions(t)
        lines += ["## Regressions", ""]
        if reg.empty:
            lines += ["No configuration is more than 10% slower than at the previous commit "
                      "(needs asv results from two or more commits on one machine).", ""]
        else:
            lines += ["**REGRESSIONS** (newest commit >= 10% slower than the previous one, same machine):", ""]
            lines += [markdown(list(reg.columns), [[f"{v:.2f}x" if isinstance(v, float) else v for v in r]
                                                   for r in reg.itertuples(index=False)]), ""]
        if images:
            lines += ["## Plots", ""] + [f"![{img.stem}]({img.name})" for img in images] + [""]
    lines += ["## How to read this", "",
              "- *time* is the median of timed samples (each the mean of enough back-to-back calls to last >= 2 ms), "
              "device synchronized, output allocation included, JIT compilation and warm-up excluded.",
              "- *speed-up* is the baseline's time over the backend's time in the same run (> 1: faster than the baseline).",
              "- *% floor* is the achieved bandwidth over a memory copy of the same bytes measured in the same run "
              "with the same threads. Bytes per pass:"]
    lines += [f"  - {op.name}: {op.byte_model}" for op in ops if not t.empty and op.name in set(t["norm"])]
    lines += [""]
    path = out_dir / "README.md"
    path.write_text("\n".join(lines))
    return path


def _fmt_ms(v) -> str:
    return "" if pd.isna(v) else f"{v * 1e3:.3f}"


def _check_section(check: dict) -> list[str]:
    lines = ["## Conformance", "", f"`normbench check`: {check.get('summary', '')}", ""]
    for norm, entry in check["norms"].items():
        backends = entry["backends"]
        groups = list(dict.fromkeys(c["group"] for b in backends for c in b.get("cases", [])))
        rows = []
        for b in backends:
            if not b["available"]:
                rows.append([b["name"], f"unavailable: {b['reason']}"] + [""] * max(len(groups) - 1, 0))
                continue
            rows.append([b["name"], *[group_cell(c for c in b["cases"] if c["group"] == g) for g in groups]])
        lines += [f"### {norm}", "", markdown(["backend", *groups], rows), ""]
    notable = [(n, b["name"], c) for n, e in check["norms"].items() for b in e["backends"] for c in b.get("cases", [])
               if c["status"] in NOTABLE]
    if notable:
        lines += ["Known failures (defects of the implementation behind a backend, with the error measured in this run) "
                  "and unexpected results:", ""]
        lines += [markdown(["norm", "backend", "case", "status", "measured", "reason"],
                           [[n, b, c["case"], c["status"], c["message"], c.get("known_reason", "")] for n, b, c in notable]), ""]
    return lines


def _machines_section(df: pd.DataFrame) -> list[str]:
    """Machines, and the threads each backend ran with there (NumPy uses one, whatever is asked)."""
    if "machine" not in df:
        return []
    cols = [c for c in ("machine", "cpu", "backend", "threads") if c in df]
    m = df[cols].astype(object).fillna("").astype(str).replace(r"\.0$", "", regex=True).drop_duplicates()
    return ["## Machines and threads", "", markdown(cols, m.values.tolist()), ""]


def _summary_section(s: pd.DataFrame, op: OpInfo, baseline: str) -> list[str]:
    lines = [f"Geometric mean speed-up over **{baseline}** (same run, same configurations; > 1 is faster):", ""]
    rows = []
    passes = [p for p in op.passes if p in set(s["op"])]
    for (machine, backend), g in s.groupby(["machine", "backend"]):
        cells = []
        for pass_ in passes:
            sp = g[(g["op"] == pass_) & g["speedup"].notna()]["speedup"]
            cells.append(f"{statistics.geometric_mean(sp):.2f}x ({len(sp)})" if len(sp) else "")
        frac = g["floor_fraction"].dropna()
        rows.append([machine, backend, *cells, f"{100 * frac.median():.0f}%" if len(frac) else ""])
    lines += [markdown(["machine", "backend", *[f"{p} (n)" for p in passes], "median % floor"], rows), ""]
    return lines


def _pass_section(s: pd.DataFrame, op: OpInfo, pass_: str, baseline: str) -> list[str]:
    backends = sorted(s["backend"].unique(), key=lambda b: (b != baseline, b))
    lines = [f"### {op.name} {pass_}", "", f"Time in ms (speed-up over {baseline}, % of bandwidth floor):", ""]
    rows = []
    keys = ["machine", "dtype", "layout", "shape"]
    s = s.assign(_n=s["shape"].map(lambda x: math.prod(int(v) for v in str(x).split("x"))))
    for key, g in s.sort_values(["machine", "dtype", "layout", "_n"]).groupby(keys, sort=False):
        cells = []
        for b in backends:
            r = g[g["backend"] == b]
            if r.empty:
                cells.append("")
                continue
            r = r.iloc[0]
            extra = []
            if b != baseline and not pd.isna(r["speedup"]):
                extra.append(f"{r['speedup']:.2f}x")
            if not pd.isna(r["floor_fraction"]):
                extra.append(f"{100 * r['floor_fraction']:.0f}%")
            cells.append(_fmt_ms(r["median_s"]) + (f" ({', '.join(extra)})" if extra else ""))
        rows.append([*key, *cells])
    lines += [markdown([*keys, *backends], rows), ""]
    return lines
