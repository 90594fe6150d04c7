"""Bench result files: JSON (canonical: a header per run, rows with raw samples) and CSV (flat export).

JSON::

    {"normbench_bench": 4, "runs": [<header of each run, normbench.runinfo.header>], "rows": [...]}

CSV holds the same rows, one per line, with the raw samples as one space-separated column
(``samples_s``, and the samples per process likewise in ``process_n``) so ``normbench compare`` works on either; the run headers are in JSON only.
Files written by normbench 0.4 and older (no samples, no run id) still load; what needs the
samples says so.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .errors import InputError
from .runinfo import BENCH_SCHEMA


def _samples_from_cell(v: Any) -> list[float]:
    if isinstance(v, list):
        return [float(x) for x in v]
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return []
    return [float(x) for x in str(v).split()]


def read(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows, run headers) of a bench file; each row's ``samples_s`` is a list (empty if not recorded)."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InputError(f"no such results file: {path}")
    runs: list[dict] = []
    if path.suffix.lower() == ".csv":
        try:
            rows = pd.read_csv(path).to_dict(orient="records")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"{path} is not a CSV file ({exc})") from None
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{path} is not JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            raise InputError(f"{path} is not a normbench bench JSON file (no 'rows')")
        rows, runs = data["rows"], list(data.get("runs", []))
    else:
        raise InputError(f"unknown results file type {path.name!r}; expected .csv or .json")
    for r in rows:
        if "samples_s" in r:
            r["samples_s"] = _samples_from_cell(r["samples_s"])
        if "process_n" in r:
            r["process_n"] = [int(k) for k in _samples_from_cell(r["process_n"])]
    return rows, runs


def write(path: Path, rows: list[dict[str, Any]], runs: list[dict[str, Any]]) -> None:
    """Replace ``path`` with every row so far (atomically: the file is always complete and valid)."""
    import pandas as pd

    from .bench import columns_for
    from .output import atomic_write, check_writable

    check_writable(path, suffixes=(".csv", ".json"))
    df = pd.DataFrame(rows, columns=columns_for(rows))
    if path.suffix.lower() == ".csv":
        if "samples_s" in df:
            df["samples_s"] = df["samples_s"].map(lambda v: " ".join(repr(float(x)) for x in v) if isinstance(v, list) else v)
        if "process_n" in df:
            df["process_n"] = df["process_n"].map(lambda v: " ".join(str(int(x)) for x in v) if isinstance(v, list) else v)
        atomic_write(path, df.to_csv(index=False))
    else:
        records = json.loads(df.to_json(orient="records"))  # NaN -> null, numpy types -> JSON
        atomic_write(path, json.dumps({"normbench_bench": BENCH_SCHEMA, "runs": runs, "rows": records}, indent=1))
