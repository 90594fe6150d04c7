"""Known failures as data: field records in per-plugin TOML files, one case grammar, seeds from fields."""
import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from normbench.cli import main
from normbench.conformance.case import CaseKey
from normbench.conformance.runner import apply_known
from normbench.errors import InputError
from normbench.known import KnownFailure, load_known_failures
from normbench.ops.batchnorm import OP as BN
from normbench.ops.groupnorm import OP as GN
from normbench.ops.instancenorm import OP as IN
from normbench.ops.layernorm import OP as LN
from normbench.ops.rmsnorm import OP as RMS
from normbench.results import CaseResult, Comparison

ROOT = Path(__file__).parents[1]
#: every known-failures data file in this repository, and the backends each speaks for
DATA_FILES = {
    ROOT / "plugins/normbench_torch/known_failures.toml": ["torch-cpu", "torch-compile"],
    ROOT / "plugins/normbench-onnxruntime/src/normbench_onnxruntime/known_failures.toml": ["onnxruntime"],
    ROOT / "plugins/normbench-keras/src/normbench_keras/known_failures.toml": ["keras-torch", "keras-jax",
                                                                              "keras-tensorflow"],
    ROOT / "plugins/normbench-flax/src/normbench_flax/known_failures.toml": ["flax", "flax-nnx"],
}
CASES = [c for op in (BN, LN, RMS, GN, IN) for c in op.cases()]


def _entries():
    return [(path.parent.name, backend, kf) for path, backends in DATA_FILES.items() for backend in backends
            for kf in load_known_failures(path, backend)]


def test_every_recorded_failure_loads_and_matches_a_case():
    """A field the cases lack raises; an entry no case reaches is stale (property-only ones aside)."""
    entries = _entries()
    assert len(entries) >= 30
    for plugin, backend, kf in entries:
        matched = [c for c in CASES if kf.matches(c)]
        assert matched or kf.restricted_to_property_cases, f"{plugin} {backend}: {kf.source} matches no case"
        assert len(kf.reason) > 40, f"{kf.source}: a reason says what is wrong and by how much"


RENAMES = (("offset", "shifted"), ("channels_last", "nhwc"), ("float32", "f32"), ("G=", "groups="), ("w=", "params="),
           ("noweight", "no-gamma"), ("constant", "flat"))


def test_renaming_an_id_fragment_cannot_flip_a_known_failure(monkeypatch):
    entries = _entries()
    original = CaseKey.render
    before = {(b, kf.source, c.id) for _, b, kf in entries for c in CASES if kf.matches(c)}
    data_before = {c.id: c.rng().standard_normal(4) for c in CASES}
    pattern = KnownFailure("re:groupnorm/offset/.*-float32-.*offset.*", "an id pattern, as users' files have")
    assert [c for c in CASES if pattern.matches(c)]

    def renamed(key: CaseKey) -> str:  # the same grammar, every fragment spelt differently
        spelt = original(key)
        for old, new in RENAMES:
            spelt = spelt.replace(old, new)
        return spelt

    monkeypatch.setattr(CaseKey, "render", renamed)
    assert "groupnorm/shifted/2x8x16x16-f32-nhwc-groups=4-shifted" in {c.id for c in CASES}  # the spelling moved
    after = {(b, kf.source, original(c.key)) for _, b, kf in entries for c in CASES if kf.matches(c)}
    assert after == before  # field records: not one verdict moved
    for c in CASES:
        np.testing.assert_array_equal(c.rng().standard_normal(4), data_before[original(c.key)])  # nor any data
    assert not [c for c in CASES if pattern.matches(c)]  # while an id pattern silently stops matching


def test_one_grammar_for_every_op():
    ids = {c.id for c in CASES}
    assert "groupnorm/layouts/2x8x4x5-float32-channels_last-G=2" in ids
    assert "layernorm/dtypes/4x8x64-float16-w=float32" in ids
    assert "batchnorm/dtypes/16x6-float16-w=float32" in ids  # BN's parameters are float32 for half input
    assert "batchnorm/layouts/4x3x5x6-float32-channels_last" in ids and "batchnorm/dtypes/4x3x5x6-float32" in ids
    case = next(c for c in CASES if c.id == "groupnorm/layouts/2x8x4x5-float32-channels_last-G=2")
    assert case.key.as_dict() == {"op": "groupnorm", "group": "layouts", "shape": [2, 8, 4, 5], "dtype": "float32",
                                  "param_dtype": "float32", "layout": "channels_last", "rank": 4, "tags": ["G=2"]}


class _Backend:
    def __init__(self, *known):
        self.known_failures = known


def _failed(case, *passes):
    comparisons = [Comparison("y" if p == "forward" else "dx", False, 1.0, 1.0, 9.0, pass_=p) for p in passes]
    return CaseResult(case, "fail", "off", comparisons, failed_in=passes)


def test_a_record_covers_only_its_op_fields_where_and_passes():
    case = next(c for c in LN.cases() if c.group == "offset" and c.dtype == "float32" and c.shape[-1] < 1000)
    long_row = next(c for c in LN.cases() if c.group == "offset" and c.dtype == "float32" and c.shape[-1] >= 1000)
    kf = KnownFailure(reason="short rows", op="layernorm", passes=("forward",), fields=(("data", ("offset",)),),
                      where=load_where("shape[-1] < 1000"), source="t.toml, failure 1")
    b = _Backend(kf)
    assert apply_known(b, _failed(case, "forward")).status == "xfail"
    assert apply_known(b, _failed(case, "forward", "backward")).status == "fail"  # backward is not listed
    assert apply_known(b, _failed(long_row, "forward")).status == "fail"  # the predicate says no
    passed = apply_known(b, CaseResult(case, "pass"))
    assert passed.status == "xpass" and "t.toml, failure 1" in passed.message
    other_op = next(c for c in RMS.cases() if c.group == "offset")
    assert apply_known(b, _failed(other_op, "forward")).status == "fail"


