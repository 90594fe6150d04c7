"""Batch norm's conformance steps for the one checker: references, data and tolerances.

Tolerances (the terms :func:`normbench.closeness.compare_arrays` takes): an element passes when
``|actual - ref| <= atol * S + rtol * |ref| + K * eps(dtype) * cond * T``:

* ``rtol``/``atol`` are ``torch.testing.assert_close``'s defaults for the output's dtype
  (table :data:`normbench.closeness.BASE`), unchanged.
* ``S`` is the natural size of the output in that channel (so atol means "1e-5 of the output's
  scale", not of 1): the channel RMS of y; for dx the size of the terms it cancels,
  ``|w| * invstd * rms(dy)`` (with m = 2, dx is exactly 0 but its terms are not); the L2 norm of
  the summed terms for dweight (``dy * xhat``) and dbias (``dy``), since a float32 sum's rounding
  grows with it; the channel std for the means. Never below 1, except for the saved
  statistics, judged relative to their own size (``save_invstd``: ``S = 0``, so
  ``rtol * |ref|`` plus the conditioning term; ``save_mean``: the channel std, unfloored).
* The last term admits the rounding no algorithm can avoid when |x| >> std: the mean kept in
  the compute dtype is off by about eps(dtype) * |x|, which ``invstd`` magnifies. ``cond`` is
  ``max|x_c| * invstd_c`` per channel, ``T`` the scale that error is carried into, and
  ``K = 4`` (docs/semantics.md: "single digits"). For well-conditioned data this term is at the
  level of ``atol``; at x = 1e4 + N(0, 1) in float32 it admits ~5e-3 in y, which still fails
  a one-pass ``E[x^2] - E[x]^2`` (error of order 1) and PyTorch's CPU channels_last kernel
  (~1e-2 and growing with the size).

Non-finite values must appear exactly where the reference has them (NaN/Inf propagate to their
channel only); finite ones are compared as above.
"""
from __future__ import annotations

import numpy as np

from ...conformance.spec import Arg, Out, Raises, Saved, State, Step
from ...dtypes import MACHINE_EPS, param_dtype
from . import reference
from .cases import Case, make_data
from .reference import reduce_axes


