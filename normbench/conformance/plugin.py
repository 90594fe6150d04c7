"""pytest plugin of the conformance suite: options, fixtures, parametrization.

Registered through the ``pytest11`` entry point, so its options exist before pytest collects
anything; that is what lets ``pytest --pyargs normbench.conformance --backend NAME`` work from
any directory (a conftest inside the package would be found too late for ``--pyargs``).
Fixture and parameter names carry a ``normbench_`` prefix so they never parametrize someone
else's tests in the same environment.
"""
from __future__ import annotations

import fnmatch
import functools

import pytest

from normbench._runtime.discovery import discover
from normbench.backend import availability_of
from normbench.conformance import runner
from normbench.errors import InputError


#: (name, addoption keywords): registered as ``--normbench-<name>`` in every pytest session of the
#: environment (this plugin is active in all of them), and as plain ``--<name>`` only when the
#: command line runs the conformance suite, so a project's own ``--backend`` never collides
OPTIONS: tuple[tuple[str, dict], ...] = (
    ("backend", dict(action="append", default=[], metavar="NAME",
                     help="normbench backend(s) to test (repeatable; default: every discovered backend)")),
    ("skip-backend", dict(action="append", default=[], metavar="NAME",
                          help="leave this backend out (repeatable; fnmatch patterns, e.g. 'keras-*')")),
    ("plugin", dict(action="append", default=[], metavar="MODULE",
                    help="import MODULE as a normbench plugin (like NORMBENCH_PLUGINS)")),
    ("norm", dict(action="append", default=[], metavar="OP",
                  help="only the cases of this op (repeatable; default: every installed op)")),
    ("case", dict(action="append", default=[], metavar="PATTERN",
                  help="only conformance cases whose id matches (fnmatch or substring)")),
    ("case-timeout", dict(type=float, default=runner.DEFAULT_TIMEOUT, metavar="S",
                          help="time limit per conformance case in seconds")),
    ("max-examples", dict(type=int, default=40, metavar="N",
                          help="hypothesis examples per (backend, op) in the property tests (default 40); seed them "
                               "with hypothesis' own --hypothesis-seed, or CI=true for its deterministic 'ci' profile")),
    ("require", dict(action="append", default=[], metavar="PROPERTY[,PROPERTY]",
                     help="invariance properties every backend must hold (deterministic, batch-invariant, "
                          "thread-invariant, layout-invariant): test_invariance fails where one does not; without it "
                          "only the properties a backend promises are probed")),
    ("known-failures", dict(default=None, metavar="FILE",
                            help="your own known failures: lines 'BACKEND CASE-PATTERN [REASON]' (stale entries are "
                                 "warned about)")),
)


def _dest(name: str) -> str:
    return "normbench_" + name.replace("-", "_")


def opt(config: pytest.Config, name: str):
    """The value of option ``name`` (given as ``--normbench-<name>`` or, for the suite, ``--<name>``)."""
    return config.getoption(_dest(name))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("normbench", "normbench conformance suite")
    for name, kw in OPTIONS:
        group.addoption(f"--normbench-{name}", dest=_dest(name), **kw)


def _runs_the_suite(args) -> bool:
    return any("normbench.conformance" in str(a) or "normbench/conformance" in str(a).replace("\\", "/") for a in args)


@pytest.hookimpl(trylast=True)  # after the initial conftests: a project's own --backend wins
def pytest_load_initial_conftests(early_config, parser: pytest.Parser, args) -> None:
    """The short names (``--backend`` ...) of the documented route, for a session that runs the suite."""
    try:  # this project's own pytest configuration runs the suite (testpaths), so do its sessions
        ini_paths = [str(p) for p in early_config.getini("testpaths")]
    except (ValueError, KeyError):
        ini_paths = []
    if not _runs_the_suite([*args, *ini_paths]):
        return
    group = parser.getgroup("normbench", "normbench conformance suite")
    taken = {n for g in (parser._anonymous, *parser._groups) for o in g.options for n in o.names()}
    for name, kw in OPTIONS:
        if f"--{name}" in taken:  # another plugin or conftest owns it: --normbench-<name> still works
            continue
        try:
            group.addoption(f"--{name}", dest=_dest(name), **{**kw, "help": f"short for --normbench-{name}"})
        except ValueError:
            pass


_KNOWN = pytest.StashKey()


@functools.lru_cache(maxsize=None)
def _registry(plugins: tuple[str, ...]):
    # plugins are imported in a discovery process; backends run in workers (IsolatedBackend)
    try:
        return discover(plugins)
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def normbench_registry(request):
    return _registry(tuple(opt(request.config, "plugin")))


def _backend_names(config) -> list[str]:
    registry = _registry(tuple(opt(config, "plugin")))
    names = list(dict.fromkeys(opt(config, "backend")))
    unknown = [n for n in names if n not in registry.backends]
    if unknown:
        problems = "".join(f"; {p}" for p in registry.problems)
        raise pytest.UsageError(
            f"unknown backend {unknown[0]!r}; available backends: {', '.join(registry.names()) or 'none'}{problems}"
        )
    if names:  # named on the command line: run, whatever --skip-backend says (e.g. in addopts)
        return names
    skip = opt(config, "skip-backend")
    return [n for n in registry.names() if not any(fnmatch.fnmatchcase(n, p) for p in skip)]


