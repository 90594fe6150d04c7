"""The bug classes the row-wise and channel-wise wrong backends share, each described once
(:mod:`.rowmutants`, :mod:`.chanmutants`; each family adds the classes of its own)."""
from __future__ import annotations

SHARED: dict[str, str] = {
    "dense-dy": "walks dy's buffer as if it were dense (ignores its strides)",
    "x-strides-dy": "reads dy with x's strides (assumes dy is laid out as x is)",
    "bias-needs-weight": "ignores the bias when there is no weight",
    "unit-weight-dx": "computes dx as if the weight were 1",
    "f32-squares": "squares x - mean in float32 (overflows past 1.8e19)",
    "dense-params": "reads the weight's buffer as if it were dense",
    "dense-saved": "walks the saved statistics' buffers as if they were dense (backward)",
    "eps-outside": "adds eps outside the square root: 1 / (sqrt(var) + eps)",
    "dropped-term": "drops dx's projection term (xhat * mean(g * xhat))",
    "onepass": "E[x^2] - E[x]^2 in the input dtype",
}


def shared(*names: str) -> dict[str, str]:
    """The shared classes ``names``, with their descriptions, in that order."""
    return {name: SHARED[name] for name in names}
