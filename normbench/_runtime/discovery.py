"""Finding the plugins in a process of their own, so that importing one can only cost itself.

asv's model: benchmarks are discovered in a subprocess and come back as data. Here a discovery
worker imports every plugin, calls its hooks and each backend's ``availability()``, and sends
back each backend as a :class:`BackendInfo` (name, what it supports, known failures,
availability, version). Before each step that runs a plugin's code it writes the step to a
progress file; if the process dies (``os._exit``, a segfault) or stops making progress (a hang
or a spin) during a step, that plugin is reported and excluded, and discovery runs again
without it. The parent then imports only the plugins that provide *ops* (it needs their case
lists and grids) and that discovery has shown to import safely; backend code runs only in
workers, each of which imports just its own plugin and the op plugins.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Iterable

from ..backend import Availability, KnownFailure, Support, availability_of, declared_invariants, safe_call
from ..errors import InputError
from .pluginmanager import LoadedBackend, PluginProblem, load
from .worker import RemoteError, Worker, WorkerError, handler

#: seconds a plugin's import (or hook, or ``availability()``) may take before it counts as hung;
#: ``NORMBENCH_IMPORT_TIMEOUT`` overrides it
IMPORT_TIMEOUT_S = 60.0


def import_timeout() -> float:
    """The limit in seconds; ``inf`` (spelt out) means none. Zero, a negative number or NaN is refused,
    not read as "no limit"."""
    text = os.environ.get("NORMBENCH_IMPORT_TIMEOUT")
    if text is None:
        return IMPORT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:
        raise InputError(f"NORMBENCH_IMPORT_TIMEOUT must be a positive number of seconds (or inf), got {text!r}")
    return value
#: at most this many plugins are excluded for killing discovery before it gives up
MAX_EXCLUDED = 8


@dataclass
class BackendInfo:
    """A backend as data: what the harness needs to plan, select and report, with no plugin code.

    Mirrors the informative part of :class:`normbench.Backend` (``availability()``,
    ``version()``, ``ops``, ``known_failures``), so code written against a backend object works
    with it; the passes themselves run only in the backend's worker.
    """

    name: str
    ops: dict[str, Support]
    api_version: int | None
    original_api_version: int | None
    description: str
    known_failures: tuple[KnownFailure, ...]
    available: Availability
    implementation_version: str = ""
    compiles_per_configuration: bool = False
    #: the invariance properties the backend promises (normbench.conformance.invariance)
    invariants: tuple[str, ...] = ()

    @classmethod
    def of(cls, backend: Any) -> "BackendInfo":
        avail = availability_of(backend)
        version = safe_call(backend.version, "") if avail else ""
        api = getattr(backend, "api_version", None)
        return cls(
            name=backend.name,
            ops=dict(getattr(backend, "ops", {})),
            api_version=api,
            original_api_version=getattr(backend, "original_api_version", api),
            description=str(getattr(backend, "description", "") or ""),
            known_failures=tuple(getattr(backend, "known_failures", ())),
            available=avail,
            implementation_version=str(version or ""),
            compiles_per_configuration=bool(getattr(backend, "compiles_per_configuration", False)),
            invariants=declared_invariants(backend),
        )

    def availability(self) -> Availability:
        return self.available

    def version(self) -> str:
        return self.implementation_version

    def __repr__(self) -> str:
        return f"<backend {self.name!r}>"


def describe_registry(registry, step=lambda stage, plugin: None) -> dict[str, Any]:
    """The discovery worker's answer: everything about the registry the parent needs, as data."""
    backends = []
    for lb in registry.backends.values():
        step("availability", lb.source.plugin)  # availability() and version() run plugin code
        backends.append((BackendInfo.of(lb.backend), lb.source))
    return {
        "backends": backends,
        "op_plugins": list(dict.fromkeys(lo.source.plugin for lo in registry.ops.values())),
        "problems": list(registry.problems),
        "notices": list(registry.notices),
    }


