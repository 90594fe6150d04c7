"""normbench's own asv suite: :mod:`normbench.asvsuite`, installed here as any asv project
installs it (a plugin's repository does the same with its own backend; docs/plugins.md).

Default: every op's standard shapes on the built-in backends that do not compile per
configuration. ``NORMBENCH_BACKENDS=a,b`` chooses the backends, ``NORMBENCH_GRID=quick|full``
adds the op grids with their peak-memory and bandwidth benchmarks.
"""
try:
    from normbench.asvsuite import install
except ImportError:  # a commit from before the suite moved into the package: this tree's copy
    import importlib.util as _util
    import os as _os

    _spec = _util.spec_from_file_location(
        "normbench_asvsuite", _os.path.join(_os.path.dirname(__file__), _os.pardir, "normbench", "asvsuite.py"))
    _suite = _util.module_from_spec(_spec)
    _spec.loader.exec_module(_suite)
    install = _suite.install

install(globals())
