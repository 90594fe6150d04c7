"""Property-based conformance: random cases of every op (hypothesis), from the op's own strategy.

Each example is one of the op's cases, built from drawn values and run through the same checker
as the fixed grid, so every output is compared with the float64 reference.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from normbench.conformance.plugin import run_isolated
from normbench.conformance.test_conformance import verdict


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_cases(normbench_registry, normbench_backend, normbench_isolated, normbench_op, normbench_case_timeout,
                      data):
    backend, op = normbench_backend, normbench_op
    if not normbench_registry.supports(backend, op.name):
        pytest.skip(f"backend {backend.name} does not implement {op.name}")
    case = data.draw(op.property_cases(), label="case")
    result = run_isolated(normbench_registry, backend, normbench_isolated, case, normbench_case_timeout)
    # Unsupported draws and listed known failures are not findings; keep drawing. (An "xpass"
    # here is a draw that misses the defect, e.g. too small; the fixed grid reports real ones.)
    if result.status not in ("unsupported", "xfail", "xpass"):
        verdict(result)
