"""What an op tells the checker about one conformance case: the calls to make and what each
must return. The op supplies references, sample data and tolerances as these records
(:attr:`normbench.opinfo.OpInfo.plan`); :mod:`normbench.conformance.checker` runs them, the same
way for every op.

A case is a list of :class:`Step`: one call of one pass. A step's positional arguments are plain
values (``normalized_shape``, ``num_groups``) or arrays:

* :class:`Arg`: a host array, converted for this call only (None passes None);
* :class:`State`: an array that lives across the case's steps (running statistics): converted
  once, updated in place only by the steps that name it in ``mutates``;
* :class:`Saved`: a statistic an earlier step returned, or the reference's value in its dtype
  when that step did not run or kept its statistics to itself.

Every array argument a step does not declare in ``mutates`` must come back unchanged. A step
returns either one array (``returns`` is an :class:`Out`) or a tuple with one entry per output
(``returns`` is a tuple of :class:`Out`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Arg:
    """A host array passed to one call (converted to the backend's type; None passes None)."""

    name: str
    host: np.ndarray | None
    dtype: str


@dataclass(frozen=True, eq=False)
class State:
    """An array shared by the steps of a case, e.g. running statistics. The first step that uses
    it converts ``host``; later steps get the same backend object, as a module holds its buffers."""

    name: str
    host: np.ndarray | None
    dtype: str


@dataclass(frozen=True, eq=False)
class Saved:
    """Output ``index`` of the step labelled ``step``, when that step ran and its statistics were
    checked; otherwise ``fallback`` (float64, the reference's value) cast to ``dtype``. ``layout``
    other than contiguous: the same values handed over in that memory layout (``strided``: a
    non-contiguous view), so a backward that walks its saved statistics as dense is caught."""

    name: str
    step: str
    index: int
    fallback: np.ndarray
    dtype: str
    layout: str = "contiguous"


@dataclass(frozen=True, eq=False)
class Out:
    """One output and how it is judged.

    ``ref`` None checks only that the output is there, in ``dtype`` and of ``shape``. Otherwise
    the output must be close to ``ref`` (:func:`normbench.closeness.compare_arrays`) with the
    op's ``scale`` and ``cond_err`` (broadcastable against ``ref``). ``stat``: a saved statistic,
    judged relative to its own size (no floor of 1 under ``scale``), which an implementation may
    keep to itself by returning None for every statistic of the step
    (then none is checked and later :class:`Saved` arguments fall back to the reference).
    ``absent``: the gradient of a parameter that was not given, which must be None.
    ``exact``: the output must equal this array (NaN equal to NaN); ``exact_why`` says why."""

    name: str
    dtype: str = ""
    shape: tuple[int, ...] = ()
    ref: np.ndarray | None = None
    scale: Any = 1.0
    cond_err: Any = 0.0
    stat: bool = False
    absent: bool = False
    exact: np.ndarray | None = None
    exact_why: str = ""
    #: False: returned in its place but not looked at (e.g. batch norm's statistics of an empty batch)
    checked: bool = True


@dataclass(frozen=True, eq=False)
class Raises:
    """The input is invalid: the call must raise an error whose message names the problem (one of
    ``words``), and a crash from deep inside a library is not a refusal."""

    why: str
    words: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Step:
    """One call of pass ``pass_``, labelled ``label`` in :class:`Saved` references; ``tag`` (e.g.
    "step 2") follows its outputs' names in messages."""

    label: str
    pass_: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: keyword arguments passed only when the pass declares them (the row and group ops'
    #: backwards get ``eps`` so: :func:`normbench.backend.eps_kwargs`)
    declared_kwargs: dict[str, Any] = field(default_factory=dict)
    #: one Out (a single array), or a tuple of Out (a tuple of that length)
    returns: Any = ()
    #: names of State arguments this pass may update in place
    mutates: frozenset[str] = frozenset()
    #: State arrays to judge after the call (each Out named as its State)
    states_after: tuple[Out, ...] = ()
    raises: Raises | None = None
    tag: str = ""
