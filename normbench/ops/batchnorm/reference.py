"""Float64 reference for batch normalization: the oracle of every check.

Pure functions over NumPy arrays (they never mutate their inputs). Two-pass statistics in
float64: the mean first, then the mean of squared deviations, which stays accurate when
|mean| >> std where ``E[x^2] - E[x]^2`` would not. Not a benchmark contender.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import InputError


def momentum_factor(momentum: float | None, num_batches_tracked: int) -> float:
    """The exponential-average factor PyTorch uses: momentum, or 1/num_batches_tracked if None."""
    if momentum is None:
        return 1.0 / max(num_batches_tracked, 1)
    return float(momentum)


def unbiased_running_var(updated, old, factor: float, m: int):
    """PyTorch's running variance from one that was updated with the *biased* batch variance.

    Keras, Flax and ONNX training mode update ``updated = (1 - factor) * old + factor * v_b`` with the
    population variance ``v_b``; PyTorch uses ``v_b * m / (m - 1)`` (m values per channel). So
    ``v_b = (updated - (1 - factor) * old) / factor`` and PyTorch's value is
    ``updated + (updated - (1 - factor) * old) / (m - 1)``: computed from the implementation's own
    output (no division by ``factor``, so 0 is fine). Plain arithmetic: NumPy, torch, JAX and
    TensorFlow arrays alike."""
    return updated + (updated - (1.0 - factor) * old) / (m - 1)


def reduce_axes(ndim: int) -> tuple[int, ...]:
    """Every axis but the channel axis (1)."""
    return (0, *range(2, ndim))


def channel_view(v: np.ndarray, ndim: int) -> np.ndarray:
    """Per-channel vector (C,) shaped to broadcast against (N, C, ...)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


@dataclass
class TrainResult:
    y: np.ndarray
    save_mean: np.ndarray
    save_invstd: np.ndarray
    running_mean: np.ndarray | None
    running_var: np.ndarray | None
    #: the batch variance (biased) per channel, for tolerances
    var: np.ndarray


def _f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def train_forward(
    x: np.ndarray,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    running_mean: np.ndarray | None = None,
    running_var: np.ndarray | None = None,
    *,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    num_batches_tracked: int = 1,
    convention: str = "pytorch",
) -> TrainResult:
    """Training forward; returns outputs and the *new* running statistics (inputs untouched).

    ``convention="keras"`` is the Keras/Flax one, explicitly: ``momentum`` is the weight of the
    *old* value (0.99 typically) and the moving variance takes the biased batch variance.
    """
    if convention not in ("pytorch", "keras"):
        raise InputError(f"unknown momentum convention {convention!r}; expected 'pytorch' or 'keras'")
    if convention == "keras" and momentum is None:
        raise InputError("momentum=None (cumulative average) is a PyTorch convention; Keras needs a number")
    x = _f64(x)
    n_channels = x.shape[1]
    m = x.size // n_channels if n_channels else 0
    rm, rv = _f64(running_mean), _f64(running_var)
    if x.size == 0:  # PyTorch: empty output, running stats untouched, no statistics
        nan = np.full(n_channels, np.nan)
        return TrainResult(x.copy(), nan, nan, None if rm is None else rm.copy(), None if rv is None else rv.copy(), nan)
    if m <= 1:
        raise InputError(
            f"Expected more than 1 value per channel when training, got input of shape {tuple(x.shape)}"
        )
    axes = reduce_axes(x.ndim)
    with np.errstate(divide="ignore", invalid="ignore"):  # Inf/NaN inputs propagate per channel
        mean = x.mean(axis=axes)
        centered = x - channel_view(mean, x.ndim)
        var = np.mean(centered * centered, axis=axes)
        invstd = 1.0 / np.sqrt(var + eps)
        y = _affine(centered * channel_view(invstd, x.ndim), _f64(weight), _f64(bias))
    new_rm = new_rv = None
    if rm is not None:
        if convention == "keras":
            factor, batch_var = 1.0 - float(momentum), var
        else:
            factor, batch_var = momentum_factor(momentum, num_batches_tracked), var * (m / (m - 1))
        new_rm = (1.0 - factor) * rm + factor * mean
        new_rv = (1.0 - factor) * rv + factor * batch_var
    return TrainResult(y, mean, invstd, new_rm, new_rv, var)


def _affine(xhat: np.ndarray, weight, bias) -> np.ndarray:
    if weight is not None:
        xhat = xhat * channel_view(weight, xhat.ndim)
    if bias is not None:
        xhat = xhat + channel_view(bias, xhat.ndim)
    return xhat


def eval_forward(x, weight, bias, running_mean, running_var, *, eps: float = 1e-5) -> np.ndarray:
    """Inference forward with running statistics."""
    x = _f64(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        invstd = 1.0 / np.sqrt(_f64(running_var) + eps)
        xhat = (x - channel_view(_f64(running_mean), x.ndim)) * channel_view(invstd, x.ndim)
        return _affine(xhat, _f64(weight), _f64(bias))


def backward(dy, x, weight, save_mean, save_invstd, *, eps: float = 1e-5):
    """Training-mode backward: (dx, dweight, dbias); the two last are None without weight."""
    dy, x = _f64(dy), _f64(x)
    n_channels = x.shape[1]
    if x.size == 0:
        zeros = np.zeros(n_channels)
        return x.copy(), (zeros if weight is not None else None), (zeros.copy() if weight is not None else None)
    axes = reduce_axes(x.ndim)
    m = x.size // n_channels
    mean, invstd = _f64(save_mean), _f64(save_invstd)
    w = np.ones(n_channels) if weight is None else _f64(weight)
    with np.errstate(invalid="ignore"):
        xhat = (x - channel_view(mean, x.ndim)) * channel_view(invstd, x.ndim)
        sum_dy = dy.sum(axis=axes)
        sum_dy_xhat = (dy * xhat).sum(axis=axes)
        dx = channel_view(w * invstd / m, x.ndim) * (
            m * dy - channel_view(sum_dy, x.ndim) - xhat * channel_view(sum_dy_xhat, x.ndim)
        )
    if weight is None:
        return dx, None, None
    return dx, sum_dy_xhat, sum_dy
