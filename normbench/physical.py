"""Native arrays for frameworks without strides (Keras, JAX/Flax, TensorFlow).

Their tensors are dense in one axis order, so a channels_last case cannot be handed over as a
strided (N, C, H, W) view. The honest mapping is the one their users make: the data in its memory
order, (N, H, W, C), with the layer told ``axis=-1``. :class:`PhysicalArray` carries that array
together with the permutation back to normbench's logical (N, C, ...) shape, so the harness's
checks (``to_numpy``, shapes, dtypes) see the logical array while the framework sees the physical
one. Converting is done in ``from_numpy``/``to_numpy``, outside timed regions.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .dtypes import channels_last_order, layout_of


class PhysicalArray:
    """A framework array in memory order plus ``perm``, the logical axis of each physical axis.

    Mutable on purpose: a pass that updates running statistics "in place" replaces ``data``.
    """

    __slots__ = ("data", "perm")

    def __init__(self, data: Any, perm: tuple[int, ...]):
        self.data = data
        self.perm = tuple(perm)

    @property
    def shape(self) -> tuple[int, ...]:
        """The logical shape (N, C, ...)."""
        phys = tuple(self.data.shape)
        out = [0] * len(phys)
        for physical_axis, logical_axis in enumerate(self.perm):
            out[logical_axis] = phys[physical_axis]
        return tuple(out)

    @property
    def channels_last(self) -> bool:
        return len(self.perm) > 2 and self.perm == channels_last_order(len(self.perm))

    @property
    def channel_axis(self) -> int:
        """The physical axis holding logical axis 1 (channels): what a layer's ``axis`` is set to."""
        return self.perm.index(1) if len(self.perm) > 1 else 0

    def axes_into(self, like: "PhysicalArray") -> list[int]:
        """The transpose axes that put this array's data in ``like``'s physical order (a dy that
        arrives in another layout than x)."""
        back = np.argsort(self.perm)
        return [int(back[p]) for p in like.perm]

    def __repr__(self) -> str:
        return f"PhysicalArray(shape={self.shape}, perm={self.perm}, {type(self.data).__name__})"


def physical(array: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """A dense copy of ``array`` in its memory order and the permutation (channels_last: (0, 2, .., 1)).

    A ``strided`` array becomes dense in logical order: these frameworks have no strided tensors."""
    perm = channels_last_order(array.ndim) if layout_of(array) == "channels_last" else tuple(range(array.ndim))
    return np.ascontiguousarray(array.transpose(perm)), perm


def logical(host: np.ndarray, perm: tuple[int, ...]) -> np.ndarray:
    """The host copy of a physical array, viewed in logical axis order."""
    return np.asarray(host).transpose(np.argsort(perm)) if perm != tuple(range(len(perm))) else np.asarray(host)


def check_channels(x: PhysicalArray, **params: Any) -> int:
    """The channel count of ``x`` (logical (N, C, ...)); ValueError naming a parameter whose length differs."""
    if len(x.shape) < 2:
        raise ValueError(f"expected input with at least 2 dimensions (N, C, ...), got shape {list(x.shape)}")
    c = x.shape[1]
    for what, p in params.items():
        if p is not None and tuple(p.shape) != (c,):
            raise ValueError(f"{what} should contain {c} elements (the channels of input of shape "
                             f"{list(x.shape)}), got shape {list(p.shape)}")
    return c
