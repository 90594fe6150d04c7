"""How long a conformance run has left: each (backend, op) pair at its own measured pace.

Backends' costs per case differ a hundredfold: a case on NumPy takes milliseconds, one on
torch.compile seconds of code generation, and Numba's first cases compile its kernels. One rate
for every case, taken from the first cases (the compiling backends go first), made ``normbench
run`` predict half an hour for a three-minute phase. Here each backend's seconds per case are its
own, measured per (backend, op) pair as it runs and blended with a prior for the backend's kind
(:data:`PRIOR_CASES` pseudo-cases), so that one slow first case (a worker's start-up) does not set
a pair's pace. A pair not yet started is at its prior, not at its backend's other pairs' pace: a
JIT's first op pays for compiling kernels its later ops reuse (Numba: 0.4 s a case on batch norm,
0.02-0.06 s on the ops after it), so the first pair's pace overstates the rest fivefold.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

#: seconds per case before a backend has measured its own: those that compile every configuration
#: (torch.compile, JAX) and the others (NumPy, Numba, eager PyTorch...), on a 2-core VM
#: (reports/protocol, "The first report")
PRIOR_S = {"compiles": 1.0, "other": 0.05}
#: how many cases' worth of weight the prior keeps against a backend's measured pace
PRIOR_CASES = 40


Pair = tuple[str, str]  # (backend, op)


class Pace:
    """Cases left per (backend, op) pair and the seconds each pair has spent so far.

    ``cases``: the case runs planned per pair; ``compiling``: the backends of the slow kind;
    ``jobs``: pairs checked at once. Thread-safe: pairs report from their own threads."""

    def __init__(self, cases: dict[Pair, int], compiling: set[str], jobs: int,
                 clock: Callable[[], float] = time.monotonic):
        self.left, self.done = dict(cases), {pair: 0 for pair in cases}
        self.prior = {pair: PRIOR_S["compiles" if pair[0] in compiling else "other"] for pair in cases}
        self.jobs, self.clock = max(1, jobs), clock
        #: a started pair's start time, then its seconds once it is finished
        self.start: dict[Pair, float] = {}
        self.spent: dict[Pair, float] = {}
        self.lock = threading.Lock()

    def started(self, pair: Pair) -> None:
        with self.lock:
            self.start[pair] = self.clock()

    def finished(self, pair: Pair) -> None:
        with self.lock:
            self.spent[pair] = self.clock() - self.start[pair]
            self.left[pair] = 0

    def case(self, pair: Pair) -> None:
        with self.lock:
            self.done[pair] += 1
            self.left[pair] = max(0, self.left[pair] - 1)

    def per_case(self, pair: Pair) -> float:
        """The pair's seconds per case: what it has measured, shrunk toward its prior."""
        if pair not in self.start:
            return self.prior[pair]
        spent = self.spent.get(pair, self.clock() - self.start[pair])
        return (spent + self.prior[pair] * PRIOR_CASES) / (self.done[pair] + PRIOR_CASES)

    def seconds_left(self) -> float:
        with self.lock:
            return sum(left * self.per_case(pair) for pair, left in self.left.items() if left) / self.jobs
