"""A plugin that imports fine and segfaults when asked for its backends."""
import ctypes

import normbench


@normbench.hookimpl
def normbench_backends():
    ctypes.string_at(0)
    return []
