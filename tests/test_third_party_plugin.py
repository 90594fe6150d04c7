"""A backend written from docs/plugins.md alone, in a scratch folder: discovered, checked, benchmarked.

Once loaded with ``--plugin`` (no install), once pip-installed and found only by its entry point.
``BACKEND_V1`` is what the guide of plugin API version 1 produced (normbench 0.1) and is kept
as it was: it must still work unchanged. ``BACKEND`` is the same kernel written for version 2.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BACKEND_V1 = textwrap.dedent('''
    """A float32-only, forward-only batch norm (what a kernel author starts with)."""
    import numpy as np
    import normbench


    class ScratchBN(normbench.Backend):
        name = "scratch"
        description = "float32 forward only, from the plugin guide"
        capabilities = normbench.Capabilities(ops={"train", "eval"}, dtypes={"float32"}, layouts={"contiguous"})

        def from_numpy(self, array, dtype):
            if dtype != "float32":
                raise normbench.Unsupported("float32 only")
            return np.ascontiguousarray(array, dtype=np.float32)

        def train_forward(self, x, weight, bias, running_mean, running_var, *, momentum, eps, num_batches_tracked):
            c = x.shape[1]
            if x.size == 0:
                return np.empty_like(x), np.full(c, np.nan, np.float32), np.full(c, np.nan, np.float32)
            m = x.size // c
            if m < 2:
                raise ValueError("Expected more than 1 value per channel when training")
            axes = (0, *range(2, x.ndim))
            shape = (1, c) + (1,) * (x.ndim - 2)
            mean = x.mean(axis=axes, dtype=np.float64)
            var = ((x - mean.reshape(shape)) ** 2).mean(axis=axes)
            invstd = 1.0 / np.sqrt(var + eps)
            y = (x - mean.reshape(shape)) * invstd.reshape(shape)
            if weight is not None:
                y = y * weight.reshape(shape) + bias.reshape(shape)
            if running_mean is not None:
                f = normbench.momentum_factor(momentum, num_batches_tracked)
                running_mean[:] = (1 - f) * running_mean + f * mean
                running_var[:] = (1 - f) * running_var + f * var * m / (m - 1)
            return y.astype(np.float32), mean.astype(np.float32), invstd.astype(np.float32)

        def eval_forward(self, x, weight, bias, running_mean, running_var, *, eps):
            shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
            y = (x - running_mean.reshape(shape)) / np.sqrt(running_var.reshape(shape) + eps)
            if weight is not None:
                y = y * weight.reshape(shape) + bias.reshape(shape)
            return y.astype(np.float32)


    @normbench.hookimpl
    def normbench_backends():
        return [ScratchBN()]
''')

# the same kernel against plugin API version 2: per-op support, passes named <op>_<pass>
BACKEND = (BACKEND_V1
           .replace('capabilities = normbench.Capabilities(ops={"train", "eval"}, dtypes={"float32"}, layouts={"contiguous"})',
                    'ops = {"batchnorm": normbench.Support(passes={"train", "eval"}, dtypes={"float32"}, layouts={"contiguous"})}')
           .replace("def train_forward(", "def batchnorm_train(").replace("def eval_forward(", "def batchnorm_eval(")
           .replace("normbench.momentum_factor(", "momentum_factor(")
           .replace("import normbench\n", "import normbench\nfrom normbench.ops.batchnorm import momentum_factor\n"))
assert BACKEND != BACKEND_V1 and "Capabilities" not in BACKEND and "train_forward" not in BACKEND

PYPROJECT = textwrap.dedent('''
    [build-system]
    requires = ["setuptools"]
    build-backend = "setuptools.build_meta"

    [project]
    name = "scratch-bn"
    version = "0.3.0"

    [project.entry-points.normbench]
    scratch = "scratch_bn"
''')


def normbench(*args, cwd, env=None):
    exe = Path(sys.executable).with_name("normbench")
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NORMBENCH_PLUGINS", "PYTHONPATH")}
    env.update(extra)
    return env


def _exercise(cwd, env, plugin_args, source, v1=False):
    listed = normbench("list", *plugin_args, cwd=cwd, env=env)
    assert listed.returncode == 0, listed.stderr
    row, support = [line for line in listed.stdout.splitlines() if line.startswith("scratch ")]
    assert "yes" in row and source in row and "batchnorm" in row
    assert "train,eval" in support and "float32" in support and "contiguous" in support
    assert ("notice: backend 'scratch'" in listed.stdout) == v1  # v1: one line saying it was adapted
    checked = normbench("check", "--no-invariance", "--backend", "scratch", *plugin_args, cwd=cwd, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    summary = checked.stdout.strip().splitlines()[-1]
    assert summary.startswith("passed: 1 backend(s) on 1 op(s)") and "unsupported" in summary
    assert int(summary.split(" passed,")[0].split(", ")[-1]) >= 20  # float32 cases really ran
    benched = normbench("bench", "--rigor", "quick", "--backend", "scratch", "--backend", "numpy", "--shape", "8x16x10x10", "--op", "train",
                        "--op", "backward", "--repeat", "2", "--output", "r.csv", *plugin_args, cwd=cwd, env=env)
    assert benched.returncode == 0, benched.stderr
    assert "scratch" in benched.stdout and "scratch batchnorm backward 8x16x10x10 float32 contiguous: unsupported" in benched.stderr
    assert (Path(cwd) / "r.csv").read_text().count("\nbatchnorm,scratch,train,") == 1


@pytest.mark.parametrize("source, v1", [(BACKEND, False), (BACKEND_V1, True)], ids=["api-v2", "api-v1-unchanged"])
def test_scratch_plugin_with_plugin_option(tmp_path, source, v1):
    (tmp_path / "scratch_bn.py").write_text(source)
    _exercise(tmp_path, _clean_env(), ["--plugin", "scratch_bn"], "module scratch_bn", v1=v1)


@pytest.mark.slow
def test_scratch_plugin_pip_installed_is_found_by_entry_point(tmp_path):
    proj = tmp_path / "proj"
    (proj / "scratch_bn").mkdir(parents=True)
    (proj / "scratch_bn" / "__init__.py").write_text(BACKEND)
    (proj / "pyproject.toml").write_text(PYPROJECT)
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(site), str(proj)], capture_output=True, text=True, timeout=300)
    if pip.returncode != 0:
        pytest.skip(f"cannot build a scratch distribution here: {pip.stderr[-300:]}")
    work = tmp_path / "work"
    work.mkdir()
    _exercise(work, _clean_env(PYTHONPATH=str(site)), [], "scratch-bn 0.3.0")
