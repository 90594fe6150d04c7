"""Import paths of normbench 0.14 and older that moved into the subsystem folders in 0.15
(``normbench.bench`` is now ``normbench._timing.bench``, and so on): they keep working for one
minor version, with a DeprecationWarning that names the public API to use instead, so that
plugins in the wild (``from normbench.bench import Config``, ``from normbench.pluginmanager
import load``) run unchanged while they move. Removed in 0.16.

A meta path finder, as ``six.moves`` does it: the old name resolves to the very module object of
the new one (one ``HANDLERS`` registry, one set of globals to monkeypatch)."""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings

#: old module name -> its new home
MOVED = {f"normbench.{m}": f"normbench.{pkg}.{m}" for pkg, ms in {
    "_runtime": ("pluginmanager", "discovery", "worker", "limits", "memory"),
    "_timing": ("bench", "schedule", "sequential", "paired", "contention", "floor"),
    "_results": ("benchfile", "stats", "compare", "runinfo", "output"),
    "_reporting": ("report", "html", "plots", "tables"),
}.items() for m in ms}

REMOVED_IN = "0.16"


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:
        """Nothing to run: the module is the new one, already imported."""


class MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old names (:data:`MOVED`) and warns once per name."""

    def find_spec(self, fullname, path=None, target=None):
        new = MOVED.get(fullname)
        if new is None:
            return None
        warnings.warn(f"{fullname} moved to {new} (private) in normbench 0.15 and the old path goes in "
                      f"{REMOVED_IN}; import the public API instead (normbench, normbench.functional, "
                      "normbench.hookspecs, normbench.records; docs/reference/api.md)",
                      DeprecationWarning, stacklevel=_caller_level())
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def _caller_level() -> int:
    """The stack level of the import statement that named the old path: past this module's frames
    and importlib's (which :func:`warnings.warn` does not count)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_code.co_filename.startswith("<frozen importlib")
                                 or frame.f_code.co_filename == __file__):
        if not frame.f_code.co_filename.startswith("<frozen importlib"):
            level += 1
        frame = frame.f_back
    return level


def install() -> None:
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedFinder())
