"""Flax (JAX) normalization modules as normbench backends: ``flax`` (``flax.linen``) and ``flax-nnx``.

``flax``: ``linen.BatchNorm``, ``LayerNorm``, ``GroupNorm`` and ``RMSNorm``; ``flax-nnx``:
``nnx.BatchNorm``. Each module is built with its class's **default arguments** (that is what JAX
users run: ``use_fast_variance=True``, ``force_float32_reductions=True``, ...) except what the case
sets, mapped explicitly onto PyTorch's conventions:

* ``momentum``: Flax's (default 0.99) is the weight of the *old* running value, ``1 - f`` for
  PyTorch's factor ``f`` (``momentum``, or ``1 / num_batches_tracked`` for the cumulative average);
* ``epsilon``: always the case's (Flax's defaults are 1e-5 for BatchNorm, 1e-6 for the others);
  RMSNorm's ``eps=None`` is resolved as PyTorch does (the dtype's machine epsilon);
* ``axis``: channels_last data is handed over as (N, ..., C), as JAX users hold it, with the
  default ``axis=-1``; contiguous (N, C, ...) data with ``axis=1`` (:mod:`normbench.physical`).
  ``GroupNorm`` has no channel axis argument (channels are last): contiguous 3-D+ input is
  unsupported rather than transposed inside the timed call;
* ``batch_stats`` (linen) / the ``BatchStat`` variables (nnx) are updated functionally and written
  back into the running statistics. Flax updates the running variance with the *biased* batch
  variance; PyTorch with the unbiased one. From Flax's own output,
  ``v_b = (var_flax - (1 - f) * rv_old) / f``, so PyTorch's running variance is
  ``var_flax + (var_flax - (1 - f) * rv_old) / (m - 1)`` (m values per channel): computed from
  Flax's numbers, nothing of the adapter's own;
* Flax does not return the batch statistics (mean, inverse std / rstd / inverse RMS): the passes
  return None for them and normbench checks the rest.

Every call is ``jax.jit``-compiled once per configuration (in the warm-up, never in a timed
sample), and ``synchronize`` blocks on the last result (``block_until_ready``): JAX dispatches
asynchronously. Backward is ``jax.vjp`` of the module's training-mode apply; it runs the forward
too (Flax keeps no saved statistics), under the same jit, as a training step does.

Training with one value per channel raises, as PyTorch does. dtypes: float64 (``jax_enable_x64``
is set, else JAX silently computes float32) and float32.
"""
from __future__ import annotations

import functools
import importlib.util
from importlib.metadata import PackageNotFoundError, version as dist_version
from pathlib import Path

import numpy as np

import normbench
from normbench import Availability, Backend, Support, Unsupported, load_known_failures
from normbench.ops import rowwise
from normbench.ops.batchnorm import momentum_factor, unbiased_running_var
from normbench.ops.channelwise import validate_groupnorm
from normbench.physical import PhysicalArray, check_channels, logical, physical

DTYPES = frozenset({"float64", "float32"})


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 at all: without it JAX silently uses float32
    return jax


def _dist(name: str) -> str:
    try:
        return dist_version(name)
    except PackageNotFoundError:
        return ""


#: found by `normbench check` (flax 0.12.8, jax 0.10.2), with each class's default arguments
#: the defects of Flax's layers that conformance finds, as data (normbench.known)
KNOWN_FAILURES = Path(__file__).with_name("known_failures.toml")


