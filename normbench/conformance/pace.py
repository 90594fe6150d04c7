"""How long a conformance run has left: each backend at its own measured pace.

Backends' costs per case differ a hundredfold: a case on NumPy takes milliseconds, one on
torch.compile seconds of code generation, and Numba's first cases compile its kernels. One rate
for every case, taken from the first cases (the compiling backends go first), made ``normbench
run`` predict half an hour for a three-minute phase. Here each backend's seconds per case are its
own, measured as its pairs run, and blended with a prior for its kind (:data:`PRIOR_CASES`
pseudo-cases), so that one slow first case (a worker's start-up) does not set a backend's pace.
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


class Pace:
    """Cases left per backend and the seconds each backend has spent on its cases so far.

    ``cases``: the case runs planned per backend; ``compiling``: the backends of the slow kind;
    ``jobs``: pairs checked at once. Thread-safe: pairs report from their own threads."""

    def __init__(self, cases: dict[str, int], compiling: set[str], jobs: int,
                 clock: Callable[[], float] = time.monotonic):
        self.left, self.done = dict(cases), {name: 0 for name in cases}
        self.prior = {name: PRIOR_S["compiles" if name in compiling else "other"] for name in cases}
        self.jobs, self.clock = max(1, jobs), clock
        #: per backend: the seconds of its finished pairs minus the start times of its running ones
        self.spent = {name: 0.0 for name in cases}
        self.running = {name: 0 for name in cases}
        self.lock = threading.Lock()

    def started(self, name: str) -> None:
        with self.lock:
            self.spent[name] -= self.clock()
            self.running[name] += 1

    def finished(self, name: str) -> None:
        with self.lock:
            self.spent[name] += self.clock()
            self.running[name] -= 1

    def case(self, name: str) -> None:
        with self.lock:
            self.done[name] += 1
            self.left[name] = max(0, self.left[name] - 1)

    def per_case(self, name: str) -> float:
        """The backend's seconds per case: what it has measured, shrunk toward its prior."""
        spent = self.spent[name] + self.running[name] * self.clock()
        return (spent + self.prior[name] * PRIOR_CASES) / (self.done[name] + PRIOR_CASES)

    def seconds_left(self) -> float:
        with self.lock:
            return sum(left * self.per_case(name) for name, left in self.left.items() if left) / self.jobs
