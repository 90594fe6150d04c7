"""The backend contract (plugin API version 2): what a plugin's backend object provides.

A backend wraps one or more normalization implementations. It declares, per op (a
normalization; ``normbench list`` shows the installed ones), which passes, dtypes, layouts and
ranks it supports, and implements each pass as a method named ``<op>_<pass>``. Each op's
package (``normbench/ops/<op>/__init__.py``) documents the signature and semantics of its passes.

The harness never touches a backend's data except through :meth:`Backend.from_numpy` /
:meth:`Backend.to_numpy`, which run *outside* timed regions; the passes take and return the
backend's own ("native") arrays.

Backends written for version 1 (one op only, with a flat ``capabilities``) still load:
:mod:`normbench.compat_v1` adapts them.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from .dtypes import DTYPES, dtype_name
from .errors import shadowing_note
from .known import KnownFailure, load_known_failures

#: Version of this contract. A backend states the version it was written against in
#: ``Backend.api_version``; the harness accepts every version in :data:`SUPPORTED_API_VERSIONS`.
PLUGIN_API_VERSION = 2
SUPPORTED_API_VERSIONS = range(1, PLUGIN_API_VERSION + 1)


@dataclass(frozen=True)
class Support:
    """What a backend supports of one op. ``None`` means everything the op defines.

    Requests outside it are reported as *unsupported* (``n/a``), never as failures.
    """

    passes: frozenset[str] | None = None
    dtypes: frozenset[str] = frozenset({"float64", "float32"})
    layouts: frozenset[str] | None = None
    ranks: frozenset[int] | None = None

    def __post_init__(self) -> None:
        for attr in ("passes", "dtypes", "layouts", "ranks"):
            value = getattr(self, attr)
            if value is not None:
                object.__setattr__(self, attr, frozenset(value))
        unknown = set(self.dtypes) - set(DTYPES)
        if unknown:
            raise ValueError(f"Support.dtypes has unknown values {sorted(unknown)}; allowed: {list(DTYPES)}")

    def resolved(self, op) -> "Support":
        """This support with ``None`` replaced by the op's full vocabulary (``op``: an OpInfo)."""
        return Support(
            passes=frozenset(op.passes) if self.passes is None else self.passes,
            dtypes=self.dtypes,
            layouts=frozenset(op.layouts) if self.layouts is None else self.layouts,
            ranks=frozenset(op.ranks) if self.ranks is None else self.ranks,
        )

    def problems(self, op) -> list[str]:
        """Values outside the op's vocabulary (a declaration error of the backend)."""
        out = []
        for attr, allowed in (("passes", op.passes), ("layouts", op.layouts), ("ranks", op.ranks)):
            value = getattr(self, attr)
            unknown = set(value or ()) - set(allowed)
            if unknown:
                out.append(f"{op.name}: unknown {attr} {sorted(unknown)}; {op.name} has {list(allowed)}")
        return out

    def why_not(self, pass_: str, dtype: str, layout: str, rank: int) -> str | None:
        """Reason this request is unsupported, or None if it is supported (resolved support only)."""
        if self.passes is not None and pass_ not in self.passes:
            return f"pass {pass_!r} not supported"
        if dtype not in self.dtypes:
            return f"dtype {dtype} not supported"
        if self.ranks is not None and rank not in self.ranks:
            return f"rank {rank} not supported"
        if self.layouts is not None and layout not in self.layouts:
            return f"layout {layout} not supported"
        return None

    def as_dict(self, op) -> dict[str, list]:
        r = self.resolved(op)
        return {
            "passes": [p for p in op.passes if p in r.passes],
            "dtypes": [d for d in DTYPES if d in r.dtypes],
            "layouts": [lay for lay in op.layouts if lay in r.layouts],
            "ranks": sorted(r.ranks),
        }


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here; ``reason`` says why not (e.g. "no CUDA device")."""

    available: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.available


class Backend:
    """Base class for backends (plugin API version 2).

    Set ``name`` and ``ops`` (op name -> :class:`Support`) and implement ``<op>_<pass>`` for every
    pass declared. Native arrays: ``from_numpy`` receives host arrays in the op's logical shape,
    already in the requested memory layout (check ``array.strides``), in the host dtype of
    ``dtype`` (float32 carrying exactly-representable values for bfloat16). It must keep the
    values and the logical shape.
    """

    #: unique backend name, used on the command line (``--backend NAME``)
    name: ClassVar[str] = ""
    #: contract version the backend was written against
    api_version: ClassVar[int] = PLUGIN_API_VERSION
    #: op name -> what of it this backend supports
    ops: ClassVar[Mapping[str, Support]] = {}
    known_failures: ClassVar[tuple[KnownFailure, ...]] = ()
    #: a line for ``normbench list``
    description: ClassVar[str] = ""
    #: ``"<op>/<pass>"`` pattern (fnmatch) -> what a timing of that pass includes beyond the pass
    #: itself, e.g. ``{"*/backward": "includes a forward: autograd reruns it"}``. Recorded with each
    #: benchmark row and marked in the report, so a reader compares like with like.
    timing_notes: ClassVar[Mapping[str, str]] = {}
    #: True for a backend that compiles every configuration (shape, dtype, layout) anew in each
    #: process (torch.compile, jax.jit, tf.function): minutes per backend for the full cases and
    #: again for a grid of fresh benchmark processes, so ``normbench run`` checks it on a sample
    #: and benchmarks it only when asked (``--all-compiled`` or ``--backend NAME``), and says so
    compiles_per_configuration: ClassVar[bool] = False
    #: the invariance properties this backend promises, of ``deterministic``, ``batch-invariant``,
    #: ``thread-invariant`` and ``layout-invariant`` (:mod:`normbench.conformance.invariance`): a
    #: promised property that does not hold on a pass, dtype and layout the backend declares is a
    #: failure of ``normbench check`` and of the pytest route, as ``--require`` makes it for any backend
    invariants: ClassVar[tuple[str, ...]] = ()

    # -- environment -------------------------------------------------------------------------
    def availability(self) -> Availability:
        """Whether this backend can run on this machine, and if not, why. Must be cheap."""
        return Availability(True)

    def probe(self) -> Availability:
        """An expensive availability check, run once in the backend's own worker before its first job
        (e.g. compile a small function: a broken toolchain then makes the backend unavailable with the
        reason, rather than failing every case). ``normbench list`` does not run it."""
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

    def prepare(self, op: str, dtype: str, layout: str, rank: int) -> None:
        """Warm-up hook called before timing a configuration of ``op`` (e.g. JIT compilation).

        Time spent here is reported separately as compile/warm-up time, never as run time.
        """

    # -- data movement (never timed) -----------------------------------------------------------
    def from_numpy(self, array: np.ndarray, dtype: str) -> Any:
        """Host NumPy array -> native array of harness dtype ``dtype``.

        The default copies with NumPy's ``order="K"``: a channels_last array stays channels_last,
        but a non-dense (``strided``) one becomes dense; override it to hand your kernel the
        strided view itself. bfloat16 arrives as float32 carrying bfloat16 values and the default
        passes it on unchanged, so ``dtype_of`` would report float32: a backend that supports
        bfloat16 overrides ``from_numpy``, ``to_numpy`` and ``dtype_of`` together (the numba
        backend keeps the 16-bit patterns as uint16; torch has a native dtype)."""
        return array.astype(dtype, copy=True) if dtype != "bfloat16" else array.copy()

    def to_numpy(self, native: Any) -> np.ndarray:
        """Native array -> host NumPy array (float32 for bfloat16; override with ``from_numpy``)."""
        return np.asarray(native)

    def dtype_of(self, native: Any) -> str:
        """Harness dtype name of a native array (must report bfloat16 as such: the default cannot,
        since NumPy has no bfloat16)."""
        return dtype_name(np.asarray(native))

    def synchronize(self) -> None:
        """Wait until queued device work is finished (no-op on CPUs)."""

    # -- the passes ------------------------------------------------------------------------------
    def kernel(self, op: str, pass_: str) -> Callable[..., Any]:
        """The method implementing ``pass_`` of ``op`` (``<op>_<pass>``)."""
        return getattr(self, f"{op}_{pass_}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _checked(backend: object, method: str) -> Availability:
    """``backend.<method>()`` as an Availability; a raising one is reported as unavailable, never raised."""
    try:
        avail = getattr(backend, method)()
        return avail if isinstance(avail, Availability) else Availability(bool(avail), str(getattr(avail, "reason", "")))
    except Exception as exc:  # noqa: BLE001 - a third-party backend may raise anything
        return Availability(False, f"{method}() raised {type(exc).__name__}: {exc}")


def availability_of(backend: object) -> Availability:
    """``backend.availability()``, with a broken one reported as unavailable, never raised."""
    return _checked(backend, "availability")


def probe_of(backend: object) -> Availability:
    """``backend.probe()`` if it has one (v1 backends need not), checked like ``availability()``."""
    return _checked(backend, "probe") if hasattr(backend, "probe") else Availability(True)


def declared_invariants(backend: object) -> tuple[str, ...]:
    """The backend's :attr:`Backend.invariants`, as strings (a malformed declaration promises none)."""
    declared = getattr(backend, "invariants", ()) or ()
    try:
        return (declared,) if isinstance(declared, str) else tuple(str(p) for p in declared)
    except TypeError:
        return ()


