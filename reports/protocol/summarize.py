"""Summarize ab.sh's runs with normbench compare (one line per pair)."""
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

out = Path(sys.argv[1])
nb = shlex.split(os.environ.get("NB", "normbench"))


def compare(a, b, *extra):
    p = subprocess.run([*nb, "compare", str(a), str(b), "--json", *extra], capture_output=True, text=True)
    rows = json.loads(p.stdout)
    noise = next((line for line in p.stderr.splitlines() if line.startswith("run-to-run noise")), "noise: n/a")
    return rows, p.returncode, noise


lines = []
for a, b in [(1, 2), (2, 3), (1, 3)]:
    rows, code, noise = compare(out / f"aa-{a}.json", out / f"aa-{b}.json")
    flagged = sum(r["verdict"] in ("slower", "faster") for r in rows)
    lines.append(f"A/A aa-{a} vs aa-{b}: {flagged}/{len(rows)} flagged ({flagged / len(rows):.0%}), "
                 f"gate exit {code}; {noise.split(':')[1].split('(')[0].strip()} run-to-run noise")
for a in (1, 2, 3):
    rows, code, _ = compare(out / f"aa-{a}.json", out / "ab-1.3.json", "--backend", "subject")
    slower = sum(r["verdict"] == "slower" for r in rows)
    gated = sum(r["regression"] for r in rows)
    groups = len({(r["norm"], r["op"]) for r in rows if r.get("group_regression")})
    lines.append(f"A/B aa-{a} vs ab-1.3 (subject): {slower}/{len(rows)} flagged slower ({slower / len(rows):.0%}), "
                 f"{gated} past the 10% gate alone, {groups} of 5 op/pass groups past it on their geometric mean, "
                 f"gate exit {code}")
print("\n".join(lines))
(out / "summary.txt").write_text("\n".join(lines) + "\n")
