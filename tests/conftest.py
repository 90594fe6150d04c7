import os
import sys
from pathlib import Path

import pytest

FAKE_PLUGINS = Path(__file__).parent / "fake_plugins"
sys.path.insert(0, str(FAKE_PLUGINS))
# runs made by the tests are not kept in a results store unless a test names one (--store)
os.environ["NORMBENCH_STORE"] = "off"


@pytest.fixture
def subprocess_env():
    """Environment for running the CLI in a subprocess that can import the fake plugins."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(FAKE_PLUGINS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("NORMBENCH_PLUGINS", None)
    return env


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for this session (tests/pgserver.py). Skipped, with the reason, where
    the server or psycopg is missing, except on CI (``CI=true``: .ci/run installs both), where that fails."""
    import pgserver

    try:
        import psycopg  # noqa: F401

        server = pgserver.Server()
    except (ImportError, FileNotFoundError, RuntimeError) as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL for the store's tests: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh, empty store of each kind: an SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite")
    return request.getfixturevalue("pg_server").new_database()
