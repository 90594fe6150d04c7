import os
import sys
from pathlib import Path

import pytest

FAKE_PLUGINS = Path(__file__).parent / "fake_plugins"
sys.path.insert(0, str(FAKE_PLUGINS))


@pytest.fixture
def subprocess_env():
    """Environment for running the CLI in a subprocess that can import the fake plugins."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(FAKE_PLUGINS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("NORMBENCH_PLUGINS", None)
    return env
