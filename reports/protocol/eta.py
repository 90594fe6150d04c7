"""How right was a run's ETA? Reads the log of a `normbench run` wrapped in `/usr/bin/time -v`.

    python reports/protocol/eta.py LOG

For every progress line after the first tenth of the run: the run time it predicts (elapsed +
ETA) against the real one, and the time it says is left against what was left.
"""
import re, sys
log = open(sys.argv[1]).read()
m = re.search(r"; report in .* after (\d+):(\d+)", log)  # normbench run's own time, installs not included
if m:
    total = int(m.group(1)) * 60 + int(m.group(2))
else:
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\d+):(\d+\.\d+)", log)
    total = int(m.group(1)) * 60 + float(m.group(2))
worst = 0; n = 0; bad = 0; worst_total = 0; bad_total = 0
by_phase: dict = {}
for line in log.splitlines():
    mm = re.search(r"(\d+):(\d+) elapsed, ETA (\d+):(\d+) for the run", line)
    if not mm: continue
    el = int(mm.group(1))*60+int(mm.group(2)); eta = int(mm.group(3))*60+int(mm.group(4))
    if el < total/10: continue
    err = (el+eta - total)/(total-el)  # relative to the time that was left
    n += 1; bad += abs(err) > 0.25; worst = max(worst, abs(err), key=abs)
    et = (el+eta-total)/total; bad_total += abs(et) > 0.25; worst_total = max(worst_total, abs(et))
    phase = re.search(r"phase \d/\d (\w+)", line)
    p = by_phase.setdefault(phase.group(1) if phase else "?", [0, 0, 0.0])
    p[0] += 1; p[1] += abs(et) > 0.25; p[2] = max(p[2], abs(et))
print(f"total {total:.0f}s; {n} ETA lines after the first tenth: predicted run time off by more than 25% in {bad_total} (worst {worst_total:.0%}); time left off by more than 25% in {bad} (worst {worst:.0%})")
print("  by phase: " + "; ".join(f"{k}: {v[1]} of {v[0]} lines off by more than 25% (worst {v[2]:.0%})" for k, v in by_phase.items()))
