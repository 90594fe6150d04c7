"""``torch-compile``: the torch-cpu passes through ``torch.compile`` (Inductor, C++ code generation).

This is what a PyTorch user reaches for to make normalization faster on a CPU. Each pass is the
torch-cpu pass (the same ATen ops: ``native_batch_norm``, ``native_layer_norm``, ...), traced by
Dynamo with ``fullgraph=True`` and compiled by Inductor, which decomposes the ops and generates its
own fused C++ loops: the kernels measured and checked here are Inductor's, not ATen's.

* **Once per configuration.** A configuration is the pass with its arguments' shapes, strides,
  dtypes, which of them are None, the scalars (eps, momentum) and the thread count. Each one gets
  its own compiled function (a fresh code object, so Dynamo's per-code cache never mixes
  configurations and its recompile limit can never silently fall back to eager), compiled with
  ``dynamic=False`` (what a training loop with fixed shapes gets) on the first call: in the
  harness's warm-up, so ``compile_s`` carries it and the timed samples never do.
* **No silent recompilation.** Outside those first calls Dynamo's stance is
  ``fail_on_recompile``: a guard that fails inside a timed loop raises instead of recompiling.
* **Input errors** surface while Dynamo traces (a check's ``raise``, a shape mismatch in
  fake-tensor propagation) wrapped in Dynamo's own exception; the eager pass is then run to raise
  PyTorch's error. If eager *succeeds* the compilation failed: that is raised as such, never
  answered with the eager result.
* **Availability.** ``availability()`` (cheap: ``normbench list``) looks for torch, a C++
  compiler and the Python headers Inductor's extension modules need; ``probe()``, run once in
  the backend's worker, compiles a small function, so an Inductor that fails makes the backend
  unavailable with the reason instead of failing every case.
"""
from __future__ import annotations

import os
import shutil
import sysconfig
import time
import types

from normbench import Availability, load_known_failures
from normbench.backend import one_line

from . import KNOWN_FAILURES, _TorchBackend, _torch, _torch_version

#: the passes compiled: every pass torch-cpu implements
PASSES = {
    "batchnorm": ("train", "eval", "backward"),
    "layernorm": ("forward", "backward"),
    "rmsnorm": ("forward", "backward"),
    "groupnorm": ("forward", "backward"),
    "instancenorm": ("train", "eval", "backward"),
}


class CompileFailed(RuntimeError):
    """torch.compile failed on a call that eager PyTorch runs."""


def _cxx() -> str | None:
    """The C++ compiler Inductor would use (its ``cpp.cxx`` default honours $CXX, then g++)."""
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _signature(value):
    """What Dynamo guards on for one argument: tensors by metadata, scalars by value."""
    torch = _torch()
    if isinstance(value, torch.Tensor):
        return ("T", tuple(value.shape), value.stride(), value.storage_offset(), str(value.dtype), value.device.type,
                value.requires_grad)
    if isinstance(value, (list, tuple)):
        return tuple(_signature(v) for v in value)
    return value


def _fresh(fn, tag: str):
    """A copy of ``fn`` with its own code object: Dynamo keeps its cache per code object."""
    code = fn.__code__.replace(co_name=f"{fn.__name__}_{tag}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


def _call(method, self, args, kwargs):
    return method(self, *args, **kwargs)


def _compiled_pass(method_name: str):
    def run(self, *args, **kwargs):
        return self._run(method_name, args, kwargs)

    run.__name__ = method_name
    run.__doc__ = f"torch.compile'd (Inductor, fullgraph, static shapes) torch-cpu {method_name}."
    return run


class TorchCompileBackend(_TorchBackend):
    name = "torch-compile"
    compiles_per_configuration = True
    description = ("torch.compile (Inductor C++ codegen, fullgraph, static shapes) of the torch-cpu passes; "
                   "compiled once per configuration, in the warm-up")
    device = "cpu"
    known_failures = load_known_failures(KNOWN_FAILURES, "torch-compile")

    def __init__(self) -> None:
        self._compiled: dict = {}
        self.compiles = 0
        self.compile_seconds = 0.0
        self._stance_set = False

    def availability(self) -> Availability:
        v = _torch_version()
        if v is None:
            return Availability(False, "torch is not installed (pip install torch)")
        if _cxx() is None:
            return Availability(False, "no C++ compiler for Inductor (set CXX or install g++)")
        include = sysconfig.get_paths().get("include", "")
        if not os.path.exists(os.path.join(include, "Python.h")):
            return Availability(False, f"no Python headers (Python.h) in {include}: Inductor cannot build its modules "
                                       "(install python3-dev)")
        return Availability(True)

    def probe(self) -> Availability:
        """Compile and run one small function: an Inductor that cannot compile is reported here, once."""
        torch = _torch()
        try:
            x = torch.arange(8, dtype=torch.float32)
            fn = torch.compile(_fresh(_probe_body, "probe"), dynamic=False, fullgraph=True)
            got = fn(x)
            if not torch.equal(got, x * 2 + 1):
                return Availability(False, "torch.compile gave a wrong result on its probe (x * 2 + 1)")
        except Exception as exc:  # noqa: BLE001 - any failure of the toolchain makes us unavailable
            return Availability(False, f"Inductor failed on a probe compile: {one_line(exc)}")
        return Availability(True)

    def environment(self) -> dict:
        env = super().environment()
        env.update(compiler="inductor", cxx=_cxx() or "", compiles=self.compiles,
                   compile_seconds=round(self.compile_seconds, 3))
        return env

    def _run(self, method_name: str, args: tuple, kwargs: dict):
        torch = _torch()
        if not self._stance_set:  # from now on a recompilation outside _compile raises
            torch.compiler.set_stance("fail_on_recompile")
            self._stance_set = True
        key = (method_name, torch.get_num_threads(), _signature(args), _signature(tuple(sorted(kwargs.items()))))
        fn = self._compiled.get(key)
        if fn is not None:
            return fn(getattr(_TorchBackend, method_name), self, args, kwargs)
        return self._compile(key, method_name, args, kwargs)

    def _compile(self, key, method_name: str, args: tuple, kwargs: dict):
        torch = _torch()
        eager = getattr(_TorchBackend, method_name)
        fn = torch.compile(_fresh(_call, f"{method_name}_{len(self._compiled)}"), dynamic=False, fullgraph=True)
        t0 = time.perf_counter()
        try:
            with torch.compiler.set_stance("default"):
                out = fn(eager, self, args, kwargs)
        except Exception as exc:  # noqa: BLE001
            # an input error raised while tracing arrives wrapped in Dynamo's exception: eager
            # PyTorch raises it as users see it; if eager runs, the compilation itself failed
            eager(self, *args, **kwargs)
            raise CompileFailed(f"torch.compile failed on {method_name} where eager PyTorch runs: "
                                f"{one_line(exc)}") from exc
        finally:
            self.compile_seconds += time.perf_counter() - t0
        self.compiles += 1
        self._compiled[key] = fn
        return out


def _probe_body(x):
    return x * 2 + 1


for _op, _passes in PASSES.items():
    for _p in _passes:
        setattr(TorchCompileBackend, f"{_op}_{_p}", _compiled_pass(f"{_op}_{_p}"))
