"""normbench: is your normalization kernel right, and is it fast?

Public API for plugin authors: :class:`Backend`, :class:`Support`, :class:`Availability`,
:class:`KnownFailure`, :class:`Unsupported` and :data:`hookimpl` (plugin API version 2), and
:class:`OpInfo` for adding an op. The names of plugin API version 1 (``Capabilities``,
``OPS``, ...) still resolve, from :mod:`normbench.compat_v1`, so v1 plugins keep working.
Heavy libraries (torch, numba) are imported only by the backends that need them.
"""
from __future__ import annotations

from typing import Any

from .backend import (
    PLUGIN_API_VERSION,
    SUPPORTED_API_VERSIONS,
    Availability,
    Backend,
    KnownFailure,
    Support,
    load_known_failures,
)
from .errors import InputError, NormbenchError, PluginError, UnknownBackendError, Unsupported
from .hookspecs import hookimpl
from .opinfo import Grid, OpInfo, PlotSpec

__version__ = "0.15.0"


def __getattr__(name: str) -> Any:
    """Plugin API v1 names, imported on first use (PEP 562)."""
    import importlib

    if name.startswith("__"):
        raise AttributeError(name)
    compat_v1 = importlib.import_module(f"{__name__}.compat_v1")
    if name in compat_v1.__all__:
        return getattr(compat_v1, name)
    raise AttributeError(f"module 'normbench' has no attribute {name!r}")


__all__ = [
    "PLUGIN_API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "Availability",
    "Backend",
    "Grid",
    "InputError",
    "KnownFailure",
    "load_known_failures",
    "NormbenchError",
    "OpInfo",
    "PlotSpec",
    "PluginError",
    "Support",
    "UnknownBackendError",
    "Unsupported",
    "hookimpl",
]
