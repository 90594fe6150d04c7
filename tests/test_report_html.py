"""The report's figures and index.html: sized for a screen, accuracy beside speed, one
self-contained page, and that page in a real browser (Debian's chromium, headless)."""
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from normbench._reporting import plots
from normbench.cli import main

LATEST = Path(__file__).resolve().parents[1] / "reports" / "latest"


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    """The committed run's report, written afresh: the figures and page the README shows."""
    out = tmp_path_factory.mktemp("report")
    assert main(["report", "--input", str(LATEST / "bench.json"), "--check", str(LATEST / "check.json"),
                 "--output", str(out)]) == 0
    return out


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_every_figure_fits_a_screen(report_dir):
    pngs = sorted(report_dir.glob("*.png"))
    assert pngs
    sizes = {p.name: _png_size(p) for p in pngs}
    assert {n: s for n, s in sizes.items() if max(s) > plots.MAX_PX} == {}
    assert "summary.png" in sizes and not any(n.startswith("bars-") for n in sizes)  # one long strip each, gone


def test_one_accuracy_against_speed_figure_and_table_per_op_measured(report_dir):
    measured = {r["norm"] for r in json.loads((LATEST / "bench.json").read_text())["rows"]}
    assert {p.name for p in report_dir.glob("accuracy-vs-speed-*.png")} == {f"accuracy-vs-speed-{o}.png"
                                                                            for o in measured}
    text = (report_dir / "README.md").read_text()
    for op in measured:
        assert f"### {op}: accuracy against speed" in text and f"![accuracy against speed, {op}]" in text


def test_accuracy_of_a_backend_is_its_worst_case_against_the_tolerance():
    from normbench._reporting.report import accuracy_of

    check = {"norms": {"toy": {"backends": [
        {"name": "a", "cases": [{"case": "toy/x/1", "status": "pass", "outputs": [{"worst": 0.25}, {"worst": 0.5}]},
                                {"case": "toy/x/2", "status": "xfail", "outputs": [{"worst": 40.0}]},
                                {"case": "toy/x/3", "status": "unsupported", "outputs": []}]},
        {"name": "b", "cases": [{"case": "toy/y/1", "status": "pass", "outputs": [{"worst": 0.9}]}]},
        {"name": "c", "cases": [{"case": "toy/z/1", "status": "crash", "outputs": []},
                                {"case": "toy/z/2", "status": "fail", "outputs": [{"worst": 3.0}]}]},
    ]}}}
    acc = accuracy_of(check, "toy")
    assert acc["a"] == {"worst": 40.0, "worst_case": "toy/x/2", "verdict": "known", "unmeasured": 0, "pass": 1,
                        "known": 1, "fail": 0, "error": 0}
    assert acc["b"]["verdict"] == "pass" and acc["b"]["worst"] == 0.9
    # the crash has no error figure: counted apart, the worst measured error is the failing case's
    assert acc["c"]["verdict"] == "fail" and acc["c"]["worst"] == 3.0 and acc["c"]["worst_case"] == "toy/z/2"
    assert acc["c"]["unmeasured"] == 1 and acc["c"]["error"] == 1


