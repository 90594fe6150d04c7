"""Byte model of batch norm: the minimum memory traffic of each op, the bandwidth floor.

Counted in elements of the input dtype (per-channel vectors are negligible and ignored):

* train forward: read x once, write y once -> 2 x size. (A kernel that cannot keep a channel
  in cache reads x twice or three times; the floor is what a perfect kernel moves.)
* eval forward: read x, write y -> 2 x size.
* backward: read x and dy, write dx -> 3 x size.

``bytes / copy_bandwidth`` is the floor time: a memory copy of the same number of bytes
(half read, half written) measured in the same run sets the machine's achievable bandwidth.
"""
from __future__ import annotations

from math import prod

from ...dtypes import ITEMSIZE

TRAFFIC = {"train": 2, "eval": 2, "backward": 3}


def bytes_moved(op: str, shape: tuple[int, ...], dtype: str) -> int:
    """Minimum bytes read plus written by ``op`` on an input of ``shape`` and ``dtype``."""
    return TRAFFIC[op] * prod(shape) * ITEMSIZE[dtype]
