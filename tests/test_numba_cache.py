"""Numba's on-disk cache works from an installed (non-editable) package: JIT cost is paid once."""
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
from normbench_numba import kernels
disps = [v for v in vars(kernels).values() if isinstance(v, CPUDispatcher)]
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