def plan(case: Case, passes: tuple[str, ...]) -> list[Step]:
    """The checker's steps for ``case``: ``case.steps`` training forwards (y, saved statistics and
    the running statistics after each), an eval forward from the running statistics reached, and
    a backward from the last step's saved statistics (or the reference's)."""
    data = make_data(case)
    pdt = param_dtype(case.dtype)  # dtype of parameters and statistics, and of their tolerances
    channels, shape = case.shape[1], case.shape
    w_abs = np.abs(np.asarray(data.weight, np.float64)) if data.weight is not None else 1.0
    running = data.running_mean is not None
    weight, bias = Arg("weight", data.weight, pdt), Arg("bias", data.bias, pdt)
    rm, rv = State("running_mean", data.running_mean, pdt), State("running_var", data.running_var, pdt)
    rm_ref, rv_ref = data.running_mean, data.running_var
    last_ref = None  # the reference TrainResult of the last training step
    steps: list[Step] = []

    if "train" in passes:
        for step, x in enumerate(data.xs, start=1):
            tag = f"step {step}"
            kwargs = {"momentum": case.momentum, "eps": case.eps, "num_batches_tracked": step}
            args = (Arg("x", x, case.dtype), weight, bias, rm, rv)
            mutates = frozenset({"running_mean", "running_var"})
            if case.expect == "error":
                steps.append(Step(f"train ({tag})", "train", args, kwargs, mutates=mutates,
                                  returns=(Out("y"), Out("save_mean"), Out("save_invstd")),
                                  raises=Raises(f"m = 1 in training (shape {shape})", ("value", "channel", "batch", "size"))))
                return steps
            ref = reference.train_forward(
                x, data.weight, data.bias, rm_ref, rv_ref, momentum=case.momentum, eps=case.eps, num_batches_tracked=step)
            if case.expect == "empty":  # no statistics from an empty batch: y's shape, and the running stats untouched
                why = "an empty batch must leave running statistics untouched"
                outs = (Out("y", case.dtype, shape), Out("save_mean", checked=False), Out("save_invstd", checked=False))
                after = (Out("running_mean", pdt, (channels,), exact=rm_ref, exact_why=why),
                         Out("running_var", pdt, (channels,), exact=rv_ref, exact_why=why)) if running else ()
            else:
                absmax = channel_absmax(np.asarray(x, np.float64))
                cond = absmax * ref.save_invstd
                std = np.sqrt(ref.var)
                outs = (Out("y", case.dtype, shape, ref.y, **_tol(ref.y, channel_rms(ref.y), cond * w_abs)),
                        Out("save_mean", pdt, (channels,), ref.save_mean, scale=std, cond_err=absmax, stat=True),
                        Out("save_invstd", pdt, (channels,), ref.save_invstd, scale=0.0,
                            cond_err=ref.save_invstd * (1 + MACHINE_EPS[pdt] * cond**2), stat=True))
                after = (Out("running_mean", pdt, (channels,), ref.running_mean, scale=std, cond_err=absmax),
                         Out("running_var", pdt, (channels,), ref.running_var,
                             cond_err=np.abs(ref.running_var) * (1 + MACHINE_EPS[pdt] * cond**2))) if running else ()
                rm_ref, rv_ref = ref.running_mean, ref.running_var
            last_ref = ref
            steps.append(Step(f"train ({tag})", "train", args, kwargs, returns=outs, mutates=mutates, states_after=after,
                              tag=tag))

    if "eval" in passes and case.running:
        # with train unsupported, eval runs on the initial statistics
        x = data.xs[-1]
        ref_y = reference.eval_forward(x, data.weight, data.bias, rm_ref, rv_ref, eps=case.eps)
        invstd_r = 1.0 / np.sqrt(np.asarray(rv_ref, np.float64) + case.eps)
        cond = channel_absmax(np.asarray(x, np.float64)) * invstd_r
        steps.append(Step("eval", "eval", (Arg("x", x, case.dtype), weight, bias, rm, rv), {"eps": case.eps},
                          tag="eval", returns=Out("y", case.dtype, shape, ref_y, **_tol(ref_y, channel_rms(ref_y), cond * w_abs))))

    if "backward" in passes and case.expect in ("ok", "empty"):
        x = data.xs[-1]
        label = f"train (step {len(data.xs)})"
        ref_t = last_ref if last_ref is not None and case.expect == "ok" else \
            reference.train_forward(x, data.weight, data.bias, momentum=case.momentum, eps=case.eps)
        dx_ref, dw_ref, db_ref = reference.backward(data.dy, x, data.weight, ref_t.save_mean, ref_t.save_invstd, eps=case.eps)
        dy64, x64 = np.asarray(data.dy, np.float64), np.asarray(x, np.float64)
        invstd = np.nan_to_num(ref_t.save_invstd)
        cond = channel_absmax(x64) * invstd
        # dx cancels terms of size |w| * invstd * |dy| (exactly, when m = 2): that is its scale
        dx_scale = np.maximum(w_abs * invstd * channel_rms(dy64), channel_rms(dx_ref))
        outs = [Out("dx", case.dtype, shape, dx_ref, **_tol(dx_ref, dx_scale, cond * dx_scale))]
        if data.weight is not None:
            with np.errstate(invalid="ignore"):
                xhat = (x64 - _cv(ref_t.save_mean, x64.ndim)) * _cv(ref_t.save_invstd, x64.ndim) if x64.size else x64
            g_norm = channel_l2(dy64) if dy64.size else np.zeros(channels)
            outs += [Out("dweight", pdt, (channels,), dw_ref, scale=channel_l2(dy64 * xhat) if x64.size else 1.0,
                         cond_err=cond * g_norm),
                     Out("dbias", pdt, (channels,), db_ref, scale=g_norm)]
        else:  # affine=False: the parameter gradients are not looked at
            outs += [Out("dweight", checked=False), Out("dbias", checked=False)]
        args = (Arg("dy", data.dy, case.dtype), Arg("x", x, case.dtype), weight,
                Saved("save_mean", label, 1, ref_t.save_mean, pdt, case.param_layout),
                Saved("save_invstd", label, 2, ref_t.save_invstd, pdt, case.param_layout))
        steps.append(Step("backward", "backward", args, {"eps": case.eps}, returns=tuple(outs)))
    return steps


def _tol(ref: np.ndarray, scale, cond_err) -> dict:
    """Per-channel scale and conditioning term broadcast along axis 1 of ``ref``."""
    return {"scale": per_channel(scale, ref), "cond_err": per_channel(cond_err, ref)}


def _cv(v, ndim):
    return reference.channel_view(np.asarray(v, np.float64), ndim)


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (ndim - 2)) if ndim > 1 else v


def channel_rms(a: np.ndarray) -> np.ndarray:
    """RMS over every axis but 1, ignoring non-finite values; shape (C,)."""
    finite = np.where(np.isfinite(a), a, 0.0)
    if a.size == 0:
        return np.zeros(a.shape[1])
    return np.sqrt(np.mean(finite * finite, axis=reduce_axes(a.ndim)))


def channel_l2(a: np.ndarray) -> np.ndarray:
    finite = np.where(np.isfinite(a), a, 0.0)
    return np.sqrt(np.sum(finite * finite, axis=reduce_axes(a.ndim)))


def channel_absmax(a: np.ndarray) -> np.ndarray:
    finite = np.where(np.isfinite(a), np.abs(a), 0.0)
    if a.size == 0:
        return np.zeros(a.shape[1])
    return np.max(finite, axis=reduce_axes(a.ndim))


def per_channel(v: np.ndarray | float, ref: np.ndarray) -> np.ndarray:
    """A per-channel (C,) scale or conditioning term (or a scalar) laid along axis 1 of ``ref``."""
    v = np.asarray(v, dtype=np.float64)
    if ref.ndim > 1:
        return _per_channel(np.broadcast_to(v, (ref.shape[1],)), ref.ndim)
    return v
