"""Reports: benchmark rows (``normbench bench`` files and/or asv results) -> Markdown + PNG.

Everything is loaded into one pandas frame with the columns of :data:`normbench.bench.COLUMNS`
(asv rows lack the copy baseline, so their ``floor_fraction`` is empty), keyed by machine, so
results from several machines sit side by side. Conformance results (``normbench check
--json``) can be included, so known failures and their measured errors are in the same report.
"""
from __future__ import annotations

import ast
import datetime as _dt
import itertools
import json
import math
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .backend import OPS
from .bench import COLUMNS
from .errors import InputError
from .grids import format_shape, make_shape
from .ops.batchnorm import bytes_moved
from .tables import markdown

REGRESSION_THRESHOLD = 1.10  # 10 % slower than the previous commit on the same machine


# -- loading ------------------------------------------------------------------------------------
def load_bench(paths: Iterable[Path]) -> pd.DataFrame:
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
        missing = {"backend", "op", "shape", "median_s"} - set(df.columns)
        if missing:
            raise InputError(f"{path} lacks the columns {', '.join(sorted(missing))}: not a normbench bench file")
        df["source"] = f"bench:{path.name}"
        df["commit"] = ""
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def load_asv(results_dir: Path) -> pd.DataFrame:
    """asv 0.6 result files (``<results_dir>/<machine>/<commit>-<env>.json``) -> rows."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise InputError(f"asv results directory {results_dir} does not exist (run asv first, see README)")
    rows = []
    for machine_dir in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        info = {}
        if (machine_dir / "machine.json").exists():
            info = json.loads((machine_dir / "machine.json").read_text())
        for f in sorted(machine_dir.glob("*.json")):
            if f.name == "machine.json":
                continue
            data = json.loads(f.read_text())
            rows += _asv_rows(data, machine_dir.name, info)
    return pd.DataFrame(rows)


def _asv_rows(data: dict, machine: str, info: dict) -> list[dict]:
    cols = data.get("result_columns", [])
    out = []
    date = _dt.datetime.fromtimestamp(data.get("date", 0) / 1000, _dt.timezone.utc).isoformat(timespec="seconds")
    for name, entry in data.get("results", {}).items():
        rec = dict(zip(cols, entry))
        if name.rsplit(".", 1)[-1] != "time_op":
            continue  # GB/s follows from the time and the byte model; peakmem is per process
        params = [[ast.literal_eval(v) for v in p] for p in rec.get("params", [])]
        values = rec.get("result") or []
        for combo, value in zip(itertools.product(*params), values):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue  # skipped (NotImplementedError) or failed
            row = _asv_params(name, combo)
            if row is None:
                continue
            shape = tuple(int(v) for v in row["shape"].split("x"))
            nbytes = bytes_moved(row["op"], shape, row["dtype"])
            row.update(
                machine=machine, cpu=info.get("cpu", ""), commit=data.get("commit_hash", "")[:8], timestamp=date,
                source=f"asv:{name}", bytes=nbytes, batch=shape[0], channels=shape[1],
                spatial=shape[2] if len(shape) > 2 else 0, threads="",
            )
            row.update(median_s=float(value), gbps=nbytes / float(value) / 1e9)
            out.append(row)
    return out


def _asv_params(name: str, combo: tuple) -> dict | None:
    cls = name.split(".")[-2]
    if cls == "BatchNorm":
        backend, op, batch, channels, spatial, dtype, layout = combo
        shape = format_shape(make_shape(batch, channels, spatial))
    elif cls == "StandardShapes":
        backend, op, shape, layout = combo
        dtype = "float32"
    else:
        return None
    return {"backend": backend, "op": op, "dtype": dtype, "layout": layout, "shape": shape}


def load_check(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such check results file: {path}")
    data = json.loads(path.read_text())
    if "backends" not in data:
        raise InputError(f"{path} is not a 'normbench check --json' file")
    return data


# -- analysis -----------------------------------------------------------------------------------
def timing_rows(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (machine, commit, backend, op, dtype, layout, shape), median time."""
    if df.empty or "median_s" not in df:
        return df
    t = df.dropna(subset=["median_s"]).copy()
    for col in ("floor_fraction", "gbps", "threads", "commit", "source", "timestamp"):
        if col not in t:
            t[col] = np.nan
    t["commit"] = t["commit"].astype(object).fillna("").astype(str)
    t["threads"] = t["threads"].astype(object).fillna("").astype(str).str.replace(r"\.0$", "", regex=True)
    keys = ["machine", "commit", "backend", "op", "dtype", "layout", "shape"]
    return t.groupby(keys, as_index=False, dropna=False).agg(
        median_s=("median_s", "median"), gbps=("gbps", "median"), floor_fraction=("floor_fraction", "median"),
        threads=("threads", "first"), batch=("batch", "first"), channels=("channels", "first"),
        spatial=("spatial", "first"), source=("source", "first"), timestamp=("timestamp", "max"),
    )


