"""Loading plugins (ops and backends) with pluggy, isolating the broken ones.

Sources, in order: the ``normbench`` entry-point group (built-in ops and backends are
registered there too), modules named in ``NORMBENCH_PLUGINS`` (comma-separated), and modules
given with ``--plugin``. Each plugin is imported and its hooks called on its own: one that fails
to import, raises in a hook, returns something off-contract or claims a name already taken is
recorded as a :class:`PluginProblem` and the others still load. Ops are collected first, so
every backend's declaration is checked against the ops actually installed. Backends written for
plugin API version 1 are wrapped by :mod:`normbench.compat_v1`, with a one-line notice.
"""
from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Callable, Collection, Iterable, Sequence

import pluggy

from .. import compat_v1, hookspecs
from ..backend import Backend, contract_problems, one_line, unknown_ops
from ..errors import InputError, UnknownBackendError
from ..opinfo import OpInfo

ENTRY_POINT_GROUP = "normbench"
ENV_VAR = "NORMBENCH_PLUGINS"
#: comma-separated plugin names (entry-point or module names) not to import, and backend names not
#: to load, e.g. ``NORMBENCH_DISABLE=onnxruntime,torch-cuda``: the user's way to silence one
DISABLE_VAR = "NORMBENCH_DISABLE"


def disabled() -> set[str]:
    """Plugin and backend names switched off by ``NORMBENCH_DISABLE``."""
    return {n.strip() for n in os.environ.get(DISABLE_VAR, "").split(",") if n.strip()}


@dataclass(frozen=True)
class PluginSource:
    """Where a plugin came from: a distribution (name, version) or a module named at run time."""

    plugin: str
    distribution: str = ""
    version: str = ""

    def __str__(self) -> str:
        if self.distribution:
            return f"{self.distribution} {self.version} ({self.plugin})".replace("  ", " ")
        return f"module {self.plugin}"


@dataclass
class PluginProblem:
    """A plugin (or one of its backends) that could not be used, with a one-line reason."""

    plugin: str
    message: str
    backend: str = ""

    def __str__(self) -> str:
        who = f"plugin {self.plugin!r}" + (f", backend {self.backend!r}" if self.backend else "")
        return f"{who}: {self.message}"


@dataclass
class LoadedBackend:
    backend: Backend
    source: PluginSource


@dataclass
class LoadedOp:
    op: OpInfo
    source: PluginSource


@dataclass
class Registry:
    """The outcome of loading: ops and usable backends by name, and the problems met on the way."""

    backends: dict[str, LoadedBackend] = field(default_factory=dict)
    ops: dict[str, LoadedOp] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)
    #: one-line notices that are not problems (a v1 backend adapted, an op nobody installed)
    notices: list[str] = field(default_factory=list)
    #: first claimant of every backend name seen, loaded or not, to report duplicates
    claims: dict[str, PluginSource] = field(default_factory=dict, repr=False)
    #: set by discovery: how a worker loads just what one backend needs (see worker_scope)
    scopes: dict[str, dict[str, list[str]]] = field(default_factory=dict, repr=False)

    def worker_scope(self, name: str) -> dict[str, list[str]] | None:
        """``{"only": [...], "exclude": [...]}``: the plugins a worker for backend ``name`` imports
        (its own and the op plugins), or None to import them all."""
        return self.scopes.get(name)

    def names(self) -> list[str]:
        return list(self.backends)

    def op_infos(self) -> dict[str, OpInfo]:
        return {name: lo.op for name, lo in self.ops.items()}

    def op(self, name: str) -> OpInfo:
        try:
            return self.ops[name].op
        except KeyError:
            raise InputError(f"unknown norm {name!r}; installed ops: {', '.join(self.ops) or 'none'}") from None

    def select_ops(self, names: Sequence[str] | None) -> list[OpInfo]:
        """Ops by name (all when ``names`` is empty), failing on an unknown name."""
        if not names:
            return [lo.op for lo in self.ops.values()]
        return [self.op(n) for n in dict.fromkeys(names)]

    def supports(self, backend: Backend, op: str) -> bool:
        """Whether ``backend`` declares ``op`` (an op nobody installed is ignored)."""
        return op in getattr(backend, "ops", {}) and op in self.ops

    def get(self, name: str) -> Backend:
        try:
            return self.backends[name].backend
        except KeyError:
            known = ", ".join(self.backends) or "none"
            # the backend may belong to a plugin that failed (hung, crashed, raised): say which did
            mine = [p for p in self.problems if p.backend == name]
            why = "; ".join(map(str, mine or self.problems))
            lead = f"backend {name!r} was not loaded" if mine else f"unknown backend {name!r}"
            raise UnknownBackendError(f"{lead}; available backends: {known}"
                                      + (f"; plugins that failed: {why}" if why else "")) from None

    def select(self, names: Sequence[str] | None) -> list[Backend]:
        """Backends by name (all when ``names`` is empty), failing on an unknown name."""
        if not names:
            return [lb.backend for lb in self.backends.values()]
        return [self.get(n) for n in dict.fromkeys(names)]

    def source(self, name: str) -> PluginSource:
        return self.backends[name].source


