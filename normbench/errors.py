"""Exceptions with one-line, user-facing messages.

Everything the harness reports to a user derives from :class:`NormbenchError`; the CLI prints
``normbench: error: <message>`` and exits 2 instead of showing a traceback.
"""
from __future__ import annotations

import functools
import os
import sys


class NormbenchError(Exception):
    """Base class: the message is a complete, one-line explanation."""


class InputError(NormbenchError, ValueError):
    """Bad input to a public entry point (shape, dtype, layout, option value)."""


class UnknownBackendError(NormbenchError, LookupError):
    """A backend name that no loaded plugin provides."""


class PluginError(NormbenchError):
    """A plugin failed to import, raised in a hook, or returned something off-contract."""


class Unsupported(NormbenchError):
    """Raised by a backend for a request outside what it supports.

    The harness reports it as *unsupported*, never as a failure. Backends should declare
    their :class:`~normbench.backend.Capabilities` so most requests are filtered before the call;
    raising this covers finer-grained limits (e.g. float16 only on some ranks).
    """


@functools.lru_cache(maxsize=1)
def _stdlib_dirs() -> tuple[str, ...]:
    import sysconfig

    return tuple({os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")})


def shadowing_note() -> str:
    """`` (note: ...)`` naming modules imported under a standard-library name from somewhere else
    (a ``json.py`` on the path breaks torch deep inside its import), or "" when there are none."""
    std = _stdlib_dirs()
    found = []
    for name in sorted(sys.stdlib_module_names):
        path = getattr(sys.modules.get(name), "__file__", None)
        if path and not any(os.path.realpath(path).startswith(s + os.sep) for s in std):
            found.append(f"{name} is {path}")
    if not found:
        return ""
    return f" (note: {'; '.join(found[:3])}, which shadows the standard library's module of that name)"
