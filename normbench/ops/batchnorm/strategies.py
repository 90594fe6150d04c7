"""Hypothesis strategy of random batch-norm cases for the property tests."""
from __future__ import annotations

import math

from ...conformance.case import DRAWN_DATA, drawable
from .cases import Case


def property_cases():
    """Random shapes, layouts, dtypes and options, each a :class:`Case` with group ``property``."""
    from hypothesis import strategies as st

    @st.composite
    def cases(draw):
        rank = draw(st.integers(2, 5))
        n = draw(st.integers(1, 6))
        c = draw(st.integers(1, 9))
        spatial = [draw(st.integers(1, 6)) for _ in range(rank - 2)]
        if n * math.prod(spatial) < 2:  # m = 1 must raise: covered by the fixed "errors" cases
            n = 2
        layout = "contiguous" if rank == 2 else draw(st.sampled_from(["contiguous", "channels_last", "strided"]))
        dtype = draw(st.sampled_from(["float64", "float32", "float16", "bfloat16"]))
        return Case(
            "property",
            (n, c, *spatial),
            dtype=dtype,
            layout=layout,
            affine=draw(st.booleans()),
            running=draw(st.booleans()),
            momentum=draw(st.sampled_from([0.1, 0.5, 1.0, None])),
            eps=draw(st.sampled_from([1e-5, 1e-3])),
            steps=draw(st.integers(1, 3)),
            param_layout=draw(st.sampled_from(["contiguous", "contiguous", "strided"])),
            data=drawable(draw(st.sampled_from(DRAWN_DATA)), dtype),
            seed=draw(st.integers(0, 2**16)),
        )

    return cases()
