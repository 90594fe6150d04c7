#!/usr/bin/env bash
# The conformance suite's power, as a generated file: every op's kill matrix (normbench selftest)
# with the date, the commit and the machine, and the case count of each op and group.
#   bash reports/conformance/selftest.sh            # from the repository root, quick start's venv
set -euo pipefail
repo=$(git rev-parse --show-toplevel)
out="$repo/reports/conformance/selftest.txt"
py="$repo/.venv/bin/python"
{
  echo "# normbench selftest: cases caught per wrong backend and case group"
  echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$repo" rev-parse --short HEAD), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo "# (the wrong backends are NumPy float64 kernels: the matrix depends on the cases, not on the machine)"
  echo
  "$py" - <<'PY'
from collections import Counter
from normbench._runtime.discovery import discover
for op in discover(()).select_ops([]):
    cases = op.cases()
    groups = Counter(c.group for c in cases)
    print(f"{op.name}: {len(cases)} cases: " + ", ".join(f"{g} {n}" for g, n in groups.items()))
PY
  echo
  /usr/bin/time -f "# selftest took %e s" "$repo/.venv/bin/normbench" selftest 2>&1
} > "$out"
tail -3 "$out"
