#!/usr/bin/env bash
# A/A and A/B check of the timing protocol (README, "How normbench times"): three back-to-back
# runs of the batchnorm + layernorm quick grid (numba, torch-cpu and "subject", NumPy slowed by
# NORMBENCH_SLOWDOWN), then a fourth with subject slowed exactly 1.3x. summarize.py prints
# compare's noise estimate for each A/A pair, the share of configurations it flags, whether the
# default gate (exit status) stays quiet, and the share of subject's configurations flagged
# slower against the 1.3x run.
#   bash reports/protocol/ab.sh OUT_DIR [extra bench options, e.g. --rigor rigorous]
# Needs a quiet machine: nothing else timing beside it.
set -euo pipefail
out=${1:?usage: ab.sh OUT_DIR [bench options]}; shift
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
NB=${NB:-normbench}
common=(bench --plugin slowed_numpy --backend subject --backend numba --backend torch-cpu
        --norm batchnorm --norm layernorm --grid quick --threads 2 --force "$@")
for i in 1 2 3; do
  NORMBENCH_SLOWDOWN=1 $NB "${common[@]}" -o "$out/aa-$i.json" > "$out/aa-$i.txt" 2>&1
done
NORMBENCH_SLOWDOWN=1.3 $NB "${common[@]}" -o "$out/ab-1.3.json" > "$out/ab-1.3.txt" 2>&1
NB="$NB" python3 "$here/summarize.py" "$out"
