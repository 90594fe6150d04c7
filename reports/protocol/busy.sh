#!/usr/bin/env bash
# Honest on a busy machine (README, "How normbench times"): the layernorm and batchnorm quick
# grids on numpy and torch-cpu, once quiet and once beside one busy process per core (started and
# stopped here). Every row of the busy run must either come within 1.3x of the quiet run's median
# (re-measured) or be marked contended and left out of every summary.
#   bash reports/protocol/busy.sh OUT_DIR
set -euo pipefail
out=${1:?usage: busy.sh OUT_DIR}
mkdir -p "$out"
NB=${NB:-normbench}
args=(bench --norm layernorm --norm batchnorm --grid quick --backend numpy --backend torch-cpu --threads 2 --force)
$NB "${args[@]}" -o "$out/quiet.json" > "$out/quiet.txt" 2>&1
hogs=()
for _ in $(seq "$(nproc)"); do python3 -c "while True: pass" & hogs+=($!); done
trap 'kill "${hogs[@]}" 2>/dev/null || true' EXIT
$NB "${args[@]}" -o "$out/busy.json" > "$out/busy.txt" 2>&1
kill "${hogs[@]}"; trap - EXIT
python3 - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
key = lambda r: (r["norm"], r["op"], r["shape"], r["dtype"], r["layout"], r["backend"])
quiet = {key(r): r for r in json.loads((out / "quiet.json").read_text())["rows"]}
busy = json.loads((out / "busy.json").read_text())["rows"]
within = contended = bad = 0
worst = []
for r in busy:
    q = quiet.get(key(r))
    if q is None:
        continue
    ratio = r["median_s"] / q["median_s"]
    if r["contended"]:
        contended += 1
    elif 1 / 1.3 <= ratio <= 1.3:
        within += 1
    else:
        bad += 1
        worst.append(f"  {' '.join(map(str, key(r)))}: busy/quiet {ratio:.2f} (not marked contended)")
text = (f"{len(busy)} rows beside one hog per core: {within} re-measured within 1.3x of the quiet "
        f"run, {contended} marked contended (left out of summaries), {bad} neither\n" + "\n".join(worst))
summary = [l for l in (out / "busy.txt").read_text().splitlines() if " vs torch-cpu, " in l]
text += "\nbusy run's summaries:\n" + "\n".join("  " + l for l in summary) + "\n"
print(text)
(out / "summary.txt").write_text(text)
PY
