"""What every op's ``run_case`` shares: moving a case's data to and from a backend with checks,
and turning what happened into the case's result.

An op's checker builds a :class:`CaseSession`, runs its own steps inside :func:`checked`, and
adds one :class:`~normbench.results.Comparison` per output. A backend's misbehaviour never
escapes: a wrong dtype, shape or a mutated input raises :class:`CaseFailed` ("fail"), any other
exception of the backend is an "error", :class:`~normbench.errors.Unsupported` is "unsupported".
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .backend import one_line
from .dtypes import layout_of, to_layout
from .errors import Unsupported
from .results import CaseResult, Comparison


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

    def native(self, a: np.ndarray | None, dtype: str):
        """A backend array from a private copy: from_numpy may alias its argument (torch.from_numpy,
        np.ascontiguousarray do), and the harness's own arrays must stay the reference's inputs."""
        if a is None:
            return None
        return self.b.from_numpy(to_layout(np.array(a), layout_of(a)), dtype)

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
        return CaseResult(case, "fail", str(exc), session.comparisons, passes)
    except Exception as exc:  # noqa: BLE001 - the backend's exception is the finding
        return CaseResult(case, "error", one_line(exc), session.comparisons, passes)
    bad = [c for c in session.comparisons if not c.ok]
    if bad:
        worst = max(bad, key=lambda c: c.worst)
        more = f" (+{len(bad) - 1} more outputs)" if len(bad) > 1 else ""
        return CaseResult(case, "fail", worst.summary() + more, session.comparisons, passes)
    return CaseResult(case, "pass", message, session.comparisons, passes)
