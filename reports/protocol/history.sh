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
python3 - "$out" <<'PY'
import json, sys, pathlib, collections
out = pathlib.Path(sys.argv[1])
med = collections.defaultdict(list)
for f in sorted(out.glob("*.json")):
    cond = f.stem.rsplit("-", 1)[0]
    for r in json.loads(f.read_text())["rows"]:
        if r["shape"] == "8192x1024":
            med[(r["backend"], cond)].append((r["median_s"] * 1e3, r["faults_per_call"]))
lines = []
for backend in ("torch-cpu", "numba"):
    default = []
    for cond in ("alone", "after-larger", "user-malloc-env", "system-after-larger"):
        v = med[(backend, cond)]
        if not v:
            continue
        if cond != "system-after-larger":
            default += [m for m, _ in v]
        lines.append(f"{backend:9s} {cond:20s} " + ", ".join(f"{m:.2f} ms" for m, _ in v)
                     + f"  (page faults per call: {', '.join(f'{fa:.0f}' for _, fa in v)})")
    lines.append(f"{backend:9s} default policy: slowest / fastest median = {max(default) / min(default):.2f}")
print("\n".join(lines))
(out / "summary.txt").write_text("\n".join(lines) + "\n")
PY
