"""normbench: is your normalization kernel right, and is it fast?

Public API for plugin authors: :class:`Backend`, :class:`Support`, :class:`Availability`,
:class:`KnownFailure`, :class:`Unsupported` and :data:`hookimpl` (plugin API version 2),
:class:`OpInfo` for adding an op, :func:`load_plugins` (a :class:`Registry` of what is installed)
and :func:`measure` (one benchmark row in this process). Everything under ``normbench._*`` is
private; 0.14's import paths of those modules still work until 0.16, with a DeprecationWarning.
The names of plugin API version 1 (``Capabilities``, ``OPS``, ...) still resolve, from
:mod:`normbench.compat_v1`, so v1 plugins keep working.
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

from ._moved import install as _install_moved  # noqa: E402 - 0.14's import paths, deprecated

_install_moved()


#: public names whose modules are private and heavier than the contract: imported on first use
_LAZY = {
    "load_plugins": ("._runtime.pluginmanager", "load"),
    "Registry": ("._runtime.pluginmanager", "Registry"),
    "measure": ("._timing.bench", "measure"),
}


def __getattr__(name: str) -> Any:
    """:data:`_LAZY`'s names and plugin API v1's, imported on first use (PEP 562)."""
    import importlib

    if name.startswith("__"):
        raise AttributeError(name)
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module, __name__), attr)
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
    "Registry",
    "Support",
    "UnknownBackendError",
    "Unsupported",
    "hookimpl",
    "load_plugins",
    "measure",
]
