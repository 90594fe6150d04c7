"""The one checking algorithm every op uses.

An op describes a case as :mod:`~normbench.conformance.spec` records (``OpInfo.plan``: its
references, sample data and tolerances); :func:`run_case` does the rest, the same way for every
op: which passes the backend declares, each call with its error check, the arity of what comes
back, inputs that must not change, each output's dtype, shape and closeness to the float64
reference, statistics an implementation keeps to itself, statistics handed to a later pass (or
the reference's in their place), and state updated in place.

A backend's misbehaviour never escapes: a wrong dtype, shape or a mutated input is a "fail", any
other exception of the backend an "error", :class:`~normbench.errors.Unsupported` "unsupported".
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

from ..backend import one_line, support_of
from ..closeness import compare_arrays
from ..dtypes import cast_host, private_copy, support_layout, to_layout
from ..errors import Unsupported
from ..results import CaseResult, Comparison
from .spec import Arg, Out, Saved, State, Step


class CaseFailed(Exception):
    """Stop the case with a failure message."""


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shape and values, NaN equal to NaN."""
    return a.shape == b.shape and np.array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64), equal_nan=True)


class CaseSession:
    """Moves data for one case between host and backend, checking what comes back."""

    def __init__(self, backend: Any):
        self.b = backend
        self.comparisons: list[Comparison] = []
        self.pass_ = ""  # the pass being run: a failure is attributed to it

    def failed_in(self, raised: bool = True) -> tuple[str, ...]:
        """The passes the case failed in: those of failing comparisons, and the current one if it raised."""
        passes = [c.pass_ for c in self.comparisons if not c.ok] + ([self.pass_] if raised else [])
        return tuple(dict.fromkeys(p for p in passes if p))

    def native(self, a: np.ndarray | None, dtype: str):
        """A backend array from a private copy: from_numpy may alias its argument (torch.from_numpy,
        np.ascontiguousarray do), and the harness's own arrays must stay the reference's inputs."""
        if a is None:
            return None
        return self.b.from_numpy(private_copy(a), dtype)

    def host(self, native, what: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        """The output on the host, after checking it is there, in ``dtype`` and of ``shape``."""
        if native is None:
            raise CaseFailed(f"{what}: returned None")
        got_dtype = self.b.dtype_of(native)
        arr = np.asarray(self.b.to_numpy(native))
        if got_dtype != dtype:
            raise CaseFailed(f"{what}: dtype {got_dtype}, expected {dtype}")
        if tuple(arr.shape) != tuple(shape):
            raise CaseFailed(f"{what}: shape {tuple(arr.shape)}, expected {tuple(shape)}")
        return arr

    def unchanged(self, pairs) -> None:
        """(name, native, original) inputs must not have been mutated."""
        for what, native, original in pairs:
            if native is not None and not same(self.b.to_numpy(native), original):
                raise CaseFailed(f"mutated its input {what}")


#: exceptions that are a backend's own bug, never a refusal of invalid input
CRASH_TYPES = (IndexError, KeyError, AttributeError, NameError, ZeroDivisionError, RecursionError, AssertionError)
#: messages of crashes from deep inside NumPy and Python, whatever the exception type
CRASH_MESSAGES = ("could not be broadcast", "cannot reshape array", "out of bounds", "index out of range",
                  "division by zero", "has no attribute", "unsupported operand")


def call_checking_error(call: Callable[[], Any], must_raise: str | None,
                        names: tuple[str, ...] = ()) -> tuple[Any, str | None]:
    """Call a pass that must raise when ``must_raise`` says why (the input is invalid), else must not.

    Returns (output, None), or (None, "raised as expected (...)") for an invalid input the backend
    refused with an error that names the problem: one of ``names`` (e.g. "weight", "divisible")
    must appear in the message, and a crash (an IndexError, a NumPy broadcast error) is not a
    refusal. Raises CaseFailed when an invalid input returned normally or crashed. Unsupported and
    any exception on valid input propagate (the case's result says which)."""
    try:
        out = call()
    except Unsupported:
        raise
    except Exception as exc:  # noqa: BLE001
        if not must_raise:
            raise
        text = one_line(exc)
        lowered = str(exc).lower()
        crashed = isinstance(exc, CRASH_TYPES) or any(m in lowered for m in CRASH_MESSAGES)
        if crashed or (names and not any(n.lower() in lowered for n in names)):
            what = "a crash, not a refusal of the input" if crashed else \
                f"the message names none of {', '.join(names)}"
            raise CaseFailed(f"{must_raise}: must raise an error naming the problem, raised {text} ({what})") from None
        return None, f"raised as expected ({text})"
    if must_raise:
        raise CaseFailed(f"{must_raise}: must raise, but returned normally")
    return out, None


def checked(case: Any, passes: tuple[str, ...], session: CaseSession, body: Callable[[], str]) -> CaseResult:
    """Run ``body()`` (the op's steps; returns a message for a pass) and make the case's result:
    the first failing comparison (the worst one) decides, else "pass"."""
    try:
        message = body()
    except Unsupported as exc:
        return CaseResult(case, "unsupported", str(exc), session.comparisons, passes)
    except CaseFailed as exc:
        return CaseResult(case, "fail", str(exc), session.comparisons, passes, failed_in=session.failed_in())
    except Exception as exc:  # noqa: BLE001 - the backend's exception is the finding
        return CaseResult(case, "error", one_line(exc), session.comparisons, passes, failed_in=session.failed_in())
    bad = [c for c in session.comparisons if not c.ok]
    if bad:  # the worst output in full, then every other failing output's measured error
        worst, *others = sorted(bad, key=lambda c: -c.worst)
        also = ", ".join(f"{c.output} {c.max_abs:.3g} ({c.worst:.3g}x)" for c in others)
        return CaseResult(case, "fail", worst.summary() + (f"; also off: {also}" if also else ""), session.comparisons,
                          passes, failed_in=session.failed_in(raised=False))
    return CaseResult(case, "pass", message, session.comparisons, passes)


# -- the algorithm ----------------------------------------------------------------------------------
def supported_passes(op: Any, backend: Any, case: Any) -> tuple[tuple[str, ...], str]:
    """The passes of ``case`` that ``backend`` declares for this dtype, layout and rank, and why
    the others are not (one line). An input of rank ``op.layout_rank`` or lower has one layout."""
    support = support_of(backend, op)
    if support is None:
        return (), f"backend does not declare op {op.name}"
    rank = len(case.shape)
    # a kind of strided array (permuted, sliced, broadcast) is "strided" to a backend's Support
    layout = support_layout(case.layout) if rank > op.layout_rank else "contiguous"
    reasons = {p: support.why_not(p, case.dtype, layout, rank) for p in case.passes}
    dy_layout = support_layout(getattr(case, "dy_layout", "") or case.layout)
    if dy_layout != layout and reasons.get("backward", "n/a") is None and support.layouts is not None \
            and dy_layout not in support.layouts:
        reasons["backward"] = f"layout {dy_layout} (of dy) not supported"
    passes = tuple(p for p, why in reasons.items() if why is None)
    return passes, "; ".join(dict.fromkeys(r for r in reasons.values() if r))


def run_case(op: Any, backend: Any, case: Any) -> CaseResult:
    """Run ``case`` of ``op`` (an OpInfo) on ``backend``. Never raises for a backend's misbehaviour:
    it is the result."""
    passes, why = supported_passes(op, backend, case)
    if not passes:
        return CaseResult(case, "unsupported", why)
    try:
        steps = op.plan(case, passes)
    except Exception as exc:  # noqa: BLE001 - the op's own set-up failed: say so, and go on with the others
        return CaseResult(case, "error", f"normbench could not set up this case (the op's plan, not the backend): "
                                         f"{one_line(exc)}")
    session = CaseSession(backend)

    def body() -> str:
        if not steps:
            raise Unsupported("none of this case's checks applies to the passes the backend supports")
        return execute(op.name, session, steps)

    return checked(case, passes, session, body)


def _declared(fn: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``kwargs`` that ``fn`` declares as keyword parameters."""
    if not kwargs:
        return {}
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    ok = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {k: v for k, v in kwargs.items() if k in params and params[k].kind in ok}


def execute(op_name: str, s: CaseSession, steps: list[Step],
            collect: list[tuple[str, np.ndarray | None]] | None = None) -> str:
    """Run the steps in order; returns the case's message (empty, or why something was not checked).

    ``collect``: judge nothing, and append every output and every state after its step, as
    ``(name, host array or None)`` in call order (:mod:`normbench.conformance.invariance` compares
    the bits of two runs)."""
    states: dict[str, Any] = {}
    handed: dict[str, tuple] = {}  # step label -> its outputs, where its statistics were checked
    message = ""
    for step in steps:
        s.pass_ = step.pass_
        fn = s.b.kernel(op_name, step.pass_)
        args, watch = [], []
        for a in step.args:
            if isinstance(a, Arg):
                native = s.native(a.host, a.dtype)
                watch.append((a.name, native, a.host))
            elif isinstance(a, State):
                if a.name not in states:
                    states[a.name] = s.native(a.host, a.dtype)
                native = states[a.name]
                if a.name not in step.mutates and native is not None:
                    watch.append((a.name, native, np.asarray(s.b.to_numpy(native)).copy()))
            elif isinstance(a, Saved):
                outputs = handed.get(a.step)
                if outputs is not None:
                    native = outputs[a.index]
                else:  # that step did not run, or kept its statistics: the reference's, in their dtype
                    native = s.native(cast_host(np.nan_to_num(a.fallback), a.dtype), a.dtype)
                if a.layout != "contiguous":  # the same values, laid out as the case asks
                    values = np.asarray(s.b.to_numpy(native), np.float64)
                    native = s.native(to_layout(cast_host(values, a.dtype), a.layout), a.dtype)
                watch.append((a.name, native, np.asarray(s.b.to_numpy(native)).copy()))
            else:
                args.append(a)
                continue
            args.append(native)
        kwargs = {**step.kwargs, **_declared(fn, step.declared_kwargs)}
        raises = step.raises
        out, raised = call_checking_error(lambda: fn(*args, **kwargs), raises.why if raises else None,
                                          raises.words if raises else ())
        if raised:
            return raised
        if isinstance(step.returns, tuple):
            if not isinstance(out, (tuple, list)) or len(out) != len(step.returns):
                names = ", ".join(o.name for o in step.returns)
                raise CaseFailed(f"{op_name}_{step.pass_} must return ({names}), got {type(out).__name__}")
            pairs = list(zip(step.returns, out))
        else:
            pairs = [(step.returns, out)]
        s.unchanged(watch)
        stats = [v for o, v in pairs if o.stat and o.checked]
        hidden = bool(stats) and all(v is None for v in stats)
        if hidden:  # an implementation that does not expose them (ONNX training mode, Keras, Flax)
            message = "saved statistics not returned by the implementation: not checked"
        if collect is not None:
            tag = f" ({step.tag})" if step.tag else ""
            collect.extend((o.name + tag, None if v is None else np.asarray(s.b.to_numpy(v))) for o, v in pairs)
            collect.extend((o.name + tag, np.asarray(s.b.to_numpy(states[o.name]))) for o in step.states_after)
        else:
            for o, v in pairs:
                if o.checked and not (o.stat and hidden):
                    judge(s, o, v, step.tag)
            for o in step.states_after:
                judge(s, o, states[o.name], step.tag)
        if stats and not hidden:
            handed[step.label] = tuple(out)
    return message


def judge(s: CaseSession, o: Out, native: Any, tag: str = "") -> None:
    """Check one output: present (or None for an absent parameter's gradient), its dtype and
    shape, then exact equality or closeness to the reference."""
    name = f"{o.name} ({tag})" if tag else o.name
    if o.absent:
        if native is not None:
            raise CaseFailed(f"{name}: returned a gradient for an absent parameter (expected None)")
        return
    arr = s.host(native, name, o.dtype, o.shape)
    if o.exact is not None:
        if not same(arr, o.exact):
            raise CaseFailed(o.exact_why or f"{name}: must equal its value before the call")
    elif o.ref is not None:
        s.comparisons.append(compare_arrays(name, arr, o.ref, o.dtype, scale=o.scale, cond_err=o.cond_err,
                                             floor=0.0 if o.stat else 1.0))
        s.comparisons[-1].pass_ = s.pass_
