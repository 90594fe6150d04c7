"""``@quiet``: run a kernel with NumPy's floating-point warnings off (Inf/NaN inputs are legitimate
test data and propagate to their channel, row or group silently).

A fresh ``np.errstate`` per call, not one module-level object used as a decorator: on NumPy 2 an
errstate object cannot be entered again while it is active, so a decorated function that calls
another (or a plugin reusing the object) raises.
"""
from __future__ import annotations

import functools

import numpy as np


def quiet(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return f(*args, **kwargs)
    return wrapper
