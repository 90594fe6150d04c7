"""Plugin API version 1, kept working: BatchNorm backends written before ops existed.

This module lives outside ``normbench/ops/`` on purpose: it is the one place where the harness
still knows the v1 contract, which was BatchNorm-shaped (``capabilities`` with
``ops={"train", "eval", "backward"}``, methods ``train_forward`` / ``eval_forward`` /
``backward``). Plugins written against it exist outside this repository and must load, list,
check and benchmark unchanged, as ``batchnorm`` backends. :class:`V1Backend` wraps such an
object in the v2 contract; nothing else in the harness ever sees a v1 object.

v1 known-failure patterns were written against case ids without the op prefix
(``offset/*-channels_last-offset*``); they are scoped to ``batchnorm/`` here, so they can never
match another op's cases.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .backend import PLUGIN_API_VERSION, Backend, KnownFailure, Support
from .dtypes import DTYPES, LAYOUTS, RANKS
from .ops.batchnorm.reference import momentum_factor

OP = "batchnorm"
#: the v1 name for BatchNorm's passes
OPS: tuple[str, ...] = ("train", "eval", "backward")
_METHODS = {"train": "train_forward", "eval": "eval_forward", "backward": "backward"}


@dataclass(frozen=True)
class Capabilities:
    """v1: what a BatchNorm backend can do (``ops`` are the passes train, eval, backward)."""

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
        return self.support().why_not(op, dtype, layout, rank)

    def support(self) -> Support:
        """The v2 declaration of the same thing, for op ``batchnorm``."""
        return Support(passes=self.ops, dtypes=self.dtypes, layouts=self.layouts, ranks=self.ranks)


def is_v1(obj: object) -> bool:
    """A v1 backend says ``api_version = 1``, or (inheriting today's version from
    ``normbench.Backend``) declares no ``ops`` and has the v1 methods."""
    version = getattr(obj, "api_version", None)
    if version == 1:
        return True
    if version not in (None, PLUGIN_API_VERSION):
        return False  # a version from the future: the v2 contract check reports it
    return not getattr(obj, "ops", None) and any(callable(getattr(obj, m, None)) for m in _METHODS.values())


def scoped(kf: KnownFailure) -> KnownFailure:
    """A v1 pattern over un-prefixed case ids, matching only batch-norm cases (a record matched on
    fields already names its op)."""
    if not kf.case:
        return kf
    if kf.case.startswith("re:"):
        return KnownFailure(f"re:{OP}/(?:{kf.case[3:]})", kf.reason)
    return KnownFailure(f"{OP}/{kf.case}", kf.reason)


def contract_problems(obj: object) -> list[str]:
    """What is wrong with ``obj`` as a v1 backend."""
    problems = [f"missing {a!r}" for a in ("name", "availability", "from_numpy", "to_numpy", "synchronize")
                if not hasattr(obj, a)]
    if problems:
        return problems
    name = getattr(obj, "name")
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        problems.append(f"name must be a non-empty string without spaces, got {name!r}")
    caps = getattr(obj, "capabilities", Capabilities())
    if not isinstance(caps, Capabilities):
        problems.append("capabilities must be a normbench.Capabilities")
        return problems
    for op, method in _METHODS.items():
        if op in caps.ops and not callable(getattr(obj, method, None)):
            problems.append(f"declares op {op!r} but has no {method}()")
    return problems


class V1Backend(Backend):
    """The v2 face of a v1 backend: ``batchnorm_<pass>`` calls the v1 methods, the rest delegates."""

    api_version: ClassVar[int] = 2

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.description = getattr(inner, "description", "")
        self.original_api_version = 1
        self.ops = {OP: getattr(inner, "capabilities", Capabilities()).support()}
        self.known_failures = tuple(scoped(kf) for kf in getattr(inner, "known_failures", ()) or ())

    def __getattr__(self, attr: str) -> Any:  # optional extras such as copy_gbps
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(attr)
        return getattr(inner, attr)

    def availability(self):
        return self.inner.availability()

    def version(self) -> str:
        return self.inner.version() if hasattr(self.inner, "version") else ""

    def set_threads(self, threads):
        return self.inner.set_threads(threads) if hasattr(self.inner, "set_threads") else None

    def environment(self) -> dict:
        return self.inner.environment() if hasattr(self.inner, "environment") else {}

    def prepare(self, op: str, dtype: str, layout: str, rank: int) -> None:
        prepare = getattr(type(self.inner), "prepare", None)
        if prepare is not None and prepare is not Backend.prepare:  # v1 signature: (dtype, layout, rank)
            self.inner.prepare(dtype, layout, rank)

    def from_numpy(self, array, dtype):
        return self.inner.from_numpy(array, dtype)

    def to_numpy(self, native):
        return self.inner.to_numpy(native)

    def dtype_of(self, native) -> str:
        return self.inner.dtype_of(native) if hasattr(self.inner, "dtype_of") else super().dtype_of(native)

    def synchronize(self) -> None:
        self.inner.synchronize()

    def batchnorm_train(self, *args, **kwargs):
        return self.inner.train_forward(*args, **kwargs)

    def batchnorm_eval(self, *args, **kwargs):
        return self.inner.eval_forward(*args, **kwargs)

    def batchnorm_backward(self, *args, **kwargs):
        return self.inner.backward(*args, **kwargs)


__all__ = ["Capabilities", "OPS", "V1Backend", "is_v1", "momentum_factor"]
