"""Size of `autoperi screen`'s report.html, and with --browser its load and sort time in headless Chromium.

The report of an existing screen folder is rebuilt from its records (no relaxation; candidates without a record
yet are left out), then again with its table repeated to each of --rows rows (copies with new ids, the same 20
3D views), with and without the 3D views, to show how the file grows with a screen. Example:

    nice -n 10 python benchmarks/report_html.py --screen runs/i16/screen100 --out runs/i16-report-html \\
        --rows 1000 10000 100000 --browser
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from autoperi.crystal import Crystal
from autoperi.screening.html_report import DEFAULT_NUM_STRUCTURES, write_html_report
from autoperi.screening.pipeline import RECORDS_FILE, ScreenSettings, known_crystals, load_hull_reference, screen_rows
from autoperi.screening.report import composition_plot, e_hull_plot
from autoperi.screening.store import crystal_from_record, read_records

SORT_TIME = """(() => {
  const header = document.querySelector('#candidates th[data-key="e_hull"]');
  const start = performance.now(); header.click(); return performance.now() - start; })()"""


def screened(folder: Path, novelty: str) -> tuple[list[dict], dict[str, Crystal], dict[str, Crystal], list[Crystal]]:
    """The rows, the raw and relaxed crystals by id, and the candidates that have a record."""
    records = read_records(folder / RECORDS_FILE)
    candidates = [crystal_from_record(r) for r in read_records(folder / "candidates.jsonl").values()]
    candidates = [crystal for crystal in candidates if crystal.id in records]
    rows, relaxed = screen_rows(
        candidates, records, load_hull_reference(None), known_crystals(novelty), ScreenSettings("benchmark")
    )
    return rows, {c.id: c for c in candidates}, {c.id: c for c in relaxed}, candidates


def browser_times(path: Path) -> dict[str, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from headless_browser import Browser, file_url, find_browser

    executable = find_browser()
    if executable is None:
        raise SystemExit("--browser: no Chromium binary on PATH")
    browser = Browser(executable, timeout=600)
    try:
        start = time.perf_counter()
        browser.load(file_url(path))
        if browser.evaluate("!!document.getElementById('structures')"):
            browser.wait_until("document.getElementById('viewer-status').dataset.atoms")
        loaded = time.perf_counter() - start
        return {"load_s": round(loaded, 2), "sort_by_e_hull_ms": round(browser.evaluate(SORT_TIME))}
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screen", type=Path, required=True, help="a screen's output folder (its records)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the reports and report_html.json")
    parser.add_argument("--rows", type=int, nargs="*", default=[], help="table sizes to repeat the rows to")
    parser.add_argument("--novelty-reference", default="mp_20", help="as autoperi screen's option")
    parser.add_argument("--browser", action="store_true", help="also time loading and sorting in Chromium")
    args = parser.parse_args()
    rows, raw, relaxed, candidates = screened(args.screen, args.novelty_reference)
    results = []
    for size in [len(rows), *args.rows]:
        table = [dict(row, id=f"{row['id']}-{k}") for k in range(-(-size // len(rows))) for row in rows][:size]
        table[: len(rows)] = rows  # the originals keep their ids, so their structures are found
        for views in (DEFAULT_NUM_STRUCTURES, 0):
            out = args.out / f"rows{size}-views{views}"
            out.mkdir(parents=True, exist_ok=True)
            plots = [e_hull_plot(table, 0.0, 0.1, out / "e_hull.png")]
            plots = [plot for plot in [*plots, composition_plot(candidates, out / "composition.png")] if plot]
            start = time.perf_counter()
            path = write_html_report(table, raw, relaxed, 0, {"screen": str(args.screen)}, plots, out, views)
            result = {"rows": size, "views": min(views, len(rows)), "bytes": path.stat().st_size,
                      "write_s": round(time.perf_counter() - start, 2)}  # fmt: skip
            if args.browser:
                result |= browser_times(path)
            print(json.dumps(result), flush=True)
            results.append(result)
    (args.out / "report_html.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
