"""Bench result files: JSON (canonical: a header per run, rows with raw samples) and CSV (flat export).

JSON::

    {"normbench_bench": 4, "runs": [<header of each run, normbench._results.runinfo.header>], "rows": [...]}

CSV holds the same rows, one per line, with the raw samples as one space-separated column
(``samples_s``, and the samples per process likewise in ``process_n``) so ``normbench compare`` works on either; the run headers are in JSON only.
Files written by normbench 0.4 and older (no samples, no run id) still load; what needs the
samples says so.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..records import BENCH_SCHEMA, Measurement, RunHeader


def read(path: Path) -> tuple[list[dict[str, Any]], list[RunHeader]]:
    """(rows, run headers) of a bench file, each row parsed through :class:`Measurement` (so its
    ``samples_s`` is a list, empty if not recorded) and given back as a flat row."""
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
        version = data.get("normbench_bench", BENCH_SCHEMA)
        if not isinstance(version, int) or version > BENCH_SCHEMA:
            raise InputError(f"{path}: bench file schema {version!r} is newer than this normbench reads "
                             f"(up to {BENCH_SCHEMA}); upgrade normbench")
        rows = data["rows"]
        runs = [RunHeader.from_dict(h, f"{path}, run {i}") for i, h in enumerate(data.get("runs") or [], start=1)]
    else:
        raise InputError(f"unknown results file type {path.name!r}; expected .csv or .json")
    if rows and not any("norm" in r for r in rows):
        from .upgrade import upgrade_bench_rows

        rows = upgrade_bench_rows(rows)  # written by normbench 0.1, before ops
    return [Measurement.from_row(r, f"{path}, row {i}").as_row() for i, r in enumerate(rows, start=1)], runs


def write(path: Path, rows: list[dict[str, Any]], runs: list[RunHeader | dict[str, Any]]) -> None:
    """Replace ``path`` with every row so far (atomically: the file is always complete and valid);
    a header given as a dict is checked as a :class:`RunHeader` first."""
    runs = [h if isinstance(h, RunHeader) else RunHeader.from_dict(h, f"{path}: run {i}")
            for i, h in enumerate(runs, start=1)]
    import pandas as pd

    from ..records import columns_for
    from .output import atomic_write, check_writable

    check_writable(path, suffixes=(".csv", ".json"))
    df = pd.DataFrame(rows, columns=columns_for(rows))
    if path.suffix.lower() == ".csv":
        for col, fmt in (("samples_s", lambda x: repr(float(x))), ("modes", lambda x: repr(float(x))),
                         ("process_n", lambda x: str(int(x))), ("placements", lambda x: str(int(x)))):
            if col in df:  # a list is one space-separated cell
                df[col] = df[col].map(lambda v, f=fmt: " ".join(f(x) for x in v) if isinstance(v, list) else v)
        atomic_write(path, df.to_csv(index=False))
    else:
        records = json.loads(df.to_json(orient="records"))  # NaN -> null, numpy types -> JSON
        atomic_write(path, json.dumps({"normbench_bench": BENCH_SCHEMA, "runs": [h.as_dict() for h in runs],
                                             "rows": records}, indent=1))
