"""Was the timed process descheduled? What else was the machine running? (read around every sample)

A 2-thread kernel on a 2-core machine that shares a core with another busy process waits whole
scheduler slices: its sample is then the other process's time, not the kernel's. Load averages
see that a minute late and only on average. These readings are per sample and per process:

- **run delay**: the time this process's threads spent runnable but waiting for a CPU
  (``/proc/self/task/*/schedstat``, second field, summed over threads);
- **involuntary context switches** (``getrusage``): the scheduler took a CPU away;
- **runnable tasks** on the machine (``/proc/loadavg``'s fourth field) and **steal time** (a
  hypervisor gave the CPU to another guest: ``/proc/stat``).

A sample is *contended* when its threads, together, waited for a CPU more than
:data:`WAIT_LIMIT` of its wall time. Preemptions alone would miss the common case: a thread
pool's worker sleeps between calls, wakes, and then waits in the run queue behind another
process; that is no involuntary switch, but it is run delay, and the whole team waits for it
at the barrier. (Waking a pool onto an idle core costs microseconds: measured 0.0 median wait
on this project's quiet VM.) Preemptions are recorded beside it. Where Linux gives no run delay
(another OS), no sample is ever set aside and ``wait_fraction`` is empty.
"""
from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

#: run delay (summed over threads), as a fraction of a sample's wall time, above which a sample is contended
WAIT_LIMIT = 0.05
_TASKS = "/proc/self/task"


def _run_delays() -> dict[str, int] | None:
    """Run delay (ns) of each of this process's threads, by thread id (None where unreadable)."""
    out = {}
    try:
        tids = os.listdir(_TASKS)
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"{_TASKS}/{tid}/schedstat", "rb") as f:
                out[tid] = int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended between listdir and open
    return out or None


def runnable_tasks() -> int | None:
    """Tasks runnable on the whole machine right now, this one included (None where unknown)."""
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return None


def steal_ticks() -> int | None:
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) if len(fields) > 8 else None
    except (OSError, ValueError):
        return None


@dataclass
class Reading:
    wall: float
    cpu: float
    delays: dict[str, int] | int | None  # by thread id (a plain total is accepted too)
    nivcsw: int
    minflt: int = 0  # minor page faults so far (the same getrusage call: no second read per sample)


def read() -> Reading:
    """A snapshot of this process (taken outside the timed region)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return Reading(time.perf_counter(), ru.ru_utime + ru.ru_stime, _run_delays(), ru.ru_nivcsw, ru.ru_minflt)


@dataclass
class SampleState:
    """What happened to the process during one sample."""

    wait_fraction: float | None  # run delay / wall time (None: unmeasured)
    preemptions: int
    cpu_fraction: float  # process CPU time / wall time (threads busy on average)

    @property
    def contended(self) -> bool:
        return self.wait_fraction is not None and self.wait_fraction > WAIT_LIMIT


def _delay_delta(a, b) -> int | None:
    """Run delay accrued between two readings, over the threads seen in both (a thread that
    started or ended in between cannot make it negative)."""
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return max(0, b - a)
    common = set(a) & set(b)
    return sum(max(0, b[t] - a[t]) for t in common) if common else None


def between(a: Reading, b: Reading) -> SampleState:
    wall = max(b.wall - a.wall, 1e-9)
    delta = _delay_delta(a.delays, b.delays)
    wait = None if delta is None else delta / 1e9 / wall
    return SampleState(wait, b.nivcsw - a.nivcsw, (b.cpu - a.cpu) / wall)


def machine_busy(usable_cores: int, seconds: float = 1.0) -> tuple[bool, str]:
    """Is something else using the CPUs? Averages the runnable-task count over ``seconds``
    (pyperf warns the same way before it times). Returns (busy, a line that says why)."""
    counts = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        n = runnable_tasks()
        if n is None:
            return False, "runnable tasks unknown on this OS"
        counts.append(n - 1)  # minus this process
        time.sleep(0.05)
    mean = sum(counts) / len(counts)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    why = f"{mean:.1f} other runnable tasks on average over {seconds:g} s, 1-minute load {load:.2f}, {usable_cores} cores"
    return mean >= 0.5, why
