#!/usr/bin/env bash
# The README's quick start, as a new user runs it: a fresh clone of this repository, its set-up
# and `normbench run` exactly as the README has them, timed end to end, N times in a row.
#   bash reports/protocol/first-report.sh OUT_DIR [N]     # from the repository root; default N = 3
# Writes OUT_DIR/run-K.log (the command's output under /usr/bin/time -v) and OUT_DIR/summary.txt
# (wall time, the benchmarks' processes and rounds, unstable rows by cause, the ETA's accuracy).
# The report of the last run is left in OUT_DIR/report (copy it to reports/latest to publish it).
# Each run starts with empty caches, as a new user's machine has them: its own TMPDIR (Inductor's
# generated code and compiled kernels, /tmp/torchinductor_$USER otherwise, would carry over from
# the run before) and XDG_CACHE_HOME (pip's and matplotlib's caches); Numba's cache is in the clone.
set -euo pipefail
out=$(realpath -m "${1:?usage: first-report.sh OUT_DIR [N]}"); n=${2:-3}
repo=$(git rev-parse --show-toplevel)
here="$repo/reports/protocol"
mkdir -p "$out"
# the README's set-up-and-run command, as written (the line after "Set up and run the whole product")
cmd=$(awk '/^```bash$/{f=1;next} f&&/normbench run/{print;exit}' "$repo/README.md")
: > "$out/summary.txt"
for k in $(seq 1 "$n"); do
  clone=$(mktemp -d /tmp/normbench-fresh-XXXX)
  git clone -q "$repo" "$clone"
  mkdir "$clone.tmp" "$clone.cache"
  (cd "$clone" && TMPDIR="$clone.tmp" XDG_CACHE_HOME="$clone.cache" /usr/bin/time -v bash -c "$cmd" > "$out/run-$k.log" 2>&1) \
    || echo "run $k failed" >> "$out/summary.txt"
  wall=$(grep "Elapsed (wall clock)" "$out/run-$k.log" | awk '{print $NF}')
  {
    echo "run $k ($(date -u +%Y-%m-%dT%H:%MZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores): $wall end to end"
    grep -E "processes in .* rounds|measurements unstable|measurements, .* skipped" "$out/run-$k.log" | sed 's/^/  /'
    python3 "$here/eta.py" "$out/run-$k.log" | sed 's/^/  ETA: /'
  } >> "$out/summary.txt"
  rm -rf "$out/report"; cp -r "$clone/normbench-report" "$out/report" 2>/dev/null || true
  rm -rf "$clone" "$clone.tmp" "$clone.cache"
done
cat "$out/summary.txt"
