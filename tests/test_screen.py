"""``autoperi screen`` on --input: the table against hand-computed E_hull and pymatgen matching, dropped entries
named, a rerun that relaxes nothing, one-line errors for bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoperi.cli.main import main
from autoperi.io.ase_adapter import write_extxyz
from autoperi.io.pymatgen_adapter import write_cif
from physics_structures import perturbed, rocksalt, silicon
from screen_fixtures import ELEMENT_ENERGIES, cheap_screen_argv, write_candidates


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def screened(tmp_path_factory):
    """One small screen on a one-worker local cluster, and its output folder."""
    root = tmp_path_factory.mktemp("screen")
    folder = root / "candidates"
    folder.mkdir()
    write_cif(perturbed(silicon(), seed=0), folder / "Si-a.cif")
    write_cif(perturbed(silicon(), seed=1, displacement=0.02), folder / "Si-b.cif")  # a duplicate of Si-a
    write_cif(perturbed(rocksalt(), seed=2), folder / "NaCl.cif")
    write_cif(perturbed(rocksalt(5.0, anion=9, cation=3), seed=3), folder / "LiF.cif")
    squashed = silicon().copy(frac_coords=np.array([[0.0, 0.0, 0.0], [0.01, 0.01, 0.01]]))
    write_cif(squashed, folder / "Si-squashed.cif")
    (folder / "broken.cif").write_text("data_x\n_cell_length_a 3\nloop_\n")
    known = root / "known.extxyz"
    write_extxyz([rocksalt()], known)
    argv = [*cheap_screen_argv(folder, root / "out", root, known), "--workers", "1"]
    assert main(argv) == 0
    return root / "out", argv


def test_table_has_one_row_per_kept_candidate_and_names_what_was_dropped(screened):
    out, _ = screened
    table = pd.read_csv(out / "screen.csv")
    assert sorted(table["id"]) == ["LiF", "NaCl", "Si-a"]
    required = {"id", "formula", "energy_raw", "energy_relaxed", "e_hull", "decomposition", "converged"}
    assert required | {"unique", "novel", "sun", "msun", "stable", "metastable"} <= set(table.columns)
    dropped = pd.read_csv(out / "dropped.csv").set_index("id")["reason"]
    assert dropped["Si-b"] == "duplicate of an earlier candidate"
    assert dropped["Si-squashed"] == "structurally invalid"
    assert any("broken.cif" in name for name in dropped.index)
    for name in ("report.md", "report.html", "e_hull.png", "composition.png", "relaxed.extxyz", "relaxed/NaCl.cif"):
        assert (out / name).exists(), name


def test_e_hull_is_the_energy_above_the_elemental_line_and_sun_combines_the_flags(screened):
    out, _ = screened
    table = pd.read_csv(out / "screen.csv").set_index("id")
    for name, elements in {"NaCl": ("Na", "Cl"), "LiF": ("Li", "F"), "Si-a": ("Si",)}.items():
        line = np.mean([ELEMENT_ENERGIES[e] for e in elements])  # both binaries are 1:1
        assert table.loc[name, "e_hull"] == pytest.approx(table.loc[name, "energy_relaxed"] - line, abs=1e-6)
    assert table.loc["NaCl", "decomposition"].count(":") == 2
    assert not table.loc["NaCl", "novel"] and table.loc["LiF", "novel"]  # the known set holds ideal NaCl
    stable = table["e_hull"] <= 1e-4
    assert list(table["sun"]) == list(stable & table["unique"] & table["novel"])
    assert (table["energy_relaxed"] <= table["energy_raw"] + 1e-6).all()


def test_rerun_relaxes_nothing_and_rewrites_the_same_table(screened, capsys):
    out, argv = screened
    before = (out / "screen.csv").read_text()
    code, stdout, _ = run(argv, capsys)
    assert code == 0 and "(0 relaxed in this run)" in stdout
    assert (out / "screen.csv").read_text() == before
    assert len((out / "relaxations.jsonl").read_text().splitlines()) == 3


def test_rerun_with_other_relax_settings_is_refused(screened, capsys):
    _out, argv = screened
    code, _, stderr = run([*argv, "--fmax", "0.3"], capsys)
    assert code == 2 and "other relax" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize(
    "options, message",
    [
        ({"scheduler": "tcp://127.0.0.1:9"}, "cannot reach the Dask scheduler tcp://127.0.0.1:9"),
        ({"hull_reference": "missing.json"}, "hull reference missing.json not found"),
        ({"input": "nowhere.cif"}, "--input nowhere.cif: no such file"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, options, message):
    candidates = write_candidates(tmp_path, 1)
    code, _, stderr = run(cheap_screen_argv(candidates, tmp_path / "out", tmp_path, candidates, **options), capsys)
    assert code == 2, stderr
    assert message in stderr and len(stderr.strip().splitlines()) == 1


@pytest.mark.slow  # loads and samples the default model: ~30 s alone, minutes on a loaded machine
def test_sampled_candidates_come_from_autoperi_sample_and_are_not_resampled(tmp_path, capsys):
    known = write_candidates(tmp_path, 1)
    argv = [*cheap_screen_argv(known, tmp_path / "out", tmp_path, known, relax_steps="2"), "--workers", "1"]
    argv[argv.index("--input") : argv.index("--input") + 2] = ["-n", "3", "--steps", "10"]
    code, _, stderr = run(argv, capsys)
    assert code == 0, stderr
    samples = tmp_path / "out" / "samples" / "samples.extxyz"
    table = pd.read_csv(tmp_path / "out" / "screen.csv")
    dropped = tmp_path / "out" / "dropped.csv"
    assert len(table) + (len(pd.read_csv(dropped)) if dropped.exists() else 0) == 3
    assert set(table["id"]) <= {"sample-00000", "sample-00001", "sample-00002"}
    first_sampled = samples.stat().st_mtime_ns
    assert run(argv, capsys)[0] == 0
    assert samples.stat().st_mtime_ns == first_sampled
