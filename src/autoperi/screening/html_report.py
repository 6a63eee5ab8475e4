"""``report.html``: one self-contained page (it loads nothing: the plots are base64 PNGs, 3Dmol.js, the page's
script, the table's rows and the structures' CIF text are inline) with the counts, the plots, a sortable
table of every candidate (drawn a page at a time) and, for the ``num_structures`` lowest-E_hull ones, a 3D
view of the candidate next to its relaxed form. The vendored files are in ``screening/assets`` (see its
README)."""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from autoperi.crystal import Crystal
from autoperi.screening.report import COUNTED, summary_counts

ASSETS = Path(__file__).with_name("assets")
HTML_FILE = "report.html"
DEFAULT_NUM_STRUCTURES = 20
# Nothing but the page's own inline code, styles and data: URIs may load, whatever a browser is asked to fetch.
CONTENT_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"

FLAG_LABELS = {"sun": "S.U.N.", "msun": "M.S.U.N."}
DIGITS = 4


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text, number (shown with DIGITS decimals), count or flag


COLUMNS = (
    Column("id", "id"),
    Column("formula", "formula"),
    Column("num_atoms", "atoms", "count"),
    Column("energy_raw", "E raw (eV/atom)", "number"),
    Column("energy_relaxed", "E relaxed (eV/atom)", "number"),
    Column("e_hull", "E_hull (eV/atom)", "number"),
    Column("decomposition", "decomposition"),
    *(Column(key, FLAG_LABELS.get(key, key), "flag") for key in COUNTED[1:]),
    Column("converged", "converged", "flag"),
    Column("steps", "steps", "count"),
    Column("error", "error"),
)


