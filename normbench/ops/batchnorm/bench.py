"""Benchmark set-up of one batch-norm pass on a backend: data made and converted, untimed."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...dtypes import cast_host, param_dtype, to_layout
from .cases import NAME


def bench_call(backend: Any, pass_: str, shape: tuple[int, ...], dtype: str, layout: str, seed: int = 0) -> Callable[[], Any]:
    """The call to time for ``pass_``: train (with running statistics), eval, or backward from
    the saved statistics of one untimed training forward."""
    rng = np.random.default_rng(seed)
    channels = shape[1]
    pdt = param_dtype(dtype)

    def host(a, dt=dtype):
        return to_layout(cast_host(a, dt), layout) if a.ndim > 1 else cast_host(a, dt)

    b = backend
    x = b.from_numpy(host(rng.standard_normal(shape, dtype=np.float32)), dtype)
    w = b.from_numpy(host(rng.uniform(0.5, 1.5, channels), pdt), pdt)
    bias = b.from_numpy(host(rng.uniform(-1, 1, channels), pdt), pdt)
    rm = b.from_numpy(host(np.zeros(channels), pdt), pdt)
    rv = b.from_numpy(host(np.ones(channels), pdt), pdt)
    if pass_ == "eval":  # eval-only backends have no train pass
        run_eval = b.kernel(NAME, "eval")
        return lambda: run_eval(x, w, bias, rm, rv, eps=1e-5)
    train = b.kernel(NAME, "train")
    if pass_ == "train":
        return lambda: train(x, w, bias, rm, rv, momentum=0.1, eps=1e-5, num_batches_tracked=1)
    backward = b.kernel(NAME, "backward")
    _, mean, invstd = train(x, w, bias, None, None, momentum=0.1, eps=1e-5, num_batches_tracked=1)
    dy = b.from_numpy(host(rng.standard_normal(shape, dtype=np.float32)), dtype)
    return lambda: backward(dy, x, w, mean, invstd, eps=1e-5)
