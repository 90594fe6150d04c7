"""The backend contract: what a plugin's backend object must provide.

A backend wraps one batch-normalization implementation. The harness never touches its data
except through :meth:`Backend.from_numpy` / :meth:`Backend.to_numpy`, which run *outside* timed
regions; the three operations then take and return the backend's own ("native") arrays.
Semantics are PyTorch's ``torch.nn.functional.batch_norm`` (see docs/plugins.md and
BN-SEMANTICS): biased variance to normalize, unbiased variance into ``running_var``, eps inside
the square root, ``new = (1 - momentum) * old + momentum * batch``.

Subclass :class:`Backend` (recommended) or provide the same attributes and methods.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .dtypes import DTYPES, LAYOUTS, RANKS, check_dtype, dtype_name

#: Version of this contract. A plugin states the version it was written against in
#: ``Backend.api_version``; the harness refuses (and reports) any other.
PLUGIN_API_VERSION = 1

OPS: tuple[str, ...] = ("train", "eval", "backward")


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do. Requests outside this set are reported as *unsupported*."""

    ops: frozenset[str] = frozenset(OPS)
    dtypes: frozenset[str] = frozenset({"float64", "float32"})
    layouts: frozenset[str] = frozenset(LAYOUTS)
    ranks: frozenset[int] = frozenset(RANKS)

    def __post_init__(self) -> None:
        for attr, allowed in (("ops", OPS), ("dtypes", DTYPES), ("layouts", LAYOUTS), ("ranks", RANKS)):
            values = frozenset(getattr(self, attr))
            object.__setattr__(self, attr, values)
            unknown = values - set(allowed)
            if unknown:
                raise ValueError(f"Capabilities.{attr} has unknown values {sorted(unknown)}; allowed: {list(allowed)}")

    def why_not(self, op: str, dtype: str, layout: str, rank: int) -> str | None:
        """Reason this request is unsupported, or None if it is supported."""
        if op not in self.ops:
            return f"op {op!r} not supported"
        if dtype not in self.dtypes:
            return f"dtype {dtype} not supported"
        if rank not in self.ranks:
            return f"rank {rank} not supported"
        if rank > 2 and layout not in self.layouts:
            return f"layout {layout} not supported"
        return None

    def as_dict(self) -> dict[str, list]:
        return {
            "ops": [o for o in OPS if o in self.ops],
            "dtypes": [d for d in DTYPES if d in self.dtypes],
            "layouts": [lay for lay in LAYOUTS if lay in self.layouts],
            "ranks": sorted(self.ranks),
        }


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here; ``reason`` says why not (e.g. "no CUDA device")."""

    available: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.available


@dataclass(frozen=True)
class KnownFailure:
    """A defect of the implementation behind a backend, found by the conformance suite.

    ``case`` is an ``fnmatch`` pattern over case ids (``normbench check --list-cases`` shows
    them), or a regular expression (full match) when it starts with ``re:``. A matching failure is reported as *known* (with its measured error) and does not fail
    ``check``; a matching case that passes is reported as *xpass* so the entry can be removed.
    """

    case: str
    reason: str

    def matches(self, case_id: str) -> bool:
        if self.case.startswith("re:"):
            return re.fullmatch(self.case[3:], case_id) is not None
        return fnmatch.fnmatchcase(case_id, self.case)


class Backend:
    """Base class for batch-norm backends. Override the operations you support.

    Native arrays: ``from_numpy`` receives host arrays in logical shape (N, C, ...), already in
    the requested memory layout (check ``array.strides``), in the host dtype of ``dtype``
    (float32 carrying exactly-representable values for bfloat16). It must keep the values and
    the logical shape. Weight, bias, running and saved statistics are float32 for half inputs.
    """

    #: unique backend name, used on the command line (``--backend NAME``)
    name: ClassVar[str] = ""
    #: contract version the backend was written against
    api_version: ClassVar[int] = PLUGIN_API_VERSION
    capabilities: ClassVar[Capabilities] = Capabilities()
    known_failures: ClassVar[tuple[KnownFailure, ...]] = ()
    #: a line for ``normbench list``
    description: ClassVar[str] = ""

    # -- environment -------------------------------------------------------------------------
    def availability(self) -> Availability:
        """Whether this backend can run on this machine, and if not, why. Must be cheap."""
        return Availability(True)

    def version(self) -> str:
        """Version of the implementation behind the backend (library version), if any."""
        return ""

    def set_threads(self, threads: int | None) -> int | None:
        """Use ``threads`` CPU threads (None: the library default). Return the count in effect."""
        return None

    def environment(self) -> dict[str, Any]:
        """Facts recorded with each benchmark result (device name, library build, ...)."""
        return {}

    def prepare(self, dtype: str, layout: str, rank: int) -> None:
        """Warm-up hook called before timing a configuration (e.g. JIT compilation).

        Time spent here is reported separately as compile/warm-up time, never as run time.
        """

    # -- data movement (never timed) -----------------------------------------------------------
    def from_numpy(self, array: np.ndarray, dtype: str) -> Any:
        """Host NumPy array -> native array of harness dtype ``dtype``, keeping strides."""
        return array.astype(dtype, copy=True) if dtype != "bfloat16" else array.copy()

    def to_numpy(self, native: Any) -> np.ndarray:
        """Native array -> host NumPy array (float32 for bfloat16)."""
        return np.asarray(native)

    def dtype_of(self, native: Any) -> str:
        """Harness dtype name of a native array (must report bfloat16 as such)."""
        return dtype_name(np.asarray(native))

    def synchronize(self) -> None:
        """Wait until queued device work is finished (no-op on CPUs)."""

    # -- the operations ------------------------------------------------------------------------
    def train_forward(
        self,
        x: Any,
        weight: Any | None,
        bias: Any | None,
        running_mean: Any | None,
        running_var: Any | None,
        *,
        momentum: float | None,
        eps: float,
        num_batches_tracked: int,
    ) -> tuple[Any, Any, Any]:
        """Training forward. Returns ``(y, save_mean, save_invstd)``.

        ``weight``/``bias`` are None when affine=False; ``running_mean``/``running_var`` are None
        when running statistics are not tracked, else updated **in place** with the unbiased
        batch variance. ``momentum=None`` is the cumulative average: the factor is
        ``1 / num_batches_tracked`` (the count *including* this batch, as nn.BatchNorm does).
        Must raise (any exception) when a channel has a single value (m == 1); a zero-size batch
        returns an empty ``y`` and leaves running statistics untouched.
        """
        raise NotImplementedError

    def eval_forward(
        self, x: Any, weight: Any | None, bias: Any | None, running_mean: Any, running_var: Any, *, eps: float
    ) -> Any:
        """Inference forward with the running statistics. Returns ``y``."""
        raise NotImplementedError

    def backward(
        self, dy: Any, x: Any, weight: Any | None, save_mean: Any, save_invstd: Any, *, eps: float
    ) -> tuple[Any, Any | None, Any | None]:
        """Training-mode backward from the saved statistics. Returns ``(dx, dweight, dbias)``.

        ``dweight``/``dbias`` may be None when ``weight`` is None (affine=False).
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def availability_of(backend: object) -> Availability:
    """``backend.availability()``, with a broken one reported as unavailable, never raised."""
    try:
        avail = backend.availability()
        return avail if isinstance(avail, Availability) else Availability(bool(avail), str(getattr(avail, "reason", "")))
    except Exception as exc:  # noqa: BLE001 - a third-party backend may raise anything
        return Availability(False, f"availability() raised {type(exc).__name__}: {exc}")


