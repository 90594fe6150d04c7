"""Batch normalization: everything specific to the op lives in this package.

``reference`` (float64 oracle), ``validate`` (input checks), ``cases`` (the conformance grid),
``tolerances`` (per-dtype, per-output), ``check`` (running a case), ``bytes`` (traffic model),
``api`` (host-level calls through a backend). A new op (LayerNorm, GroupNorm, ...) is a sibling
package with the same modules.
"""
from __future__ import annotations

from . import reference
from .bytes import TRAFFIC, bytes_moved
from .cases import GROUPS, Case, all_cases, make_data
from .check import CaseResult, run_case

NAME = "batch_norm"
OPS = tuple(TRAFFIC)

__all__ = ["NAME", "OPS", "GROUPS", "Case", "CaseResult", "all_cases", "make_data", "run_case", "bytes_moved", "reference"]
