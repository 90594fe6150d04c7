"""The timing protocol's parts that need no timing: memory policy, contention readings, blocks."""
import os
import subprocess
import sys

import pytest

from normbench._runtime import memory
from normbench._timing import contention
from normbench._timing.bench import RIGORS, Config, blocks_of
from normbench.ops.batchnorm import OP
from normbench.ops.layernorm import OP as LN


def test_the_reuse_policy_replaces_the_users_malloc_variables_and_system_removes_them():
    env = memory.worker_env("reuse", {"MALLOC_MMAP_THRESHOLD_": "1", "GLIBC_TUNABLES": "x", "PATH": "/bin"})
    assert env["MALLOC_MMAP_THRESHOLD_"] == str(1 << 30) and env["MALLOC_TRIM_THRESHOLD_"] == str((1 << 31) - 1)
    assert "GLIBC_TUNABLES" not in env and env["PATH"] == "/bin" and env[memory.ENV] == "reuse"
    env = memory.worker_env("system", {"MALLOC_MMAP_THRESHOLD_": "1", "PATH": "/bin"})
    assert not [k for k in env if k.startswith("MALLOC_")] and env[memory.ENV] == "system"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_under_reuse_a_freed_64_mib_block_comes_back_without_page_faults():
    probe = ("import resource, numpy as np, sys\n"
             "from normbench._runtime import memory\n"
             "print(memory.apply(sys.argv[1]))\n"
             "def once():\n"
             "    a = np.empty(16 << 20, np.float32); a[:] = 1\n"
             "once(); once()\n"
             "f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
             "for _ in range(5): once()\n"
             "print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 5)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = {p: subprocess.run([sys.executable, "-c", probe, p], capture_output=True, text=True, env=env,
                             check=True).stdout.split() for p in ("reuse", "system")}
    assert out["reuse"][0] == "reuse" and float(out["reuse"][1]) < 10
    # 64 MiB (above glibc's 32 MiB threshold cap) of fresh pages per call: what the policy removes (NumPy asks
    # for transparent huge pages on large arrays, so it is hundreds of 2 MiB faults here, not 16,384)
    assert float(out["system"][1]) > 100


def test_a_sample_that_waited_for_a_cpu_is_contended():
    a = contention.Reading(wall=0.0, cpu=0.0, delays={"1": 0, "2": 0}, nivcsw=0)
    quiet = contention.between(a, contention.Reading(wall=0.01, cpu=0.02, delays={"1": 20_000, "2": 0}, nivcsw=0))
    busy = contention.between(a, contention.Reading(wall=0.01, cpu=0.01, delays={"1": 0, "2": 4_000_000}, nivcsw=0))
    # a thread that ended (its delay gone) and one that started cannot make the wait negative or huge
    churn = contention.between(a, contention.Reading(wall=0.01, cpu=0.01, delays={"2": 10, "9": 10**9}, nivcsw=0))
    assert churn.wait_fraction == pytest.approx(1e-6) and not churn.contended
    unknown = contention.between(contention.Reading(0.0, 0.0, None, 0), contention.Reading(0.01, 0.01, None, 3))
    assert not quiet.contended and quiet.cpu_fraction == pytest.approx(2.0)
    assert busy.contended and busy.wait_fraction == pytest.approx(0.4)  # a woken pool thread queued behind a hog
    assert not unknown.contended and unknown.wait_fraction is None and unknown.preemptions == 3


def test_readings_of_this_process():
    r = contention.read()
    assert r.nivcsw >= 0 and r.cpu > 0
    if sys.platform.startswith("linux"):
        assert r.delays and contention.runnable_tasks() >= 1


def test_blocks_are_even_cover_the_plan_in_order_and_may_span_ops():
    todo = [Config(OP, "train", (8, i, 4, 4), "float32", "contiguous") for i in range(1, 15)]
    todo += [Config(LN, "forward", (8, i), "float32", "contiguous") for i in range(1, 4)]
    blocks = blocks_of(todo, size=6)
    # 17 configurations in ceil(17 / 6) = 3 blocks, no short tail block of one op
    assert [len(b) for b in blocks] == [6, 5, 6] and [c for b in blocks for c in b] == todo
    assert {c.op.name for c in blocks[-1]} == {OP.name, LN.name}
    assert blocks_of([], size=6) == [] and [len(b) for b in blocks_of(todo[:5], size=6)] == [5]
    assert RIGORS["default"].processes >= 3  # the floor: several fresh processes by default


def test_slow_calls_get_the_time_their_samples_need_and_are_not_called_contended():
    import time as _time

    from normbench._timing.bench import Prepared, run_samples

    class Slow:
        def synchronize(self):
            pass

    got = run_samples(Prepared(lambda: _time.sleep(0.15), Slow(), 1), number=1, min_samples=4, budget_s=0.01)
    # 4 samples of 0.15 s need 0.6 s, beyond 4x the 10 ms budget: the limit follows the samples' own length
    assert len(got["samples"]) == 4 and not got["contended"] and got["set_aside"] == 0
    assert all(0.14 < s < 0.5 for s in got["samples"])


class _Counting:
    """A call that sleeps ``seconds`` and counts itself."""

    def __init__(self, seconds: float):
        self.seconds, self.calls = seconds, 0

    def __call__(self):
        import time as _time

        self.calls += 1
        _time.sleep(self.seconds)

    def synchronize(self):
        pass


def test_calibration_takes_one_long_call_at_its_word_and_the_best_of_three_short_ones():
    from normbench._timing.bench import Prepared, calibrate

    slow = _Counting(0.012)
    number, _ = calibrate(Prepared(slow, slow, 1))
    assert number == 1 and slow.calls == 2  # the warm-up, then one call of >= 10 ms settles it
    fast = _Counting(0.0005)
    number, _ = calibrate(Prepared(fast, fast, 1))
    assert fast.calls == 4 and 2 <= number <= 4  # warm-up + best of three; ~0.5 ms a call -> about 2 ms a sample


def test_calibration_just_run_counts_toward_the_settling_warm_up():
    from normbench._timing.bench import SETTLE_S, Prepared, run_samples

    # SETTLE_S of 10 ms calls: at least all but one of them (the loop checks the clock between calls)
    for warm, settle_calls in ((SETTLE_S, 0), (0.0, max(1, round(SETTLE_S / 0.01) - 1))):
        c = _Counting(0.01)
        got = run_samples(Prepared(c, c, 1), number=1, min_samples=3, budget_s=0.001, warm_s=warm)
        assert c.calls - len(got["samples"]) - got["set_aside"] >= settle_calls
        if warm:
            assert c.calls == len(got["samples"]) + got["set_aside"]  # no untimed call at all
