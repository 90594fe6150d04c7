"""pytest options and parametrization for the conformance suite (see ``__init__``)."""
from __future__ import annotations

import functools

import pytest

from normbench import pluginmanager
from normbench.conformance import runner


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("normbench", "normbench conformance suite")
    group.addoption("--backend", action="append", default=[], metavar="NAME",
                    help="normbench backend(s) to test (repeatable; default: every discovered backend)")
    group.addoption("--plugin", action="append", default=[], metavar="MODULE",
                    help="import MODULE as a normbench plugin (like NORMBENCH_PLUGINS)")
    group.addoption("--case", action="append", default=[], metavar="PATTERN",
                    help="only conformance cases whose id matches (fnmatch or substring)")
    group.addoption("--case-timeout", type=float, default=runner.DEFAULT_TIMEOUT, metavar="S",
                    help="time limit per conformance case in seconds")


@functools.lru_cache(maxsize=None)
def _registry(plugins: tuple[str, ...]):
    return pluginmanager.load(plugins)


@pytest.fixture(scope="session")
def registry(request):
    return _registry(tuple(request.config.getoption("--plugin")))


def _backend_names(config) -> list[str]:
    names = config.getoption("--backend")
    if names:
        return list(dict.fromkeys(names))
    return _registry(tuple(config.getoption("--plugin"))).names()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_name" in metafunc.fixturenames:
        metafunc.parametrize("backend_name", _backend_names(metafunc.config), scope="session")
    if "case" in metafunc.fixturenames:
        cases = runner.select_cases(metafunc.config.getoption("--case"))
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


@pytest.fixture(scope="session")
def backend(registry, backend_name):
    b = registry.get(backend_name)  # an unknown --backend fails here with the list of names
    avail = b.availability()
    if not avail:
        pytest.skip(f"backend {backend_name} unavailable: {avail.reason}")
    return b


@pytest.fixture(scope="session")
def case_timeout(request) -> float:
    return request.config.getoption("--case-timeout")
