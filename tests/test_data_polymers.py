"""Polymer chains from repeat-unit SMILES (issue 18): construction, validity, loader, bad input."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

pytest.importorskip("rdkit")

from ase.data import covalent_radii
from ase.neighborlist import neighbor_list
from rdkit import Chem

from autoperi.data.polymers import polymer_table
from autoperi.errors import AutoPeriError
from autoperi.io.ase_adapter import atoms_from_crystal
from autoperi.io.rdkit_adapter import build_chain, chain_graph
from autoperi.metrics.polymers import check_chain

CASES = {row["name"]: row["smiles"] for row in polymer_table()}
BUILT = ["polyethylene", "polystyrene", "poly(ethylene oxide)", "nylon-6", "poly(ethylene terephthalate)"]


def unit_composition(smiles: str) -> Counter[int]:
    """The repeat unit's atoms with hydrogens, attachment points dropped (RDKit alone)."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    return Counter(atom.GetAtomicNum() for atom in mol.GetAtoms() if atom.GetAtomicNum() > 0)


@pytest.fixture(scope="module", params=BUILT)
def built(request):
    smiles = CASES[request.param]
    chain = build_chain(smiles, chain_id=request.param)
    return smiles, chain


def test_table_has_references_and_two_attachment_points():
    assert len(CASES) >= 25
    for row in polymer_table():
        assert row["reference"].strip()
        assert row["smiles"].count("[*:1]") == row["smiles"].count("[*:2]") == 1


def test_cell_holds_whole_repeat_units(built):
    smiles, chain = built
    units = chain.properties["cell_units"]
    expected = {number: count * units for number, count in unit_composition(smiles).items()}
    assert Counter(chain.atomic_numbers.tolist()) == expected


def test_bonds_across_the_boundary_match_the_graph(built):
    """ASE's periodic neighbour list (within 1.2 x the covalent-radius sum) finds each atom's RDKit degree."""
    smiles, chain = built
    atoms = atoms_from_crystal(chain)
    assert atoms.pbc.tolist() == [True, False, False]
    first, second, distance = neighbor_list("ijd", atoms, 2.2)
    numbers = chain.atomic_numbers
    bonded = distance < 1.2 * (covalent_radii[numbers[first]] + covalent_radii[numbers[second]])
    degree = np.bincount(first[bonded], minlength=chain.num_atoms)
    graph = chain_graph(smiles, chain.properties["cell_units"])
    expected = np.bincount(graph.bonds[:, :2].reshape(-1), minlength=chain.num_atoms)
    assert degree.tolist() == expected.tolist()
    assert neighbor_list("d", atoms, 0.9).size == 0


def test_vacuum_and_chain_axis(built):
    _, chain = built
    cart = chain.cart_coords
    for axis in (1, 2):
        assert chain.lattice[axis, axis] - np.ptp(cart[:, axis]) >= 15.0 - 1e-9
    assert np.allclose(chain.lattice, np.diag(np.diag(chain.lattice)))


def test_validity_passes_on_built_and_fails_on_broken_chains(built):
    smiles, chain = built
    graph = chain_graph(smiles, chain.properties["cell_units"])
    assert check_chain(chain, graph).valid
    stretched = chain.copy(lattice=chain.lattice * np.array([[1.3], [1.0], [1.0]]))
    assert check_chain(stretched, graph).bad_bonds > 0
    # the last atom (a hydrogen) moved 0.5 Å from the first atom's image two periods on
    cart = chain.cart_coords.copy()
    cart[-1] = cart[0] + 2 * chain.lattice[0] + np.array([0.0, 0.5, 0.0])
    overlapping = chain.copy(frac_coords=cart @ np.linalg.inv(chain.lattice))
    overlapping_check = check_chain(overlapping, graph)
    assert not overlapping_check.valid and overlapping_check.overlaps > 0


@pytest.mark.parametrize(
    ("smiles", "message"),
    [("C1CC", "cannot parse"), ("", "cannot parse"), ("[*:1]CC", "two attachment points"), ("CC", "two attachment")],
)
def test_bad_smiles_is_one_line(smiles, message):
    with pytest.raises(AutoPeriError, match=message) as error:
        build_chain(smiles)
    assert "\n" not in str(error.value)


def test_loader_split_is_fixed_and_cached(tmp_path, monkeypatch):
    from autoperi.data.datasets import load_split

    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path))
    test = load_split("polymers", "test")
    again = load_split("polymers", "test")
    assert again.from_cache and [c.id for c in again] == [c.id for c in test]
    names = [c.id for split in ("train", "val", "test") for c in load_split("polymers", split)]
    assert sorted(names) == sorted(CASES)
    assert all(not c.pbc[1] and not c.pbc[2] for c in test)
