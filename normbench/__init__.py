"""normbench: is your normalization kernel right, and is it fast?

Public API for plugin authors: :class:`Backend`, :class:`Capabilities`, :class:`Availability`,
:class:`KnownFailure`, :class:`Unsupported`, :data:`hookimpl` and :func:`momentum_factor`.
Heavy libraries (torch, numba) are imported only by the backends that need them.
"""
from __future__ import annotations

from .backend import (
    OPS,
    PLUGIN_API_VERSION,
    Availability,
    Backend,
    Capabilities,
    KnownFailure,
    momentum_factor,
)
from .errors import InputError, NormbenchError, PluginError, UnknownBackendError, Unsupported
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "OPS",
    "PLUGIN_API_VERSION",
    "Availability",
    "Backend",
    "Capabilities",
    "InputError",
    "KnownFailure",
    "NormbenchError",
    "PluginError",
    "UnknownBackendError",
    "Unsupported",
    "hookimpl",
    "momentum_factor",
]
