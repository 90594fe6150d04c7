"""What a result file says about the run that made it: one header per run.

A timing means little without the machine and settings behind it. Every ``bench`` / ``run`` /
``check`` result file carries a header per run (schema version, run id, start and end time,
normbench version and git commit, command line, machine facts, the thread and JIT environment
variables, each backend's version and environment). Rows carry the run id, so two runs of one
machine stay apart in a report.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from ..records import BENCH_SCHEMA, RunHeader  # noqa: F401 - BENCH_SCHEMA: its old home
#: environment variables that change timings (thread pools, JIT, Keras's engine)
ENV_PREFIXES = ("OMP_", "MKL_", "NUMBA_", "OPENBLAS_", "KMP_", "GOMP_", "TORCH_", "NORMBENCH_", "MALLOC_")
ENV_NAMES = ("KERAS_BACKEND", "JAX_PLATFORMS", "CUDA_VISIBLE_DEVICES", "GLIBC_TUNABLES", "LD_PRELOAD")


_command: list[str] | None = None


def set_command(argv) -> None:
    """Record the normbench command line being run (the CLI calls this; argv without the program)."""
    global _command
    _command = ["normbench", *argv]


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    """Sortable and unique: UTC start time plus 6 random hex digits (``20261124T101500-3fa2c1``)."""
    return f"{_dt.datetime.now(_dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def cpu_model(cpuinfo: str | None = None) -> str:
    for line in (_read("/proc/cpuinfo") if cpuinfo is None else cpuinfo).splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def machine_facts() -> dict[str, Any]:
    """CPU, cores, frequency governor and memory where the OS lets us read them ("" where not)."""
    usable = usable_cores()
    mem = ""
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    cur = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    top = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    mhz = ""
    cpuinfo = _read("/proc/cpuinfo")
    if not cur:  # virtual machines often have no cpufreq; /proc/cpuinfo still says the clock
        for line in cpuinfo.splitlines():
            if line.startswith("cpu MHz"):
                mhz = f"{float(line.split(':', 1)[1]):.0f} MHz"
                break
    import numpy as np

    return {
        "machine": os.environ.get("NORMBENCH_MACHINE", platform.node()),
        "cpu": cpu_model(cpuinfo),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "frequency": f"{int(cur) / 1000:.0f} MHz (max {int(top) / 1000:.0f} MHz)" if cur and top else mhz,
        "memory": mem,
        "accelerators": accelerators(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
    }


def accelerators() -> str:
    """The machine's GPUs as ``count x model`` per model ("" without nvidia-smi): a fact that
    changes timings, read without importing a framework."""
    import shutil
    from collections import Counter

    smi = shutil.which("nvidia-smi")
    if not smi:
        return ""
    try:
        got = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    names = Counter(line.strip() for line in got.stdout.splitlines() if line.strip()) if not got.returncode else {}
    return ", ".join(f"{n} x {name}" for name, n in names.items())


def env_vars() -> dict[str, str]:
    from .redact import redact

    # a store's URL (NORMBENCH_STORE) may carry a password: results never do
    return {k: redact(v) for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES) or k in ENV_NAMES}


def git_commit() -> str:
    """The commit of the normbench checkout this runs from ("+dirty" with local changes); "" when installed."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return ""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    if head.returncode:
        return ""
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _redact(text: str) -> str:
    from .redact import redact

    return redact(text)


def branch() -> str:
    """The git branch of normbench's checkout, as :func:`git_commit` (``NORMBENCH_BRANCH`` overrides; "" where none)."""
    if os.environ.get("NORMBENCH_BRANCH"):
        return os.environ["NORMBENCH_BRANCH"]
    root = Path(__file__).resolve().parents[1]  # the checkout git_commit() reads, so branch and commit agree
    if not (root / ".git").exists():
        return ""
    try:
        got = subprocess.run(["git", "-C", str(root), "rev-parse", "--abbrev-ref", "HEAD"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    name = got.stdout.strip() if not got.returncode else ""
    return "" if name == "HEAD" else name


def header(run_id: str, started: str, *, backends: dict[str, dict] | None = None, ended: str = "",
           schema: int = BENCH_SCHEMA, protocol: dict[str, Any] | None = None) -> RunHeader:
    """The header of one run (see the module docstring). ``backends`` is kept as the caller's own
    dict (not a copy): bench fills it in as backends are measured."""
    from .. import __version__

    return RunHeader(run_id=run_id, started=started, ended=ended or now(), schema=schema,
                     normbench_version=__version__, git_commit=git_commit(), command=_redact(shlex.join(_command or sys.argv)),
                     machine=machine_facts(), environment_variables=env_vars(), protocol=protocol or None,
                     backends=backends if backends is not None else {})
