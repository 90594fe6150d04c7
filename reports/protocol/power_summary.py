"""Flag rates from power.sh's runs: ab in one run, and compare on separate runs (one run a side, and
repeated runs a side: folders of 2 and 3 runs)."""
import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

out = Path(sys.argv[1])
nb = shlex.split(os.environ.get("NB", "normbench"))
lines = []
for grid in ("small", "large"):
    for b in ("1.3", "1.15", "1"):
        rates = []
        for rep in (1, 2, 3):
            f = out / f"ab-{grid}-{b}-{rep}.json"
            if not f.exists() or not f.read_text().strip():
                continue
            rows = json.loads(f.read_text())
            flagged = sum(r["verdict"] == "slower" for r in rows) if b != "1" else \
                sum(r["verdict"] in ("slower", "faster") for r in rows)
            rates.append(f"{flagged}/{len(rows)} ({flagged / len(rows):.0%})")
        what = "A/A: any clear difference" if b == "1" else f"{b}x: flagged slower"
        lines.append(f"ab, one run, {grid} grid, {what}: " + ", ".join(rates))


def compare(a, b):
    p = subprocess.run([*nb, "compare", str(a), str(b), "--json"], capture_output=True, text=True)
    return json.loads(p.stdout), p.returncode, p.stderr


for grid in ("small", "large"):
    aa = [out / f"run-{grid}-aa-{i}.json" for i in range(1, 6)]
    ab = [out / f"run-{grid}-ab-{i}.json" for i in (1, 2)]
    if not all(f.exists() for f in aa + ab):  # PARTS=ab: no separate runs to compare
        continue
    quiet, flagged_aa, drift = 0, [], 0
    for x, y in itertools.combinations(aa, 2):
        rows, code, err = compare(x, y)
        quiet += code == 0
        flagged_aa.append(sum(r["verdict"] in ("slower", "faster") for r in rows) / len(rows))
        drift += "DRIFT" in err
    fired, flagged_ab, drift_ab = 0, [], 0
    for x in aa:
        for y in ab:
            rows, code, err = compare(x, y)
            fired += code == 1
            flagged_ab.append(sum(r["verdict"] == "slower" for r in rows) / len(rows))
            drift_ab += "DRIFT" in err
    lines.append(f"compare, separate runs, {grid} grid: gate quiet on {quiet}/10 A/A pairs (configurations flagged "
                 f"{min(flagged_aa):.0%}-{max(flagged_aa):.0%}; DRIFT said on {drift}); gate fired on {fired}/10 "
                 f"1.3x pairs, configurations flagged slower {min(flagged_ab):.0%}-{max(flagged_ab):.0%} "
                 f"(median {sorted(flagged_ab)[len(flagged_ab) // 2]:.0%}; DRIFT said on {drift_ab})")


def folder(files):
    d = Path(tempfile.mkdtemp(prefix="power-"))
    for f in files:
        shutil.copy(f, d / f.name)
    return d


# repeated runs: of the five A/A runs, every split into 2 and 3 (10 A/A pairs of folders); every 3 of
# them against the two 1.3x runs (10 pairs): compare estimates the shift of a whole run from the repeats
for grid in ("small", "large"):
    aa = [out / f"run-{grid}-aa-{i}.json" for i in range(1, 6)]
    ab = [out / f"run-{grid}-ab-{i}.json" for i in (1, 2)]
    if not all(f.exists() for f in aa + ab):
        continue
    quiet, flagged_aa, fired, flagged_ab, shifts = 0, [], 0, [], []
    for two in itertools.combinations(aa, 2):
        rest = [f for f in aa if f not in two]
        rows, code, err = compare(folder(two), folder(rest))
        quiet += code == 0
        flagged_aa.append(sum(r["verdict"] in ("slower", "faster") for r in rows) / len(rows))
        shifts += [line.split()[2] for line in err.splitlines() if line.startswith("whole-run shift")]
    b = folder(ab)
    for three in itertools.combinations(aa, 3):
        rows, code, err = compare(folder(three), b)
        fired += code == 1
        flagged_ab.append(sum(r["verdict"] == "slower" for r in rows) / len(rows))
    lines.append(f"compare, repeated runs (2 vs 3 A/A, 3 A vs 2 B), {grid} grid: gate quiet on {quiet}/10 A/A pairs "
                 f"(configurations flagged {min(flagged_aa):.0%}-{max(flagged_aa):.0%}; whole-run shift "
                 f"{min(shifts, default='-')}-{max(shifts, default='-')}); gate fired on {fired}/10 1.3x pairs, "
                 f"configurations flagged slower {min(flagged_ab):.0%}-{max(flagged_ab):.0%} "
                 f"(median {sorted(flagged_ab)[len(flagged_ab) // 2]:.0%})")
print("\n".join(lines))
