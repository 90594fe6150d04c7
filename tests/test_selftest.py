"""The suite's power (issue 41): every op's wrong backends, one per bug class, are each caught by at
least three cases, and the same kernels with no bug pass every case (so a catch is the bug's)."""
from __future__ import annotations

import pytest

from normbench.conformance import runner, selftest
from normbench._runtime.discovery import discover
from normbench.results import FAILING

REGISTRY = discover(())
OPS = [op for op in REGISTRY.select_ops([]) if op.mutants is not None]
MUTANTS = [(op.name, m.bug) for op in OPS for m in op.mutants()]


def _op(name):
    return REGISTRY.op(name)


@pytest.mark.parametrize("op_name,bug", MUTANTS, ids=[f"{o}-{b}" for o, b in MUTANTS])
def test_each_wrong_backend_is_caught_by_three_cases(op_name, bug):
    op = _op(op_name)
    mutant = next(m for m in op.mutants() if m.bug == bug)
    report = runner.check_backend(mutant, op, op.cases())
    caught = [r.case.id for r in report.results if r.status in FAILING]
    assert len(caught) >= selftest.MIN_CATCHES, f"{mutant.name} caught by {len(caught)} case(s): {caught}"


@pytest.mark.parametrize("op_name", [op.name for op in OPS])
def test_the_wrong_backends_without_their_bug_pass_every_case(op_name):
    op = _op(op_name)
    report = runner.check_backend(op.mutants()[0].right(), op, op.cases())
    bad = [(r.case.id, r.status, r.message[:200]) for r in report.results if r.status in FAILING]
    assert not bad
    assert sum(r.status == "pass" for r in report.results) > 100


def test_the_kill_matrix_counts_catches_per_group_and_judges_them():
    op = _op("rmsnorm")
    cases = [c for c in op.cases() if c.group in ("blocks", "dtypes")]
    rows = selftest.kill_matrix(op, cases)
    by_bug = {r.bug: r for r in rows}
    # a dweight dropped past the last full block of 32 rows shows only where rows are no multiple of 32
    assert by_bug["partial-block"].caught["dtypes"] == 0 and by_bug["partial-block"].caught["blocks"] >= 3
    assert by_bug["partial-block"].verdict == "caught"
    assert by_bug["dense-dy"].verdict == "survived"  # no case here hands a non-dense dy
    headers, body = selftest.table(op, rows)
    assert headers[0] == "bug" and headers[-2:] == ["total", "verdict"]


def test_selftest_command_prints_the_matrix_and_passes(capsys):
    from normbench.cli import main

    assert main(["selftest", "--norm", "rmsnorm"]) == 0
    out = capsys.readouterr().out
    assert "rmsnorm: cases caught per wrong backend and case group" in out
    assert "partial-block" in out and "gradlayouts" in out
    assert out.strip().splitlines()[-1] == "every wrong backend caught by at least three cases"
