"""bench --floor: the bandwidth floor measured as one more backend under the timing protocol."""
import numpy as np
import pytest

from normbench._results import benchfile
from normbench._timing import floor
from normbench.cli import main


@pytest.mark.parametrize("threads", [1, 2])
def test_copy_call_reads_and_writes_the_bytes_of_the_byte_model(monkeypatch, threads):
    b = floor.CopyFloor(["layernorm"])
    b.set_threads(threads)
    call = b.copy_call(2 * 8 * 100_000)  # 800 KB read and 800 KB written
    copied = []
    real = np.copyto
    monkeypatch.setattr(np, "copyto", lambda dst, src: (copied.append(dst.nbytes + src.nbytes), real(dst, src)))
    call()
    assert sum(copied) == 2 * 8 * 100_000
    assert b.ops["layernorm"].dtypes >= {"float16", "bfloat16", "float32", "float64"}


def test_attach_takes_the_floor_from_the_copy_floor_row_of_the_same_configuration():
    key = dict(norm="layernorm", op="forward", shape="8x8", dtype="float32", layout="contiguous")
    rows = [dict(key, backend="numba", gbps=20.0, copy_gbps=99.0, floor_fraction=0.2),
            dict(key, backend=floor.NAME, gbps=40.0, copy_gbps=35.0, floor_fraction=40 / 35),
            dict(key, shape="4x4", backend="numba", gbps=10.0, copy_gbps=50.0, floor_fraction=0.2)]
    out = floor.attach(rows)
    assert out[0]["copy_gbps"] == 40.0 and out[0]["floor_fraction"] == pytest.approx(0.5)
    assert out[1]["floor_fraction"] == 1.0  # the floor is 100% of itself
    assert out[2]["copy_gbps"] == 50.0 and out[2]["floor_fraction"] == 0.2  # no floor row: left alone


def test_bench_floor_measures_the_copy_under_the_protocol(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["bench", "--norm", "layernorm", "--backend", "numpy", "--floor", "--shape", "256x256",
                 "--rigor", "quick", "--threads", "1", "--output", str(out)])
    assert code == 0
    rows, _ = benchfile.read(out)
    by = {(r["backend"], r["op"]): r for r in rows}
    for pass_ in ("forward", "backward"):
        f, k = by[(floor.NAME, pass_)], by[("numpy", pass_)]
        assert 2 <= len(f["process_n"]) <= 4 and f["n_samples"] >= 10  # fresh processes under quick's rule, like numpy's
        assert f["bytes"] == k["bytes"]  # the same byte model
        assert k["copy_gbps"] == f["gbps"] and k["floor_fraction"] == pytest.approx(k["gbps"] / f["gbps"])
        assert 0 < k["floor_fraction"] < 1.5  # NumPy's LayerNorm makes several passes: slower than one copy
    assert floor.NAME not in capsys.readouterr().err  # no skip or failure mentions it
