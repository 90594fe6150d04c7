#!/usr/bin/env bash
# compare's and ab's power and false alarms (issue 40, item 5), on two grids: small, fast calls at one
# thread (batch norm's smoke grid: 24 configurations, three passes) and large ones (LayerNorm and
# RMSNorm at 1-2 M elements: 12 configurations). The subject is NumPy slowed by an exact factor
# (slowed_numpy.py), so the truth is known.
#   - A/B in one run: `normbench ab subject-a subject-b` with b slowed 1.3x, 1.15x and 1x (A/A),
#     three repetitions each;
#   - separate runs: five runs of subject alone (10 A/A pairs) and two with it slowed 1.3x (10 A/B
#     pairs), each pair through `normbench compare`.
# power_summary.py prints the flag rates. Needs a quiet machine: nothing else timing beside it.
#   bash reports/protocol/power.sh OUT_DIR [extra timing options]
set -euo pipefail
out=${1:?usage: power.sh OUT_DIR [timing options]}; shift
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
NB=${NB:-normbench}
small=(--norm batchnorm --grid smoke --threads 1)
large=(--norm layernorm --norm rmsnorm --shape 1024x1024 --shape 2048x1024 --shape 1024x2048 --threads 1)
parts=${PARTS:-ab runs}  # PARTS=ab or PARTS=runs: one half only
grids=${GRIDS:-small large}  # GRIDS=small: one grid only
for grid in $grids; do
  if [ "$grid" = small ]; then g=("${small[@]}"); else g=("${large[@]}"); fi
  for rep in 1 2 3; do
    [[ " $parts " == *" ab "* ]] || break
    for b in 1.3 1.15 1; do
      NORMBENCH_SUBJECTS="a=1,b=$b" $NB ab subject-a subject-b --plugin slowed_numpy "${g[@]}" --json "$@" \
        > "$out/ab-$grid-$b-$rep.json" 2> "$out/ab-$grid-$b-$rep.txt" || true
    done
  done
  [[ " $parts " == *" runs "* ]] || continue
  for i in 1 2 3 4 5; do
    NORMBENCH_SLOWDOWN=1 $NB bench --plugin slowed_numpy --backend subject "${g[@]}" --force "$@" \
      -o "$out/run-$grid-aa-$i.json" > "$out/run-$grid-aa-$i.txt" 2>&1
  done
  for i in 1 2; do
    NORMBENCH_SLOWDOWN=1.3 $NB bench --plugin slowed_numpy --backend subject "${g[@]}" --force "$@" \
      -o "$out/run-$grid-ab-$i.json" > "$out/run-$grid-ab-$i.txt" 2>&1
  done
done
NB="$NB" python3 "$here/power_summary.py" "$out" | tee "$out/summary.txt"
