"""The scheduler (normbench._timing.schedule): which rows get another process, why each stopped, what is
left; and the commands built on it (bench's rule options and --resume, ab)."""
from __future__ import annotations

import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from normbench._results import stats
from normbench._timing import sequential
from normbench._timing.bench import Config, blocks_of
from normbench.cli import main
from normbench.ops.layernorm import OP as LN
from normbench._timing.paired import PairedManager, interleaved_samples, merge_scopes
from normbench._timing.schedule import STEP_PRIOR_S, Manager

PROTOCOL = Path(__file__).resolve().parent.parent / "reports" / "protocol"


class Stub:
    """A backend the Manager can plan with (never started: these tests feed it processes)."""

    name = "stub"
    ops = {"layernorm": ()}

    def availability(self):
        return True


def manager(rule: sequential.Rule, n: int = 4) -> Manager:
    todo = [Config(LN, "forward", (8 * (i + 1), 16), "float32", "contiguous") for i in range(n)]
    return Manager([Stub()], todo, rule=rule, min_samples=5, budget_s=0.01, threads=1, timeout=10, plugins=(),
                   scopes={}, policy="reuse", make_row=lambda *a, **k: {}, seed=1, blocks=blocks_of)


def feed(m: Manager, pair, level: float, rng: random.Random, within: float = 0.005) -> None:
    m.results.add(pair, {"samples": [level * math.exp(rng.gauss(0, within)) for _ in range(10)], "number": 1})
    m.step_s.setdefault(pair[1], []).append(0.2)


def test_rows_stop_when_sure_and_noisy_rows_run_to_their_cap():
    rule = sequential.Rule(3, 6, 0.05)
    m, rng = manager(rule), random.Random(0)
    quiet, noisy = (0, "stub"), (1, "stub")
    assert set(p for p in m.pairs() if m.needs_more(p)) == set(m.pairs())  # round 0: everything
    for _ in range(3):
        feed(m, quiet, 1e-3, rng)
        feed(m, noisy, 1e-3 * math.exp(rng.gauss(0, 0.4)), rng)
    assert not m.needs_more(quiet) and m.state(quiet) == "sure"
    while m.needs_more(noisy):
        feed(m, noisy, 1e-3 * math.exp(rng.gauss(0, 0.4)), rng)
    assert len(m.results.procs[noisy]) == rule.max_processes and m.state(noisy) == "cap"
    assert m.state((2, "stub")) == "running"


def test_a_failed_pair_gets_no_more_processes_and_a_fixed_rule_says_fixed():
    m = manager(sequential.Rule(2, 2, 0.05))
    rng = random.Random(1)
    feed(m, (0, "stub"), 1e-3, rng)
    m.ledger.fail((0, "stub"), "layernorm forward 8x16", RuntimeError("boom"))
    assert not m.needs_more((0, "stub")) and m.state((0, "stub")) == "lost"
    assert "error RuntimeError (boom)" in m.ledger.skipped[-1]
    for _ in range(2):
        feed(m, (1, "stub"), 1e-3, rng)
    assert m.state((1, "stub")) == "fixed"


def test_the_estimate_of_what_is_left_comes_from_measured_steps_and_each_rows_prediction():
    rule = sequential.Rule(3, 8, 0.05)
    m, rng = manager(rule, n=10), random.Random(2)
    before = m.total_steps()
    # nothing measured yet: every expected step at the prior
    assert m.seconds_left() == pytest.approx(sum(m.steps_left().values()) * STEP_PRIOR_S)
    assert before == round(10 * min(rule.max_processes, 3 * 1.7))  # the prior, before rows speak for themselves
    for n in range(10):
        for _ in range(3):
            feed(m, (n, "stub"), 1e-3, rng)
    assert m.total_steps() == 30 and m.seconds_left() == pytest.approx(0.0)  # all sure: nothing left
    for _ in range(2):
        feed(m, (0, "stub"), 1e-3 * math.exp(rng.gauss(0, 0.3)), rng)  # one row turns noisy
    left = m.steps_left()["stub"]
    assert 1 <= left <= rule.max_processes - 5 and m.seconds_left() == pytest.approx(0.2 * left, rel=1e-6)


def test_two_slow_first_steps_do_not_set_the_rate_of_the_phase():
    """The first steps carry imports and JIT builds (2 s where a step takes about 0.2 s): they move
    the estimate less than twofold (their median alone: ninefold), and a backend with three steps
    of its own goes by its own median."""
    m = manager(sequential.Rule(3, 6, 0.05), n=40)
    steps = sum(m.steps_left().values())
    m.step_s["stub"] = [2.0, 2.0]
    assert steps * STEP_PRIOR_S < m.seconds_left() < 2 * steps * STEP_PRIOR_S
    m.step_s["stub"] = [2.0, 2.0, 0.1, 0.1, 0.1]
    assert m.seconds_left() == pytest.approx(steps * 0.1)