def load_where(text):
    from normbench.known import Where

    return Where(text, "t.toml, failure 1")


@pytest.mark.parametrize("text,message", [
    ('[[failure]]\nbackends = ["b"]\nop = "layernorm"\n', "t.toml, failure 1: 'reason' is missing"),
    ('[[failure]]\nbackends = "b"\nop = "layernorm"\nreason = "r"\n', "'backends' must be a list"),
    ('[[failure]]\nbackends = ["b"]\nop = "layernorm"\nreason = "r"\nwhere = "shape[-1] <"\n', "is not an expression"),
    ('[[failure]]\nbackends = ["b"]\nop = "layernorm"\nreason = "r"\nwhere = "shape.__class__"\n',
     "uses Attribute, which is not allowed"),
    ('[[failure]]\nbackends = ["b"]\nop = "layernorm"\nreason = "r"\nwhere = "open(\'x\')"\n', "may call only len"),
    ('[[failures]]\n', "unknown table 'failures'"),
    ('[[failure]\n', "not valid TOML"),
])
def test_malformed_data_files_are_refused_naming_file_and_entry(tmp_path, text, message):
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_known_failures(path, "b")


def test_a_field_the_cases_lack_is_an_error_not_a_silent_mismatch(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[[failure]]\nbackends = ["b"]\nop = "layernorm"\nhiden = 64\nreason = "r"\n'
                    '[[failure]]\nbackends = ["b"]\nop = "layernorm"\nwhere = "hiden < 64"\nreason = "r"\n')
    first, second = load_known_failures(path, "b")
    case = LN.cases()[0]
    with pytest.raises(InputError, match="t.toml, failure 1: layernorm cases have no field 'hiden'"):
        first.matches(case)
    with pytest.raises(InputError, match="t.toml, failure 2: .*no field 'hiden'"):
        second.matches(case)


def test_records_survive_pickling_to_and_from_workers():
    import pickle

    (kf,) = [k for _, b, k in _entries() if b == "torch-cpu" and k.where and "16, 16, 16" in k.where.text]
    again = pickle.loads(pickle.dumps(kf))
    assert again == kf and [c.id for c in CASES if again.matches(c)] == [c.id for c in CASES if kf.matches(c)]


def test_check_uses_a_plugins_data_file_and_warns_of_its_stale_entries(capsys):
    code = main(["check", "--no-invariance", "--plugin", "recorded_defects", "--backend", "recorded-onepass", "--norm", "batchnorm",
                 "--jobs", "1"])
    out, err = capsys.readouterr()
    assert code == 1  # its other one-pass failures (2x3, 8192x16...) are not listed: they stay failures
    assert "known failure: recorded-onepass batchnorm/offset/4x3x5x6-float32-offset: dx: max abs err" in out
    assert ("recorded-onepass's known failure recorded_defects.toml, failure 2 (batchnorm shape=(3, 3, 3)) matches "
            "no case that ran (stale entry?)") in err
    assert "failure 1" not in err and "failure 3" not in err
    code = main(["check", "--no-invariance", "--plugin", "recorded_defects", "--backend", "recorded-onepass", "--norm", "batchnorm",
                 "--group", "offset"])
    assert "stale" not in capsys.readouterr().err  # a narrowed run leaves entries unmatched by design


def test_case_records_carry_their_key_into_check_json():
    case = next(c for c in GN.cases() if c.group == "layouts")
    d = CaseResult(case, "pass").as_dict()
    assert d["case"] == case.id and d["key"]["tags"] == list(case.key.tags) and d["key"]["op"] == "groupnorm"
    assert dataclasses.is_dataclass(case) and d["failed_in"] == []


def test_a_new_field_at_its_default_changes_no_existing_data():
    """Seeds come from the fields that differ from their defaults: an op that grows a field (as
    GroupNorm's param_layout did) keeps every existing case's data."""
    from normbench.ops.rowwise import Case

    extended = dataclasses.make_dataclass("Extended", [("new_knob", int, dataclasses.field(default=0))],
                                          bases=(Case,), frozen=True)
    case = next(c for c in LN.cases() if c.group == "offset")
    same = extended(**{f.name: getattr(case, f.name) for f in dataclasses.fields(case)})
    draw = case.rng().standard_normal(8)
    np.testing.assert_array_equal(same.rng().standard_normal(8), draw)
    assert not np.array_equal(dataclasses.replace(same, new_knob=1).rng().standard_normal(8), draw)


#: a figure measured once: "1.7x the tolerance", "off by 650", "relative error 1.3e-4", "(2.6e5x)"
MEASURED = re.compile(r"\d(\.\d+)?(e[+-]?\d+)?x\b|off by (up to )?[\d.]+|error (of )?[\d.]+(e-?\d+)?\b|\b\d+(\.\d+)? (float\d+ )?ulps")


@pytest.mark.parametrize("path", list(DATA_FILES), ids=lambda p: p.parent.name)
def test_a_reason_states_no_figure_measured_once(path):
    """Issue 27: every run reports the error it measures beside the reason; a figure in the
    reason itself goes stale (Flax's "y is off by 650" while runs measured 650 to 2.07e3)."""
    for backend in DATA_FILES[path]:
        for entry in load_known_failures(path, backend):
            found = MEASURED.search(entry.reason)
            assert not found, f"{path.name}: {found.group(0)!r} in {entry.reason!r}"
