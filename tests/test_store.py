"""The results store (normbench.store): both kinds (SQLite, a real PostgreSQL server), round trips
with raw samples, concurrent writers, two machines side by side, the migration from the first
schema, refusals in one line, secrets never written, history, regressions and Bencher export."""
from __future__ import annotations

import json
import math
import multiprocessing
import random
import sqlite3

import pytest

from normbench.cli import main
from normbench.records import RunHeader
from normbench.store import open_store, schema

GRID = [f"{n}x{c}" for n in (64, 256) for c in (256, 1024, 4096)]


def _row(backend, shape, scale, rng, *, k=4, n=8, between=0.03, within=0.02, op="forward"):
    samples = []
    for _ in range(k):
        shift = math.exp(rng.gauss(0, between))
        samples += [scale * shift * 1e-4 * math.exp(rng.gauss(0, within)) for _ in range(n)]
    return {"norm": "layernorm", "backend": backend, "op": op, "dtype": "float32", "layout": "contiguous",
            "shape": shape, "threads": 1, "median_s": sorted(samples)[len(samples) // 2], "samples_s": samples,
            "process_n": [n] * k, "backend_version": "1.0", "memory_policy": "reuse", "unstable": False,
            "contended": False}


def _header(run_id, machine="alpha", started="2026-12-07T10:00:00+00:00", commit="abc"):
    return RunHeader(run_id=run_id, started=started, ended=started, git_commit=commit, command="normbench bench",
                     machine={"machine": machine, "cpu": "Test CPU", "cores": 2, "memory": "1 GiB"},
                     protocol={"memory_policy": "reuse"})


def _run_rows(rng, backends=("numpy", "numba", "torch-cpu", "subject"), slow=None, factor=1.3, shift=0.0):
    """One run of GRID on each backend, the machine shifted by ``shift`` (log) for the whole run."""
    rows = []
    for b in backends:
        for shape in GRID:
            for op in ("forward", "backward"):
                scale = math.exp(shift) * (factor if b == slow else 1.0)
                rows.append(_row(b, shape, scale, rng, op=op))
    return rows


def test_a_bench_run_and_a_check_run_round_trip(store_url):
    rng = random.Random(0)
    rows = _run_rows(rng, backends=("numpy",))
    with open_store(store_url, write=True) as store:
        assert store.version() == schema.VERSION
        assert store.add_bench_run(_header("r1"), rows, branch="main") == len(rows)
        assert store.add_bench_run(_header("r1"), rows) == 0  # the same run again: nothing added
        doc = {"normbench_check": 3, "run": _header("c1").as_dict(), "summary": "",
               "norms": {"layernorm": {"backends": [{"backend": "numpy", "failed": False, "counts": {"passed": 3}}]}}}
        assert store.add_check_run(doc) and not store.add_check_run(doc)
        runs = store.runs()
        assert [(r.run_id, r.kind, r.machine_name, r.size) for r in runs] == [("r1", "bench", "alpha", len(rows)),
                                                                           ("c1", "check", "alpha", 1)]
        assert runs[0].branch == "main"
        back = store.rows([store.run("r1")])
        assert [r["samples_s"] for r in back] == [r["samples_s"] for r in rows]
        assert [r["process_n"] for r in back] == [r["process_n"] for r in rows]
        assert store.check_results(store.run("c1", kind="check"))[0]["counts"] == {"passed": 3}
        assert store.run("latest").run_id == "r1"
        with pytest.raises(Exception, match="no such run"):
            store.run("zzz")


def _write_runs(url, machine, count, seed):
    rng = random.Random(seed)
    with open_store(url, write=True) as store:
        for i in range(count):
            store.add_bench_run(_header(f"{machine}-{i}", machine=machine, started=f"2026-12-07T10:00:{i:02d}+00:00"),
                                _run_rows(rng, backends=("numpy",)))


def test_concurrent_writers_lose_nothing(store_url):
    """Two processes make one new store and write six runs each into it at once, as two machines."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_runs, args=(store_url, m, 6, s)) for s, m in enumerate(("alpha", "beta"))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with open_store(store_url) as store:
        runs = store.runs("bench")
        assert len(runs) == 12 and all(r.size == len(GRID) * 2 for r in runs)
        assert sorted(name for _, name, _ in store.machines()) == ["alpha", "beta"]


def test_two_machines_are_side_by_side_never_mixed(store_url, tmp_path, capsys):
    rng = random.Random(3)
    with open_store(store_url, write=True) as store:
        for i in range(3):
            store.add_bench_run(_header(f"a{i}", "alpha", f"2026-12-07T10:0{i}:00+00:00"), _run_rows(rng, ("numpy",)))
            # beta is twice as slow: its series must never pull alpha's
            store.add_bench_run(_header(f"b{i}", "beta", f"2026-12-07T10:0{i}:30+00:00"),
                                _run_rows(rng, ("numpy",), slow="numpy", factor=2.0))
    plot = tmp_path / "h.png"
    assert main(["history", "--store", store_url, "--backend", "numpy", "--norm", "layernorm", "--op", "forward",
                 "--shape", "64x256", "--json", "--plot", str(plot)]) == 0
    points = json.loads(capsys.readouterr().out)
    assert [p["machine"] for p in points] == ["alpha", "beta"] * 3
    alpha = [p["time_s"] for p in points if p["machine"] == "alpha"]
    beta = [p["time_s"] for p in points if p["machine"] == "beta"]
    assert all(0.8e-4 < t < 1.2e-4 for t in alpha) and all(1.6e-4 < t < 2.4e-4 for t in beta)
    assert plot.stat().st_size > 1000
    # nothing changed within either machine's series, though the machines differ by 2x
    assert main(["regressions", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "REGRESSION" not in out and "IMPROVEMENT" not in out
    assert "0 regression(s), 0 improvement(s)" in out


def test_a_planted_slowdown_between_two_runs_is_the_only_change(store_url, capsys):
    """Two runs of four backends: ``subject`` 1.3x slower in the second. ``regressions`` names it,
    and nothing else, whatever the machine's own shift between the runs."""
    rng = random.Random(1)
    with open_store(store_url, write=True) as store:
        store.add_bench_run(_header("first", started="2026-12-07T10:00:00+00:00"), _run_rows(rng))
        store.add_bench_run(_header("second", started="2026-12-07T11:00:00+00:00", commit="def"),
                            _run_rows(rng, slow="subject"))
    assert main(["regressions", "--store", store_url, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found and {(c["backend"], c["kind"], c["run_id"], c["git_commit"]) for c in found} == \
        {("subject", "regression", "second", "def")}
    assert any(c["geometric_mean"] and 1.2 < c["ratio"] < 1.4 and c["low"] > 1.1 for c in found)


@pytest.mark.parametrize("shift", [0.0, 0.08, -0.06])
def test_the_machine_shift_is_taken_out_before_judging(tmp_path, shift, capsys):
    from normbench.store.changes import find_changes

    rng = random.Random(int(shift * 100) + 7)
    url = str(tmp_path / "s.sqlite")
    with open_store(url, write=True) as store:
        store.add_bench_run(_header("first", started="2026-12-07T10:00:00+00:00"), _run_rows(rng))
        store.add_bench_run(_header("second", started="2026-12-07T11:00:00+00:00"),
                            _run_rows(rng, slow="subject", shift=shift))
        found = find_changes(store)
    assert {c.key["backend"] for c in found.changes} == {"subject"}
    assert all(c.kind == "regression" for c in found.changes)
    assert "machine shift taken out" in found.notes[0]


def _first_schema_store(url):
    """A store as normbench wrote it under schema 1 (runs without a branch), with one run."""
    from normbench.store import db as dbmod

    db = dbmod.connect(url)
    with db.transaction():
        for statement in schema.MIGRATIONS[0][1]:
            db.execute(statement.format(id=db.id_column))
        db.execute("INSERT INTO normbench_meta (key, value) VALUES ('schema_version', '1')")
        db.execute("INSERT INTO machines (fingerprint, name, facts) VALUES ('fp1', 'old', '{}')")
        db.execute("INSERT INTO runs (run_id, kind, machine, started, ended, git_commit, normbench_version, header, "
                   "source) VALUES ('old-run', 'bench', 1, '2026-01-01', '2026-01-01', '', '0.13.0', ?, '')",
                   (json.dumps(_header("old-run").as_dict()),))
    db.close()


def _after_migration(store):
    rows = _run_rows(random.Random(5), backends=("numpy",))
    with store:
        assert store.version() == schema.VERSION == 2
        assert [(r.run_id, r.branch) for r in store.runs()] == [("old-run", "")]
        assert store.add_bench_run(_header("new-run"), rows, branch="dev") == len(rows)
        assert [r.branch for r in store.runs()] == ["", "dev"]


def test_an_embedded_store_from_the_first_schema_is_migrated_with_a_copy_kept(tmp_path, capsys):
    url = str(tmp_path / "v1.sqlite")
    _first_schema_store(url)
    assert main(["store", "info", "--store", url]) == 2  # reading does not migrate
    assert "has schema 1" in capsys.readouterr().err
    store = open_store(url, write=True)  # writing does, and says where the old file went
    assert store.migrated_from == 1 and store.backup.endswith(".schema1.bak")
    assert sqlite3.connect(store.backup).execute("SELECT value FROM normbench_meta").fetchone() == ("1",)
    _after_migration(store)


def test_a_postgresql_store_from_the_first_schema_waits_for_store_migrate(pg_server, capsys):
    url = pg_server.new_database()
    _first_schema_store(url)
    assert main(["store", "info", "--store", url]) == 2
    err = capsys.readouterr().err
    assert "has schema 1" in err and "normbench store migrate" in err and len(err.strip().splitlines()) == 1
    assert main(["store", "migrate", "--store", url]) == 0
    assert "schema 1 -> 2" in capsys.readouterr().out
    _after_migration(open_store(url))


def test_corrupt_foreign_and_newer_stores_are_refused_in_one_line(tmp_path, capsys):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    foreign = tmp_path / "foreign.sqlite"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    newer = tmp_path / "newer.sqlite"
    open_store(str(newer), write=True).close()
    con = sqlite3.connect(newer)
    con.execute("UPDATE normbench_meta SET value = '99'")
    con.commit()
    con.close()
    for path, message in ((junk, "not an SQLite database"), (foreign, "not a normbench store"),
                          (newer, "newer than this normbench"), (tmp_path / "absent.sqlite", "no store at")):
        assert main(["store", "info", "--store", str(path)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    bad = tmp_path / "bad.json"
    bad.write_text('{"what": 1}')
    assert main(["store", "import", "--store", str(tmp_path / "s.sqlite"), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "neither a normbench bench file nor a check" in err and len(err.strip().splitlines()) == 1
    assert main(["store", "info", "--store", "mysql://u:pw@host/db"]) == 2
    err = capsys.readouterr().err
    assert "scheme 'mysql' is not supported" in err and "pw@" not in err


def test_a_database_password_is_never_printed_or_stored(pg_server, tmp_path, capsys, monkeypatch):
    from normbench._results import runinfo
    from normbench.store import url as urls

    wrong = pg_server.url(password="Wr0ngPassw0rd")
    assert main(["store", "info", "--store", wrong]) == 2
    err = capsys.readouterr().err
    assert "Wr0ngPassw0rd" not in err and "connecting failed" in err and len(err.strip().splitlines()) == 1
    url = pg_server.new_database()
    monkeypatch.setenv("NORMBENCH_STORE", url)
    runinfo.set_command(["bench", "--store", url])
    head = runinfo.header("r-secret", runinfo.now())
    import pgserver

    assert urls.redact(url) in head.command and "***" in head.environment_variables["NORMBENCH_STORE"]
    assert pgserver.PASSWORD not in json.dumps(head.as_dict())
    with open_store(url, write=True) as store:
        store.add_bench_run(head, _run_rows(random.Random(1), backends=("numpy",)))
        stored = store.db.execute("SELECT header, source FROM runs")
        assert pgserver.PASSWORD not in json.dumps(stored) and store.name.count("***") == 1
    assert main(["store", "info"]) == 0
    out = capsys.readouterr().out
    assert pgserver.PASSWORD not in out and "***" in out


def test_import_bench_csv_and_check_files_once(tmp_path, capsys):
    from normbench._results import benchfile

    rng = random.Random(9)
    rows = [{**r, "run_id": "csv-run", "machine": "gamma", "timestamp": "2026-12-07T09:00:00+00:00"}
            for r in _run_rows(rng, backends=("numpy",))]
    benchfile.write(tmp_path / "a.csv", rows, [_header("csv-run", "gamma")])
    benchfile.write(tmp_path / "b.json", rows, [_header("csv-run", "gamma")])
    store = str(tmp_path / "s.sqlite")
    assert main(["store", "import", "--store", store, str(tmp_path / "b.json")]) == 0
    assert "1 run(s) added" in capsys.readouterr().out
    # the CSV twin names only its machine: matched to the stored one, so its run is already there
    assert main(["store", "import", "--store", store, str(tmp_path / "a.csv")]) == 0
    assert "0 run(s) added, 1 already in the store" in capsys.readouterr().out
    with open_store(store) as st:
        (run,) = st.runs()
        assert run.machine_name == "gamma" and run.size == len(rows)


def test_compare_two_runs_from_the_store(tmp_path, capsys):
    rng = random.Random(11)
    url = str(tmp_path / "s.sqlite")
    with open_store(url, write=True) as store:
        store.add_bench_run(_header("x1", started="2026-12-07T10:00:00+00:00"), _run_rows(rng, ("numpy",)))
        store.add_bench_run(_header("x2", started="2026-12-07T11:00:00+00:00"),
                            _run_rows(rng, ("numpy",), slow="numpy", factor=1.3))
    assert main(["compare", "--store", url, "run:latest~1", "run:latest"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION: numpy layernorm forward" in out
    assert main(["compare", "--store", url, "run:x1", "run:nope"]) == 2
    assert "no such run" in capsys.readouterr().err


BMF_SCHEMA = {  # Bencher Metric Format's JSON Schema, as bencher.dev/docs/reference/bencher-metric-format publishes it
    "$id": "https://bencher.dev/bmf.json",
    "$schema": "http://json-schema.org/draft-07/schema",
    "type": "object",
    "patternProperties": {".+": {"type": "object", "patternProperties": {".+": {
        "type": "object", "properties": {"value": {"type": "number"}, "lower_value": {"type": "number"},
                                         "upper_value": {"type": "number"}},
        "required": ["value"]}}}},
}


def _validate_bmf(doc):
    """BMF_SCHEMA checked by hand (no jsonschema dependency): objects of objects of metrics, each
    with a number ``value`` and optional number bounds, and nothing else."""
    assert isinstance(doc, dict) and doc
    for name, measures in doc.items():
        assert isinstance(name, str) and name and isinstance(measures, dict) and measures
        for slug, metric in measures.items():
            assert isinstance(slug, str) and slug and isinstance(metric, dict)
            assert set(metric) <= {"value", "lower_value", "upper_value"} and "value" in metric
            assert all(isinstance(v, float) and math.isfinite(v) for v in metric.values())
            if "lower_value" in metric:
                assert metric["lower_value"] <= metric["value"] <= metric["upper_value"]


def test_export_bencher_is_valid_bencher_metric_format(tmp_path, capsys):
    rng = random.Random(13)
    url = str(tmp_path / "s.sqlite")
    rows = _run_rows(rng, ("numpy",))
    with open_store(url, write=True) as store:
        store.add_bench_run(_header("e1"), rows)
    out = tmp_path / "bmf.json"
    assert main(["export", "--store", url, "--format", "bencher", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    _validate_bmf(doc)
    assert len(doc) == len(rows)
    name = "layernorm/forward/64x256/float32/contiguous/threads=1/numpy"
    assert set(doc[name]) == {"latency"} and 80_000 < doc[name]["latency"]["value"] < 120_000  # ns
    jsonschema = pytest.importorskip("jsonschema")  # the dev extra installs it
    jsonschema.validate(doc, BMF_SCHEMA)


def test_change_points_on_synthetic_series_with_known_steps():
    """ruptures' candidates and the samples' verdicts on ten-run histories with the noise this
    project's machine shows (whole-run shifts 4%, processes 3%, samples 2%): planted 30% steps are
    found at the default 10% threshold, 10% steps at a 5% threshold (a step the size of the
    threshold is not "more than" it), and histories without a step raise few alarms.
    reports/store/changepoints.py measures the rates over more histories."""
    import os
    import tempfile

    from normbench.store.changes import find_changes

    trials = 3
    hits = {(0.3, 0.10): 0, (0.1, 0.05): 0}
    alarms = {0.10: 0, 0.05: 0}
    with tempfile.TemporaryDirectory() as d:
        for t in range(trials):
            for step in (0.3, 0.1, 0.0):
                rng = random.Random(1000 * t + int(step * 100))
                url = os.path.join(d, f"s{t}-{step}.sqlite")
                with open_store(url, write=True) as store:
                    for i in range(10):
                        slow = "subject" if step and i >= 6 else None
                        store.add_bench_run(_header(f"r{i}", started=f"2026-12-07T10:{i:02d}:00+00:00"),
                                            _run_rows(rng, slow=slow, factor=1 + step, shift=rng.gauss(0, 0.04)))
                    for threshold in (0.10, 0.05):
                        found = find_changes(store, threshold=threshold)
                        right = [c for c in found.changes if c.key["backend"] == "subject" and c.at.run_id == "r6"
                                 and c.kind == "regression"]
                        if (step, threshold) in hits:
                            hits[(step, threshold)] += bool(right)
                        alarms[threshold] += any(c not in right for c in found.changes)
    assert hits[(0.3, 0.10)] == trials
    assert hits[(0.1, 0.05)] >= trials // 2
    assert alarms[0.10] <= 2 and alarms[0.05] <= 3  # of 9 histories each


def test_bench_and_check_add_their_runs_to_the_store(tmp_path, subprocess_env):
    """The real commands, in a subprocess as a user runs them: `bench` and `check` write the store
    named by $NORMBENCH_STORE unless --no-store, and their own output files as before."""
    import subprocess
    import sys
    from pathlib import Path

    store = tmp_path / "team.sqlite"
    env = {**subprocess_env, "NORMBENCH_STORE": str(store), "NORMBENCH_MACHINE": "ci-box"}
    nb = [str(Path(sys.executable).with_name("normbench"))]  # the venv's console script
    got = subprocess.run([*nb, "bench", "--backend", "numpy", "--norm", "rmsnorm", "--shape", "8x64", "--threads", "1",
                          "--rigor", "quick", "-o", str(tmp_path / "b.json")], env=env, capture_output=True, text=True,
                         timeout=300)
    assert got.returncode == 0, got.stderr
    assert f"stored the bench run in {store}" in got.stderr
    got = subprocess.run([*nb, "check", "--backend", "numpy", "--norm", "rmsnorm", "--no-invariance"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stderr[-2000:]
    got = subprocess.run([*nb, "bench", "--backend", "numpy", "--norm", "rmsnorm", "--shape", "8x64", "--threads", "1",
                          "--rigor", "quick", "--no-store"], env=env, capture_output=True, text=True, timeout=300)
    assert got.returncode == 0 and "stored" not in got.stderr
    from normbench._results import benchfile

    with open_store(str(store)) as st:
        runs = st.runs()
        assert [(r.kind, r.machine_name) for r in runs] == [("bench", "ci-box"), ("check", "ci-box")]
        stored = st.rows([runs[0]])
        written, _ = benchfile.read(tmp_path / "b.json")
        # the file rounds samples to 6 significant digits; the store keeps them whole
        assert stored and all(a["samples_s"] == pytest.approx(b["samples_s"], rel=1e-5) for a, b in zip(stored, written))
        assert st.check_results(runs[1]) and not any(r.get("failed") for r in st.check_results(runs[1]))