class _FlaxBackend(Backend):
    compiles_per_configuration = True  # jax.jit per input signature (normbench >= 0.11 reads it)
    # normbench >= 0.7 marks these timings in its report (older versions ignore the attribute)
    timing_notes = {"*/backward": "backward includes the forward (jax.vjp of the layer recomputes it; Flax keeps "
                                  "no saved statistics), as in a training step"}

    def __init__(self) -> None:
        self._fns: dict = {}
        self._last = None

    def availability(self) -> Availability:
        missing = [m for m in ("flax", "jax") if importlib.util.find_spec(m) is None]
        if missing:
            return Availability(False, f"{' and '.join(missing)} not installed (pip install flax)")
        return Availability(True)

    def version(self) -> str:
        return f"{_dist('flax')} (jax {_dist('jax')})"

    def environment(self) -> dict:
        jax = _jax()
        return {"flax": _dist("flax"), "jax": _dist("jax"), "jaxlib": _dist("jaxlib"),
                "device": str(jax.devices()[0])}

    def from_numpy(self, array: np.ndarray, dtype: str) -> PhysicalArray:
        if dtype not in DTYPES:
            raise Unsupported(f"{self.name} does not support {dtype}")
        data, perm = physical(np.asarray(array, dtype=dtype))
        return PhysicalArray(_jax().numpy.asarray(data), perm)

    def to_numpy(self, native) -> np.ndarray:
        return logical(np.asarray(native.data), native.perm)

    def dtype_of(self, native) -> str:
        return np.dtype(native.data.dtype).name

    def synchronize(self) -> None:
        if self._last is not None:
            _jax().block_until_ready(self._last)

    def _done(self, out):
        self._last = out
        return out

    def _jit(self, key, make):
        """The jitted function of a configuration, made once (tracing happens on its first call)."""
        if key not in self._fns:
            self._fns[key] = _jax().jit(make())
        return self._fns[key]

    @staticmethod
    def _in_order(dy, like):
        """``dy``'s data in ``like``'s physical axis order (dy may arrive in another layout)."""
        return dy.data if dy.perm == like.perm else _jax().numpy.transpose(dy.data, dy.axes_into(like))

    @staticmethod
    def _both(weight, bias, what):
        if (weight is None) != (bias is None):
            raise Unsupported(f"{what}: use_scale and use_bias are set together here; this case gives one of them")
        return weight is not None

    @staticmethod
    def _bn_grad_prologue(x, weight):
        """(channels, affine, dtype, the result if the batch is empty (nothing to differentiate:
        empty dx, zero parameter gradients) else None)."""
        jnp = _jax().numpy
        c, affine, dt = check_channels(x, weight=weight), weight is not None, x.data.dtype
        if int(np.prod(x.shape)):
            return c, affine, dt, None
        zero = [PhysicalArray(jnp.zeros(c, dt), (0,)) for _ in range(2)] if affine else [None, None]
        return c, affine, dt, (PhysicalArray(jnp.array(x.data), x.perm), *zero)

    def _bn_grads(self, dx, x, dweight, dbias):
        self._done(dx)
        if dweight is None:
            return PhysicalArray(dx, x.perm), None, None
        return PhysicalArray(dx, x.perm), PhysicalArray(dweight, (0,)), PhysicalArray(dbias, (0,))

    def _bn_prologue(self, x, weight, bias, running_mean, running_var, momentum, num_batches_tracked):
        c = check_channels(x, weight=weight, bias=bias, running_mean=running_mean, running_var=running_var)
        self._both(weight, bias, "BatchNorm")
        size = int(np.prod(x.shape))
        if size and size // c <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {list(x.shape)}")
        return c, size, momentum_factor(momentum, num_batches_tracked)

    @staticmethod
    def _write_back(running_mean, running_var, rv_old, mean_new, var_new, f, m):
        """Flax's running statistics -> PyTorch's (biased -> unbiased variance, from Flax's own output)."""
        running_mean.data = mean_new
        running_var.data = unbiased_running_var(var_new, rv_old, f, m)


