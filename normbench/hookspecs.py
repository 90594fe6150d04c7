"""Hook specifications: the one hook a backend plugin implements.

A plugin is any module (or object) with a function decorated by ``normbench.hookimpl``::

    import normbench

    @normbench.hookimpl
    def normbench_backends():
        return [MyBackend()]

and is found through the ``normbench`` entry-point group, or named at run time with
``--plugin module.path`` / ``NORMBENCH_PLUGINS=mod1,mod2``.
"""
from __future__ import annotations

import pluggy

PROJECT = "normbench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def normbench_backends() -> list:
    """Return the backend objects (see :class:`normbench.Backend`) this plugin provides.

    Keep this cheap: do not import heavy libraries or touch devices here; do that lazily in the
    backend's methods, so that ``normbench list`` stays fast.
    """
