#!/usr/bin/env bash
# The runs behind tables.md, one after another on a quiet machine (nothing else timing beside them):
# three float32 runs of every op's standard shapes and layouts (numba, torch-cpu, torch-compile and
# the copy floor, default rigor), then three float16/bfloat16 runs (numba, torch-cpu and the copy
# floor; quick rigor: two processes each, as these carry no target), then the tables.
#   bash reports/numba-limit/run.sh    # about 17 + 17 minutes on this project's 2-core VM (NB=normbench, PYTHON=python3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
NB=${NB:-normbench}
for i in 1 2 3; do
  $NB bench --backend numba --backend torch-cpu --backend torch-compile --floor --grid standard --threads 2 \
    --seed "$i" --force -o "$here/run$i.json" > /dev/null
done
for i in 1 2 3; do
  $NB bench --backend numba --backend torch-cpu --floor --grid standard --dtype float16 --dtype bfloat16 --threads 2 \
    --rigor quick --seed "$i" --force -o "$here/half$i.json" > /dev/null
done
"${PYTHON:-python3}" "$here/make_table.py" > "$here/tables.md"
