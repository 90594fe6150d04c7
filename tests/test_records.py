"""Typed records: a run header and a measurement, serialized as versioned JSON and parsed back."""
import dataclasses
import json

import pytest

from normbench._results import benchfile
from normbench.cli import main
from normbench.errors import InputError
from normbench.records import BENCH_SCHEMA, COLUMNS, Measurement, RunHeader
from normbench._results.runinfo import header, new_run_id, now


def _measurement(**extra):
    return Measurement(norm="layernorm", backend="numpy", op="forward", dtype="float32", layout="contiguous",
                       shape="64x256", axes={"rows": 64, "hidden": 256}, threads=1, median_s=2e-4, q1_s=1.9e-4,
                       q3_s=2.1e-4, n_samples=4, unstable=False, contended=False, processes=2,
                       samples_s=[1.9e-4, 2e-4, 2e-4, 2.1e-4], process_n=[2, 2], run_id="r1", **extra)


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_a_measurement_and_its_header_survive_a_file(tmp_path, suffix):
    m = _measurement()
    head = header("r1", now(), protocol={"rigor": "quick"})
    path = tmp_path / f"bench{suffix}"
    benchfile.write(path, [m.as_row()], [head])
    (row,), runs = benchfile.read(path)
    assert Measurement.from_row(row) == m
    assert list(row)[:8] == ["norm", "backend", "op", "dtype", "layout", "shape", "rows", "hidden"]
    if suffix == ".json":
        assert json.loads(path.read_text())["normbench_bench"] == BENCH_SCHEMA
        (again,) = runs
        assert again == head and again.protocol == {"rigor": "quick"} and again.machine == head.machine
    else:
        assert runs == []  # CSV is the flat export: headers live in JSON only


def test_the_header_is_a_typed_record():
    head = header(new_run_id(), now())
    assert isinstance(head, RunHeader) and head.normbench_version and head.machine["cpu"]
    d = head.as_dict()
    assert "protocol" not in d and d["schema"] == BENCH_SCHEMA
    assert RunHeader.from_dict(d) == head
    assert set(COLUMNS) == {f.name for f in dataclasses.fields(Measurement)} - {"axes"}


@pytest.mark.parametrize("data,message", [
    ({"normbench_bench": 99, "rows": []}, "bench file schema 99 is newer than this normbench reads (up to 5)"),
    ({"rows": [{"norm": "batchnorm", "backend": "numpy", "op": "train", "shape": "2x8", "median_s": "fast"}]},
     "row 1: median_s = 'fast' is not a number"),
    ({"rows": [{"norm": "batchnorm", "op": "train", "shape": "2x8"}]}, "row 1: no 'backend'"),
    ({"rows": [], "runs": [{"started": "x"}]}, "run 1: the run header has no run_id"),
    ({"rows": [], "runs": [{"run_id": "r", "machine": "mine"}]}, "run 1: 'machine' must be an object"),
    ({"rows": [{"norm": "batchnorm", "backend": "numpy", "op": "train", "shape": "2x8", "unstable": "maybe"}]},
     "row 1: unstable = 'maybe' is not true or false"),
])
def test_a_file_that_is_not_what_it_claims_is_refused_in_one_line(tmp_path, capsys, data, message):
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        benchfile.read(path)
    assert main(["report", "--input", str(path), "--output", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_configuration_key_is_written_once():
    """records.CONFIG is the one definition: a row measured for a Config carries that Config's key,
    and compare, the store, the floor and the Bencher export build theirs from it."""
    from normbench import load_plugins, measure
    from normbench._results.compare import CONFIG_KEYS
    from normbench._timing import floor
    from normbench._timing.bench import Config
    from normbench.records import CONFIG, config_key, key_value
    from normbench.store import SERIES_KEYS
    from normbench.store.bencher import NAME_KEYS

    reg = load_plugins()
    op = reg.op("layernorm")
    cfg = Config(op, "forward", (4, 16), "float32", "contiguous")
    row = measure(reg.get("numpy"), op, cfg.pass_, cfg.shape, cfg.dtype, cfg.layout, rigor="quick", repeat=2)
    assert config_key(row) == cfg.key() == ("layernorm", "forward", "4x16", "float32", "contiguous")
    assert CONFIG_KEYS[:len(CONFIG)] == CONFIG and NAME_KEYS == CONFIG_KEYS
    assert SERIES_KEYS[1:1 + len(CONFIG)] == CONFIG and floor.config_key is config_key
    assert (key_value(2.0), key_value(float("nan")), key_value(None), key_value(3)) == ("2", "", "", "3")
