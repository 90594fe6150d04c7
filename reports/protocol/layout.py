"""Does torch-cpu's LayerNorm time depend on where its output lands? (reports/protocol/README.md)

    python reports/protocol/layout.py [PROCESSES]      # default 10; from the repository root

Each process is fresh, under normbench's default memory policy (so no call pays page faults),
and prepares LayerNorm forward 8192x1024 float32 on torch-cpu exactly as a bench worker does
(``normbench._timing.bench.prepare_call``), then times it: 15 samples of 20 calls, 2 threads. It prints
the process's median and where the output sits relative to the input, ``(y - x) mod 4096``:
the heap's history (Python's hash seed changes it from process to process) decides that offset,
and with it the time, while the kernel and the data are the same.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys

from normbench._runtime import memory

CHILD = r"""
import inspect, statistics
from normbench._runtime import memory, pluginmanager
from normbench._timing import bench
memory.apply("reuse")
reg = pluginmanager.load()
be, op = reg.backends["torch-cpu"].backend, reg.ops["layernorm"].op
be.set_threads(2)
p = bench.prepare_call(be, op, "forward", (8192, 1024), "float32", "contiguous")
for _ in range(20):
    p.call()
ts = [bench._sample(p.call, be.synchronize, 20) for _ in range(15)]
x = inspect.getclosurevars(p.call).nonlocals["x"]  # the call's input; its output is the first array returned
y = p.call()[0]
print(f"{statistics.median(ts) * 1e3:.3f} {(y.data_ptr() - x.data_ptr()) % 4096}")
"""


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    env = memory.worker_env("reuse", dict(os.environ))  # as a bench worker starts
    times = []
    for _ in range(n):
        out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
        ms, offset = out.stdout.split()
        times.append(float(ms))
        print(f"{float(ms):6.2f} ms   (y - x) mod 4096 = {offset}", flush=True)
    print(f"{n} processes: {min(times):.2f}-{max(times):.2f} ms, median {statistics.median(times):.2f} ms, "
          f"slowest / fastest {max(times) / min(times):.2f}")


if __name__ == "__main__":
    main()
