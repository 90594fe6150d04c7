"""Does a shorter settling warm-up change what a row measures? Every quick-grid configuration of
the given backends, prepared afresh as a bench worker prepares it (new inputs, calibration), then
sampled under rigor quick's budget after a busy warm-up of 50 ms (bench's SETTLE_S until
session 21, when this script's three runs moved it to 20 ms) or a shorter one, the two interleaved A B B A in one process, REPS times each. Printed per backend:
the median over configurations of log(median short / median 50 ms), its spread, and the
configurations where the short warm-up moved the median by more than 5% (with the ratio of
repeated 50 ms measurements of the same configuration beside it, the noise floor).
    python reports/protocol/settle.py [--short 0.02] [--reps 4] [BACKEND ...]"""
import argparse
import math
import statistics
import time

import normbench
from normbench._timing import bench

ap = argparse.ArgumentParser()
ap.add_argument("backends", nargs="*", default=["numpy", "torch-cpu", "numba"])
ap.add_argument("--short", type=float, default=0.02)
ap.add_argument("--reps", type=int, default=4)
args = ap.parse_args()
reg = normbench.load_plugins()
ops = [reg.op(n) for n in ("batchnorm", "layernorm", "rmsnorm", "groupnorm", "instancenorm")]
todo = [c for op in ops for c in bench.configurations(op, op.grid("quick").shapes(), op.grid("quick").dtypes,
                                                     op.grid("quick").layouts, op.passes)]


def one(b, cfg, settle):
    p = bench.prepare_call(b, cfg.op, cfg.pass_, cfg.shape, cfg.dtype, cfg.layout)
    t0 = time.perf_counter()
    number, _ = bench.calibrate(p)
    t1 = time.perf_counter()
    kept, bench.SETTLE_S = bench.SETTLE_S, settle
    try:
        got = bench.run_samples(p, number, 5, 0.05, warm_s=t1 - t0)
    finally:
        bench.SETTLE_S = kept
    return statistics.median(got["samples"])


print(f"{time.strftime('%Y-%m-%d', time.gmtime())}; settle {args.short * 1e3:g} ms against 50 ms; {args.reps} reps A B B A")
for name in args.backends:
    b = reg.get(name)
    b.set_threads(2)
    shifts, noise, moved = [], [], []
    for cfg in todo:
        if cfg.op.name not in b.ops:
            continue
        try:
            b.prepare(cfg.op.name, cfg.dtype, cfg.layout, len(cfg.shape))
            one(b, cfg, 0.05)  # first touch: lazy imports and JIT loads are not what this compares
        except normbench.Unsupported:
            continue
        long_, short = [], []
        for r in range(args.reps):
            order = [0.05, args.short] if r % 2 == 0 else [args.short, 0.05]
            for s in order + order[::-1]:
                (long_ if s == 0.05 else short).append(one(b, cfg, s))
        d = math.log(statistics.median(short) / statistics.median(long_))
        # the noise floor: two halves of the 50 ms measurements against each other
        half = len(long_) // 2
        n = math.log(statistics.median(long_[:half]) / statistics.median(long_[half:]))
        shifts.append(d)
        noise.append(n)
        if abs(d) > math.log(1.05):
            moved.append(f"{cfg.label()} {math.exp(d):.3f} (noise {math.exp(n):.3f})")
    sd = statistics.pstdev(shifts)
    print(f"{name}: {len(shifts)} configurations; short/50 ms: median {math.exp(statistics.median(shifts)):.3f}, "
          f"mean {math.exp(statistics.fmean(shifts)):.3f}, sd {sd:.3f} (50 ms against itself: sd "
          f"{statistics.pstdev(noise):.3f}); moved by more than 5%: {len(moved)}")
    for m in moved:
        print("   ", m)