def safe_call(fn, default=None):
    """Call an informative backend method (version, environment, set_threads); a failure gives ``default``."""
    try:
        return fn()
    except Exception:  # noqa: BLE001
        return default


def momentum_factor(momentum: float | None, num_batches_tracked: int) -> float:
    """The exponential-average factor PyTorch uses: momentum, or 1/num_batches_tracked if None."""
    if momentum is None:
        return 1.0 / max(num_batches_tracked, 1)
    return float(momentum)


REQUIRED_ATTRS = ("name", "capabilities", "availability", "from_numpy", "to_numpy", "synchronize")


def contract_problems(obj: object) -> list[str]:
    """What is wrong with ``obj`` as a backend (empty list: it satisfies the contract)."""
    problems = [f"missing {a!r}" for a in REQUIRED_ATTRS if not hasattr(obj, a)]
    if problems:
        return problems
    name = getattr(obj, "name")
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        problems.append(f"name must be a non-empty string without spaces, got {name!r}")
    version = getattr(obj, "api_version", None)
    if version != PLUGIN_API_VERSION:
        problems.append(
            f"written for plugin API version {version!r}, this normbench speaks version {PLUGIN_API_VERSION}"
        )
    if not isinstance(getattr(obj, "capabilities"), Capabilities):
        problems.append("capabilities must be a normbench.Capabilities")
    else:
        for op, method in (("train", "train_forward"), ("eval", "eval_forward"), ("backward", "backward")):
            if op in obj.capabilities.ops and not callable(getattr(obj, method, None)):
                problems.append(f"declares op {op!r} but has no {method}()")
    return problems


__all__ = [
    "Availability",
    "Backend",
    "Capabilities",
    "KnownFailure",
    "OPS",
    "PLUGIN_API_VERSION",
    "check_dtype",
    "contract_problems",
    "momentum_factor",
]