class FlaxLinenBackend(_FlaxBackend):
    name = "flax"
    description = "flax.linen BatchNorm, LayerNorm, GroupNorm, RMSNorm (default arguments), jax.jit per configuration"
    known_failures = load_known_failures(KNOWN_FAILURES, "flax")
    ops = {
        "batchnorm": Support(dtypes=DTYPES, layouts={"contiguous", "channels_last"}),
        "layernorm": Support(dtypes=DTYPES, layouts={"contiguous"}),
        "rmsnorm": Support(dtypes=DTYPES, layouts={"contiguous"}),
        "groupnorm": Support(dtypes=DTYPES, layouts={"contiguous", "channels_last"}),
    }

    # -- batch norm --------------------------------------------------------------------------------
    def _bn_module(self, x, eps, momentum, affine, train):
        import flax.linen as nn

        return nn.BatchNorm(use_running_average=not train, axis=x.channel_axis, momentum=momentum, epsilon=eps,
                            use_bias=affine, use_scale=affine)

    def batchnorm_train(self, x, weight, bias, running_mean, running_var, *, momentum, eps, num_batches_tracked):
        jnp = _jax().numpy
        c, size, f = self._bn_prologue(x, weight, bias, running_mean, running_var, momentum, num_batches_tracked)
        if size == 0:
            return PhysicalArray(jnp.array(x.data), x.perm), None, None
        affine = weight is not None
        dt = x.data.dtype
        tracked = running_mean is not None
        rm_old = running_mean.data if tracked else jnp.zeros(c, dt)
        rv_old = running_var.data if tracked else jnp.ones(c, dt)
        fn = self._jit(("bn-train", x.data.shape, str(dt), x.channel_axis, float(eps), float(f), affine),
                       lambda: functools.partial(self._bn_module(x, eps, 1.0 - f, affine, True).apply,
                                                 mutable=["batch_stats"]))
        variables = {"batch_stats": {"mean": rm_old, "var": rv_old}}
        if affine:
            variables["params"] = {"scale": weight.data, "bias": bias.data}
        y, updates = fn(variables, x.data)
        if tracked:
            stats = updates["batch_stats"]
            self._write_back(running_mean, running_var, rv_old, stats["mean"], stats["var"], f, size // c)
        return PhysicalArray(self._done(y), x.perm), None, None

    def batchnorm_eval(self, x, weight, bias, running_mean, running_var, *, eps):
        check_channels(x, weight=weight, bias=bias, running_mean=running_mean, running_var=running_var)
        if running_mean is None:
            raise Unsupported("eval without running statistics (Flax's BatchNorm always keeps batch_stats)")
        affine = self._both(weight, bias, "BatchNorm")
        fn = self._jit(("bn-eval", x.data.shape, str(x.data.dtype), x.channel_axis, float(eps), affine),
                       lambda: self._bn_module(x, eps, 0.99, affine, False).apply)
        variables = {"batch_stats": {"mean": running_mean.data, "var": running_var.data}}
        if affine:
            variables["params"] = {"scale": weight.data, "bias": bias.data}
        return PhysicalArray(self._done(fn(variables, x.data)), x.perm)

    def batchnorm_backward(self, dy, x, weight, save_mean, save_invstd, *, eps):
        jax, jnp = _jax(), _jax().numpy
        c, affine, dt, empty = self._bn_grad_prologue(x, weight)
        if empty is not None:
            return empty

        def make():
            module = self._bn_module(x, eps, 0.99, affine, True)

            def grad(params, x_, dy_):
                def f(p, xx):
                    v = {"batch_stats": {"mean": jnp.zeros(c, dt), "var": jnp.ones(c, dt)}}
                    if affine:
                        v["params"] = p
                    return module.apply(v, xx, mutable=["batch_stats"])[0]
                return jax.vjp(f, params, x_)[1](dy_)
            return grad

        fn = self._jit(("bn-grad", x.data.shape, str(dt), x.channel_axis, float(eps), affine), make)
        params = {"scale": weight.data, "bias": jnp.zeros(c, dt)} if affine else {}
        dparams, dx = fn(params, x.data, self._in_order(dy, x))
        return self._bn_grads(dx, x, dparams["scale"] if affine else None, dparams["bias"] if affine else None)

    # -- row ops (the backwards declare eps: Flax's autograd recomputes the statistics) -----------------
    def _row_module(self, op, x, ns, eps, affine):
        import flax.linen as nn

        n = len(x.shape)
        axes = tuple(range(n - len(ns), n))
        if op == "layernorm":
            return nn.LayerNorm(epsilon=eps, use_bias=affine, use_scale=affine, reduction_axes=axes, feature_axes=axes)
        eps = float(np.finfo(x.data.dtype).eps) if eps is None else eps  # PyTorch's eps=None, made explicit
        return nn.RMSNorm(epsilon=eps, use_scale=affine, reduction_axes=axes, feature_axes=axes)

    def _apply(self, key, make_module, params, x, dy=None):
        """``module.apply`` with ``params`` (forward), or ``jax.vjp`` of it at ``dy`` (backward), jitted
        once per configuration; the module is built then too, never in a timed call."""
        jax = _jax()

        def make():
            module = make_module()

            def forward(p, x_):
                return module.apply({"params": p} if p else {}, x_)

            return forward if dy is None else (lambda p, x_, dy_: jax.vjp(forward, p, x_)[1](dy_))

        fn = self._jit(key + ("fwd" if dy is None else "grad",), make)
        return fn(params, x.data) if dy is None else fn(params, x.data, dy)

    def _row(self, op, x, ns, params, eps, dy=None):
        key = (op, x.data.shape, str(x.data.dtype), len(ns), eps, bool(params))
        return self._apply(key, lambda: self._row_module(op, x, ns, eps, bool(params)), params, x, dy)

    def layernorm_forward(self, x, normalized_shape, weight, bias, *, eps):
        rowwise.validate(x, normalized_shape, {"weight": weight, "bias": bias}, "layernorm")
        params = {"scale": weight.data, "bias": bias.data} if self._both(weight, bias, "LayerNorm") else {}
        y = self._row("layernorm", x, tuple(normalized_shape), params, eps)
        return PhysicalArray(self._done(y), x.perm), None, None

    def layernorm_backward(self, dy, x, normalized_shape, weight, bias, mean, rstd, *, eps):
        ns = rowwise.validate(x, normalized_shape, {"weight": weight, "bias": bias}, "layernorm")
        params = {"scale": weight.data, "bias": bias.data} if self._both(weight, bias, "LayerNorm") else {}
        dp, dx = self._row("layernorm", x, ns, params, eps, self._in_order(dy, x))
        self._done(dx)
        keep = tuple(range(len(ns)))
        if not params:
            return PhysicalArray(dx, x.perm), None, None
        return PhysicalArray(dx, x.perm), PhysicalArray(dp["scale"], keep), PhysicalArray(dp["bias"], keep)

    def rmsnorm_forward(self, x, normalized_shape, weight, *, eps):
        rowwise.validate(x, normalized_shape, {"weight": weight}, "rmsnorm")
        params = {"scale": weight.data} if weight is not None else {}
        y = self._row("rmsnorm", x, tuple(normalized_shape), params, eps)
        return PhysicalArray(self._done(y), x.perm), None

    def rmsnorm_backward(self, dy, x, normalized_shape, weight, rrms, *, eps):
        ns = rowwise.validate(x, normalized_shape, {"weight": weight}, "rmsnorm")
        params = {"scale": weight.data} if weight is not None else {}
        dp, dx = self._row("rmsnorm", x, ns, params, eps, self._in_order(dy, x))
        self._done(dx)
        return PhysicalArray(dx, x.perm), (PhysicalArray(dp["scale"], tuple(range(len(ns)))) if params else None)

    # -- group norm --------------------------------------------------------------------------------
    def _gn(self, x, groups, weight, bias, eps, dy=None):
        import flax.linen as nn

        validate_groupnorm(x, groups, weight, bias)  # F.group_norm's checks, as the project's own backends make them
        if len(x.shape) > 2 and not x.channels_last:
            raise Unsupported("flax.linen.GroupNorm takes channels last; contiguous (N, C, ...) input would need a "
                              "transpose inside the timed call")
        affine = self._both(weight, bias, "GroupNorm")
        params = {"scale": weight.data, "bias": bias.data} if affine else {}
        key = ("gn", x.data.shape, str(x.data.dtype), groups, float(eps), affine)
        return self._apply(key, lambda: nn.GroupNorm(num_groups=groups, epsilon=eps, use_bias=affine, use_scale=affine),
                           params, x, dy)

    def groupnorm_forward(self, x, num_groups, weight, bias, *, eps):
        y = self._gn(x, num_groups, weight, bias, eps)
        return PhysicalArray(self._done(y), x.perm), None, None

    def groupnorm_backward(self, dy, x, num_groups, weight, bias, mean, rstd, *, eps):
        dp, dx = self._gn(x, num_groups, weight, bias, eps, self._in_order(dy, x))
        self._done(dx)
        if weight is None:
            return PhysicalArray(dx, x.perm), None, None
        return PhysicalArray(dx, x.perm), PhysicalArray(dp["scale"], (0,)), PhysicalArray(dp["bias"], (0,))


class FlaxNnxBackend(_FlaxBackend):
    """``flax.nnx.BatchNorm``: a stateful module, run through nnx's functional split/merge under jax.jit."""

    name = "flax-nnx"
    description = "flax.nnx BatchNorm (default arguments), split/merge under jax.jit per configuration"
    known_failures = load_known_failures(KNOWN_FAILURES, "flax-nnx")
    ops = {"batchnorm": Support(dtypes=DTYPES, layouts={"contiguous", "channels_last"})}

    def _module(self, x, c, eps, momentum, affine, dt, train):
        from flax import nnx

        return nnx.BatchNorm(c, use_running_average=not train, axis=x.channel_axis, momentum=momentum, epsilon=eps,
                             use_bias=affine, use_scale=affine, dtype=None, param_dtype=dt, rngs=nnx.Rngs(0))

    def _run(self, x, c, eps, momentum, affine, train, weight, bias, rm, rv):
        from flax import nnx

        dt = x.data.dtype
        key = ("nnx-bn", train, x.data.shape, str(dt), x.channel_axis, float(eps), float(momentum), affine)
        if key not in self._fns:  # split once per configuration: a jitted step and the module's state
            graphdef, state = nnx.split(self._module(x, c, eps, momentum, affine, dt, train))

            def step(state_, x_):
                m = nnx.merge(graphdef, state_)
                y = m(x_)
                return y, nnx.state(m)

            self._fns[key] = (_jax().jit(step), state)
        fn, state = self._fns[key]
        return fn(_with(state, mean=rm, var=rv, scale=weight, bias=bias), x.data)

    def batchnorm_train(self, x, weight, bias, running_mean, running_var, *, momentum, eps, num_batches_tracked):
        jnp = _jax().numpy
        c, size, f = self._bn_prologue(x, weight, bias, running_mean, running_var, momentum, num_batches_tracked)
        if size == 0:
            return PhysicalArray(jnp.array(x.data), x.perm), None, None
        dt = x.data.dtype
        tracked = running_mean is not None
        rm_old = running_mean.data if tracked else jnp.zeros(c, dt)
        rv_old = running_var.data if tracked else jnp.ones(c, dt)
        y, state = self._run(x, c, eps, 1.0 - f, weight is not None, True,
                             weight.data if weight is not None else None, bias.data if bias is not None else None,
                             rm_old, rv_old)
        if tracked:
            self._write_back(running_mean, running_var, rv_old, state["mean"][...], state["var"][...], f, size // c)
        return PhysicalArray(self._done(y), x.perm), None, None

    def batchnorm_eval(self, x, weight, bias, running_mean, running_var, *, eps):
        c = check_channels(x, weight=weight, bias=bias, running_mean=running_mean, running_var=running_var)
        if running_mean is None:
            raise Unsupported("eval without running statistics (nnx.BatchNorm always keeps its BatchStat variables)")
        affine = self._both(weight, bias, "BatchNorm")
        y, _ = self._run(x, c, eps, 0.99, affine, False, weight.data if affine else None,
                         bias.data if affine else None, running_mean.data, running_var.data)
        return PhysicalArray(self._done(y), x.perm)


    def batchnorm_backward(self, dy, x, weight, save_mean, save_invstd, *, eps):
        """``jax.vjp`` of the training-mode module with respect to its Params and x (the BatchStat
        variables ride along, rebuilt inside the trace so the module may update them)."""
        jax, jnp = _jax(), _jax().numpy
        c, affine, dt, empty = self._bn_grad_prologue(x, weight)
        if empty is not None:
            return empty
        key = ("nnx-bn-grad", x.data.shape, str(dt), x.channel_axis, float(eps), affine)
        if key not in self._fns:
            from flax import nnx

            graphdef, params, rest = nnx.split(self._module(x, c, eps, 0.99, affine, dt, True), nnx.Param, ...)
            # nnx makes its BatchStat variables float32 whatever param_dtype; in x's dtype, as in train
            rest = _with(rest, mean=jnp.zeros(c, dt), var=jnp.ones(c, dt))

            def grad(params_, rest_, x_, dy_):
                def f(p, xx):
                    return nnx.merge(graphdef, p, jax.tree.map(lambda a: a, rest_))(xx)
                return jax.vjp(f, params_, x_)[1](dy_)

            self._fns[key] = (jax.jit(grad), params, rest)
        fn, params, rest = self._fns[key]
        if affine:
            params = _with(params, scale=weight.data, bias=jnp.zeros(c, dt))
        dparams, dx = fn(params, rest, x.data, self._in_order(dy, x))
        return self._bn_grads(dx, x, dparams["scale"][...] if affine else None, dparams["bias"][...] if affine else None)


def _with(state, **values):
    """``state`` (an nnx.State) with the named variables' values replaced (None: left as they are)."""
    for name, value in values.items():
        if value is not None and name in state:
            state[name].set_value(value)  # the whole array (its dtype too), not an in-place cast
    return state


@normbench.hookimpl
def normbench_backends():
    return [FlaxLinenBackend(), FlaxNnxBackend()]
