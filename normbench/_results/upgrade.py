"""Result files of normbench 0.1, written before ops existed (batch norm only), read as today's."""
from __future__ import annotations

#: the one op normbench 0.1 had
OP = "batchnorm"


def upgrade_bench_rows(rows: list[dict]) -> list[dict]:
    """Bench rows written by normbench 0.1 (no ``norm`` column): they are all batch norm."""
    return [{"norm": OP, **r} for r in rows]


def upgrade_check(data: dict) -> dict:
    """A ``check --json`` document of normbench 0.1 (flat, batch norm only, un-prefixed ids)."""
    backends = []
    for b in data.get("backends", []):
        cases = [{**c, "case": c["case"] if c["case"].startswith(f"{OP}/") else f"{OP}/{c['case']}"}
                 for c in b.get("cases", [])]
        backends.append({**b, "cases": cases})
    return {**data, "norms": {OP: {"backends": backends}}}
