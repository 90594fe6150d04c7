#!/usr/bin/env bash
# The results store end to end: `normbench run` twice on this checkout, with one backend (subject:
# NumPy slowed by an exact factor, reports/protocol/slowed_numpy.py) 1.3x slower in the second run,
# then `normbench regressions` on the store they wrote. Needs a quiet machine (it times). The runs'
# reports and the store (tens of MB) go to a scratch folder; the logs, the store's answers and one
# series' history come back to OUT_DIR.
#   bash reports/store/planted.sh OUT_DIR
set -euo pipefail
out=${1:?usage: planted.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYTHONPATH="$here/../protocol${PYTHONPATH:+:$PYTHONPATH}"
export NORMBENCH_STORE="$work/store.sqlite"
NB=${NB:-normbench}
NORMBENCH_SLOWDOWN=1 $NB run --plugin slowed_numpy --output "$work/run1" > "$out/run1.txt" 2>&1 || true
NORMBENCH_SLOWDOWN=1.3 $NB run --plugin slowed_numpy --output "$work/run2" > "$out/run2.txt" 2>&1 || true
$NB store info > "$out/store-info.txt"
$NB regressions > "$out/regressions.txt" 2>&1
$NB regressions --json > "$out/regressions.json" 2>/dev/null
for b in subject numpy; do
  $NB history --backend $b --norm layernorm --op forward --shape 2048x4096 --plot "$out/history-$b-layernorm.png" \
    > "$out/history-$b-layernorm.txt"
done
$NB compare run:latest~1 run:latest --backend numpy > "$out/compare-numpy.txt" || true
cat "$out/regressions.txt"
