"""--known-failures FILE: the user's own known failures, on check and the pytest route."""
import pytest

from normbench.cli import main
from normbench.conformance.knownfile import KnownFailuresFile
from normbench.errors import InputError
from normbench.ops.groupnorm import OP as GN
from normbench.results import CaseResult


def _file(tmp_path, text):
    path = tmp_path / "known.txt"
    path.write_text(text)
    return path


def test_entries_turn_failures_known_and_passes_xpass_and_stale_ones_are_named(tmp_path):
    known = KnownFailuresFile.read(_file(tmp_path, "# mine\nfoo  groupnorm/offset/*  one-pass variance\n"
                                                   "foo  re:groupnorm/nosuch/.*\nbar  groupnorm/*\n"))
    case = next(c for c in GN.cases() if c.group == "offset")
    failed = known.apply("foo", CaseResult(case, "fail", "y: max abs err 1"))
    assert failed.status == "xfail" and failed.known_reason == f"one-pass variance [{tmp_path / 'known.txt'}:2]"
    passed = known.apply("foo", CaseResult(case, "pass", ""))
    assert passed.status == "xpass" and "remove the entry" in passed.message
    other = known.apply("baz", CaseResult(case, "fail", "x"))
    assert other.status == "fail"  # entries are per backend
    stale = known.stale()
    assert any(":3: foo re:groupnorm/nosuch/.* matches no case" in w for w in stale)
    assert any(":4: backend 'bar' ran no case here" in w for w in stale)
    assert len(stale) == 2


@pytest.mark.parametrize("text,message", [
    ("numpy\n", "known.txt:1: expected 'BACKEND CASE-PATTERN [REASON]'"),
    ("numpy re:(\n", "known.txt:1: bad regular expression '('"),
])
def test_malformed_files_are_refused_with_file_and_line(tmp_path, text, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("[", r"\[").replace("]", r"\]")):
        KnownFailuresFile.read(_file(tmp_path, text))


def test_check_applies_the_file_and_warns_about_stale_entries(tmp_path, capsys):
    path = _file(tmp_path, "numpy groupnorm/errors/*-bad-weight  pretend\nnumpy groupnorm/nosuch/*  gone\n")
    assert main(["check", "--no-invariance", "--backend", "numpy", "--norm", "groupnorm", "--group", "errors",
                 "--known-failures", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "XPASS: numpy groupnorm/errors/4x8x5-float32-G=2-bad-weight" in out
    assert "known.txt:2: numpy groupnorm/nosuch/* matches no case that ran for numpy (stale entry?)" in err
    assert main(["check", "--no-invariance", "--backend", "numpy", "--known-failures", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read it" in capsys.readouterr().err


def test_pytest_options_do_not_collide_with_a_projects_own(tmp_path):
    """The plugin is active in every pytest session of the environment: a project defining its own
    --backend must keep it (the suite's short names exist only when the suite is run)."""
    import subprocess
    import sys

    (tmp_path / "conftest.py").write_text('def pytest_addoption(parser):\n    parser.addoption("--backend", default="x")\n')
    (tmp_path / "test_mine.py").write_text("def test_it(request):\n    assert request.config.getoption('--backend') == 'y'\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path), "--backend", "y"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "normbench.conformance",
                          "--normbench-backend", "numpy", "--normbench-norm", "groupnorm", "--normbench-case", "*bad-groups*"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0 and " passed" in run.stdout, run.stdout + run.stderr