def test_index_html_is_self_contained(report_dir):
    page = (report_dir / "index.html").read_text()
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'<(link|script)[^>]+(href|src)=', page)  # no stylesheet or script from elsewhere
    assert 'id="measurements"' in page and "Accuracy against speed" in page
    assert page.index("Runs and machines") < page.index("Accuracy against speed") < page.index("Every measurement")
    n_rows = len(json.loads((LATEST / "bench.json").read_text())["rows"])
    table = page[page.index('id="measurements"'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr>") - 1 == n_rows  # every measurement, one row each


def _page(tmp_path, blocks, measurements=None) -> str:
    from normbench._reporting.html import write_index

    return write_index(tmp_path, "t", blocks, measurements).read_text()


def test_one_model_gives_the_markdown_and_the_page(tmp_path):
    """Sections carry their op and pass from the heading's fields (not its words); lists nest, text
    is escaped, table cells keep their bars; the Markdown of the same blocks is the report's."""
    from normbench._reporting.model import Bullets, Heading, Paragraph, Table, to_markdown

    blocks = [Heading(1, "t"), Paragraph("Generated now."),
              Heading(2, "batch norm, in words that name no op", op="batchnorm"),
              Bullets([(0, "a `code` <b>"), (1, "nested")]),
              Heading(3, "its training pass", op="batchnorm", pass_="train"),
              Table(["backend", "t"], [["numpy", "1 | 2"]]),
              Heading(3, "batchnorm train")]  # words alone make no section an op's
    got = _page(tmp_path, blocks)
    assert '<section data-op="batchnorm"><h2>' in got and '<section data-op="batchnorm" data-pass="train">' in got
    assert "<section><h3>batchnorm train</h3>" in got
    assert "<code>code</code> &lt;b&gt;" in got and got.count("<ul>") == 2 and got.count("</ul>") == 2
    # a nested list sits inside its parent's item, as HTML requires (no <ul> directly in a <ul>)
    assert re.search(r"<li>a <code>code</code> &lt;b&gt;<ul>\s*<li>nested</li>\s*</ul></li>", got)
    assert '<th data-col="backend"' in got and "<td>1 | 2</td>" in got
    md = to_markdown(blocks)
    assert md.startswith("# t\n\nGenerated now.\n\n## batch norm")
    assert "- a `code` <b>\n  - nested\n" in md and "| numpy | 1 \\| 2 |" in md


def _browser():
    """(chromium, chromedriver) or a reason to skip; on CI a missing browser fails instead."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        selenium_ok = False
    else:
        selenium_ok = True
    missing = [name for name, ok in (("chromium", chromium), ("chromedriver", driver), ("selenium", selenium_ok))
               if not ok]
    if missing:
        why = f"browser test needs {', '.join(missing)} (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(why + "; .ci/run installs them")
        pytest.skip(why)
    return chromium, driver


def test_index_html_in_a_real_browser(report_dir, tmp_path):
    chromium, driver_path = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import Select

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
                f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        browser.get((report_dir / "index.html").resolve().as_uri())

        def visible_rows() -> int:
            return browser.execute_script(
                "return Array.from(document.querySelectorAll('#measurements tbody tr')).filter(r => !r.hidden).length")

        total = visible_rows()
        assert total > 0
        backends = [o.get_attribute("value") for o in Select(browser.find_element("id", "filter-backend")).options][1:]
        assert "numba" in backends and "torch-cpu" in backends
        Select(browser.find_element("id", "filter-backend")).select_by_value("numba")
        numba = visible_rows()
        assert 0 < numba < total
        cells = browser.execute_script("return Array.from(document.querySelectorAll('#measurements tbody tr'))"
                                       ".filter(r => !r.hidden).map(r => r.cells[5].textContent)")
        assert set(cells) == {"numba"}
        assert "backend=numba" in browser.current_url
        Select(browser.find_element("id", "filter-op")).select_by_value("layernorm")
        assert 0 < visible_rows() < numba
        assert browser.execute_script("return document.querySelector('section[data-op=\"batchnorm\"]').hidden")
        Select(browser.find_element("id", "filter-op")).select_by_value("")
        Select(browser.find_element("id", "filter-backend")).select_by_value("")
        assert visible_rows() == total
        # sorting by a click on a header: the median column ascending
        browser.execute_script("document.querySelector('#measurements th[data-col=\"median ms\"]').click()")
        medians = browser.execute_script("return Array.from(document.querySelectorAll('#measurements tbody tr'))"
                                         ".map(r => parseFloat(r.cells[6].textContent))")
        assert medians == sorted(medians)
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        shot = tmp_path / "shot.png"
        browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 1000
    assert float(np.std(pixels[..., :3])) > 0.05  # not blank: text, tables and figures on it


def test_the_runs_section_leads_and_the_measurements_come_before_the_first_op(tmp_path):
    from normbench._reporting.model import Heading, Paragraph, Table

    blocks = [Heading(2, "Summary"), Paragraph("s"), Heading(2, "layernorm: LayerNorm", op="layernorm"),
              Paragraph("l"), Heading(2, "Runs and machines", key="runs"), Table(["a", "b"], [["1", "2"], ["3", "4"]])]
    got = _page(tmp_path, blocks, (["op", "backend"], [["layernorm", "numpy"]]))
    assert got.count("<tr>") == 3 + 2 and "<td>3</td><td>4</td>" in got and "---" not in got  # runs, measurements
    assert got.index("Runs and machines") < got.index("Summary") < got.index("Every measurement") < got.index("LayerNorm")


def test_failures_without_an_error_figure_are_not_drawn_among_the_right_answers(tmp_path):
    import pandas as pd

    pts = pd.DataFrame([
        {"backend": "ok", "speedup": 2.0, "low": 1.8, "high": 2.2, "worst": 0.1, "verdict": "pass", "unmeasured": 0},
        {"backend": "crashes", "speedup": 1.5, "low": 1.4, "high": 1.6, "worst": 0.1, "verdict": "error",
         "unmeasured": 1},
        {"backend": "all-crash", "speedup": 0.5, "low": 0.4, "high": 0.6, "worst": float("nan"), "verdict": "error",
         "unmeasured": 3},
        {"backend": "inf", "speedup": 1.0, "low": float("nan"), "high": float("nan"), "worst": float("inf"),
         "verdict": "known", "unmeasured": 0},
    ])
    path = plots.accuracy_speed_plot(pts, tmp_path / "a.png", "toy", "inf")
    assert path is not None and max(_png_size(path)) <= plots.MAX_PX


def test_filters_match_the_first_word_of_a_cell_and_a_bad_fragment_does_not_stop_the_page(report_dir, tmp_path):
    """The summary's backend cells carry a dagger ("keras-torch †"): the backend filter keeps them."""
    chromium, driver_path = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(arg)
    browser = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        browser.get((report_dir / "index.html").resolve().as_uri() + "#backend=keras-torch&text=%E0%A4%A")
        shown = browser.execute_script(
            "const t = Array.from(document.querySelectorAll('table.data')).find(t => t.tHead.rows[0].cells[1] &&"
            " t.tHead.rows[0].cells[1].dataset.col === 'backend' && t.tHead.rows[0].cells[0].dataset.col === 'run');"
            "return Array.from(t.tBodies[0].rows).filter(r => !r.hidden).map(r => r.cells[1].textContent.trim());")
        assert shown and all(s.split()[0] == "keras-torch" for s in shown)
        options = browser.execute_script("return Array.from(document.getElementById('filter-backend').options)"
                                         ".map(o => o.value)")
        assert not [o for o in options if " " in o]  # no "keras-torch †" beside "keras-torch"
        hidden_figures = browser.execute_script(
            "document.getElementById('filter-op').value = 'layernorm';"
            "document.getElementById('filter-op').dispatchEvent(new Event('change'));"
            "return Array.from(document.querySelectorAll('.top-figures figure'))"
            ".filter(f => getComputedStyle(f).display === 'none').length")
        assert hidden_figures == len(list(report_dir.glob("accuracy-vs-speed-*.png"))) - 1
    finally:
        browser.quit()


def test_a_blocks_text_splits_into_typed_spans():
    """The four inline marks a block's text may carry, as the page renders them."""
    from normbench._reporting.model import Span, spans

    assert spans("a `c|d` **b** [l](#x) ![i](p.png) [f](bench.json) z") == [
        Span("text", "a "), Span("code", "c|d"), Span("text", " "), Span("bold", "b"), Span("text", " "),
        Span("link", "l", "#x"), Span("text", " "), Span("image", "i", "p.png"), Span("text", " "),
        Span("link", "f", "bench.json"), Span("text", " z")]
    assert spans("") == [] and spans("plain <b>") == [Span("text", "plain <b>")]
