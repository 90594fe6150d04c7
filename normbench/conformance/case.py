"""The case record every op's cases share: one identity, one id renderer, one seed.

An op describes a conformance case with a frozen dataclass of its own (BatchNorm's momentum and
steps, LayerNorm's ``k``, GroupNorm's ``groups``...) that inherits :class:`CaseRecord`. The record
gives every case the same identity, :class:`CaseKey`: op, group, shape, dtype, parameter dtype,
layout, rank and the op's *tags* (its other non-default fields, as ``name`` or ``name=value``
fragments). The id is rendered from that key by one function, in one grammar for every op::

    <op>/<group>/<shape>-<dtype>[-w=<param dtype>][-<layout>][-<tag>...]

The id is for people and for the ``re:``/fnmatch patterns of a user's known-failures file. Nothing
else depends on its spelling: built-in known failures match on fields (see
:mod:`normbench.known`), and a case's data is seeded from its fields, so renaming an id fragment
changes neither the data nor any verdict.
"""
from __future__ import annotations

import dataclasses
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np


#: the scale of "huge" data: |x - mean| reaches 1e18-3e19, so (x - mean)**2 overflows float32
#: (3.4e38) while the variance (< 1e38) and every output stay representable
HUGE = 3e18
#: the data kinds the ops' property strategies draw: ordinary data twice as often as each special one
DRAWN_DATA = ("normal", "normal", "offset", "constant", "huge", "nan", "inf")


def drawable(data: str, dtype: str) -> str:
    """``data``, or "normal" where a half dtype cannot hold it (1e4 + N(0,1) and 1e19 data)."""
    return "normal" if data in ("offset", "huge") and dtype in ("float16", "bfloat16") else data


@dataclass(frozen=True)
class CaseKey:
    """A case's identity as data (what reports and check JSON carry next to the id)."""

    op: str
    group: str
    shape: tuple[int, ...]
    dtype: str
    param_dtype: str
    layout: str
    tags: tuple[str, ...] = ()

    @property
    def rank(self) -> int:
        return len(self.shape)

    def render(self) -> str:
        """The case id: the only place an id is spelt."""
        parts = ["x".join(map(str, self.shape)), self.dtype,
                 "" if self.param_dtype == self.dtype else f"w={self.param_dtype}",
                 "" if self.layout == "contiguous" else self.layout, *self.tags]
        return f"{self.op}/{self.group}/" + "-".join(p for p in parts if p)

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "group": self.group, "shape": list(self.shape), "dtype": self.dtype,
                "param_dtype": self.param_dtype, "layout": self.layout, "rank": self.rank, "tags": list(self.tags)}


def fmt(value: float | None) -> str:
    """A number in a tag (``eps=1e-05``, ``momentum=0.5``)."""
    return "None" if value is None else format(value, "g")


class CaseRecord:
    """Base of every op's case dataclass. A subclass has the fields ``group``, ``shape``,
    ``dtype`` and ``layout`` and an ``op`` (field or property), and says what else identifies it
    through :meth:`tags`; it may override :attr:`param_dtype`."""

    group: str
    shape: tuple[int, ...]
    dtype: str
    layout: str
    op: str
    seed: int

    def tags(self) -> tuple[str, ...]:
        """The fragments after the layout, in order; empty strings are dropped."""
        return ()

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def param_dtype(self) -> str:
        return self.dtype

    @property
    def key(self) -> CaseKey:
        return CaseKey(self.op, self.group, tuple(self.shape), self.dtype, self.param_dtype, self.layout,
                       tuple(t for t in self.tags() if t))

    @property
    def id(self) -> str:
        return self.key.render()

    def rng(self) -> np.random.Generator:
        """The case's random generator, seeded from its fields (not from its id's spelling). Fields
        at their default are left out, so adding a field to an op's cases changes no existing data."""
        fields = sorted((f.name, getattr(self, f.name)) for f in dataclasses.fields(self)  # type: ignore[arg-type]
                        if getattr(self, f.name) != f.default)
        return np.random.default_rng(zlib.crc32(repr(fields).encode()) + getattr(self, "seed", 0))


def unique_ids(cases: list) -> list:
    """``cases``, after checking that no two share an id (an op's grid is a list of distinct cases)."""
    dup = [i for i, n in Counter(c.id for c in cases).items() if n > 1]
    assert not dup, f"case id {dup[0]} is not unique"
    return cases
