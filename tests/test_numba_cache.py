"""Numba's on-disk cache works from an installed (non-editable) package: JIT cost is paid once."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import normbench_numba
from numba.core.registry import CPUDispatcher
b = normbench_numba.NumbaBackend()
b.prepare("batchnorm", "float32", "contiguous", 4)
b.prepare("batchnorm", "float32", "channels_last", 4)
b.prepare("batchnorm", "bfloat16", "channels_last", 4)  # the half variants are cached under their own names
b.prepare("groupnorm", "float16", "contiguous", 4)
from normbench_numba import halfkernels, kernels
spaces = [vars(kernels)] + [vars(ns) for pair in halfkernels._variants.values() for ns in pair]
assert len(spaces) == 5, "expected the bfloat16 batch-norm and float16 GroupNorm variants"
disps = [v for space in spaces for v in space.values() if isinstance(v, CPUDispatcher)]
hits = sum(sum(d.stats.cache_hits.values()) for d in disps)
misses = sum(sum(d.stats.cache_misses.values()) for d in disps)
print(normbench_numba.__file__, hits, misses)
"""


@pytest.mark.slow
def test_cache_is_written_next_to_the_installed_package_and_reused(tmp_path):
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(site), str(ROOT)], capture_output=True, text=True, timeout=600)
    if pip.returncode != 0:
        pytest.skip(f"cannot build the package here: {pip.stderr[-300:]}")

    def probe():
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                             env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, check=True).stdout.split()
        return Path(out[0]), int(out[1]), int(out[2])

    module, hits, misses = probe()
    assert module.is_relative_to(site), "the installed copy was imported, not the checkout"
    assert misses > 0 and hits == 0  # a fresh install compiles
    assert list((module.parent / "__pycache__").glob("kernels.*.nbi")), "no cache index next to the installed kernels"
    _, hits, misses = probe()
    assert hits > 0 and misses == 0, f"a second process should load every kernel from the cache ({hits} hits, {misses} misses)"


def test_no_writable_cache_folder_falls_back_to_an_uncached_jit_with_a_notice(tmp_path):
    """A read-only install and home: numba's cache=True would fail every kernel; we compile uncached."""
    import shutil

    pkg = tmp_path / "site" / "normbench_numba"
    shutil.copytree(ROOT / "plugins" / "normbench_numba", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "__pycache__").write_text("")  # cannot become a folder: like a read-only install (we run as root)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env.update(PYTHONPATH=str(pkg.parent), HOME=str(blocked), XDG_CACHE_HOME=str(blocked / "cache"),
               PYTHONDONTWRITEBYTECODE="1")
    probe = ("import numpy as np, normbench_numba as m; b = m.NumbaBackend(); "
             "b.prepare('batchnorm', 'float32', 'contiguous', 4); "
             "x = np.ones((2, 3, 4, 4), np.float32); y = b.batchnorm_eval(x, None, None, np.zeros(3, np.float32), "
             "np.ones(3, np.float32), eps=0.0); print(m.__file__, float(y.sum()), b.environment()['jit_cache'])")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert str(pkg) in proc.stdout and " 96.0 " in proc.stdout
    assert "jit_cache" not in proc.stderr and "off (cannot cache function" in proc.stdout
    notices = [line for line in proc.stderr.splitlines() if "notice: numba:" in line]
    assert len(notices) == 1 and "NUMBA_CACHE_DIR" in notices[0]