def _runtime_modules(extra: Iterable[str]) -> list[str]:
    env = [m.strip() for m in os.environ.get(ENV_VAR, "").split(",") if m.strip()]
    return list(dict.fromkeys([*env, *extra]))


def load(
    plugins: Iterable[str] = (),
    *,
    entry_point_group: str = ENTRY_POINT_GROUP,
    only: Collection[str] | None = None,
    exclude: Collection[str] = (),
    progress: Callable[[str, str], None] | None = None,
) -> Registry:
    """Load every plugin and return a :class:`normbench.Registry`. Never raises for a broken plugin.

    ``only`` (plugin names) imports just those; ``exclude`` skips plugins that a discovery
    process saw kill or hang the interpreter (see :mod:`normbench._runtime.discovery`). ``progress(stage,
    plugin)`` is called before each step that runs a plugin's code, so that a process which
    dies there can name the culprit.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    candidates: list[tuple[object, PluginSource]] = []
    step = progress or (lambda stage, plugin: None)

    off = disabled()

    def wanted(name: str) -> bool:
        if name in off:
            if name not in seen_off:
                seen_off.add(name)
                registry.notices.append(f"plugin {name!r} disabled by {DISABLE_VAR}")
            return False
        return name not in exclude and (only is None or name in only)

    seen_off: set[str] = set()

    for ep in sorted(entry_points(group=entry_point_group), key=lambda e: e.name):
        if not wanted(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        source = PluginSource(ep.name, dist.name if dist else "", dist.version if dist else "")
        step("import", ep.name)
        try:
            candidates.append((ep.load(), source))
        except (Exception, SystemExit) as exc:  # a plugin may raise anything, even SystemExit; not Ctrl-C
            registry.problems.append(PluginProblem(ep.name, f"failed to import {ep.value}: {one_line(exc)}"))

    modules = _runtime_modules(plugins)
    if modules and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # so `--plugin mymodule` finds a module beside the user (last: it shadows nothing)
    for module_name in (m for m in modules if wanted(m)):
        step("import", module_name)
        try:
            candidates.append((importlib.import_module(module_name), PluginSource(module_name)))
        except (Exception, SystemExit) as exc:
            registry.problems.append(PluginProblem(module_name, f"failed to import: {one_line(exc)}"))

    registered: list[tuple[object, PluginSource]] = []
    for plugin, source in candidates:
        try:
            if pm.is_registered(plugin):
                continue  # installed and also named with --plugin: load it once
            pm.register(plugin, name=source.plugin if pm.get_plugin(source.plugin) is None else None)
        except Exception as exc:  # noqa: BLE001 - pluggy validates hookimpl signatures
            registry.problems.append(PluginProblem(source.plugin, f"cannot register: {one_line(exc)}"))
            continue
        hooks = (pm.hook.normbench_ops, pm.hook.normbench_backends)
        if not any(i.plugin is plugin for h in hooks for i in h.get_hookimpls()):
            registry.problems.append(PluginProblem(source.plugin, "has no normbench_backends or normbench_ops hook implementation"))
            continue
        registered.append((plugin, source))
    # ops first: backends are checked against the ops actually installed
    for plugin, source in registered:
        for impl in (i for i in pm.hook.normbench_ops.get_hookimpls() if i.plugin is plugin):
            step("normbench_ops", source.plugin)
            for obj in _call(impl, "normbench_ops", "ops", source, registry):
                _add_op(obj, source, registry)
    for plugin, source in registered:
        for impl in (i for i in pm.hook.normbench_backends.get_hookimpls() if i.plugin is plugin):
            step("normbench_backends", source.plugin)
            for obj in _call(impl, "normbench_backends", "backends", source, registry):
                _add_backend(obj, source, registry)
    return registry


def _call(impl: pluggy.HookImpl, hook: str, what: str, source: PluginSource, registry: Registry) -> list:
    try:
        result = impl.function()
    except (Exception, SystemExit) as exc:
        registry.problems.append(PluginProblem(source.plugin, f"{hook}() raised {one_line(exc)}"))
        return []
    if result is None:
        return []
    if not isinstance(result, (list, tuple)):
        registry.problems.append(
            PluginProblem(source.plugin, f"{hook}() must return a list of {what}, got {type(result).__name__}")
        )
        return []
    return list(result)


def _add_op(obj: object, source: PluginSource, registry: Registry) -> None:
    if not isinstance(obj, OpInfo):
        registry.problems.append(PluginProblem(source.plugin, f"normbench_ops() returned {obj!r}, not a normbench OpInfo"))
        return
    if obj.name in registry.ops:
        other = registry.ops[obj.name].source
        registry.problems.append(PluginProblem(source.plugin, f"op name {obj.name!r} is already provided by {other}; not loaded"))
        return
    registry.ops[obj.name] = LoadedOp(obj, source)


def _builtin(source: PluginSource) -> bool:
    """Whether a plugin ships with normbench itself (its own distribution's entry points)."""
    return source.distribution == "normbench"


def _add_backend(obj: object, source: PluginSource, registry: Registry) -> None:
    known = registry.op_infos()
    v1 = compat_v1.is_v1(obj)
    problems = compat_v1.contract_problems(obj) if v1 else contract_problems(obj, known)
    name = getattr(obj, "name", "")
    name = name if isinstance(name, str) else repr(name)
    if name in disabled():
        registry.notices.append(f"backend {name!r} ({source}) disabled by {DISABLE_VAR}")
        return
    if problems:
        registry.problems.append(PluginProblem(source.plugin, "; ".join(problems), backend=name or repr(obj)))
        return
    if name in registry.claims:
        other = registry.claims[name]
        if _builtin(other) != _builtin(source):
            # a plugin cannot knock out a built-in backend (numpy, the torch-cpu baseline):
            # the built-in keeps the name and the newcomer is reported
            builtin, newcomer = (other, source) if _builtin(other) else (source, other)
            registry.problems.append(PluginProblem(
                newcomer.plugin, f"backend name {name!r} is taken by the built-in backend of {builtin}; "
                                 f"{newcomer}'s backend is not loaded", backend=name))
            if _builtin(other):
                return
            registry.backends.pop(name, None)  # the third-party claimant came first: the built-in replaces it
        else:
            registry.problems.append(PluginProblem(
                source.plugin, f"backend name {name!r} is claimed by both {other} and {source}; neither is loaded",
                backend=name))
            registry.backends.pop(name, None)
            return
    registry.claims[name] = source
    if v1:
        obj = compat_v1.V1Backend(obj)
        registry.notices.append(f"backend {name!r} ({source}) is written for plugin API version 1: "
                                f"loaded as a {compat_v1.OP} backend (docs/plugins.md says how to move to version 2)")
    for op in unknown_ops(obj, known):
        registry.notices.append(f"backend {name!r} declares op {op!r}, which no installed plugin provides: ignored")
    registry.backends[name] = LoadedBackend(obj, source)
