"""Property-based conformance: random cases of every op (hypothesis), from the op's own strategy.

Each example is one of the op's cases, built from drawn values and run through the same checker
as the fixed grid, so every output is compared with the float64 reference. ``--max-examples N``
sets how many per (backend, op); runs are random unless seeded (``--hypothesis-seed=S``) or run
under CI=true, where hypothesis loads its deterministic ``ci`` profile (the same cases every
run). A failure names the exact case (every field, the data seed included) and the command that
runs that example again. Property case ids start with ``<op>/property/`` (for known-failure
patterns).
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from normbench.conformance.plugin import opt, run_isolated
from normbench.conformance.test_conformance import verdict
from normbench.results import FAILING


def test_random_cases(request, normbench_registry, normbench_backend, normbench_isolated, normbench_op,
                      normbench_case_timeout):
    backend, op = normbench_backend, normbench_op
    if not normbench_registry.supports(backend, op.name):
        pytest.skip(f"backend {backend.name} does not implement {op.name}")
    config = request.config
    seed = config.getoption("--hypothesis-seed", default=None)
    again = (f"pytest --pyargs normbench.conformance --backend {backend.name} --norm {op.name} -k test_random_cases"
             + (f" --hypothesis-seed={seed}" if seed is not None else " (with the @reproduce_failure line hypothesis prints)"))

    @settings(max_examples=opt(config, "max-examples"), deadline=None, print_blob=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def examples(data):
        case = data.draw(op.property_cases(), label="case")
        result = run_isolated(normbench_registry, backend, normbench_isolated, case, normbench_case_timeout)
        # Unsupported draws and listed known failures are not findings; keep drawing. (An "xpass"
        # here is a draw that misses the defect, e.g. too small; the fixed grid reports real ones.)
        if result.status not in ("unsupported", "xfail", "xpass"):
            if result.status in FAILING:  # the exact case and how to run it again, then the verdict
                pytest.fail(f"{result.case.id}: {result.status}: {result.message}\n  case: {case!r}\n  again: {again}",
                            pytrace=False)
            verdict(result)

    examples()
