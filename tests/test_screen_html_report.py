"""report.html read back with an HTML parser: the table's data hold every candidate's values, nothing to
load from outside the file, the plots and structures it embeds equal to their sources (pymatgen reads the
CIFs back), the viewer limited to the best N, and the vendored 3Dmol.js as its README describes it."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher

from autoperi.io.pymatgen_adapter import parse_cif_text, structure_from_crystal
from autoperi.screening.html_report import ASSETS, COLUMNS, structures_json, table_data
from autoperi.screening.report import composition_counts
from physics_structures import rocksalt, silicon
from screen_fixtures import write_tiny_report

THREEDMOL = ASSETS / "3Dmol-min.js"


class Page(HTMLParser):
    """Every start tag with its attributes, the text of each table cell by table id, each select's option
    values, and the inline scripts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, list[list[tuple[str, dict]]]] = {}
        self.scripts: list[tuple[dict, str]] = []
        self.options: dict[str, list[str]] = {}
        self._select: str | None = None
        self._table: str | None = None
        self._cell: list | None = None
        self._script: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table":
            self._table = attributes.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = ["", attributes]
            self.tables[self._table][-1].append(self._cell)
        elif tag == "script":
            self._script = attributes
            self.scripts.append((attributes, ""))
        elif tag == "select":
            self._select = attributes["id"]
            self.options[self._select] = []
        elif tag == "option":
            self.options[self._select].append(attributes["value"])

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag in ("td", "th"):
            self._cell = None
        elif tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            attributes, text = self.scripts[-1]
            self.scripts[-1] = (attributes, text + data)
        elif self._cell is not None:
            self._cell[0] += data

    def json(self, script_id: str) -> dict:
        return json.loads(next(text for attrs, text in self.scripts if attrs.get("id") == script_id))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return write_tiny_report(tmp_path_factory.mktemp("report"), num_structures=3)


@pytest.fixture(scope="module")
def page(report):
    return Page(report.path.read_text())


def test_the_table_data_has_a_row_per_candidate_with_its_values(report, page):
    (header,) = page.tables["candidates"]
    assert [cell[1]["data-key"] for cell in header] == [column.key for column in COLUMNS]
    data = page.json("table-data")
    assert [column["key"] for column in data["columns"]] == [column.key for column in COLUMNS]
    assert len(data["rows"]) == len(report.rows)
    column = {column.key: index for index, column in enumerate(COLUMNS)}
    for row, values in zip(report.rows, data["rows"], strict=True):
        assert values[column["id"]] == row["id"] and values[column["formula"]] == row["formula"]
        assert values[column["sun"]] is row["sun"] and values[column["num_atoms"]] == row["num_atoms"]
        if math.isfinite(row["e_hull"]):
            assert values[column["e_hull"]] == row["e_hull"]  # exact: JSON keeps the float
        else:
            assert values[column["e_hull"]] is None
    assert data["rows"][-1][column["error"]] == "relaxation failed: made up"
    assert data["viewable"] == list(page.json("structures"))


def test_nothing_is_loaded_from_outside_the_file(page):
    for tag, attributes in page.tags:
        assert tag not in ("link", "iframe", "object", "embed", "base"), tag
        for name in ("src", "href", "srcset", "poster", "action"):
            value = attributes.get(name)
            assert value is None or value.startswith("data:"), (tag, name, value[:60])
    assert all("src" not in attributes for attributes, _ in page.scripts)
    policy = next(a["content"] for tag, a in page.tags if tag == "meta" and a.get("http-equiv"))
    assert "default-src 'none'" in policy


def test_the_plots_are_the_png_files_embedded(report, page):
    images = [attributes["src"] for tag, attributes in page.tags if tag == "img"]
    embedded = [base64.b64decode(src.split(",", 1)[1]) for src in images]
    files = [(report.path.parent / name).read_bytes() for name in ("e_hull.png", "composition.png")]
    assert embedded == files
    assert all(data.startswith(b"\x89PNG") for data in embedded)


def test_composition_counts_are_the_hand_counts(report):
    by_symbol, arity = composition_counts(list(report.raw.values()))  # NaCl, LiF, KCl, KBr, NaCl
    assert by_symbol == {"Cl": 3, "Na": 2, "K": 2, "Li": 1, "F": 1, "Br": 1}
    assert arity == {2: 5}
    assert composition_counts([silicon(), rocksalt()]) == ({"Si": 1, "Na": 1, "Cl": 1}, {1: 1, 2: 1})


def test_the_viewer_holds_the_best_n_and_their_cifs_read_back_as_the_crystals(report, page):
    structures = page.json("structures")
    finite = [row for row in report.rows if math.isfinite(row["e_hull"])]
    assert list(structures) == [row["id"] for row in sorted(finite, key=lambda row: row["e_hull"])[:3]]
    assert page.options == {"candidate": list(structures), "repeat": ["1", "2", "3"]}
    matcher = StructureMatcher(ltol=0.01, stol=0.01, angle_tol=0.1, primitive_cell=False, scale=False)
    for crystal_id, entry in structures.items():
        for kind, crystals in (("raw", report.raw), ("relaxed", report.relaxed)):
            (parsed,) = parse_cif_text(entry[kind])
            expected = crystals[crystal_id]
            assert np.allclose(parsed.lattice_parameters, expected.lattice_parameters, atol=1e-5)
            assert matcher.fit(structure_from_crystal(parsed), structure_from_crystal(expected))


def test_a_failed_relaxation_is_shown_without_a_relaxed_form(tmp_path):
    report = write_tiny_report(tmp_path, count=2)
    structures = Page(report.path.read_text()).json("structures")
    assert structures["LiF-1"]["relaxed"] is None and structures["LiF-1"]["raw"]
    assert structures["NaCl-0"]["relaxed"]


def test_no_structures_leaves_3dmol_out(tmp_path, report):
    small = write_tiny_report(tmp_path, num_structures=0)
    page = Page(small.path.read_text())
    assert not any(attributes.get("id") in ("viewer", "structures") for _, attributes in page.tags)
    assert len(page.json("table-data")["rows"]) == len(small.rows)
    saved = report.path.stat().st_size - small.path.stat().st_size
    assert saved >= THREEDMOL.stat().st_size


def test_text_that_could_end_a_script_block_is_escaped(report):
    row = dict(report.rows[0], id="x</script><b>", formula="<!--")
    for text in (structures_json([row], [row["id"]], {row["id"]: report.raw["NaCl-0"]}, {}), table_data([row], [])):
        assert "<" not in text
    assert json.loads(text)["rows"][0][:2] == ["x</script><b>", "<!--"]


def test_the_vendored_3dmol_is_the_one_its_readme_names():
    readme = (ASSETS / "README.md").read_text()
    data = THREEDMOL.read_bytes()
    version = re.search(r"3Dmol\.js (\d+\.\d+\.\d+)", readme).group(1)
    assert data.startswith(b"/*! For license information please see 3Dmol-min.js.LICENSE.txt */")
    assert f"3dmol v{version}" in (ASSETS / "3Dmol-min.js.LICENSE.txt").read_text()
    assert hashlib.sha256(data).hexdigest() in readme and f"{len(data):,} bytes" in readme
    assert b"</script" not in data.lower()
    assert "BSD-3-Clause" in readme and "Redistribution and use" in (ASSETS / "3Dmol-LICENSE").read_text()
