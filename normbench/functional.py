"""Every op through any backend, with ``torch.nn.functional``'s names, signatures and defaults.

    import numpy as np
    from normbench import functional as F
    y = F.layer_norm(x, (1024,), w, b, backend="numba")
    dx, dw, db = F.layer_norm_backward(dy, x, (1024,), w, b, backend="numba")

NumPy in, NumPy out; ``backend`` is a backend's name or object (keyword only). Running
statistics given as arrays are updated in place, as torch does. The backwards take the forward's
arguments after ``grad_output`` and return ``(grad_input, grad_weight, grad_bias)`` (RMSNorm: two),
None where a parameter is absent; in training mode they run the training forward first (on
copies of the running statistics) for the statistics the backward needs. Where a backend keeps
those statistics to itself (its forward returns None for them), they are computed on the host in
float64 and rounded to the statistics' dtype. Bad input raises :class:`~normbench.InputError` in
one line before a backend sees it; a pass the backend lacks raises
:class:`~normbench.Unsupported`.

Inputs are float64, float32 or float16 arrays (bfloat16 has no NumPy dtype). Parameters and
running statistics are in the input's dtype, or float32 for float16 input (batch norm: always
float32 for float16 input, as torch's CPU kernels keep them).
"""
from __future__ import annotations

from .ops.batchnorm.api import batch_norm, batch_norm_backward
from .ops.groupnorm.api import group_norm, group_norm_backward
from .ops.instancenorm.api import instance_norm, instance_norm_backward
from .ops.layernorm.api import layer_norm, layer_norm_backward
from .ops.rmsnorm.api import rms_norm, rms_norm_backward

__all__ = ["batch_norm", "batch_norm_backward", "layer_norm", "layer_norm_backward", "rms_norm", "rms_norm_backward",
           "group_norm", "group_norm_backward", "instance_norm", "instance_norm_backward"]
