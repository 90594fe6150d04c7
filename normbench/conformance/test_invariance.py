"""Invariance on the pytest route: does the same input give the same bits?

Probed per (backend, op) for the properties required with ``--require`` and those the backend
promises (its ``invariants``); a backend with neither is skipped, saying so. A property that
does not hold fails the test with every pass, dtype and layout where it differs. ``normbench
check`` probes and reports every property whatever is required.
"""
from __future__ import annotations

import pytest

from normbench.conformance.invariance import parse_require, probe_pair, promised_by
from normbench.conformance.plugin import opt


def test_invariance(request, normbench_registry, normbench_backend, normbench_isolated, normbench_invariance_op,
                    normbench_case_timeout):
    backend, op = normbench_backend, normbench_invariance_op
    if not normbench_registry.supports(backend, op.name):
        pytest.skip(f"backend {backend.name} does not implement {op.name}")
    require, promised = parse_require(opt(request.config, "require")), promised_by(backend)
    if not (require or promised):
        pytest.skip(f"no invariance property required (--require PROPERTY) or promised by {backend.name}")
    if normbench_isolated.dropped:
        pytest.fail(normbench_isolated.dropped, pytrace=False)
    rows = probe_pair(backend.name, op, normbench_isolated.worker, plugins=tuple(opt(request.config, "plugin")),
                      scope=normbench_registry.worker_scope(backend.name), timeout=normbench_case_timeout,
                      require=require, promised=promised)
    failed = [f"{row.pass_} {row.dtype} {row.layout}: not {p} "
              f"({'promised' if p in promised else 'required'}): {row.verdicts[p].detail}"
              for row in rows for p in row.failed]
    if failed:
        pytest.fail(f"{backend.name} {op.name}: {len(failed)} invariance failure(s)\n  " + "\n  ".join(failed),
                    pytrace=False)
    assert rows, f"no pass, dtype or layout of {op.name} was probed on {backend.name}"
