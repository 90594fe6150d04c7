"""Plugin discovery and isolation: every broken plugin is reported, the others still load."""
import pytest

from normbench import pluginmanager


def load(*plugins):
    return pluginmanager.load(list(plugins))


def test_builtins_come_from_entry_points():
    reg = load()
    assert {"numpy", "numba", "torch-cpu", "torch-cuda"} <= set(reg.names())
    assert reg.source("numpy").distribution == "normbench"
    assert not reg.problems


@pytest.mark.parametrize(
    "module, message",
    [
        ("broken_import", "failed to import: RuntimeError: this plugin cannot be imported"),
        ("broken_hook", "normbench_backends() raised ZeroDivisionError: bug inside the hook"),
        ("broken_notalist", "must return a list of backends, got dict"),
        ("no_hook", "has no normbench_backends hook implementation"),
        ("does_not_exist_anywhere", "failed to import: ModuleNotFoundError"),
        ("broken_api_version", "written for plugin API version 99, this normbench speaks version 1"),
    ],
)
def test_broken_plugin_is_reported_and_others_load(module, message):
    reg = load(module)
    assert any(message in str(p) and module in str(p) for p in reg.problems), [str(p) for p in reg.problems]
    assert {"numpy", "torch-cpu"} <= set(reg.names())


def test_garbage_backends_are_named():
    reg = load("broken_garbage")
    text = " | ".join(map(str, reg.problems))
    assert "backend 'garbage': missing 'capabilities'" in text
    assert "42" in text
    assert "numpy" in reg.names()


def test_duplicate_names_name_both_plugins():
    reg = load("duplicate_name")
    (problem,) = reg.problems
    assert "'numpy' is claimed by both normbench 0.1.0 (numpy) and module duplicate_name" in str(problem)
    assert "numpy" not in reg.names() and "torch-cpu" in reg.names()


def test_env_var_and_option_load_once(monkeypatch):
    monkeypatch.setenv("NORMBENCH_PLUGINS", "wrong_backends, wrong_backends")
    reg = load("wrong_backends")
    assert "wrong-eps-outside" in reg.names()
    assert str(reg.source("wrong-eps-outside")) == "module wrong_backends"
    assert not reg.problems
