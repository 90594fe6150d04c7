"""Would `bench` rows replicate better if a worker took its configurations' samples in turn?
(issue 40, session 20: the question `ab`'s interleaving raises for every row.)

`ab` stopped missing slowdowns once its two versions' samples alternated one at a time: this VM
runs for 0.1-1 s stretches at a slower level (stretches.py), and a row whose samples are taken
in one 100 ms burst takes a stretch whole. Here, NumPy on CONFIGS (small to large, from the
quick grid), in P fresh processes of each design, alternating:
  - sequential: per configuration, in a random order, prepare, then run_samples (a 50 ms busy
    warm-up, samples until 5 and 50 ms): what a bench worker does today;
  - round-robin: prepare every configuration, one 50 ms warm-up cycling through them, then one
    untimed call and one sample of each configuration in turn until each has 5 samples and
    50 ms: a row's samples then span the whole process.
Every process starts under bench's memory policy (``reuse``). Prints, per configuration and design, the median over processes of the process medians and the
spread between processes (sd of log process medians), as a bench row would see them; and the same
for each process's fastest sample (the estimator of Chen and Revels, 2016, for noise that only
ever adds time).
    python reports/protocol/roundrobin.py [P]"""
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time

CONFIGS = [("batchnorm", "train", (4, 64, 14, 14)), ("batchnorm", "eval", (8, 64, 56, 56)),
           ("layernorm", "forward", (256, 1024)), ("layernorm", "backward", (256, 1024)),
           ("layernorm", "forward", (2048, 4096)), ("rmsnorm", "forward", (256, 1024)),
           ("groupnorm", "forward", (8, 64, 28, 28)), ("instancenorm", "train", (8, 64, 28, 28))]
MIN_SAMPLES, BUDGET_S = 5, 0.05


def child(design: str, seed: int) -> None:
    import normbench
    from normbench._timing import contention
    from normbench._timing.bench import PAD_BASE, SETTLE_S, _sample, prepare_timing, run_samples

    rng = random.Random(seed)
    reg = normbench.load_plugins()
    b = reg.get("numpy")
    b.set_threads(1)
    order = list(range(len(CONFIGS)))
    rng.shuffle(order)
    out = {}
    if design == "sequential":
        for i in order:
            op, pass_, shape = CONFIGS[i]
            t, _ = prepare_timing(b, reg.op(op), pass_, shape, "float32", "contiguous", 64 * rng.randrange(64))
            got = run_samples(t["prepared"], t["number"], MIN_SAMPLES, BUDGET_S)["samples"]
            out[i] = (statistics.median(got), min(got))
            t = None
    else:
        ts = {}
        for i in order:
            op, pass_, shape = CONFIGS[i]
            ts[i], _ = prepare_timing(b, reg.op(op), pass_, shape, "float32", "contiguous", 64 * rng.randrange(64))
        end = time.perf_counter() + SETTLE_S
        while time.perf_counter() < end:
            for i in order:
                ts[i]["prepared"].call()
        kept = {i: [] for i in order}
        left = list(order)
        while left:
            for i in list(left):
                p, number = ts[i]["prepared"], ts[i]["number"]
                p.call()  # untimed: the previous configuration's data was in the cache
                a = contention.read()
                s = _sample(p.call, p.backend.synchronize, number)
                if not contention.between(a, contention.read()).contended:
                    kept[i].append(s)
                if len(kept[i]) >= MIN_SAMPLES and sum(kept[i]) * number >= BUDGET_S:
                    left.remove(i)
        out = {i: (statistics.median(v), min(v)) for i, v in kept.items()}
    print(json.dumps(out))


def main() -> None:
    from normbench._runtime.memory import DEFAULT, worker_env

    env = {**worker_env(DEFAULT), "OMP_NUM_THREADS": "1"}  # bench's memory policy, as its workers start
    procs = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    got = {"sequential": [], "round-robin": []}
    t0 = time.perf_counter()
    for k in range(procs):
        for design in (("sequential", "round-robin") if k % 2 == 0 else ("round-robin", "sequential")):
            p = subprocess.run([sys.executable, __file__, "--child", design, str(k)], capture_output=True, text=True,
                               check=True, env=env)
            got[design].append({int(i): v for i, v in json.loads(p.stdout.splitlines()[-1]).items()})
    print(f"{procs} processes of each design, alternating, {time.perf_counter() - t0:.0f} s in all")
    print("per configuration and design: the median over processes of each process's median (and of its "
          "fastest sample), and the sd between processes of their log")
    print(f"{'configuration':36s} {'sequential: median, sd; fastest, sd':>38s} {'round-robin: median, sd; fastest, sd':>40s}")
    sds = {(d, k): [] for d in got for k in (0, 1)}
    for i, (op, pass_, shape) in enumerate(CONFIGS):
        cells = []
        for design, runs in got.items():
            cell = []
            for k in (0, 1):
                vals = [r[i][k] for r in runs]
                sd = statistics.stdev(math.log(m) for m in vals)
                sds[design, k].append(sd)
                cell.append(f"{statistics.median(vals) * 1e6:8.1f} us {sd:5.3f}")
            cells.append("; ".join(cell))
        print(f"{op + ' ' + pass_ + ' ' + 'x'.join(map(str, shape)):36s} {cells[0]:>38s} {cells[1]:>40s}")
    print("median sd between processes: " + ", ".join(f"{d} {('median', 'fastest')[k]} {statistics.median(v):.3f}"
                                                     for (d, k), v in sds.items()))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
