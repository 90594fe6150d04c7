"""The backends that compile per configuration (torch-compile, Keras, Flax), on a sample of cases.

Each conformance case costs them a compilation (Inductor's C++ build, XLA, a tf.function trace):
~1.5 s for torch-compile, so their full suite (``normbench check --backend NAME``, which
``normbench run`` runs and whose result the report shows) takes ~15 minutes each. This project's
own test run leaves them out of the full conformance suite (``--normbench-skip-backend`` in
pyproject.toml) and runs here, in each backend's worker, the first case of every case group of every
op it implements, with its known failures applied: a new defect or an adapter mistake in any
group still fails CI.
"""
from __future__ import annotations

import pytest

from normbench.conformance import runner
from normbench._runtime.discovery import discover
from normbench.results import FAILING

COMPILED = ("torch-compile", "keras-torch", "keras-jax", "flax", "flax-nnx")


@pytest.fixture(scope="module")
def registry():
    return discover(())


def _sample(op):
    return runner.first_of_each_group(op.cases())


@pytest.mark.parametrize("name", COMPILED)
def test_sampled_conformance(registry, name):
    if name not in registry.backends:
        pytest.skip(f"backend {name} is not installed")
    backend = registry.get(name)
    if not backend.availability():
        pytest.skip(f"backend {name} unavailable: {backend.availability().reason}")
    ops = [op for op in registry.op_infos().values() if registry.supports(backend, op.name)]
    iso = runner.IsolatedBackend(name, (), scope=registry.worker_scope(name))
    try:
        bad, ran = [], 0
        for op in ops:
            for case in _sample(op):
                result = iso.run(op, case, 300)
                assert result is not None, f"{name} unavailable in its worker: {iso.available()[1]}"
                ran += result.status not in ("unsupported",)
                if result.status in FAILING:
                    bad.append(f"{case.id}: {result.status}: {result.message}")
    finally:
        iso.close()
    assert not bad, "\n".join(bad)
    assert ran >= 2 * len(ops), f"{name}: only {ran} sampled cases ran"
