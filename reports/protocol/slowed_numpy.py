"""A backend ("subject") that is NumPy slowed by an exact factor, for the timing protocol's A/A
and A/B checks (reports/protocol/ab.sh): NORMBENCH_SLOWDOWN=1.3 makes every call spin for
0.3x its own time after it returns, so the true B/A ratio is known. A spin, not a sleep: a sleep
of tens of microseconds overshoots by more than that.

    normbench bench --plugin slowed_numpy --backend subject ...   (with this folder on PYTHONPATH)
"""
from __future__ import annotations

import functools
import inspect
import os
import time

import normbench
from normbench_numpy import NumpyBackend

FACTOR = float(os.environ.get("NORMBENCH_SLOWDOWN", "1"))


def _slowed(f):
    @functools.wraps(f)
    def call(*args, **kwargs):
        t0 = time.perf_counter()
        out = f(*args, **kwargs)
        end = time.perf_counter() + (FACTOR - 1) * (time.perf_counter() - t0)
        while time.perf_counter() < end:
            pass
        return out

    return call


class Subject(NumpyBackend):
    name = "subject"
    description = f"NumPy, every call slowed {FACTOR:g}x (NORMBENCH_SLOWDOWN)"


for _name in [m for m in dir(NumpyBackend) if m.split("_")[0] in NumpyBackend.ops]:
    _raw = inspect.getattr_static(NumpyBackend, _name)
    if isinstance(_raw, staticmethod):
        setattr(Subject, _name, staticmethod(_slowed(_raw.__func__)))
    elif callable(_raw):
        setattr(Subject, _name, _slowed(_raw))


@normbench.hookimpl
def normbench_backends():
    return [Subject()]
