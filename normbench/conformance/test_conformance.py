"""Every selected backend against every conformance case of every op, checked against the float64 reference."""
from __future__ import annotations

import warnings

import pytest

from normbench.conformance import runner
from normbench.results import FAILING


def verdict(result) -> None:
    """Turn a runner result into the pytest outcome (shared with the property tests)."""
    if result.status == "unsupported":
        pytest.skip(f"unsupported: {result.message}")
    if result.status == "xfail":
        pytest.xfail(f"known failure: {result.known_reason} -- measured: {result.message}")
    if result.status == "xpass":
        warnings.warn(f"{result.case.id}: {result.message}", stacklevel=1)
        return
    if result.status in FAILING:
        pytest.fail(f"{result.case.id}: {result.status}: {result.message}", pytrace=False)


def test_case(normbench_registry, normbench_backend, normbench_case, normbench_case_timeout):
    backend, case, timeout = normbench_backend, normbench_case, normbench_case_timeout
    if not normbench_registry.supports(backend, case.op):
        pytest.skip(f"backend {backend.name} does not implement {case.op}")
    op = normbench_registry.op(case.op)
    result = runner.run_with_timeout(lambda: op.run_case(backend, case), timeout)
    if result is None:
        pytest.fail(f"{case.id}: did not finish within {timeout:g} s", pytrace=False)
    verdict(runner.apply_known(backend, result))


def test_plugins_load_cleanly(normbench_registry):
    """Broken plugins do not stop the suite, but they are a failure a plugin author must see."""
    assert not normbench_registry.problems, "; ".join(map(str, normbench_registry.problems))