def test_priors_hold_a_lucky_row_of_a_noisy_backend_back():
    """Three processes that agree by chance, on a backend whose processes usually disagree by 20%,
    are not sure against the backend's prior; alone they would be."""
    rule = sequential.Rule(3, 10, 0.05)
    m, rng = manager(rule, n=8), random.Random(3)
    for n in range(1, 8):
        for _ in range(3):
            feed(m, (n, "stub"), 1e-3 * math.exp(rng.gauss(0, 0.2)), rng)
    for _ in range(3):
        feed(m, (0, "stub"), 1e-3, rng)
    assert not m.needs_more((0, "stub"))  # no prior yet: judged on its own processes
    m.results.update_priors()
    assert m.results.priors["stub"].variance > 0.01 and m.needs_more((0, "stub"))


class Partner(Stub):
    name = "partner"


def paired_manager(rule: sequential.Rule, n: int = 4) -> PairedManager:
    todo = [Config(LN, "forward", (8 * (i + 1), 16), "float32", "contiguous") for i in range(n)]
    return PairedManager([Stub(), Partner()], todo, rule=rule, min_samples=5, budget_s=0.01, threads=1, timeout=10,
                         plugins=(), scopes={}, policy="reuse", make_row=lambda *a, **k: {}, seed=1, blocks=blocks_of)


def feed_pair(m: PairedManager, n: int, shift: float, factor: float, rng: random.Random, noise: float = 0.005) -> None:
    """One process of configuration n on both backends: the process's own ``shift`` moves both."""
    level = 1e-3 * math.exp(shift)
    for name, f in (("stub", 1.0), ("partner", factor * math.exp(rng.gauss(0, noise)))):
        m.results.add((n, name), {"samples": [f * level * math.exp(rng.gauss(0, 0.002)) for _ in range(10)],
                                  "number": 1})


def test_paired_rows_stop_on_their_ratio_not_on_each_versions_time():
    """Processes 30% apart that agree on B/A to 0.5%: sure at the minimum, though each version's
    own time is far from sure; a configuration whose ratio itself wanders runs to the cap."""
    rule = sequential.Rule(3, 6, 0.05)
    m, rng = paired_manager(rule), random.Random(4)
    for _ in range(3):
        feed_pair(m, 0, rng.gauss(0, 0.3), 1.3, rng)
        feed_pair(m, 1, rng.gauss(0, 0.3), 1.3, rng, noise=0.4)
    assert m.results.assessment((0, "stub")).needs_more  # alone, A's row would want more
    assert not m.needs_more((0, "stub")) and not m.needs_more((0, "partner"))
    assert m.state((0, "stub")) == m.state((0, "partner")) == "sure"
    while m.needs_more((1, "partner")):
        feed_pair(m, 1, rng.gauss(0, 0.3), 1.3, rng, noise=0.4)
    assert len(m.results.procs[(1, "stub")]) == rule.max_processes and m.state((1, "stub")) == "cap"
    assert m.pairs() == [(n, x) for n in range(4) for x in ("stub", "partner")]
    assert m.expected_processes((0, "stub")) == 3


def test_a_paired_failure_costs_the_configuration_on_both_and_names_the_two():
    from normbench._runtime.worker import WorkerDied

    m = paired_manager(sequential.Rule(2, 4, 0.05))
    cfg = m.todo[0]
    for _ in range(2):
        m.fail_both(0, cfg, WorkerDied("worker exited with status 1"))
    assert m.state((0, "stub")) == m.state((0, "partner")) == "lost"
    assert m.ledger.skipped[0].startswith("stub+partner layernorm forward 8x16")
    assert "dropped for the rest of the run after 2 failures" in m.ledger.skipped[1]
    assert {"stub", "partner"} <= m.ledger.dropped and not m.live((1, "stub"))


def test_a_paired_worker_imports_what_either_backend_needs():
    assert merge_scopes({"only": ["ops", "a"], "exclude": ["bad"]}, {"only": ["ops", "b"], "exclude": []}) == \
        {"only": ["ops", "a", "b"], "exclude": ["bad"]}
    assert merge_scopes({"only": ["a"]}, None) is None


