"""Loading what normbench wrote before the store existed: bench files (JSON, CSV), ``check
--json`` documents, and asv's results folder. Each file is recognised by its content; anything
else is refused in one line. Importing a run twice adds nothing (runs are keyed by run id)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from ..errors import InputError
from ..records import RunHeader
from . import Store, _text


def import_path(store: Store, path: Path, ops: Sequence[Any] = ()) -> tuple[int, int]:
    """Add the runs in ``path`` to ``store``: (runs added, runs already there)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    if path.is_dir():
        return _asv(store, path, ops)
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{path} is not JSON ({exc})") from None
        if isinstance(document, dict) and "normbench_check" in document:
            return (1, 0) if store.add_check_run(document, source=str(path)) else (0, 1)
        if not (isinstance(document, dict) and "rows" in document):
            raise InputError(f"{path} is neither a normbench bench file nor a check --json document")
    elif path.suffix.lower() != ".csv":
        raise InputError(f"{path}: expected a bench file (.json, .csv), a check --json document or an asv results "
                         "folder")
    return _bench(store, path)


def _bench(store: Store, path: Path) -> tuple[int, int]:
    from .._results import benchfile

    rows, headers = benchfile.read(path)
    by_run: dict[str, list[dict]] = {}
    for r in rows:
        by_run.setdefault(str(r.get("run_id") or path.stem), []).append(r)
    known = {h.run_id: h for h in headers}
    added = kept = 0
    for run_id, run_rows in by_run.items():
        header = known.get(run_id) or _header_from_rows(store, run_id, run_rows)
        if store.add_bench_run(header, run_rows, source=str(path)) or not run_rows:
            added += 1
        else:
            kept += 1
    return added, kept


def _header_from_rows(store: Store, run_id: str, rows: list[dict]) -> RunHeader:
    """A header for rows whose file kept none (CSV): what the rows themselves say of their run,
    the machine matched to a stored one of the same name and CPU where there is exactly one."""
    first = rows[0]
    stamp = str(first.get("timestamp") or "")
    name, cpu = _text(first.get("machine")), _text(first.get("cpu"))
    machine = store.machine_facts(name, cpu) or {"machine": name, "cpu": cpu}
    return RunHeader(run_id=run_id, started=stamp, ended=stamp, machine=dict(machine),
                     git_commit=_text(first.get("commit")))


def _asv(store: Store, folder: Path, ops: Sequence[Any]) -> tuple[int, int]:
    """asv's results folder (``results_dir``): one run per (machine, commit), rows as report reads them."""
    from .._reporting.report import load_asv

    if not any(p.is_dir() and (p / "machine.json").exists() for p in folder.iterdir()):
        raise InputError(f"{folder} is not an asv results folder (no <machine>/machine.json in it)")
    df = load_asv(folder, ops)
    added = kept = 0
    if df.empty:
        return 0, 0
    for (machine, commit), group in df.groupby(["machine", "commit"], sort=True):
        rows = json.loads(group.to_json(orient="records"))
        info_path = folder / str(machine) / "machine.json"
        info = json.loads(info_path.read_text()) if info_path.exists() else {}
        stamp = str(rows[0].get("timestamp") or "")
        header = RunHeader(run_id=f"asv-{machine}-{commit}", started=stamp, ended=stamp, git_commit=str(commit),
                           command="asv run",
                           machine={"machine": str(machine), "cpu": str(info.get("cpu", "")),
                                    "cores": info.get("num_cpu", ""), "memory": str(info.get("ram", ""))},
                           protocol={"memory_policy": "asv"})
        for r in rows:
            r.setdefault("threads", 0)
            r["memory_policy"] = r.get("memory_policy") or "asv"
        if store.add_bench_run(header, rows, source=str(folder)):
            added += 1
        else:
            kept += 1
    return added, kept
