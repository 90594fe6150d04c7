"""The element-wise closeness test every op's tolerances use (each op supplies its own scales).

An element passes when ``|actual - ref| <= atol * S + rtol * |ref| + K * eps(dtype) * C``:
``rtol``/``atol`` are ``torch.testing.assert_close``'s defaults for the output's dtype
(:data:`BASE`, never widened to let an implementation pass); ``S`` is the natural size of the
output where the element lives (floored at 1); ``C`` is the rounding no algorithm can avoid
(condition number times the scale the error is carried into). ``S`` and ``C`` come from the
op's own tolerance module, broadcastable to the output. Non-finite values must appear exactly
where the reference has them.

Saved statistics (mean, rstd / invstd, rrms) are judged with ``floor=0``: their ``S`` is their
own natural size (the std for a mean, 0 for an inverse root, leaving ``rtol * |ref|`` and the
conditioning term), so an rstd of 0 where the reference is 1e-20 fails, where a floor of 1
would admit any value below 1e-5.
"""
from __future__ import annotations

import numpy as np

from .dtypes import MACHINE_EPS
from .results import Comparison

#: (rtol, atol) by dtype: torch.testing.assert_close's defaults
BASE: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-7),
    "float32": (1.3e-6, 1e-5),
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
}
#: "single digits" of eps times the condition (docs/semantics.md)
K = 4.0
#: largest finite value of each dtype: a reference value beyond it is +-inf in that dtype
MAX = {"float64": float(np.finfo(np.float64).max), "float32": float(np.finfo(np.float32).max),
       "float16": 65504.0, "bfloat16": 3.3895313892515355e38}


def compare_arrays(
    output: str,
    actual: np.ndarray,
    ref: np.ndarray,
    dtype: str,
    *,
    scale: np.ndarray | float = 1.0,
    cond_err: np.ndarray | float = 0.0,
    floor: float = 1.0,
) -> Comparison:
    """Compare one output; ``scale`` and ``cond_err`` broadcast against ``ref``; ``scale`` is
    raised to at least ``floor`` (1 for outputs; 0 for saved statistics, judged relative)."""
    actual = np.asarray(actual, dtype=np.float64)
    if actual.shape != ref.shape:
        return Comparison(output, False, np.inf, np.inf, np.inf, f"shape {actual.shape}, expected {ref.shape}")
    rtol, atol = BASE[dtype]
    eps = MACHINE_EPS[dtype]
    scale = np.maximum(np.nan_to_num(np.asarray(scale, dtype=np.float64)), floor)
    cond_err = np.nan_to_num(np.asarray(cond_err, dtype=np.float64), posinf=0.0)
    with np.errstate(invalid="ignore"):  # what the exact value is once stored in ``dtype``
        ref = np.where(np.abs(ref) > MAX[dtype], np.sign(ref) * np.inf, ref)
    ref_finite, act_finite = np.isfinite(ref), np.isfinite(actual)
    bad_mask = ref_finite != act_finite
    if bad_mask.any():
        where = np.argwhere(bad_mask)[0]
        return Comparison(
            output, False, np.inf, np.inf, np.inf,
            f"non-finite mismatch at index {tuple(int(i) for i in where)}: got {actual[tuple(where)]}, expected {ref[tuple(where)]}"
            f" ({int(bad_mask.sum())} elements)",
        )
    if not ref_finite.any():
        return Comparison(output, True, 0.0, 0.0, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(ref_finite, np.abs(actual - ref), 0.0)
        tol = atol * scale + rtol * np.abs(np.where(ref_finite, ref, 0.0)) + K * eps * cond_err
        # a tolerance of 0 (a saved statistic where the reference is non-finite or exactly 0) admits only err = 0
        ratio = np.divide(err, tol, out=np.where(err > 0, np.inf, 0.0), where=tol > 0)
        denom = np.maximum(np.abs(np.where(ref_finite, ref, 0.0)), atol * floor)  # relative to a statistic's own size
        rel = np.divide(err, denom, out=np.where(err > 0, np.inf, 0.0), where=denom > 0)
    worst = float(np.max(ratio)) if ratio.size else 0.0
    return Comparison(
        output,
        worst <= 1.0,
        float(np.max(err)) if err.size else 0.0,
        float(np.max(np.where(ref_finite, rel, 0.0))) if rel.size else 0.0,
        worst,
    )
