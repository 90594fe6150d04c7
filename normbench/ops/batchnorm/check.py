"""Run one batch-norm conformance case against a backend and compare every output."""
from __future__ import annotations

import numpy as np

from ...backend import Backend
from ...casecheck import CaseFailed, CaseSession, call_checking_error, checked, same
from ...dtypes import MACHINE_EPS, param_dtype
from ...errors import Unsupported
from ...results import CaseResult
from . import reference
from .cases import NAME, PASSES, Case, CaseData, make_data
from .tolerances import channel_absmax, channel_l2, channel_rms, compare


class _Session(CaseSession):
    """The shared case session plus batch norm's pass methods and parameter dtype."""

    def __init__(self, backend: Backend, case: Case):
        super().__init__(backend)
        self.case = case
        self.train = self.eval = self.backward = None  # the pass methods, where supported
        self.pdt = param_dtype(case.dtype)

    def cmp(self, output: str, actual, ref, dtype: str, **kw) -> None:
        self.comparisons.append(compare(output, actual, ref, dtype, **kw))


def _support(backend: Backend):
    from . import OP  # the record is built from this module: import it at call time

    declared = getattr(backend, "ops", {}).get(NAME)
    return None if declared is None else declared.resolved(OP)


def run_case(backend: Backend, case: Case) -> CaseResult:
    """Run ``case`` on ``backend``. Never raises for a backend's misbehaviour: it is the result."""
    support = _support(backend)
    if support is None:
        return CaseResult(case, "unsupported", f"backend does not declare op {NAME}")
    layout = case.layout if case.rank > 2 else "contiguous"
    reasons = {p: support.why_not(p, case.dtype, layout, case.rank) for p in case.passes}
    if case.dy_layout and case.dy_layout != case.layout and reasons.get("backward", "set") is None \
            and support.layouts is not None and case.dy_layout not in support.layouts:
        reasons["backward"] = f"layout {case.dy_layout} (of dy) not supported"
    passes = tuple(p for p, why in reasons.items() if why is None)
    if not passes:
        return CaseResult(case, "unsupported", "; ".join(dict.fromkeys(r for r in reasons.values() if r)))
    data = make_data(case)
    s = _Session(backend, case)

    def body() -> str:
        s.train, s.eval, s.backward = (backend.kernel(NAME, p) if p in passes else None for p in PASSES)
        message = _run(s, case, data, passes)
        if not s.comparisons and case.expect == "ok":
            raise Unsupported("none of this case's checks applies to the passes the backend supports")
        return message

    return checked(case, passes, s, body)