def speedups(t: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Adds ``speedup`` = baseline time / backend time for configurations the baseline has."""
    keys = ["machine", "commit", "op", "dtype", "layout", "shape"]
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
    keys = ["machine", "backend", "op", "dtype", "layout", "shape"]
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
    df: pd.DataFrame, out_dir: Path, *, baseline: str = "torch-cpu", check: dict | None = None,
    machines: dict | None = None, title: str = "normbench report", plots: bool = True,
) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t = timing_rows(df)
    if t.empty and check is None:
        raise InputError("no results to report: the inputs hold no timing rows")
    lines = [f"# {title}", "", f"Generated {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M UTC} by `normbench report`.", ""]
    if machines:
        lines += ["## Machine", "", markdown(["key", "value"], [[k, v] for k, v in machines.items()]), ""]
    if check is not None:
        lines += _check_section(check)
    if not t.empty:
        s = speedups(t, baseline)
        lines += _machines_section(df)
        lines += _summary_section(s, baseline)
        for op in [o for o in OPS if o in set(s["op"])]:
            lines += _op_section(s[s["op"] == op], op, baseline)
        reg = regressions(t)
        lines += ["## Regressions", ""]
        if reg.empty:
            lines += ["No configuration is more than 10% slower than at the previous commit "
                      "(needs asv results from two or more commits on one machine).", ""]
        else:
            lines += ["**REGRESSIONS** (newest commit >= 10% slower than the previous one, same machine):", ""]
            lines += [markdown(list(reg.columns), [[f"{v:.2f}x" if isinstance(v, float) else v for v in r] for r in reg.itertuples(index=False)]), ""]
        if plots:
            from . import plots as plotting

            images = plotting.make_plots(s, out_dir, baseline)
            if images:
                lines += ["## Plots", ""] + [f"![{img.stem}]({img.name})" for img in images] + [""]
    lines += ["## How to read this", "",
              "- *time* is the median of timed samples (each the mean of enough back-to-back calls to last >= 2 ms), "
              "device synchronized, output allocation included, JIT compilation and warm-up excluded.",
              "- *speed-up* is the baseline's time over the backend's time in the same run (> 1: faster than the baseline).",
              "- *% floor* is the achieved bandwidth over a memory copy of the same bytes measured in the same run "
              "with the same threads; bytes per op: train and eval 2 x size (read x, write y), backward 3 x size "
              "(read x and dy, write dx).", ""]
    path = out_dir / "README.md"
    path.write_text("\n".join(lines))
    return path


def _fmt_ms(v) -> str:
    return "" if pd.isna(v) else f"{v * 1e3:.3f}"


def _check_section(check: dict) -> list[str]:
    lines = ["## Conformance", "", f"`normbench check`: {check.get('summary', '')}", ""]
    groups = []
    for b in check["backends"]:
        for c in b.get("cases", []):
            if c["group"] not in groups:
                groups.append(c["group"])
    from .conformance.runner import FAILING

    rows = []
    for b in check["backends"]:
        if not b["available"]:
            rows.append([b["name"], f"unavailable: {b['reason']}"] + [""] * (len(groups) - 1))
            continue
        cells = []
        for g in groups:
            cs = [c for c in b["cases"] if c["group"] == g]
            n = {s: sum(1 for c in cs if c["status"] == s) for s in ("pass", "xfail", "xpass", "unsupported")}
            bad = sum(1 for c in cs if c["status"] in FAILING)
            parts = ([f"FAIL {bad}"] if bad else []) + ([f"known {n['xfail']}"] if n["xfail"] else []) + \
                ([f"XPASS {n['xpass']}"] if n["xpass"] else []) + ([f"ok {n['pass']}"] if n["pass"] else []) + \
                ([f"n/a {n['unsupported']}"] if n["unsupported"] else [])
            cells.append(", ".join(parts) or "-")
        rows.append([b["name"], *cells])
    lines += [markdown(["backend", *groups], rows), ""]
    notable = [(b["name"], c) for b in check["backends"] for c in b.get("cases", []) if c["status"] in FAILING | {"xfail", "xpass"}]
    if notable:
        lines += ["Known failures (defects of the implementation behind a backend, with the error measured in this run) "
                  "and unexpected results:", ""]
        lines += [markdown(["backend", "case", "status", "measured", "reason"],
                           [[n, c["case"], c["status"], c["message"], c.get("known_reason", "")] for n, c in notable]), ""]
    return lines


def _machines_section(df: pd.DataFrame) -> list[str]:
    """Machines, and the threads each backend ran with there (NumPy uses one, whatever is asked)."""
    if "machine" not in df:
        return []
    cols = [c for c in ("machine", "cpu", "backend", "threads") if c in df]
    m = df[cols].astype(object).fillna("").astype(str).replace(r"\.0$", "", regex=True).drop_duplicates()
    return ["## Machines and threads", "", markdown(cols, m.values.tolist()), ""]


def _summary_section(s: pd.DataFrame, baseline: str) -> list[str]:
    lines = ["## Summary", "", f"Geometric mean speed-up over **{baseline}** (same run, same configurations; > 1 is faster):", ""]
    rows = []
    for (machine, backend), g in s.groupby(["machine", "backend"]):
        cells = []
        for op in OPS:
            sp = g[(g["op"] == op) & g["speedup"].notna()]["speedup"]
            cells.append(f"{math.exp(np.log(sp).mean()):.2f}x ({len(sp)})" if len(sp) else "")
        frac = g["floor_fraction"].dropna()
        rows.append([machine, backend, *cells, f"{100 * frac.median():.0f}%" if len(frac) else ""])
    lines += [markdown(["machine", "backend", *[f"{op} (n)" for op in OPS], "median % floor"], rows), ""]
    return lines


def _op_section(s: pd.DataFrame, op: str, baseline: str) -> list[str]:
    backends = sorted(s["backend"].unique(), key=lambda b: (b != baseline, b))
    lines = [f"## {op}", "", f"Time in ms (speed-up over {baseline}, % of bandwidth floor):", ""]
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
