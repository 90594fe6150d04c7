"""Loading backend plugins with pluggy, isolating the broken ones.

Sources, in order: the ``normbench`` entry-point group (built-ins are registered there too),
modules named in ``NORMBENCH_PLUGINS`` (comma-separated), and modules given with ``--plugin``.
Each plugin is imported and its hook called on its own: one that fails to import, raises in
its hook, returns something off-contract or claims a name already taken is recorded as a
:class:`PluginProblem` and the others still load.
"""
from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Iterable, Sequence

import pluggy

from . import hookspecs
from .backend import Backend, contract_problems
from .errors import UnknownBackendError

ENTRY_POINT_GROUP = "normbench"
ENV_VAR = "NORMBENCH_PLUGINS"


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
class Registry:
    """The outcome of loading: usable backends by name, and the problems met on the way."""

    backends: dict[str, LoadedBackend] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)
    #: first claimant of every backend name seen, loaded or not, to report duplicates
    claims: dict[str, PluginSource] = field(default_factory=dict, repr=False)

    def names(self) -> list[str]:
        return list(self.backends)

    def get(self, name: str) -> Backend:
        try:
            return self.backends[name].backend
        except KeyError:
            known = ", ".join(self.backends) or "none"
            raise UnknownBackendError(f"unknown backend {name!r}; available backends: {known}") from None

    def select(self, names: Sequence[str] | None) -> list[Backend]:
        """Backends by name (all when ``names`` is empty), failing on an unknown name."""
        if not names:
            return [lb.backend for lb in self.backends.values()]
        return [self.get(n) for n in dict.fromkeys(names)]

    def source(self, name: str) -> PluginSource:
        return self.backends[name].source


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _runtime_modules(extra: Iterable[str]) -> list[str]:
    env = [m.strip() for m in os.environ.get(ENV_VAR, "").split(",") if m.strip()]
    return list(dict.fromkeys([*env, *extra]))


def load(plugins: Iterable[str] = (), *, entry_point_group: str = ENTRY_POINT_GROUP) -> Registry:
    """Load every plugin and return a :class:`Registry`. Never raises for a broken plugin."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    candidates: list[tuple[object, PluginSource]] = []

    for ep in sorted(entry_points(group=entry_point_group), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        source = PluginSource(ep.name, dist.name if dist else "", dist.version if dist else "")
        try:
            candidates.append((ep.load(), source))
        except (Exception, SystemExit) as exc:  # a plugin may raise anything, even SystemExit; not Ctrl-C
            registry.problems.append(PluginProblem(ep.name, f"failed to import {ep.value}: {_one_line(exc)}"))

    modules = _runtime_modules(plugins)
    if modules and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # so `--plugin mymodule` finds a module beside the user
    for module_name in modules:
        try:
            candidates.append((importlib.import_module(module_name), PluginSource(module_name)))
        except (Exception, SystemExit) as exc:
            registry.problems.append(PluginProblem(module_name, f"failed to import: {_one_line(exc)}"))

    for plugin, source in candidates:
        try:
            if pm.is_registered(plugin):
                continue  # installed and also named with --plugin: load it once
            pm.register(plugin, name=source.plugin if pm.get_plugin(source.plugin) is None else None)
        except Exception as exc:  # noqa: BLE001 - pluggy validates hookimpl signatures
            registry.problems.append(PluginProblem(source.plugin, f"cannot register: {_one_line(exc)}"))
            continue
        impls = [i for i in pm.hook.normbench_backends.get_hookimpls() if i.plugin is plugin]
        if not impls:
            registry.problems.append(PluginProblem(source.plugin, "has no normbench_backends hook implementation"))
            continue
        for impl in impls:
            _collect(impl, source, registry)
    return registry


def _collect(impl: pluggy.HookImpl, source: PluginSource, registry: Registry) -> None:
    try:
        result = impl.function()
    except (Exception, SystemExit) as exc:
        registry.problems.append(PluginProblem(source.plugin, f"normbench_backends() raised {_one_line(exc)}"))
        return
    if result is None:
        return
    if not isinstance(result, (list, tuple)):
        registry.problems.append(
            PluginProblem(source.plugin, f"normbench_backends() must return a list of backends, got {type(result).__name__}")
        )
        return
    for obj in result:
        problems = contract_problems(obj)
        name = getattr(obj, "name", "")
        name = name if isinstance(name, str) else repr(name)
        if problems:
            registry.problems.append(PluginProblem(source.plugin, "; ".join(problems), backend=name or repr(obj)))
            continue
        if name in registry.claims:
            other = registry.claims[name]
            registry.problems.append(
                PluginProblem(
                    source.plugin,
                    f"backend name {name!r} is claimed by both {other} and {source}; neither is loaded",
                    backend=name,
                )
            )
            registry.backends.pop(name, None)
            continue
        registry.claims[name] = source
        registry.backends[name] = LoadedBackend(obj, source)
