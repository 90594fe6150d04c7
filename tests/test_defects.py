"""The defect table: known failures of a check run grouped per backend and reason, with the
error that run measured."""
import math

from normbench._reporting.defects import error_range, summarize, to_markdown


def _case(cid, status, reason, outputs=()):
    return {"case": cid, "status": status, "known_reason": reason,
            "outputs": [{"output": name, "ok": ok, "worst": worst} for name, ok, worst in outputs]}


CHECK = {"norms": {
    "batchnorm": {"backends": [
        {"name": "peer", "cases": [
            _case("batchnorm/offset/a", "xfail", "one-pass variance", [("y (step 1)", False, 3.0), ("y (step 2)", False, 9.0),
                                                                       ("running_mean (step 1)", True, 0.1)]),
            _case("batchnorm/offset/b", "xfail", "one-pass variance", [("dx", False, 1.5), ("y (step 1)", False, 1.2)]),
            _case("batchnorm/offset/c", "xpass", "one-pass variance"),
            _case("batchnorm/dtypes/d", "xfail", "saved statistics in half"),  # a dtype: no numeric error
            _case("batchnorm/dtypes/e", "pass", ""),
        ]},
        {"name": "other", "cases": [_case("batchnorm/overflow/f", "xfail", "squares overflow", [("y", False, math.inf)])]},
    ]},
    "layernorm": {"backends": [
        {"name": "peer", "cases": [_case("layernorm/offset/g", "xfail", "one-pass variance", [("y", False, 40.0)])]},
    ]},
}}


def test_known_failures_are_grouped_per_backend_and_reason_with_the_measured_range():
    found = {(d.backend, d.reason): d for d in summarize(CHECK)}
    assert set(found) == {("peer", "one-pass variance"), ("peer", "saved statistics in half"),
                          ("other", "squares overflow")}
    onepass = found["peer", "one-pass variance"]
    assert onepass.ops == ["batchnorm", "layernorm"] and onepass.cases == 3 and onepass.xpass == 1
    assert onepass.outputs == ["y", "dx"]  # step tags dropped, each output once; passing outputs left out
    assert (onepass.low, onepass.high) == (1.5, 40.0) and error_range(onepass) == "1.5 - 40"
    assert error_range(found["peer", "saved statistics in half"]) == ""
    assert error_range(found["other", "squares overflow"]) == "inf"


def test_the_table_has_one_row_per_defect():
    text = to_markdown(summarize(CHECK))
    assert text.count("\n") == 2 + 2
    assert "| peer | batchnorm, layernorm | 3 (+1 XPASS) | 1.5 - 40 | y, dx | one-pass variance |" in text