class _Timed:
    """A prepared call that logs its name and takes ``seconds`` (busy), as a kernel would."""

    def __init__(self, name: str, seconds: float, log: list[str]):
        self.name, self.seconds, self.log = name, seconds, log
        self.backend = self

    def call(self):
        self.log.append(self.name)
        end = time.perf_counter() + self.seconds
        while time.perf_counter() < end:
            pass

    def synchronize(self):
        pass


def test_interleaved_samples_alternate_a_b_b_a_one_sample_at_a_time_and_stay_aligned(monkeypatch):
    from normbench._timing import bench

    monkeypatch.setattr(bench, "SETTLE_S", 0.0)  # no warm-up: the log is the samples' calls alone
    log: list[str] = []
    timing = {"a": {"prepared": _Timed("a", 1e-4, log), "number": 1},
              "b": {"prepared": _Timed("b", 3e-4, log), "number": 1}}
    got = interleaved_samples(timing, ["b", "a"], min_samples=6, budget_s=0.003)
    assert log[:8] == ["b", "a", "a", "b"] * 2 and len(log) % 4 == 0
    a, b = got["a"]["samples"], got["b"]["samples"]
    # a block with a contended sample is set aside whole (beside other tests, one may be)
    assert len(a) == len(b) >= 6 and len(a) + got["a"]["set_aside"] == len(log) // 2
    assert got["a"]["set_aside"] == got["b"]["set_aside"] and sum(a) >= 0.003  # A's budget sets the count
    assert got["a"]["interleaved"] and 2.0 < statistics.median(b) / statistics.median(a) < 4.5
    blocks = stats.block_log_ratios(b, a)
    assert len(blocks) == len(a) // 2 and math.exp(statistics.median(blocks)) == pytest.approx(3.0, rel=0.4)


