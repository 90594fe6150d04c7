"""Keras 3 normalization layers as normbench backends: ``keras-torch``, ``keras-jax``, ``keras-tensorflow``.

Keras runs on the engine ``KERAS_BACKEND`` names, fixed at ``import keras``. normbench runs each
backend in a worker process of its own, so the three engines are offered side by side, each
available when its engine is installed; the engine is part of the name, the description and the
version. (In one process that already imported Keras with another engine, a backend reports
itself unavailable rather than run on the wrong engine.)

Layers: ``BatchNormalization`` (batchnorm), ``LayerNormalization`` (layernorm),
``GroupNormalization`` (groupnorm), ``RMSNormalization`` (rmsnorm); Keras has no
InstanceNormalization. Each layer is built once per configuration and called functionally
(``layer.stateless_call``), the way Keras's own trainers call it: eagerly on torch (Keras's
torch trainer does not compile by default), under ``jax.jit`` on jax and ``tf.function`` on
tensorflow (what ``model.fit`` does there); tracing happens in the warm-up, never in a timed sample.

Keras's conventions, mapped explicitly onto PyTorch's (never silently):

* ``momentum`` is the weight of the *old* moving value: ``momentum = 1 - f`` for PyTorch's factor
  ``f`` (``momentum``, or ``1 / num_batches_tracked`` for the cumulative average);
* ``epsilon`` defaults to 1e-3 in Keras: the case's eps is always passed;
* ``axis``: channels_last data is handed over as (N, ..., C), as Keras users hold it, with
  ``axis=-1``; contiguous (N, C, ...) data with ``axis=1`` (see :mod:`normbench.physical`);
* the moving variance is updated with the *biased* batch variance ``v_b``; PyTorch's uses the
  unbiased ``v_b * m / (m - 1)``. From Keras's own output, ``v_b = (mv_keras - (1 - f) * rv_old) / f``,
  so PyTorch's running variance is ``mv_keras + (mv_keras - (1 - f) * rv_old) / (m - 1)``: the
  adapter computes exactly that, from Keras's numbers, and nothing of its own;
* RMSNormalization always has a scale: an absent weight is passed as ones (exact), and
  ``eps=None`` is resolved as PyTorch does (the dtype's machine epsilon);
* Keras does not expose the saved batch statistics (mean / inverse std, LayerNorm's mean / rstd,
  RMSNorm's inverse RMS): the passes return None for them and normbench checks the rest.

Backward is the engine's own autograd of a training-mode call (``torch.autograd.grad``,
``jax.vjp``, ``tf.GradientTape``). Keras keeps no saved statistics to resume from, so each
backward call runs the layer's forward too, as a training step does: backward times include it.

Training with one value per channel raises, as PyTorch does (Keras would return zeros).
dtypes: float64 and float32 (float64 under jax needs ``jax_enable_x64``, which the adapter sets).
"""
from __future__ import annotations

import importlib.util
import os
import sys
from importlib.metadata import PackageNotFoundError, version as dist_version
from pathlib import Path

import numpy as np

import normbench
from normbench import Availability, Backend, Support, Unsupported, load_known_failures
from normbench.ops import rowwise
from normbench.ops.batchnorm import momentum_factor, unbiased_running_var
from normbench.ops.channelwise import validate_groupnorm
from normbench.physical import PhysicalArray, check_channels, logical, physical

ENGINES = {"torch": "torch", "jax": "jax", "tensorflow": "tensorflow"}
DTYPES = frozenset({"float64", "float32"})


def _dist(name: str) -> str:
    try:
        return dist_version(name)
    except PackageNotFoundError:
        return ""


def _engine_dist(engine: str) -> str:
    return _dist("tensorflow") or _dist("tensorflow-cpu") if engine == "tensorflow" else _dist(engine)


#: found by `normbench check` (keras 3.15.1; measured on the torch engine unless said): the same
#: layer code runs on every engine, so most of the list is shared (an engine where a case passes shows XPASS)
#: the defects of Keras's layers that conformance finds, as data (normbench.known)
KNOWN_FAILURES = Path(__file__).with_name("known_failures.toml")


