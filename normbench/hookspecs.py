"""Hook specifications: every extension point of normbench, in one place.

A plugin is any module (or object) with functions decorated by ``normbench.hookimpl``, found
through the ``normbench`` entry-point group or named at run time with ``--plugin module.path`` /
``NORMBENCH_PLUGINS=mod1,mod2``. It implements one or both hooks::

    import normbench

    @normbench.hookimpl
    def normbench_backends():          # implementations to check and time
        return [MyBackend()]

    @normbench.hookimpl
    def normbench_ops():               # a new normalization op (rare)
        return [MY_OPINFO]

Built-in backends (``plugins/``) and built-in ops (``normbench/ops/``) are registered through the
same entry-point group, exactly like third-party ones. Each plugin is called on its own; the
results of all plugins are concatenated.
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


@hookspec
def normbench_ops() -> list:
    """Return the :class:`normbench.opinfo.OpInfo` records of the ops this plugin provides.

    An op name must be unique; backends refer to it in their ``ops`` declaration.
    """
