#!/usr/bin/env bash
# Does a timing depend on what the process did before? (README, "How normbench times")
# LayerNorm forward 8192x1024 float32 on torch-cpu and numba, three runs of each condition:
#   alone | after larger shapes in the same run | with glibc's own MALLOC_* variables set by the
#   user (normbench's policy replaces them) | --memory-policy system (the C library's defaults).
#   bash reports/protocol/history.sh OUT_DIR [extra bench options, e.g. --rigor rigorous]
set -euo pipefail
out=${1:?usage: history.sh OUT_DIR [bench options]}; shift
mkdir -p "$out"
NB=${NB:-normbench}
base=(bench --norm layernorm --op forward --backend torch-cpu --backend numba --threads 2 --force "$@")
for i in 1 2 3; do
  $NB "${base[@]}" --shape 8192x1024 -o "$out/alone-$i.json" > /dev/null 2>&1
  $NB "${base[@]}" --shape 8192x1024 --shape 16384x2048 --shape 32768x1024 --shape 8192x4096 \
      -o "$out/after-larger-$i.json" > /dev/null 2>&1
  MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296 $NB "${base[@]}" --shape 8192x1024 \
      -o "$out/user-malloc-env-$i.json" > /dev/null 2>&1
  $NB "${base[@]}" --shape 8192x1024 --shape 16384x2048 --shape 32768x1024 --shape 8192x4096 --memory-policy system \
      -o "$out/system-after-larger-$i.json" > /dev/null 2>&1
done
python3 "$(dirname "$0")/history_summary.py" "$out"