class KerasBackend(Backend):
    """Keras 3 on one engine (subclasses fix it)."""

    engine = ""
    known_failures: tuple = ()
    # normbench >= 0.7 marks these timings in its report (older versions ignore the attribute)
    timing_notes = {"*/backward": "backward includes the forward (Keras keeps no saved statistics: the engine's "
                                  "autograd reruns the layer), as in a training step"}
    ops = {
        "batchnorm": Support(dtypes=DTYPES, layouts={"contiguous", "channels_last"}),
        "layernorm": Support(dtypes=DTYPES, layouts={"contiguous"}),
        "rmsnorm": Support(dtypes=DTYPES, layouts={"contiguous"}, ranks={2, 3, 4}),
        "groupnorm": Support(dtypes=DTYPES, layouts={"contiguous", "channels_last"}),
    }

    def __init__(self) -> None:
        self._layers: dict = {}
        self._fns: dict = {}
        self._last = None

    # -- environment ------------------------------------------------------------------------------
    def availability(self) -> Availability:
        if importlib.util.find_spec("keras") is None:
            return Availability(False, "keras is not installed (pip install keras)")
        if importlib.util.find_spec(ENGINES[self.engine]) is None:
            hint = "tensorflow-cpu" if self.engine == "tensorflow" else self.engine
            return Availability(False, f"engine {self.engine} is not installed (pip install {hint})")
        if "keras" in sys.modules:
            have = sys.modules["keras"].backend.backend()
            if have != self.engine:
                return Availability(False, f"keras was already imported with engine {have} in this process "
                                           "(normbench runs each backend in its own worker)")
        return Availability(True)

    def version(self) -> str:
        return f"{_dist('keras')} ({self.engine} {_engine_dist(self.engine)})"

    def environment(self) -> dict:
        return {"keras": _dist("keras"), "engine": self.engine, "engine_version": _engine_dist(self.engine),
                "device": "cpu"}

    def set_threads(self, threads: int | None) -> int | None:
        if self.engine == "torch":
            import torch

            if threads:
                torch.set_num_threads(int(threads))
            return torch.get_num_threads()
        return None  # jax and tensorflow size their pools at start-up (XLA flags, TF_NUM_*_THREADS)

    def _keras(self):
        if "keras" not in sys.modules:
            os.environ["KERAS_BACKEND"] = self.engine
            if self.engine == "jax":
                import jax

                jax.config.update("jax_enable_x64", True)  # float64 arrays at all (else silently float32)
        import keras

        if keras.backend.backend() != self.engine:
            raise Unsupported(f"keras runs on engine {keras.backend.backend()} in this process, not {self.engine}")
        return keras

    # -- data movement ------------------------------------------------------------------------------
    def from_numpy(self, array: np.ndarray, dtype: str) -> PhysicalArray:
        if dtype not in DTYPES:
            raise Unsupported(f"{self.name} does not support {dtype}")
        data, perm = physical(np.asarray(array, dtype=dtype))
        return PhysicalArray(self._keras().ops.convert_to_tensor(data, dtype=dtype), perm)

    def to_numpy(self, native) -> np.ndarray:
        return logical(self._keras().ops.convert_to_numpy(native.data), native.perm)

    def dtype_of(self, native) -> str:
        return self._keras().backend.standardize_dtype(native.data.dtype)

    def synchronize(self) -> None:
        if self.engine == "jax" and self._last is not None:
            import jax

            jax.block_until_ready(self._last)

    # -- layers and their compiled calls --------------------------------------------------------------
    def _layer(self, key, make, shape, dtype):
        """The layer for a configuration, built once."""
        full = (key, tuple(shape), dtype)
        if full not in self._layers:
            layer = make(self._keras().layers)
            layer.build(tuple(shape))
            self._layers[full] = layer
        return self._layers[full]

    def _fn(self, layer, kind: str):
        """The layer's functional call (kind: train, eval, grad), compiled as Keras's trainer would."""
        key = (id(layer), kind)
        if key in self._fns:
            return self._fns[key]

        takes_training = type(layer).__name__ == "BatchNormalization"  # the others' call() has no training

        def call(tv, ntv, x, training):
            kw = {"training": training} if takes_training else {}
            return layer.stateless_call(list(tv), list(ntv), x, **kw)

        if kind == "grad":
            fn = self._grad_fn(call)
        else:
            training = kind == "train"

            def fn(tv, ntv, x):
                return call(tv, ntv, x, training)

            fn = self._compile(fn)
        self._fns[key] = fn
        return fn

    def _compile(self, fn):
        if self.engine == "jax":
            import jax

            return jax.jit(fn)
        if self.engine == "tensorflow":
            import tensorflow as tf

            return tf.function(fn)
        return fn

    def _grad_fn(self, call):
        """(tv, ntv, x, dy) -> (dx, [d tv...]) through the engine's autograd, forward included."""
        if self.engine == "torch":
            import torch

            def grad(tv, ntv, x, dy):
                x = x.detach().requires_grad_(True)
                tv = [t.detach().requires_grad_(True) for t in tv]
                y, _ = call(tv, ntv, x, True)
                out = torch.autograd.grad(y, [x, *tv], dy)
                return out[0], list(out[1:])

            return grad
        if self.engine == "jax":
            import jax

            def grad(tv, ntv, x, dy):
                _, vjp = jax.vjp(lambda x_, tv_: call(tv_, ntv, x_, True)[0], x, list(tv))
                dx, dtv = vjp(dy)
                return dx, list(dtv)

            return jax.jit(grad)
        import tensorflow as tf

        def grad(tv, ntv, x, dy):
            tv = list(tv)
            with tf.GradientTape() as tape:
                tape.watch(x)
                tape.watch(tv)
                y, _ = call(tv, ntv, x, True)
            out = tape.gradient(y, [x, *tv], output_gradients=dy)
            return out[0], list(out[1:])

        return tf.function(grad)

    def _done(self, out):
        self._last = out
        return out

    def _ones(self, n, dtype):
        return self._keras().ops.ones((n,), dtype=dtype)

    def _zeros(self, n, dtype):
        return self._keras().ops.zeros((n,), dtype=dtype)

    @staticmethod
    def _dtype(x) -> str:
        import keras

        return keras.backend.standardize_dtype(x.data.dtype)

    def _in_order(self, dy, like):
        """``dy``'s data in ``like``'s physical axis order (dy may arrive in another layout)."""
        return dy.data if dy.perm == like.perm else self._keras().ops.transpose(dy.data, dy.axes_into(like))

    # -- batch norm ------------------------------------------------------------------------------------
    def _bn(self, x, eps, momentum, affine):
        return self._layer(("bn", x.channel_axis, float(eps), float(momentum), affine),
                           lambda layers: layers.BatchNormalization(axis=x.channel_axis, momentum=momentum, epsilon=eps,
                                                                    center=affine, scale=affine, dtype=self._dtype(x)),
                           x.data.shape, self._dtype(x))

    def batchnorm_train(self, x, weight, bias, running_mean, running_var, *, momentum, eps, num_batches_tracked):
        keras = self._keras()
        c = check_channels(x, weight=weight, bias=bias, running_mean=running_mean, running_var=running_var)
        tv = self._both(weight, bias, "BatchNormalization")
        size = int(np.prod(x.shape))
        if size == 0:  # an empty batch: y empty, running statistics untouched
            return PhysicalArray(keras.ops.copy(x.data), x.perm), None, None
        m = size // c
        if m <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {list(x.shape)}")
        f = momentum_factor(momentum, num_batches_tracked)
        layer = self._bn(x, eps, 1.0 - f, bool(tv))
        dt = self._dtype(x)
        tracked = running_mean is not None
        rv_old = running_var.data if tracked else self._ones(c, dt)
        ntv = [running_mean.data if tracked else self._zeros(c, dt), rv_old]
        y, (mm, mv) = self._fn(layer, "train")(tv, ntv, x.data)
        if tracked:
            running_mean.data = mm
            running_var.data = unbiased_running_var(mv, rv_old, f, m)  # from Keras's own output
        return PhysicalArray(self._done(y), x.perm), None, None

    def batchnorm_eval(self, x, weight, bias, running_mean, running_var, *, eps):
        check_channels(x, weight=weight, bias=bias, running_mean=running_mean, running_var=running_var)
        if running_mean is None:
            raise Unsupported("eval without running statistics (Keras always has moving statistics)")
        tv = self._both(weight, bias, "BatchNormalization")
        layer = self._bn(x, eps, 0.9, bool(tv))
        y, _ = self._fn(layer, "eval")(tv, [running_mean.data, running_var.data], x.data)
        return PhysicalArray(self._done(y), x.perm)

    def batchnorm_backward(self, dy, x, weight, save_mean, save_invstd, *, eps):
        # the saved statistics are not Keras's to take: its autograd recomputes them from x
        c = check_channels(x, weight=weight)
        dt = self._dtype(x)
        if int(np.prod(x.shape)) == 0:  # nothing to differentiate: empty dx, zero parameter gradients
            keras = self._keras()
            zero = None if weight is None else PhysicalArray(self._zeros(c, dt), (0,))
            return PhysicalArray(keras.ops.copy(x.data), x.perm), zero, None if zero is None else \
                PhysicalArray(self._zeros(c, dt), (0,))
        layer = self._bn(x, eps, 0.9, weight is not None)
        bias = self._zeros(c, dt)
        tv = [weight.data, bias] if weight is not None else []
        dx, dtv = self._fn(layer, "grad")(tv, [self._zeros(c, dt), self._ones(c, dt)], x.data, self._in_order(dy, x))
        self._done(dx)
        if weight is None:
            return PhysicalArray(dx, x.perm), None, None
        return PhysicalArray(dx, x.perm), PhysicalArray(dtv[0], (0,)), PhysicalArray(dtv[1], (0,))

    # -- layer norm and RMS norm (the backwards declare eps: Keras's autograd recomputes the statistics) --
    def _ln(self, x, ns, eps, affine):
        n = len(x.shape)
        axes = list(range(n - len(ns), n))
        dt = self._dtype(x)
        return self._layer(("ln", tuple(axes), float(eps), affine),
                           lambda layers: layers.LayerNormalization(axis=axes, epsilon=eps, center=affine, scale=affine,
                                                                    dtype=dt),
                           x.data.shape, dt)

    @staticmethod
    def _both(weight, bias, layer_name):
        if (weight is None) != (bias is None):
            raise Unsupported(f"Keras's {layer_name} has center and scale together; this case gives one of them")
        return [weight.data, bias.data] if weight is not None else []

    def layernorm_forward(self, x, normalized_shape, weight, bias, *, eps):
        ns = rowwise.validate(x, normalized_shape, {"weight": weight, "bias": bias}, "layernorm")
        tv = self._both(weight, bias, "LayerNormalization")
        y, _ = self._fn(self._ln(x, ns, eps, bool(tv)), "eval")(tv, [], x.data)
        return PhysicalArray(self._done(y), x.perm), None, None

    def layernorm_backward(self, dy, x, normalized_shape, weight, bias, mean, rstd, *, eps):
        ns = rowwise.validate(x, normalized_shape, {"weight": weight, "bias": bias}, "layernorm")
        tv = self._both(weight, bias, "LayerNormalization")
        dx, dtv = self._fn(self._ln(x, ns, eps, bool(tv)), "grad")(tv, [], x.data, self._in_order(dy, x))
        self._done(dx)
        grads = [PhysicalArray(g, tuple(range(len(ns)))) for g in dtv] or [None, None]
        return (PhysicalArray(dx, x.perm), *grads)

    def _rms(self, x, ns, eps):
        if len(ns) != 1:
            raise Unsupported("Keras's RMSNormalization normalizes over one axis (its scale has that axis's length)")
        dt = self._dtype(x)
        eps = float(np.finfo(dt).eps) if eps is None else float(eps)  # PyTorch's eps=None, made explicit
        return self._layer(("rms", eps), lambda layers: layers.RMSNormalization(axis=-1, epsilon=eps, dtype=dt),
                           x.data.shape, dt)

    def rmsnorm_forward(self, x, normalized_shape, weight, *, eps):
        ns = rowwise.validate(x, normalized_shape, {"weight": weight}, "rmsnorm")
        layer = self._rms(x, ns, eps)
        scale = weight.data if weight is not None else self._ones(ns[0], self._dtype(x))  # always has a scale
        y, _ = self._fn(layer, "eval")([scale], [], x.data)
        return PhysicalArray(self._done(y), x.perm), None

    def rmsnorm_backward(self, dy, x, normalized_shape, weight, rrms, *, eps):
        ns = rowwise.validate(x, normalized_shape, {"weight": weight}, "rmsnorm")
        layer = self._rms(x, ns, eps)
        scale = weight.data if weight is not None else self._ones(ns[0], self._dtype(x))
        dx, dtv = self._fn(layer, "grad")([scale], [], x.data, self._in_order(dy, x))
        self._done(dx)
        return PhysicalArray(dx, x.perm), (PhysicalArray(dtv[0], (0,)) if weight is not None else None)

    # -- group norm ----------------------------------------------------------------------------------------
    def _gn(self, x, groups, eps, affine):
        dt = self._dtype(x)
        return self._layer(("gn", x.channel_axis, groups, float(eps), affine),
                           lambda layers: layers.GroupNormalization(groups=groups, axis=x.channel_axis, epsilon=eps,
                                                                    center=affine, scale=affine, dtype=dt),
                           x.data.shape, dt)

    def groupnorm_forward(self, x, num_groups, weight, bias, *, eps):
        validate_groupnorm(x, num_groups, weight, bias)  # F.group_norm's checks, as the project's own backends make them
        tv = self._both(weight, bias, "GroupNormalization")
        y, _ = self._fn(self._gn(x, num_groups, eps, bool(tv)), "eval")(tv, [], x.data)
        return PhysicalArray(self._done(y), x.perm), None, None

    def groupnorm_backward(self, dy, x, num_groups, weight, bias, mean, rstd, *, eps):
        validate_groupnorm(x, num_groups, weight, bias)
        tv = self._both(weight, bias, "GroupNormalization")
        dx, dtv = self._fn(self._gn(x, num_groups, eps, bool(tv)), "grad")(tv, [], x.data, self._in_order(dy, x))
        self._done(dx)
        grads = [PhysicalArray(g, (0,)) for g in dtv] or [None, None]
        return (PhysicalArray(dx, x.perm), *grads)


class KerasTorch(KerasBackend):
    name = "keras-torch"
    engine = "torch"
    known_failures = load_known_failures(KNOWN_FAILURES, "keras-torch")
    description = "Keras 3 layers on the torch engine (eager, as Keras's torch trainer runs them)"


class KerasJax(KerasBackend):
    name = "keras-jax"
    engine = "jax"
    compiles_per_configuration = True  # traced and compiled per input signature (normbench >= 0.11 reads it)
    known_failures = load_known_failures(KNOWN_FAILURES, "keras-jax")
    description = "Keras 3 layers on the jax engine (stateless_call under jax.jit, as model.fit runs them)"


class KerasTensorFlow(KerasBackend):
    name = "keras-tensorflow"
    engine = "tensorflow"
    compiles_per_configuration = True  # traced and compiled per input signature (normbench >= 0.11 reads it)
    known_failures = load_known_failures(KNOWN_FAILURES, "keras-tensorflow")
    description = "Keras 3 layers on the tensorflow engine (stateless_call under tf.function, as model.fit runs them)"


@normbench.hookimpl
def normbench_backends():
    return [KerasTorch(), KerasJax(), KerasTensorFlow()]
