"""A backend ("subject") that is NumPy slowed by an exact factor, for the timing protocol's A/A
and A/B checks (reports/protocol/ab.sh, power.sh): NORMBENCH_SLOWDOWN=1.3 makes every call spin
for 0.3x its own time after it returns, so the true B/A ratio is known. A spin, not a sleep: a
sleep of tens of microseconds overshoots by more than that.

    normbench bench --plugin slowed_numpy --backend subject ...   (with this folder on PYTHONPATH)

NORMBENCH_SUBJECTS="a=1,b=1.3" registers one backend per entry instead, ``subject-a`` (1x) and
``subject-b`` (1.3x), so two versions are timed in one run (``normbench ab subject-a subject-b``).
"""
from __future__ import annotations

import functools
import inspect
import os
import time

import normbench
from normbench_numpy import NumpyBackend

FACTOR = float(os.environ.get("NORMBENCH_SLOWDOWN", "1"))


def _slowed_class(name: str, factor: float) -> type:
    def wrap(f):
        @functools.wraps(f)
        def call(*args, **kwargs):
            t0 = time.perf_counter()
            out = f(*args, **kwargs)
            end = time.perf_counter() + (factor - 1) * (time.perf_counter() - t0)
            while time.perf_counter() < end:
                pass
            return out

        return call

    cls = type(f"Subject_{name}", (NumpyBackend,), {"name": name, "description": f"NumPy, every call slowed {factor:g}x"})
    for attr in [m for m in dir(NumpyBackend) if m.split("_")[0] in NumpyBackend.ops]:
        raw = inspect.getattr_static(NumpyBackend, attr)
        if isinstance(raw, staticmethod):
            setattr(cls, attr, staticmethod(wrap(raw.__func__)))
        elif callable(raw):
            setattr(cls, attr, wrap(raw))
    return cls


def _subjects() -> list:
    spec = os.environ.get("NORMBENCH_SUBJECTS", "")
    if not spec:
        return [_slowed_class("subject", FACTOR)()]
    out = []
    for item in spec.split(","):
        label, _, factor = item.partition("=")
        out.append(_slowed_class(f"subject-{label.strip()}", float(factor))())
    return out


@normbench.hookimpl
def normbench_backends():
    return _subjects()
