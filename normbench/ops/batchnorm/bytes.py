"""Byte model of batch norm: the minimum memory traffic of each pass, the bandwidth floor.

Counted in elements of the input dtype (per-channel vectors are negligible and ignored):

* train: read x once, write y once -> 2 x size. (A kernel that cannot keep a channel
  in cache reads x twice or three times; the floor is what a perfect kernel moves.)
* eval: read x, write y -> 2 x size.
* backward: read x and dy, write dx -> 3 x size.

``bytes / copy_bandwidth`` is the floor time: a memory copy of the same number of bytes
(half read, half written) measured in the same run sets the machine's achievable bandwidth.
"""
from __future__ import annotations

from math import prod

from ...dtypes import ITEMSIZE

TRAFFIC = {"train": 2, "eval": 2, "backward": 3}
BYTE_MODEL = "train and eval 2 x size (read x, write y), backward 3 x size (read x and dy, write dx)"


def bytes_moved(pass_: str, shape: tuple[int, ...], dtype: str) -> int:
    """Minimum bytes read plus written by ``pass_`` on an input of ``shape`` and ``dtype``."""
    return TRAFFIC[pass_] * prod(shape) * ITEMSIZE[dtype]
