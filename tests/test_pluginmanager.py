"""Plugin discovery and isolation: every broken plugin is reported, the others still load."""
import pytest

import normbench
from normbench._runtime import pluginmanager


def load(*plugins):
    return pluginmanager.load(list(plugins))


def test_builtins_come_from_entry_points():
    reg = load()
    assert {"numpy", "numba", "torch-cpu", "torch-cuda"} <= set(reg.names())
    assert reg.source("numpy").distribution == "normbench"
    assert reg.ops["batchnorm"].source.distribution == "normbench", "the built-in op is an entry point too"
    assert not reg.problems and not reg.notices


@pytest.mark.parametrize(
    "module, message",
    [
        ("broken_import", "failed to import: RuntimeError: this plugin cannot be imported"),
        ("broken_hook", "normbench_backends() raised ZeroDivisionError: bug inside the hook"),
        ("broken_notalist", "must return a list of backends, got dict"),
        ("no_hook", "has no normbench_backends or normbench_ops hook implementation"),
        ("does_not_exist_anywhere", "failed to import: ModuleNotFoundError"),
        ("broken_api_version", "written for plugin API version 99, this normbench speaks versions 1 to 2"),
    ],
)
def test_broken_plugin_is_reported_and_others_load(module, message):
    reg = load(module)
    assert any(message in str(p) and module in str(p) for p in reg.problems), [str(p) for p in reg.problems]
    assert {"numpy", "torch-cpu"} <= set(reg.names())


def test_garbage_backends_are_named():
    reg = load("broken_garbage")
    text = " | ".join(map(str, reg.problems))
    assert "backend 'garbage': missing 'availability'" in text and "missing 'ops'" in text
    assert "42" in text
    assert "numpy" in reg.names()


def test_a_plugin_cannot_take_a_built_in_name():
    reg = load("duplicate_name")
    (problem,) = reg.problems
    assert problem.plugin == "duplicate_name"
    assert (f"'numpy' is taken by the built-in backend of normbench {normbench.__version__} (numpy); "
            "module duplicate_name's backend is not loaded") in str(problem)
    assert "numpy" in reg.names() and str(reg.source("numpy")).startswith("normbench")


def test_two_third_party_plugins_claiming_one_name_both_stay_out():
    reg = load("wrong_backends", "duplicate_third_party")
    (problem,) = [p for p in reg.problems if p.backend == "wrong-eps-outside"]
    assert "is claimed by both module wrong_backends and module duplicate_third_party; neither is loaded" in str(problem)
    assert "wrong-eps-outside" not in reg.names() and "numpy" in reg.names()


def test_env_var_and_option_load_once(monkeypatch):
    monkeypatch.setenv("NORMBENCH_PLUGINS", "wrong_backends, wrong_backends")
    reg = load("wrong_backends")
    assert "wrong-eps-outside" in reg.names()
    assert str(reg.source("wrong-eps-outside")) == "module wrong_backends"
    assert not reg.problems


def test_v1_plugin_is_adapted_with_a_notice_and_scoped_known_failures():
    reg = load("v1_numpy")
    assert not reg.problems
    assert {"v1-numpy", "v1-explicit"} <= set(reg.names())
    assert len(reg.notices) == 2 and all("plugin API version 1" in n for n in reg.notices)
    b = reg.get("v1-explicit")
    assert b.ops["batchnorm"].passes == {"train", "eval", "backward"}
    (kf,) = b.known_failures
    assert kf.matches("batchnorm/dtypes/16x6-float32") and not kf.matches("layernorm/dtypes/16x6-float32")


def test_backend_declaring_an_op_nobody_installed_is_kept_with_a_notice():
    reg = load("future_ops")
    assert not reg.problems, [str(p) for p in reg.problems]
    assert "future" in reg.names() and any("'quantumnorm'" in n for n in reg.notices)
    assert "quantumnorm" not in reg.ops


def test_third_party_op_is_registered_like_a_backend():
    reg = load("future_ops")
    assert "toynorm" in reg.ops and str(reg.ops["toynorm"].source) == "module future_ops"


def test_normbench_disable_switches_off_plugins_and_backends(monkeypatch):
    """NORMBENCH_DISABLE names plugins (not even imported) or backends (not loaded), with a notice."""
    monkeypatch.setenv("NORMBENCH_DISABLE", "onnxruntime, torch-cuda")
    registry = load()
    assert "onnxruntime" not in registry.backends and "torch-cuda" not in registry.backends
    assert "torch-cpu" in registry.backends and "numpy" in registry.backends
    assert "plugin 'onnxruntime' disabled by NORMBENCH_DISABLE" in registry.notices
    assert any(n.startswith("backend 'torch-cuda'") and "NORMBENCH_DISABLE" in n for n in registry.notices)
