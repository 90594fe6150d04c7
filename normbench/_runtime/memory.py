"""The memory policy every timing process runs under: one for all backends, recorded with every row.

Why it matters: glibc serves a block above its *dynamic* mmap threshold with fresh pages from
the kernel, which faults every page in (and zeroes it) on first touch, and gives them back on
``free``. The threshold grows as such blocks are freed, but only up to 32 MiB, so whether an
output of a kernel pays ~8,000 page faults per call depends on its size and on what the
process freed before. Measured on this project's 2-core VM: torch-cpu's LayerNorm forward at
8192x1024 float32 took 8.9-15.7 ms under glibc's defaults and 1.6 ms with the heap reused, at
8,194 minor faults per call against 0. A backend with a caching pool of its own (Numba's had
one) then "wins" by the allocator, not the kernel.

Policies:

- ``reuse`` (default): a steady state in which a kernel does not pay the OS for fresh pages on
  every call. glibc's mmap threshold is fixed at 1 GiB (no dynamic growth, so no history) and
  its trim threshold at 2 GiB - 1, so freed blocks stay in the heap and the next call reuses
  them. Set through glibc's environment variables before the worker process starts (they apply
  from its first allocation, and to anything it spawns) and again with ``mallopt`` in the
  process (asv's benchmark processes, which normbench does not start). This is what PyTorch's
  CPU tuning guide gets with a preloaded jemalloc or tcmalloc; glibc's own knobs need nothing
  installed.
- ``system``: the C library's defaults, as a user on plain glibc pays them (every ``MALLOC_*``
  variable removed from the worker's environment).

Elsewhere than glibc (macOS, musl) ``reuse`` cannot be set; the row then records
``system (...: not glibc)`` so a reader sees which policy was really in effect.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Mapping

POLICIES = ("reuse", "system")
DEFAULT = "reuse"
#: glibc's mmap threshold under ``reuse``: above every output this project times (1 GiB)
MMAP_THRESHOLD = 1 << 30
#: glibc's trim threshold under ``reuse``: the largest value mallopt's int accepts
TRIM_THRESHOLD = (1 << 31) - 1
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: the variable that carries the policy into a worker
ENV = "NORMBENCH_MEMORY_POLICY"
_GLIBC_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_",
               "MALLOC_ARENA_MAX", "GLIBC_TUNABLES")


def check_policy(name: str) -> str:
    from ..errors import InputError

    if name not in POLICIES:
        raise InputError(f"unknown memory policy {name!r}; expected one of {', '.join(POLICIES)}")
    return name


def worker_env(policy: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a timing worker starts with under ``policy``."""
    env = dict(os.environ if base is None else base)
    for k in _GLIBC_VARS:
        env.pop(k, None)
    env[ENV] = policy
    if policy == "reuse":
        env["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
        env["MALLOC_TRIM_THRESHOLD_"] = str(TRIM_THRESHOLD)
    return env


def _libc():
    if not hasattr(os, "confstr"):
        return None
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (ValueError, OSError):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def apply(policy: str) -> str:
    """Put ``policy`` into effect in this process (from now on); returns what is in effect, for the row."""
    if policy != "reuse":
        return policy
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return "system (reuse asked for: not glibc)"
    if not libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD):
        return "system (reuse asked for: glibc refused mallopt)"
    if libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD):
        return "reuse"
    # older glibc caps the threshold at half its heap size (32 MiB on 64-bit): reuse below that
    if libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20):
        return "reuse (mmap threshold 32 MiB: this glibc's maximum)"
    return "system (reuse asked for: glibc refused mallopt)"


def describe(policy: str) -> str:
    """One line for headers and the README."""
    if policy == "reuse":
        return (f"reuse: glibc mmap threshold {MMAP_THRESHOLD >> 20} MiB (fixed), trim threshold "
                f"{TRIM_THRESHOLD >> 20} MiB; freed blocks are reused, no page faults per call in steady state")
    return "system: the C library's default allocation (glibc: dynamic mmap threshold up to 32 MiB)"