def _number(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _value(column: Column, row: Mapping[str, object]) -> object:
    """A cell as JSON: numbers as floats (null when missing), flags as booleans, the rest as text."""
    value = row[column.key]
    if column.kind in ("number", "count"):
        number = _number(value)
        return number if math.isfinite(number) else None
    if column.kind == "flag":
        return bool(value)
    return str(value)


def _script_json(data: object) -> str:
    """JSON that is safe inside a <script> block: no "</script>" or "<!--" can end it early."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def table_data(rows: Sequence[Mapping[str, object]], viewable: Sequence[str]) -> str:
    """Every row as JSON for the page's table (``{columns, rows, viewable}``, rows as lists in COLUMNS order);
    the page shows it a page at a time, sorted by the header clicked (numbers as numbers, missing values last)."""
    columns = [{"key": column.key, "label": column.label, "kind": column.kind} for column in COLUMNS]
    values = [[_value(column, row) for column in COLUMNS] for row in rows]
    return _script_json({"columns": columns, "rows": values, "viewable": list(viewable), "digits": DIGITS})


def _table_section(rows: Sequence[Mapping[str, object]], viewable: Sequence[str]) -> str:
    headers = "".join(
        f'<th class="{column.kind}" data-key="{column.key}">{html.escape(column.label)}</th>' for column in COLUMNS
    )
    pager = (
        '<div class="controls" id="pager"><button id="previous">previous</button> '
        '<span id="shown"></span> <button id="next">next</button></div>'
    )
    return (
        f'<section id="table"><h2>All {len(rows)} candidates</h2><p>Click a column header to sort. '
        "The same table is in screen.csv.</p><noscript><p>The table needs JavaScript.</p></noscript>"
        f'{pager}<div class="scroll"><table id="candidates"><thead><tr>{headers}</tr></thead><tbody></tbody>'
        "</table></div>"
        f'<script type="application/json" id="table-data">{table_data(rows, viewable)}</script></section>'
    )


def best_ids(rows: Sequence[Mapping[str, object]], count: int) -> list[str]:
    """The ids of the ``count`` lowest-E_hull rows (rows without an E_hull after those with one)."""
    ranked = sorted(rows, key=lambda row: (not math.isfinite(_number(row["e_hull"])), _number(row["e_hull"])))
    return [str(row["id"]) for row in ranked[:count]]


def _caption(row: Mapping[str, object]) -> str:
    e_hull = _number(row["e_hull"])
    shown = f"E_hull {e_hull:.3f} eV/atom" if math.isfinite(e_hull) else "no E_hull"
    flags = ", ".join(FLAG_LABELS.get(key, key) for key in ("stable", "unique", "novel", "sun") if row[key])
    caption = f"{row['id']}: {row['formula']}, {row['num_atoms']} atoms, {shown}"
    return f"{caption} ({flags})" if flags else caption


def structures_json(
    rows: Sequence[Mapping[str, object]], ids: Sequence[str], raw: Mapping[str, Crystal], relaxed: Mapping[str, Crystal]
) -> str:
    """The viewer's data, ``{id: {raw: CIF, relaxed: CIF or null, caption}}``, safe inside a <script>."""
    from autoperi.io.pymatgen_adapter import cif_text

    by_id = {str(row["id"]): row for row in rows}
    entries = {
        crystal_id: {
            "raw": cif_text(raw[crystal_id]),
            "relaxed": cif_text(relaxed[crystal_id]) if crystal_id in relaxed else None,
            "caption": _caption(by_id[crystal_id]),
        }
        for crystal_id in ids
    }
    return _script_json(entries)


def _viewer_section(ids: Sequence[str], structures: str) -> str:
    options = "".join(f'<option value="{html.escape(i, quote=True)}">{html.escape(i)}</option>' for i in ids)
    repeats = "".join(f'<option value="{n}">{n}×{n}×{n}</option>' for n in (1, 2, 3))
    panes = "".join(
        f'<figure><figcaption>{label}</figcaption><div class="pane" id="view-{kind}"></div></figure>'
        for kind, label in (("raw", "candidate as generated"), ("relaxed", "relaxed (CHGNet)"))
    )
    return (
        f'<section id="viewer"><h2>3D views of the {len(ids)} lowest-E_hull candidates</h2>'
        f'<div class="controls"><label>candidate <select id="candidate">{options}</select></label> '
        f'<label>cells <select id="repeat">{repeats}</select></label> '
        '<span id="caption"></span></div>'
        f'<div class="views">{panes}</div><p id="viewer-status">3D views not drawn (JavaScript off?)</p>'
        f'<script type="application/json" id="structures">{structures}</script></section>'
    )


def _summary(rows: Sequence[Mapping[str, object]], num_dropped: int, header: Mapping[str, str]) -> str:
    counts = summary_counts(list(rows))
    total = len(rows)
    facts = [f"{key}: {value}" for key, value in header.items()] + [
        f"candidates screened: {total} ({num_dropped} dropped before relaxation, see dropped.csv)",
        f"relaxations failed: {counts['failed']}; converged: {counts['converged']}; "
        f"with an E_hull: {counts['with_hull']}",
    ]
    items = "".join(f"<li>{html.escape(fact)}</li>" for fact in facts)
    heads = "".join(f"<th>{FLAG_LABELS.get(key, key)}</th>" for key in COUNTED[1:])
    cells = "".join(f"<td>{counts[key]} ({counts[key] / max(total, 1):.1%})</td>" for key in COUNTED[1:])
    return f'<ul>{items}</ul><table id="counts"><tr>{heads}</tr><tr>{cells}</tr></table>'


def _image(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{encoded}">'


def _inline_script(path: Path) -> str:
    code = path.read_text()
    if "</script" in code.lower():  # would end the inline block early; a vendored update must be checked
        raise ValueError(f"{path} contains '</script' and cannot be inlined")
    return f"<script>{code}</script>"


def write_html_report(
    rows: Sequence[Mapping[str, object]],
    raw: Mapping[str, Crystal],
    relaxed: Mapping[str, Crystal],
    num_dropped: int,
    header: Mapping[str, str],
    plots: Sequence[Path],
    out: Path,
    num_structures: int = DEFAULT_NUM_STRUCTURES,
) -> Path:
    """Write ``out/report.html``. ``raw`` and ``relaxed`` map ids to crystals; 3D views are made for the
    ``num_structures`` lowest-E_hull rows found in ``raw`` (0: none, and 3Dmol.js is left out)."""
    ids = best_ids([row for row in rows if row["id"] in raw], num_structures)
    viewer = _viewer_section(ids, structures_json(rows, ids, raw, relaxed)) if ids else ""
    scripts = [ASSETS / "3Dmol-min.js", ASSETS / "report.js"] if ids else [ASSETS / "report.js"]
    title = html.escape(f"AutoPeri screen: {out.resolve().name}")
    page = "\n".join(
        [
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">',
            f"<title>{title}</title><style>{(ASSETS / 'report.css').read_text()}</style></head><body>",
            f"<h1>{title}</h1>",
            _summary(rows, num_dropped, header),
            viewer,
            f'<div class="plots">{"".join(_image(plot) for plot in plots)}</div>',
            _table_section(rows, ids),
            *(_inline_script(script) for script in scripts),
            "</body></html>",
        ]
    )
    path = out / HTML_FILE
    path.write_text(page, encoding="utf-8")
    return path