def test_bench_rule_options_bound_every_rows_processes(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["bench", "--norm", "layernorm", "--backend", "numpy", "--shape", "16x32", "--shape", "64x32",
                 "--min-processes", "2", "--max-processes", "3", "--target", "1%", "--repeat", "3",
                 "--placement", "heap", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    p = data["runs"][0]["protocol"]
    assert (p["min_processes"], p["max_processes"], p["target"], p["placement"]) == (2, 3, 0.01, "heap")
    for r in data["rows"]:
        assert 2 <= r["processes"] <= 3 and r["placements"] == []  # heap: no pads drawn
        assert r["stop"] in ("sure", "cap")
        assert r["processes"] == 3 if r["stop"] == "cap" else r["half_width"] <= 0.01
    text = capsys.readouterr().out
    assert "procs ±95%" in text


def test_resume_measures_again_a_row_a_killed_run_left_running(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["bench", "--norm", "layernorm", "--backend", "numpy", "--shape", "16x32", "--op", "forward",
            "--processes", "2", "--repeat", "3", "-o", str(out)]
    assert main(args) == 0
    data = json.loads(out.read_text())
    data["rows"][0]["stop"] = "running"  # as a run killed between its rounds leaves it
    out.write_text(json.dumps(data))
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "1 configurations had fewer processes than asked" in err or "measuring them again" in err
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 1 and rows[0]["stop"] == "fixed"


def test_bad_rule_options_are_one_line_errors(capsys):
    assert main(["bench", "--norm", "layernorm", "--backend", "numpy", "--min-processes", "5",
                 "--max-processes", "3"]) == 2
    assert "--min-processes 5 is more than --max-processes 3" in capsys.readouterr().err
    assert main(["bench", "--target", "2"]) == 2
    assert "expected a fraction between 0 and 1" in capsys.readouterr().err


def _ab(*args, env_subjects: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NORMBENCH_SUBJECTS": env_subjects,
           "PYTHONPATH": os.pathsep.join([str(PROTOCOL), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    exe = str(Path(sys.executable).with_name("normbench"))
    return subprocess.run([exe, "ab", "subject-a", "subject-b", "--plugin", "slowed_numpy", "--norm", "layernorm",
                           "--threads", "1", "--processes", "4", "--repeat", "5", *args],
                          capture_output=True, text=True, env=env, timeout=600)


def test_ab_flags_a_version_three_times_slower_in_one_run(tmp_path):
    out = tmp_path / "ab.json"
    # calls of about a millisecond: long enough that a neighbour on the other core barely moves the 3x
    p = _ab("--shape", "256x1024", "--shape", "512x1024", "-o", str(out), "--json", env_subjects="a=1,b=3")
    assert p.returncode == 1, p.stderr
    result = json.loads(p.stdout)
    assert len(result) == 4 and all(r["backend"] == "subject-b" for r in result)
    # the spin makes every call 3x; beside another test worker on 2 cores one configuration may come out unclear
    assert sum(r["verdict"] == "slower" for r in result) >= 3 and not any(r["verdict"] == "faster" for r in result)
    # a spin preempted by a neighbour only runs longer, so the ratio may overshoot 3, never undershoot by much
    assert 2.2 < sorted(r["ratio"] for r in result)[1] <= sorted(r["ratio"] for r in result)[2] < 5
    assert "alternately inside the same fresh processes" in p.stderr and "REGRESSION" in p.stderr
    data = json.loads(out.read_text())
    assert {r["backend"] for r in data["rows"]} == {"subject-a", "subject-b"}
    assert data["runs"][0]["protocol"]["ab"] == {"a": "subject-a", "b": "subject-b", "design": "paired",
                                                   "samples": "interleaved A B B A"}
    # paired: both versions' processes of a configuration come in twos, their samples interleaved
    # (A B B A, one sample at a time), so each process holds as many samples of one as of the other
    by = {(r["shape"], r["op"], r["backend"]): r for r in data["rows"]}
    assert all(by[k[:2] + ("subject-a",)]["processes"] == r["processes"] == 4 for k, r in by.items())
    assert all(by[k[:2] + ("subject-a",)]["process_n"] == r["process_n"] for k, r in by.items())


def test_ab_unpaired_times_each_version_in_workers_of_its_own():
    p = _ab("--shape", "256x1024", "--op", "forward", "--unpaired", "--json", env_subjects="a=1,b=3")
    assert p.returncode == 1, p.stderr
    assert "each in workers of its own" in p.stderr
    assert json.loads(p.stdout)[0]["ratio"] > 2


def test_ab_with_a_partner_that_crashes_names_both_and_keeps_going(capsys):
    """The two versions share a worker: a crash costs that configuration on both, names the two
    (which one took the worker down cannot be told), and two of them drop the pair, in one line each."""
    code = main(["ab", "numpy", "crash-exit", "--plugin", "crashing_backends", "--norm", "batchnorm",
                 "--shape", "2x4x4x4", "--processes", "2", "--repeat", "3", "--threads", "1", "--seed", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "no configuration was measured on both numpy and crash-exit" in err
    assert "skipped: numpy+crash-exit batchnorm train 2x4x4x4 float32 contiguous: crash, worker exited with status 1" in err
    assert "dropped for the rest of the run after 2 failures" in err and "Traceback" not in err


def test_ab_refuses_the_same_backend_twice_and_an_unknown_one(capsys):
    assert main(["ab", "numpy", "numpy"]) == 2
    assert "the same backend" in capsys.readouterr().err
    assert main(["ab", "numpy", "no-such-backend"]) == 2
    assert "no-such-backend" in capsys.readouterr().err


DATA = Path(__file__).resolve().parent / "data" / "bench-0.12.json"


def test_files_from_0_12_are_read_compared_reported_and_resumed(tmp_path, capsys):
    """A bench file of schema 4 (normbench 0.12: a fixed 3 processes, no stop reason, no causes)."""
    from normbench._results import benchfile
    from normbench.cli.bench import procs_cell, result_table, unfinished
    from normbench._timing.bench import RIGORS

    rows, runs = benchfile.read(DATA)
    assert len(rows) == 6 and all(not r.get("stop") and r["half_width"] is None for r in rows)
    assert runs[0].protocol["processes"] == 3 and "rule" not in runs[0].protocol
    assert procs_cell(rows[0]).startswith("3: ")  # their processes' spread, as 0.12 showed it
    assert "spread above 10% (normbench 0.12's rule)" in result_table(rows)  # its one unstable row
    assert not any(unfinished(r, RIGORS["default"]) for r in rows)
    assert all(unfinished(r, RIGORS["rigorous"]) for r in rows)  # fewer processes than rigorous's minimum
    assert main(["compare", str(DATA), str(DATA)]) == 0
    assert "no configuration slower" in capsys.readouterr().out
    assert main(["report", "--input", str(DATA), "--output", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "README.md").read_text()
    assert "from a file without causes (normbench 0.12)" in text and "fixed 3 processes per row" in text


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores for torch-cpu to take two threads")
def test_ab_of_backends_at_different_thread_counts_says_so_in_one_line(capsys):
    """NumPy takes one thread whatever it is asked; torch-cpu takes two: their rows match no
    configuration, and the error says why and what to pass, not only that nothing matched."""
    code = main(["ab", "numpy", "torch-cpu", "--norm", "layernorm", "--shape", "4x8", "--op", "forward",
                 "--processes", "2", "--repeat", "3", "--threads", "2"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "numpy and torch-cpu ran at different thread counts (numpy: 1; torch-cpu: 2" in err
    assert "--threads 1" in err