def timing_note(backend: object, op: str, pass_: str) -> str:
    """The backend's :attr:`Backend.timing_notes` that apply to ``op``'s ``pass_``, joined ("" if none)."""
    notes = getattr(backend, "timing_notes", None) or {}
    try:
        return "; ".join(str(v) for k, v in notes.items() if fnmatch.fnmatchcase(f"{op}/{pass_}", str(k)))
    except (AttributeError, TypeError):  # a malformed declaration is not worth failing a timing over
        return ""


def eps_kwargs(fn: Callable[..., Any], eps: Any) -> dict[str, Any]:
    """``{"eps": eps}`` if the pass ``fn`` declares an ``eps`` parameter, else ``{}``.

    The row and group ops' backward signatures carry the saved statistics, not eps: enough for a
    kernel, not for an implementation whose autograd recomputes the statistics (Keras, Flax).
    Such a backward declares ``eps`` (keyword) and gets the forward's; others are called as before."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    p = params.get("eps")
    return {"eps": eps} if p is not None and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) else {}


def support_of(backend: object, op: Any) -> Support | None:
    """What ``backend`` supports of ``op`` (an OpInfo), resolved; None if it does not declare it."""
    declared = getattr(backend, "ops", {}).get(op.name)
    return None if declared is None else declared.resolved(op)


def why_unsupported(backend: object, op: Any, pass_: str, dtype: str, layout: str, rank: int) -> str | None:
    """Why ``backend`` cannot run this request of ``op``, or None if it declares it."""
    support = support_of(backend, op)
    if support is None:
        return f"op {op.name} not implemented"
    return support.why_not(pass_, dtype, layout, rank)


def safe_call(fn, default=None):
    """Call an informative backend method (version, environment, set_threads); a failure gives ``default``."""
    try:
        return fn()
    except Exception:  # noqa: BLE001
        return default


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``: how a backend's exception is reported everywhere."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    if len(first) > 300:  # some libraries put a whole dispatch table on one line
        first = first[:297] + "..."
    return f"{type(exc).__name__}: {first}".rstrip(": ") + shadowing_note()


REQUIRED_ATTRS = ("name", "availability", "from_numpy", "to_numpy", "synchronize")


def contract_problems(obj: object, known_ops: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``obj`` as a v2 backend (empty list: it satisfies the contract).

    ``known_ops`` maps op names to their OpInfo; a declared op that no installed package
    provides is not an error of the backend (see :func:`unknown_ops`).
    """
    problems = [f"missing {a!r}" for a in (*REQUIRED_ATTRS, "ops") if not hasattr(obj, a)]
    if problems:
        return problems
    name = getattr(obj, "name")
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        problems.append(f"name must be a non-empty string without spaces, got {name!r}")
    version = getattr(obj, "api_version", None)
    if version not in SUPPORTED_API_VERSIONS:
        problems.append(
            f"written for plugin API version {version!r}, this normbench speaks versions "
            f"{SUPPORTED_API_VERSIONS[0]} to {SUPPORTED_API_VERSIONS[-1]}"
        )
    ops = getattr(obj, "ops")
    if not isinstance(ops, Mapping) or not ops:
        problems.append("ops must be a non-empty dict of op name -> normbench.Support")
        return problems
    for op_name, support in ops.items():
        if not isinstance(support, Support):
            problems.append(f"ops[{op_name!r}] must be a normbench.Support, got {type(support).__name__}")
            continue
        op = known_ops.get(op_name)
        if op is None:
            continue
        problems += support.problems(op)
        for p in support.resolved(op).passes:
            if not callable(getattr(obj, f"{op_name}_{p}", None)):
                problems.append(f"declares {op_name} pass {p!r} but has no {op_name}_{p}()")
    return problems


def unknown_ops(obj: object, known_ops: Mapping[str, Any]) -> list[str]:
    """Ops a backend declares that no installed op package provides (ignored, with a notice)."""
    return [o for o in getattr(obj, "ops", {}) if o not in known_ops]


__all__ = [
    "Availability",
    "Backend",
    "KnownFailure",
    "PLUGIN_API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "Support",
    "availability_of",
    "contract_problems",
    "eps_kwargs",
    "load_known_failures",
    "one_line",
    "probe_of",
    "safe_call",
    "support_of",
    "timing_note",
    "why_unsupported",
]