def _last_step(path: str) -> tuple[str, str]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return "", ""
    if not lines:
        return "", ""
    stage, _, plugin = lines[-1].partition("\t")
    return stage, plugin


def discover(plugins: Iterable[str] = (), *, timeout: float | None = None):
    """Load the plugins in a discovery worker and return a parent-side :class:`Registry`.

    Never raises for a broken plugin: one that kills or hangs the discovery process is a
    :class:`PluginProblem` like any other.
    """
    plugins = tuple(plugins)
    timeout = import_timeout() if timeout is None else timeout
    excluded: dict[str, str] = {}
    fd, progress = tempfile.mkstemp(prefix="normbench-discovery-", suffix=".log")
    os.close(fd)
    try:
        while True:
            open(progress, "w").close()
            worker = Worker(None, plugins)
            size = lambda: os.path.getsize(progress)  # noqa: E731 - each step appends a line
            try:
                worker.start(timeout)
                data = worker.request(discover_in_worker, (plugins, list(excluded), progress), timeout, progress=size)
                break
            except WorkerError as exc:
                stage, plugin = _last_step(progress)
                if not plugin or plugin in excluded or len(excluded) >= MAX_EXCLUDED:
                    raise InputError(f"plugin discovery failed: {exc}"
                                     + (f" (during {stage} of {plugin})" if plugin else "")) from None
                what = "import" if stage == "import" else f"{stage}()" if stage.startswith("normbench_") else stage
                how = (f"hung during {what} (no progress for {timeout:g} s, process killed)" if exc.kind == "timeout"
                       else f"killed the process during {what}: {exc}")
                excluded[plugin] = f"{how}; not loaded (the other plugins were)"
            except RemoteError as exc:
                raise InputError(f"plugin discovery failed: {exc.type_name}: {exc}") from None
            finally:
                worker.stop()
    finally:
        os.unlink(progress)

    # The ops run in this process too (cases, grids, references): import just their plugins.
    registry = load(plugins, only=data["op_plugins"], exclude=excluded)
    registry.backends = {info.name: LoadedBackend(info, source) for info, source in data["backends"]}
    registry.problems = [PluginProblem(p, why) for p, why in excluded.items()] + data["problems"]
    registry.notices = data["notices"]
    registry.scopes = {info.name: {"only": [*data["op_plugins"], source.plugin], "exclude": list(excluded)}
                       for info, source in data["backends"]}
    return registry


def backend_rows(registry, ops=None) -> list[dict]:
    """One dict per backend; ``ops`` maps each op it declares to its passes, dtypes, layouts, ranks."""
    ops = ops if ops is not None else registry.select_ops([])
    rows = []
    for name, loaded in registry.backends.items():
        b = loaded.backend
        avail = availability_of(b)
        rows.append({
            "name": name,
            "available": avail.available,
            "reason": avail.reason,
            "source": str(loaded.source),
            "distribution": loaded.source.distribution,
            "distribution_version": loaded.source.version,
            "plugin": loaded.source.plugin,
            "api_version": getattr(b, "original_api_version", getattr(b, "api_version", None)),
            "implementation_version": safe_call(b.version, "") if avail.available else "",
            "description": getattr(b, "description", ""),
            "ops": {op.name: b.ops[op.name].as_dict(op) for op in ops if op.name in b.ops},
            "known_failures": [k.as_dict() for k in getattr(b, "known_failures", ())],
        })
    return rows


@handler
def discover_in_worker(state, payload) -> dict[str, Any]:
    """Worker side of discovery: load every plugin, noting each step in the progress file."""
    plugins, exclude, path = payload
    with open(path, "a", buffering=1) as log:
        def step(stage: str, plugin: str) -> None:
            log.write(f"{stage}\t{plugin}\n")
            log.flush()

        registry = load(plugins, exclude=exclude, progress=step)
        info = describe_registry(registry, step)
        step("done", "")
    return info
