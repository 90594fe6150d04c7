"""The one checker (normbench.conformance.checker) on hand-made steps: each rule it applies for
every op, shown failing where it must and passing where it must."""
from __future__ import annotations

import numpy as np
import pytest

from normbench.conformance.checker import CaseFailed, CaseSession, execute
from normbench.conformance.spec import Arg, Out, Raises, Saved, State, Step


class Host:
    """A backend whose arrays are NumPy arrays; its passes are set per test."""

    name = "host"

    def from_numpy(self, a, dtype):
        return np.array(a, dtype=np.float64 if dtype == "float64" else np.float32)

    def to_numpy(self, a):
        return a

    def dtype_of(self, a):
        return a.dtype.name

    def kernel(self, op, pass_):
        return getattr(self, f"{op}_{pass_}")


X = np.arange(6, dtype=np.float64).reshape(2, 3)


def run(backend, steps):
    s = CaseSession(backend)
    return execute("toy", s, steps), s.comparisons


def scale_step(**kw):
    return Step("forward", "forward", (Arg("x", X, "float64"),), returns=Out("y", "float64", (2, 3), 2 * X), **kw)


def test_a_correct_pass_passes_and_is_compared():
    b = Host()
    b.toy_forward = lambda x: 2 * x
    message, comparisons = run(b, [scale_step()])
    assert message == "" and [c.ok for c in comparisons] == [True]


def test_a_wrong_value_fails_its_comparison():
    b = Host()
    b.toy_forward = lambda x: 2 * x + 1e-3
    _, comparisons = run(b, [scale_step()])
    assert not comparisons[0].ok and comparisons[0].max_abs == pytest.approx(1e-3)


@pytest.mark.parametrize("forward, words", [
    (lambda x: (2 * x).astype(np.float32), "dtype float32, expected float64"),
    (lambda x: 2 * x[:1], "shape (1, 3), expected (2, 3)"),
    (lambda x: None, "returned None"),
])
def test_dtype_shape_and_presence_are_checked(forward, words):
    b = Host()
    b.toy_forward = forward
    with pytest.raises(CaseFailed, match=words.replace("(", r"\(").replace(")", r"\)")):
        run(b, [scale_step()])


def test_a_mutated_input_fails():
    b = Host()

    def forward(x):
        x[0, 0] = 99.0
        return 2 * X
    b.toy_forward = forward
    with pytest.raises(CaseFailed, match="mutated its input x"):
        run(b, [scale_step()])


def test_arity_is_checked():
    b = Host()
    b.toy_forward = lambda x: 2 * x
    step = Step("forward", "forward", (Arg("x", X, "float64"),), returns=(Out("y", "float64", (2, 3), 2 * X), Out("stat")))
    with pytest.raises(CaseFailed, match=r"toy_forward must return \(y, stat\), got ndarray"):
        run(b, [step])


def test_an_invalid_input_must_raise_an_error_naming_the_problem():
    bad = Step("forward", "forward", (Arg("x", X, "float64"),), returns=Out("y"), raises=Raises("x is bad", ("shape",)))
    b = Host()
    b.toy_forward = lambda x: 2 * x
    with pytest.raises(CaseFailed, match="must raise, but returned normally"):
        run(b, [bad])
    b.toy_forward = lambda x: (_ for _ in ()).throw(ValueError("wrong shape of x"))
    assert run(b, [bad])[0].startswith("raised as expected")
    b.toy_forward = lambda x: (_ for _ in ()).throw(ValueError("no"))
    with pytest.raises(CaseFailed, match="names none of shape"):
        run(b, [bad])
    b.toy_forward = lambda x: [][1]
    with pytest.raises(CaseFailed, match="a crash, not a refusal"):
        run(b, [bad])


def _stats_steps(mean_ref):
    """forward -> (y, mean); backward(x, mean) -> dx, with mean handed on from forward."""
    fwd = Step("forward", "forward", (Arg("x", X, "float64"),),
               returns=(Out("y", "float64", (2, 3), X - mean_ref), Out("mean", "float64", (2, 1), mean_ref, stat=True)))
    bwd = Step("backward", "backward", (Arg("x", X, "float64"), Saved("mean", "forward", 1, mean_ref, "float64")),
               returns=Out("dx", "float64", (2, 3), X - mean_ref))
    return [fwd, bwd]


def test_statistics_are_handed_on_or_taken_from_the_reference():
    mean = X.mean(axis=1, keepdims=True)
    seen = []
    b = Host()
    b.toy_backward = lambda x, m: seen.append(m.copy()) or x - m
    # a forward that returns its statistics: they are checked and handed to the backward
    b.toy_forward = lambda x: (x - mean, mean + 0.0)
    message, comparisons = run(b, _stats_steps(mean))
    assert message == "" and [c.output for c in comparisons] == ["y", "mean", "dx"] and all(c.ok for c in comparisons)
    # one that keeps them to itself: not checked, said so, and the backward gets the reference's
    b.toy_forward = lambda x: (x - mean, None)
    message, comparisons = run(b, _stats_steps(mean))
    assert "not returned" in message and [c.output for c in comparisons] == ["y", "dx"]
    assert np.array_equal(seen[-1], mean)


def test_a_state_is_shared_updated_only_where_declared_and_judged_after():
    start = np.zeros(3)
    b = Host()

    def train(x, running):
        running += 1.0
        return x
    b.toy_train = train
    b.toy_eval = lambda x, running: x + running
    state = State("running", start, "float64")
    steps = [Step("train", "train", (Arg("x", X, "float64"), state), returns=Out("y", "float64", (2, 3), X),
                  mutates=frozenset({"running"}), states_after=(Out("running", "float64", (3,), np.ones(3)),)),
             Step("eval", "eval", (Arg("x", X, "float64"), state), returns=Out("y", "float64", (2, 3), X + 1))]
    _, comparisons = run(b, steps)
    assert [c.output for c in comparisons] == ["y", "running", "y"] and all(c.ok for c in comparisons)
    b.toy_eval = lambda x, running: train(x, running) + running  # eval must not update it
    with pytest.raises(CaseFailed, match="mutated its input running"):
        run(b, steps)


def test_an_absent_parameter_has_no_gradient_and_exact_outputs_must_match():
    b = Host()
    b.toy_backward = lambda x: (x, np.ones(3))
    step = Step("backward", "backward", (Arg("x", X, "float64"),),
                returns=(Out("dx", "float64", (2, 3), X), Out("dweight", absent=True)))
    with pytest.raises(CaseFailed, match="dweight: returned a gradient for an absent parameter"):
        run(b, [step])
    b.toy_backward = lambda x: (x, np.zeros(3))
    step = Step("backward", "backward", (Arg("x", X, "float64"),),
                returns=(Out("dx", "float64", (2, 3), X), Out("dweight", "float64", (3,), exact=np.ones(3), exact_why="must be ones")))
    with pytest.raises(CaseFailed, match="must be ones"):
        run(b, [step])
