"""Every selected backend against every conformance case of every op, checked against the float64 reference."""
from __future__ import annotations

import warnings

import pytest

from normbench.conformance.plugin import run_isolated
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


def test_case(normbench_registry, normbench_backend, normbench_isolated, normbench_case, normbench_case_timeout):
    """One case in the backend's worker process (known failures already applied there)."""
    verdict(run_isolated(normbench_registry, normbench_backend, normbench_isolated, normbench_case,
                         normbench_case_timeout))


def test_plugins_load_cleanly(normbench_registry):
    """Broken plugins do not stop the suite, but they are a failure a plugin author must see."""
    assert not normbench_registry.problems, "; ".join(map(str, normbench_registry.problems))