def _ops(config):
    registry = _registry(tuple(opt(config, "plugin")))
    try:
        return registry.select_ops(opt(config, "norm"))
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_group(name): pytest-xdist's --dist loadgroup keeps a group together")
    # Named backends and ops are checked before collection, so a typo is one usage line (exit 4),
    # not a collection error per test module. Nothing is loaded unless they were given: this
    # plugin is active in every pytest session of the environment.
    if opt(config, "backend"):
        _backend_names(config)
    if opt(config, "norm"):
        _ops(config)
    from normbench.conformance.invariance import parse_require

    try:
        parse_require(opt(config, "require"))
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None
    if (opt(config, "max-examples") or 0) < 1:
        raise pytest.UsageError("--max-examples (--normbench-max-examples) must be at least 1")
    path = opt(config, "known-failures")
    if path:
        from normbench.conformance.knownfile import KnownFailuresFile

        try:
            config.stash[_KNOWN] = KnownFailuresFile.read(path)
        except InputError as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Under pytest-xdist's ``--dist loadgroup`` the cases of one (backend, op) go to one xdist
    worker together, which reuses that backend's worker process (and a compiling backend's
    compiled kernels) instead of starting one in every xdist worker; the groups spread over the
    cores. The mark means nothing without xdist."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        backend = params.get("normbench_backend_name")
        if backend is None:
            continue
        op = params.get("normbench_op") or params.get("normbench_invariance_op")
        case = params.get("normbench_case")
        op_name = op.name if op is not None else getattr(case, "op", "")
        item.add_marker(pytest.mark.xdist_group(f"normbench-{backend}-{op_name}"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In an xdist worker: hand the known-failures file's usage to the controller, which warns
    about stale entries once every worker's cases are in."""
    known = session.config.stash.get(_KNOWN, None)
    workeroutput = getattr(session.config, "workeroutput", None)
    if known is not None and workeroutput is not None:
        workeroutput["normbench_known"] = {"used": sorted(known.used), "seen": sorted(known.seen)}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """xdist controller: merge a finished worker's known-failures usage."""
    known = node.config.stash.get(_KNOWN, None)
    usage = getattr(node, "workeroutput", {}).get("normbench_known")
    if known is not None and usage:
        known.used.update(usage["used"])
        known.seen.update(usage["seen"])


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    known = config.stash.get(_KNOWN, None)
    for warning in known.stale() if known else ():
        terminalreporter.write_line(f"normbench: warning: known-failures {warning}", yellow=True)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "normbench_backend_name" in metafunc.fixturenames:
        metafunc.parametrize("normbench_backend_name", _backend_names(metafunc.config), scope="session")
    if "normbench_case" in metafunc.fixturenames:
        try:
            cases = runner.select_cases(_ops(metafunc.config), opt(metafunc.config, "case"))
        except InputError as exc:
            raise pytest.UsageError(str(exc)) from None
        metafunc.parametrize("normbench_case", cases, ids=[c.id for c in cases])
    if "normbench_invariance_op" in metafunc.fixturenames:
        ops = [op for op in _ops(metafunc.config) if op.invariance_probe is not None]
        metafunc.parametrize("normbench_invariance_op", ops, ids=[op.name for op in ops])
    if "normbench_op" in metafunc.fixturenames:
        ops = [op for op in _ops(metafunc.config) if op.property_cases is not None]
        metafunc.parametrize("normbench_op", ops, ids=[op.name for op in ops])


@pytest.fixture(scope="session")
def normbench_backend(normbench_registry, normbench_backend_name):
    backend_name = normbench_backend_name
    b = normbench_registry.get(backend_name)  # an unknown --backend fails here with the list of names
    avail = availability_of(b)
    if not avail:
        pytest.skip(f"backend {backend_name} unavailable: {avail.reason}")
    return b


@pytest.fixture(scope="session")
def normbench_isolated(request, normbench_registry, normbench_backend):
    """The backend's worker process: a crash or hang costs one case, never the pytest session."""
    iso = runner.IsolatedBackend(normbench_backend.name, tuple(opt(request.config, "plugin")),
                                 scope=normbench_registry.worker_scope(normbench_backend.name))
    iso.known = request.config.stash.get(_KNOWN, None)
    yield iso
    iso.close()


def run_isolated(registry, backend, iso, case, timeout):
    """The result of one case in the backend's worker, or a pytest skip/fail saying why not."""
    if not registry.supports(backend, case.op):
        pytest.skip(f"backend {backend.name} does not implement {case.op}")
    if iso.dropped:
        pytest.fail(f"{case.id}: {iso.dropped}", pytrace=False)
    result = iso.run(registry.op(case.op), case, timeout)
    if result is None:
        pytest.skip(f"backend {backend.name} unavailable in its worker: {iso.available()[1]}")
    return result


@pytest.fixture(scope="session")
def normbench_case_timeout(request) -> float:
    return opt(request.config, "case-timeout")
