"""The neighbour list of slabs (pbc False along the vacuum axis) against ASE and pymatgen on real surfaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk, fcc111
from ase.neighborlist import neighbor_list
from pymatgen.core.surface import SlabGenerator

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.graph import build_graph, edge_vectors
from autoperi.io.ase_adapter import atoms_from_crystal, crystal_from_atoms
from autoperi.io.pymatgen_adapter import crystal_from_structure, structure_from_crystal
from autoperi.nn import PaiNNConfig, PeriodicPaiNN

Edge = tuple[int, int, int, int, int]


def thin_pt111() -> Crystal:
    """Pt(111), 4 layers, 1 Å of vacuum on each side: across the 2 Å gap, a 3-D periodic list at 3 Å joins
    the top layer to the bottom one."""
    return crystal_from_atoms(fcc111("Pt", size=(2, 2, 4), vacuum=1.0), "Pt111-thin")


def vacuum_along_a(crystal: Crystal) -> Crystal:
    """The same slab with its lattice vectors relabelled (c, a, b): the vacuum axis becomes a."""
    order = [2, 0, 1]
    return crystal.copy(
        lattice=crystal.lattice[order], frac_coords=crystal.frac_coords[:, order], pbc=(False, True, True)
    )


def pymatgen_slab() -> Crystal:
    """A (110) slab of rocksalt NaCl from pymatgen's SlabGenerator (7 Å slab, 6 Å vacuum)."""
    nacl = structure_from_crystal(crystal_from_atoms(bulk("NaCl", "rocksalt", a=5.64)))
    slab = SlabGenerator(nacl, (1, 1, 0), 7.0, 6.0, center_slab=True).get_slabs()[0].get_orthogonal_c_slab()
    return crystal_from_structure(slab, "NaCl110").as_slab(axis=2)


def our_edges(crystals: list[Crystal], cutoff: float) -> list[set[Edge]]:
    batch = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    graph = build_graph(batch, cutoff)
    rows = torch.cat([(graph.edge_index - batch.ptr[graph.edge_batch]).T, graph.unit_shifts], dim=1)
    edges = [[tuple(row) for row in rows[graph.edge_batch == b].tolist()] for b in range(len(crystals))]
    assert all(len(e) == len(set(e)) for e in edges), "duplicate edges"
    return [set(e) for e in edges]


def ase_edges(crystal: Crystal, cutoff: float, pbc: tuple[bool, bool, bool] | None = None) -> set[Edge]:
    atoms = atoms_from_crystal(crystal)
    atoms.pbc = crystal.pbc if pbc is None else pbc
    centers, neighbors, shifts = neighbor_list("ijS", atoms, cutoff, self_interaction=False)
    return {(int(i), int(j), *map(int, s)) for i, j, s in zip(centers, neighbors, shifts, strict=True)}


def pymatgen_edges(crystal: Crystal, cutoff: float) -> set[Edge]:
    centers, neighbors, images, _ = structure_from_crystal(crystal).get_neighbor_list(cutoff)
    return {(int(i), int(j), *map(int, s)) for i, j, s in zip(centers, neighbors, np.round(images), strict=True)}


@pytest.mark.parametrize("cutoff", [3.0, 6.0])
def test_slab_edges_match_ase_with_open_vacuum_axis(cutoff: float) -> None:
    slabs = [thin_pt111(), vacuum_along_a(thin_pt111()), pymatgen_slab()]
    for slab, ours in zip(slabs, our_edges(slabs, cutoff), strict=True):
        assert ours == ase_edges(slab, cutoff), f"{slab.id} along {slab.vacuum_axis} at {cutoff} Å"


def test_slab_edges_match_pymatgen() -> None:
    slabs = [thin_pt111(), pymatgen_slab()]
    for slab, ours in zip(slabs, our_edges(slabs, 5.0), strict=True):
        assert ours == pymatgen_edges(slab, 5.0), slab.id


