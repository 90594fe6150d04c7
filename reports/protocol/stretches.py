"""Does the machine run a call at one speed? One prepared call (NumPy's batch norm, train,
2x4x4x4 float32, one thread: a 27 us call), timed in consecutive 25 ms turns for SECONDS
in one process, as `ab`'s turns took them in 0.15: each turn's median per call and when it
started. A quiet machine gives one level; this project's VMs give stretches at discrete slower
levels, with no run delay to show for them (the turn's contended samples are counted too).
Why `ab` interleaves its two versions one sample at a time (issue 40, session 20).
    python reports/protocol/stretches.py [SECONDS]"""
import statistics
import sys
import time

import normbench
from normbench._timing.bench import prepare_timing, run_samples

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
reg = normbench.load_plugins()
b = reg.get("numpy")
b.set_threads(1)
t, _ = prepare_timing(b, reg.op("batchnorm"), "train", (2, 4, 4, 4), "float32", "contiguous", None)
t0 = time.perf_counter()
meds = []
while time.perf_counter() - t0 < seconds:
    at = time.perf_counter() - t0
    got = run_samples(t["prepared"], t["number"], 4, 0.025)
    m = statistics.median(got["samples"]) * 1e6
    meds.append(m)
    print(f"{at:6.3f} s  {m:6.1f} us  ({len(got['samples'])} samples, {got['set_aside']} set aside as contended)")
low = min(meds)
slow = [m for m in meds if m > 1.25 * low]
print(f"{len(meds)} turns; fastest {low:.1f} us; {len(slow)} turns over 1.25x it "
      f"({', '.join(f'{m / low:.2f}x' for m in sorted(slow)[:: max(1, len(slow) // 8)])})")
