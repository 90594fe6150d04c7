#!/usr/bin/env bash
# The results store end to end: `normbench run` twice on this checkout, with one backend (subject:
# NumPy slowed by an exact factor, reports/protocol/slowed_numpy.py) 1.3x slower in the second run,
# then `normbench regressions` on the store they wrote. Needs a quiet machine (it times).
#   bash reports/store/planted.sh OUT_DIR
set -euo pipefail
out=${1:?usage: planted.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
export PYTHONPATH="$here/../protocol${PYTHONPATH:+:$PYTHONPATH}"
export NORMBENCH_STORE="$out/store.sqlite"
NB=${NB:-normbench}
rm -f "$NORMBENCH_STORE"
NORMBENCH_SLOWDOWN=1 $NB run --plugin slowed_numpy --output "$out/run1" > "$out/run1.txt" 2>&1 || true
NORMBENCH_SLOWDOWN=1.3 $NB run --plugin slowed_numpy --output "$out/run2" > "$out/run2.txt" 2>&1 || true
$NB store info > "$out/store-info.txt"
$NB regressions > "$out/regressions.txt" 2>&1
$NB regressions --json > "$out/regressions.json" 2>/dev/null
cat "$out/regressions.txt"