def test_no_edge_crosses_the_vacuum_where_a_bulk_list_would() -> None:
    slab = thin_pt111()
    across = {edge for edge in ase_edges(slab, 3.0, pbc=(True, True, True)) if edge[4] != 0}
    assert across, "the thin cell must have top-bottom pairs within 3 Å for this test to mean anything"
    ours = our_edges([slab], 3.0)[0]
    assert not any(edge[4] != 0 for edge in ours)
    assert ours == ase_edges(slab, 3.0, pbc=(True, True, True)) - across


def test_mixed_batch_of_bulk_and_slabs_equals_single_graphs() -> None:
    crystals = [crystal_from_atoms(bulk("Pt", "fcc", a=3.92)), thin_pt111(), pymatgen_slab()]
    batched = our_edges(crystals, 4.5)
    for crystal, edges in zip(crystals, batched, strict=True):
        assert edges == our_edges([crystal], 4.5)[0], crystal.id


def test_slab_edge_vectors_are_ase_distances_and_differentiable() -> None:
    slab = pymatgen_slab()
    batch = CrystalBatch.from_crystals([slab], dtype=torch.float64)
    graph = build_graph(batch, 4.0)
    atoms = atoms_from_crystal(slab)
    centers, neighbors, shifts, vectors = neighbor_list("ijSD", atoms, 4.0, self_interaction=False)
    reference = {
        (int(i), int(j), *map(int, s)): d for i, j, s, d in zip(centers, neighbors, shifts, vectors, strict=True)
    }
    ours = graph.vectors(batch.frac_coords, batch.lattices)
    keys = [tuple(row) for row in torch.cat([graph.edge_index.T, graph.unit_shifts], 1).tolist()]
    np.testing.assert_allclose(ours.numpy(), np.stack([reference[key] for key in keys]), atol=1e-10)

    def lengths(frac: torch.Tensor, lattices: torch.Tensor) -> torch.Tensor:
        return edge_vectors(frac, lattices, graph.edge_index, graph.unit_shifts, graph.edge_batch).norm(dim=-1)

    assert torch.autograd.gradcheck(
        lengths, (batch.frac_coords.requires_grad_(True), batch.lattices.requires_grad_(True))
    )


def with_more_vacuum(slab: Crystal, extra: float) -> Crystal:
    """The same atoms (same Cartesian positions) in a cell whose c is longer by ``extra`` Å along z."""
    lattice = slab.lattice.copy()
    lattice[2] += np.array([0.0, 0.0, extra])
    return slab.copy(lattice=lattice, frac_coords=np.linalg.solve(lattice.T, slab.cart_coords.T).T)


def test_painn_runs_on_a_slab_batch_and_ignores_how_much_vacuum_there_is() -> None:
    torch.manual_seed(0)
    network = PeriodicPaiNN(PaiNNConfig(hidden_dim=16, num_layers=2, num_radial=8, cutoff=4.0)).double()
    slab = thin_pt111()
    outputs = [
        network(CrystalBatch.from_crystals([crystal], dtype=torch.float64), time=0.5)
        for crystal in (slab, with_more_vacuum(slab, 20.0), slab.copy(pbc=(True, True, True)))
    ]
    assert bool(torch.all(torch.isfinite(outputs[0].scalars)))
    torch.testing.assert_close(outputs[0].scalars, outputs[1].scalars)
    torch.testing.assert_close(outputs[0].vectors, outputs[1].vectors)
    assert not torch.allclose(outputs[0].scalars, outputs[2].scalars), "the 3-D periodic graph joins the layers"


def test_wide_slabs_match_ase_through_the_cell_list() -> None:
    """Slabs wide enough for several cell-list bins in the surface plane (one along the vacuum axis)."""
    from autoperi.graph.neighbors import _bins_per_axis

    slabs = [thin_pt111().supercell((4, 4, 1)), vacuum_along_a(thin_pt111()).supercell((1, 4, 3))]
    batch = CrystalBatch.from_crystals(slabs, dtype=torch.float64)
    bins = _bins_per_axis(batch.lattices, batch.num_atoms, 3.0, batch.pbc)
    assert bins[0].tolist() == [6, 6, 1] and bins[1].tolist() == [1, 6, 4], bins
    for slab, ours in zip(slabs, our_edges(slabs, 3.0), strict=True):
        assert ours == ase_edges(slab, 3.0), f"{slab.id} ({slab.num_atoms} atoms)"
