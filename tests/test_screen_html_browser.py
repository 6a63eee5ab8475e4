"""report.html in a real browser (headless Chromium, software WebGL): both 3D viewers draw (pixels, and the atom
counts 3Dmol.js reports against hand counts), the repeat option, the table's sorting and pages work, no script fails,
and the page requests nothing but itself, which the browser's request log would show (checked on a page that
does load from outside; its requests end at a local stand-in proxy, so nothing leaves the machine)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from autoperi.screening.html_report import write_html_report
from headless_browser import Browser, file_url, find_browser
from screen_fixtures import write_tiny_report

BROWSER = find_browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium binary on PATH (apt-get install chromium): report.html not tried in a browser"
)
STATUS = "document.getElementById('viewer-status').dataset.atoms"


@pytest.fixture(scope="module")
def browser():
    browser = Browser(BROWSER)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def report(browser, tmp_path_factory):
    """The tiny screen's report, loaded; the browser's events of that load are kept with it."""
    report = write_tiny_report(tmp_path_factory.mktemp("browser"))
    browser.load(file_url(report.path))
    browser.wait_until(STATUS)
    return report, list(browser.events)


def show(browser: Browser, candidate: str, repeat: int) -> list[int]:
    """Choose a candidate and a repeat in the page's controls; the atoms each viewer then shows."""
    browser.evaluate(
        f"for (const [id, value] of [['candidate', {candidate!r}], ['repeat', '{repeat}']]) {{"
        "  const select = document.getElementById(id); select.value = value;"
        "  select.dispatchEvent(new Event('change')); }"
    )
    return [int(count) for count in browser.evaluate(STATUS).split()]


def coloured_fraction(pixels: np.ndarray) -> float:
    """Share of a pane's pixels (inside its border) in a saturated colour: atoms, not background, text or lines."""
    inside = pixels[3:-3, 3:-3].astype(int)
    return float(((inside.max(axis=2) - inside.min(axis=2)) > 40).mean())


def test_the_page_requests_nothing_but_itself_and_runs_without_errors(report):
    tiny, events = report
    requests = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
    assert requests[0] == file_url(tiny.path)
    assert all(url.startswith("data:image/png;base64,") for url in requests[1:])
    assert not [e for e in events if e.get("method") == "Runtime.exceptionThrown"]


def test_both_viewers_draw_the_candidate_and_its_relaxed_form(browser, report):
    tiny, _ = report
    best = min((row for row in tiny.rows if math.isfinite(row["e_hull"])), key=lambda row: row["e_hull"])
    assert browser.evaluate("document.getElementById('candidate').value") == best["id"]
    assert browser.evaluate("document.querySelectorAll('#view-raw canvas, #view-relaxed canvas').length") == 2
    raw_atoms, relaxed_atoms = show(browser, best["id"], 1)
    # The relaxed form is the ideal 8-atom rock salt: with its images on faces, edges and corners, 14 + 13 atoms.
    assert relaxed_atoms == 27
    assert 8 <= raw_atoms < 27  # perturbed: only the images that stay inside the closed cell
    for pane, pixels in zip(("raw", "relaxed"), browser.screenshot("#view-raw", "#view-relaxed"), strict=True):
        assert coloured_fraction(pixels) > 0.01 and pixels.std() > 10, pane


def test_a_failed_relaxation_leaves_its_pane_blank(browser, report):
    tiny, _ = report
    failed = next(row["id"] for row in tiny.rows if row["error"])
    assert show(browser, failed, 1)[1] == 0
    raw, blank = browser.screenshot("#view-raw", "#view-relaxed")
    assert coloured_fraction(blank) == 0 and blank[3:-3, 3:-3].std() < 1
    assert coloured_fraction(raw) > 0.01


@pytest.mark.parametrize("repeat", [2, 3])
def test_repeat_shows_n_cubed_cells(browser, report, repeat):
    tiny, _ = report
    crystal_id = tiny.rows[1]["id"]
    assert show(browser, crystal_id, repeat) == [repeat**3 * tiny.raw[crystal_id].num_atoms] * 2


IDS = "Array.from(document.querySelectorAll('#candidates tbody tr'), row => row.cells[0].firstChild.data)"
SORT_BY_E_HULL = "document.querySelector('#candidates th[data-key=\"e_hull\"]').click()"


def test_a_header_click_sorts_the_table_with_missing_values_last(browser, report):
    tiny, _ = report
    with_hull = sorted((row for row in tiny.rows if math.isfinite(row["e_hull"])), key=lambda row: row["e_hull"])
    missing = [row["id"] for row in tiny.rows if not math.isfinite(row["e_hull"])]
    browser.evaluate(SORT_BY_E_HULL)
    assert browser.evaluate(IDS) == [row["id"] for row in with_hull] + missing
    browser.evaluate(SORT_BY_E_HULL)
    assert browser.evaluate(IDS) == [row["id"] for row in reversed(with_hull)] + missing


def test_a_long_table_is_shown_a_page_at_a_time_and_sorted_as_a_whole(browser, report, tmp_path):
    tiny, _ = report
    rows = [
        dict(row, id=f"{row['id']}-{copy}", e_hull=row["e_hull"] + copy / 1000)
        for copy in range(50)
        for row in tiny.rows
    ]
    write_html_report(rows, {}, {}, 0, {}, [], tmp_path, num_structures=0)
    browser.load(file_url(tmp_path / "report.html"))

    def pages() -> tuple[list[str], list[str]]:
        ids, shown = [], []
        while True:
            ids += browser.evaluate(IDS)
            shown.append(browser.evaluate("document.getElementById('shown').textContent"))
            if browser.evaluate("document.getElementById('next').disabled"):
                return ids, shown
            browser.evaluate("document.getElementById('next').click()")

    ids, shown = pages()
    assert ids == [row["id"] for row in rows]
    assert shown == ["rows 1–100 of 250", "rows 101–200 of 250", "rows 201–250 of 250"]
    browser.evaluate(SORT_BY_E_HULL)
    order = sorted(range(len(rows)), key=lambda i: (math.isnan(rows[i]["e_hull"]), rows[i]["e_hull"], i))
    assert pages()[0] == [rows[i]["id"] for i in order]


def test_the_request_log_and_the_proxy_catch_a_page_that_loads_from_outside(browser, report, tmp_path):
    control = tmp_path / "control.html"
    control.write_text(
        '<img src="http://example.com/a.png"><script>fetch("https://example.org/b").catch(() => {})</script>'
    )
    browser.load(file_url(control))
    expected = ("GET http://example.com/a.png", "CONNECT example.org:443")
    deadline = time.monotonic() + 30
    while not all(any(line.startswith(e) for line in browser.proxy.requests) for e in expected):
        assert time.monotonic() < deadline, browser.proxy.requests
        time.sleep(0.1)
    assert {"http://example.com/a.png", "https://example.org/b"} <= set(browser.requested_urls())