def _run(s: _Session, case: Case, data: CaseData, passes: tuple[str, ...]) -> str:
    b, pdt = s.b, s.pdt  # pdt: dtype of parameters and statistics, and of their tolerances
    w_abs = np.abs(np.asarray(data.weight, np.float64)) if data.weight is not None else 1.0
    rm_ref, rv_ref = data.running_mean, data.running_var
    n_rm, n_rv = s.native(data.running_mean, pdt), s.native(data.running_var, pdt)
    n_w, n_b = s.native(data.weight, pdt), s.native(data.bias, pdt)
    saved = None  # (reference TrainResult, native mean, native invstd) of the last step
    message = ""
    channels = case.shape[1]

    if "train" in passes:
        for step, x in enumerate(data.xs, start=1):
            n_x = s.native(x, case.dtype)
            bad = f"m = 1 in training (shape {case.shape})" if case.expect == "error" else None
            out, raised = call_checking_error(lambda: s.train(
                n_x, n_w, n_b, n_rm, n_rv, momentum=case.momentum, eps=case.eps, num_batches_tracked=step), bad,
                ("value", "channel", "batch", "size"))
            if raised:
                return raised
            if not isinstance(out, (tuple, list)) or len(out) != 3:
                raise CaseFailed(f"{NAME}_train must return (y, save_mean, save_invstd), got {type(out).__name__}")
            s.unchanged([("x", n_x, x), ("weight", n_w, data.weight), ("bias", n_b, data.bias)])
            ref = reference.train_forward(
                x, data.weight, data.bias, rm_ref, rv_ref, momentum=case.momentum, eps=case.eps, num_batches_tracked=step
            )
            y = s.host(out[0], "y", case.dtype, case.shape)
            tag = f"step {step}"
            if case.expect != "empty":  # no statistics from an empty batch: y's shape and the running stats only
                absmax = channel_absmax(np.asarray(x, np.float64))
                cond = absmax * ref.save_invstd
                std = np.sqrt(ref.var)
                s.cmp(f"y ({tag})", y, ref.y, case.dtype, scale=channel_rms(ref.y), cond_err=cond * w_abs)
                if out[1] is None and out[2] is None:
                    # an implementation that does not expose its batch statistics (ONNX training mode,
                    # Keras, Flax): y and the running statistics are checked, and the backward (if
                    # any) gets the reference's statistics
                    message = "saved statistics not returned by the implementation: not checked"
                else:
                    mean = s.host(out[1], "save_mean", pdt, (channels,))
                    invstd = s.host(out[2], "save_invstd", pdt, (channels,))
                    s.cmp(f"save_mean ({tag})", mean, ref.save_mean, pdt, scale=std, cond_err=absmax)
                    s.cmp(f"save_invstd ({tag})", invstd, ref.save_invstd, pdt,
                          cond_err=ref.save_invstd * (1 + MACHINE_EPS[pdt] * cond**2))
                    saved = (ref, out[1], out[2], x)
            if n_rm is not None:
                rm = s.host(n_rm, "running_mean", pdt, (channels,))
                rv = s.host(n_rv, "running_var", pdt, (channels,))
                if case.expect == "empty":
                    if not (same(rm, rm_ref) and same(rv, rv_ref)):
                        raise CaseFailed("an empty batch must leave running statistics untouched")
                else:
                    s.cmp(f"running_mean ({tag})", rm, ref.running_mean, pdt, scale=std, cond_err=absmax)
                    s.cmp(f"running_var ({tag})", rv, ref.running_var, pdt, cond_err=np.abs(ref.running_var) * (1 + MACHINE_EPS[pdt] * cond**2))
            rm_ref, rv_ref = ref.running_mean, ref.running_var
        if case.expect == "error":
            raise CaseFailed("m = 1 in training must raise")

    if "eval" in passes and case.running:
        x = data.xs[-1]
        n_x = s.native(x, case.dtype)
        rm_before, rv_before = b.to_numpy(n_rm).copy(), b.to_numpy(n_rv).copy()
        # with train unsupported, eval runs on the initial statistics (n_rm/n_rv untouched)
        y = s.eval(n_x, n_w, n_b, n_rm, n_rv, eps=case.eps)
        s.unchanged([("x", n_x, x), ("weight", n_w, data.weight), ("bias", n_b, data.bias),
                     ("running_mean (eval must not update it)", n_rm, rm_before), ("running_var", n_rv, rv_before)])
        ref_y = reference.eval_forward(x, data.weight, data.bias, rm_ref, rv_ref, eps=case.eps)
        invstd_r = 1.0 / np.sqrt(np.asarray(rv_ref, np.float64) + case.eps)
        cond = channel_absmax(np.asarray(x, np.float64)) * invstd_r
        s.cmp("y (eval)", s.host(y, "y (eval)", case.dtype, case.shape), ref_y, case.dtype, scale=channel_rms(ref_y), cond_err=cond * w_abs)

    if "backward" in passes and case.expect in ("ok", "empty"):
        x = data.xs[-1]
        if saved is None:  # train unsupported (or empty batch): use the reference's statistics
            ref_t = reference.train_forward(x, data.weight, data.bias, momentum=case.momentum, eps=case.eps)
            with np.errstate(over="ignore"):  # out of the dtype's range: inf, as the backend would hold it
                mean_h = np.nan_to_num(ref_t.save_mean).astype(np.dtype(pdt))
                invstd_h = np.nan_to_num(ref_t.save_invstd).astype(np.dtype(pdt))
            saved = (ref_t, s.native(mean_h, pdt), s.native(invstd_h, pdt), x)
        ref_t, n_mean, n_invstd, x = saved
        n_x, n_dy = s.native(x, case.dtype), s.native(data.dy, case.dtype)
        mean_before, invstd_before = b.to_numpy(n_mean).copy(), b.to_numpy(n_invstd).copy()
        out = s.backward(n_dy, n_x, n_w, n_mean, n_invstd, eps=case.eps)
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            raise CaseFailed(f"{NAME}_backward must return (dx, dweight, dbias), got {type(out).__name__}")
        s.unchanged([("x", n_x, x), ("dy", n_dy, data.dy), ("weight", n_w, data.weight),
                     ("save_mean", n_mean, mean_before), ("save_invstd", n_invstd, invstd_before)])
        dx_ref, dw_ref, db_ref = reference.backward(data.dy, x, data.weight, ref_t.save_mean, ref_t.save_invstd, eps=case.eps)
        dx = s.host(out[0], "dx", case.dtype, case.shape)
        dy64 = np.asarray(data.dy, np.float64)
        cond = channel_absmax(np.asarray(x, np.float64)) * np.nan_to_num(ref_t.save_invstd)
        # dx cancels terms of size |w| * invstd * |dy| (exactly, when m = 2): that is its scale
        dx_scale = np.maximum(w_abs * np.nan_to_num(ref_t.save_invstd) * channel_rms(dy64), channel_rms(dx_ref))
        s.cmp("dx", dx, dx_ref, case.dtype, scale=dx_scale, cond_err=cond * dx_scale)
        if data.weight is not None:
            x64 = np.asarray(x, np.float64)
            with np.errstate(invalid="ignore"):
                xhat = (x64 - _cv(ref_t.save_mean, x64.ndim)) * _cv(ref_t.save_invstd, x64.ndim) if x64.size else x64
            dw = s.host(out[1], "dweight", pdt, (channels,))
            db = s.host(out[2], "dbias", pdt, (channels,))
            g_norm = channel_l2(dy64) if dy64.size else np.zeros(channels)
            s.cmp("dweight", dw, dw_ref, pdt, scale=channel_l2(dy64 * xhat) if x64.size else 1.0, cond_err=cond * g_norm)
            s.cmp("dbias", db, db_ref, pdt, scale=g_norm)
    return message


def _cv(v, ndim):
    return reference.channel_view(np.asarray(v, np.float64), ndim)
