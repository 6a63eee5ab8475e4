"""The periodic neighbour list against pymatgen and ASE, on dataset samples and hand-built hard cells."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.neighborlist import neighbor_list

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.graph import build_graph, edge_vectors, periodic_radius_graph
from autoperi.io.ase_adapter import atoms_from_crystal
from autoperi.io.pymatgen_adapter import structure_from_crystal
from autoperi.testing import hand_built_crystals, load_sample

Edge = tuple[int, int, int, int, int]


@pytest.fixture(scope="module")
def dataset_crystals() -> list[Crystal]:
    return load_sample("perov_5", "val", 6) + load_sample("mp_20", "val", 12) + load_sample("carbon_24", "val", 4)


def left_handed(crystal: Crystal) -> Crystal:
    return crystal.copy(lattice=crystal.lattice[[1, 0, 2]], frac_coords=crystal.frac_coords[:, [1, 0, 2]])


def our_edge_sets(crystals: list[Crystal], cutoff: float, max_neighbors: int | None = None) -> list[list[Edge]]:
    batch = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    graph = build_graph(batch, cutoff, max_neighbors)
    offsets = batch.ptr[graph.edge_batch]
    rows = torch.cat([(graph.edge_index - offsets).T, graph.unit_shifts], dim=1)
    return [[tuple(row) for row in rows[graph.edge_batch == b].tolist()] for b in range(len(crystals))]


def pymatgen_edges(crystal: Crystal, cutoff: float) -> list[Edge]:
    centers, neighbors, images, _ = structure_from_crystal(crystal).get_neighbor_list(cutoff)
    return [(int(i), int(j), *map(int, s)) for i, j, s in zip(centers, neighbors, np.round(images), strict=True)]


def ase_edges(crystal: Crystal, cutoff: float) -> list[Edge]:
    centers, neighbors, shifts = neighbor_list("ijS", atoms_from_crystal(crystal), cutoff, self_interaction=False)
    return [(int(i), int(j), *map(int, s)) for i, j, s in zip(centers, neighbors, shifts, strict=True)]


def assert_same_edges(ours: list[Edge], reference: list[Edge], label: str) -> None:
    assert len(ours) == len(set(ours)), f"{label}: duplicate edges"
    missing, extra = set(reference) - set(ours), set(ours) - set(reference)
    assert not missing and not extra, f"{label}: missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"


@pytest.mark.parametrize("cutoff", [3.5, 6.0])
def test_matches_pymatgen_on_dataset_samples(dataset_crystals: list[Crystal], cutoff: float) -> None:
    for crystal, ours in zip(dataset_crystals, our_edge_sets(dataset_crystals, cutoff), strict=True):
        assert_same_edges(ours, pymatgen_edges(crystal, cutoff), f"{crystal.id} at {cutoff} Å")


@pytest.mark.parametrize("cutoff", [2.0, 5.0, 7.3])
def test_matches_pymatgen_on_tiny_thin_skewed_and_left_handed_cells(cutoff: float) -> None:
    crystals = hand_built_crystals()
    crystals += [left_handed(crystals[1]), left_handed(crystals[3])]
    for crystal, ours in zip(crystals, our_edge_sets(crystals, cutoff), strict=True):
        assert_same_edges(ours, pymatgen_edges(crystal, cutoff), f"{crystal.id} at {cutoff} Å")


def test_matches_ase(dataset_crystals: list[Crystal]) -> None:
    crystals = dataset_crystals[::3] + [c.wrapped() for c in hand_built_crystals()]
    for crystal, ours in zip(crystals, our_edge_sets(crystals, 5.0), strict=True):
        assert_same_edges(ours, ase_edges(crystal, 5.0), str(crystal.id))


def test_hard_cells_need_more_than_27_images() -> None:
    """A fixed 3x3x3 block of images would miss neighbours of these cells at 5 Å."""
    crystals = hand_built_crystals()
    for crystal, edges in zip(crystals, our_edge_sets(crystals, 5.0), strict=True):
        if crystal.id in ("tiny-cubic", "tiny-triclinic", "thin", "skewed"):
            assert max(max(abs(s) for s in edge[2:]) for edge in edges) >= 2, crystal.id


def test_self_images_of_a_tiny_cell_are_the_lattice_points_in_the_sphere() -> None:
    crystal = Crystal(np.eye(3) * 1.9, [[0.3, 0.3, 0.3]], [3])
    edges = our_edge_sets([crystal], 4.0)[0]
    grid = np.stack(np.meshgrid(*[np.arange(-3, 4)] * 3, indexing="ij"), -1).reshape(-1, 3)
    inside = {tuple(s) for s in grid.tolist() if 0 < np.linalg.norm(np.array(s) * 1.9) < 4.0}
    assert {edge[2:] for edge in edges} == inside
    assert all(edge[:2] == (0, 0) for edge in edges)


def test_every_edge_has_its_reverse_and_no_zero_self_pair(dataset_crystals: list[Crystal]) -> None:
    for edges in our_edge_sets(dataset_crystals + hand_built_crystals(), 5.0):
        edge_set = set(edges)
        assert all((j, i, -a, -b, -c) in edge_set for i, j, a, b, c in edges)
        assert not any(i == j and (a, b, c) == (0, 0, 0) for i, j, a, b, c in edges)


def test_batched_graph_equals_graphs_of_single_crystals(dataset_crystals: list[Crystal]) -> None:
    batched = our_edge_sets(dataset_crystals, 5.0)
    for crystal, edges in zip(dataset_crystals, batched, strict=True):
        assert sorted(edges) == sorted(our_edge_sets([crystal], 5.0)[0])


@pytest.mark.parametrize("max_neighbors", [1, 6, 12])
def test_max_neighbors_keeps_the_nearest_and_all_ties(dataset_crystals: list[Crystal], max_neighbors: int) -> None:
    batch = CrystalBatch.from_crystals(dataset_crystals, dtype=torch.float64)
    full = build_graph(batch, 6.0)
    capped = build_graph(batch, 6.0, max_neighbors)
    full_lengths = full.vectors(batch.frac_coords, batch.lattices).norm(dim=-1)
    capped_lengths = capped.vectors(batch.frac_coords, batch.lattices).norm(dim=-1)
    for atom in range(len(batch.frac_coords)):
        everything = torch.sort(full_lengths[full.edge_index[0] == atom]).values
        kept = torch.sort(capped_lengths[capped.edge_index[0] == atom]).values
        expected = min(max_neighbors, len(everything))
        assert len(kept) >= expected
        assert torch.equal(kept, everything[: len(kept)])
        if len(kept) > expected:  # extra edges only for exact ties with the k-th neighbour
            assert kept[-1] - kept[expected - 1] <= 1e-4
        if len(kept) < len(everything):
            assert everything[len(kept)] > kept[-1] + 1e-4


def test_unit_shifts_refer_to_the_given_coordinates() -> None:
    crystal = hand_built_crystals()[-1]  # coordinates outside [0, 1)
    batch = CrystalBatch.from_crystals([crystal], dtype=torch.float64)
    graph = build_graph(batch, 5.0)
    assert graph.unit_shifts.dtype == torch.int64
    cart = torch.as_tensor(crystal.cart_coords)
    lattice = torch.as_tensor(crystal.lattice)
    i, j = graph.edge_index
    expected = cart[j] + graph.unit_shifts.double() @ lattice - cart[i]
    vectors = graph.vectors(batch.frac_coords, batch.lattices)
    torch.testing.assert_close(vectors, expected)
    assert bool(torch.all(vectors.norm(dim=-1) < 5.0))


def test_edge_vectors_are_differentiable_in_coordinates_and_lattice(dataset_crystals: list[Crystal]) -> None:
    batch = CrystalBatch.from_crystals(dataset_crystals[:3], dtype=torch.float64)
    graph = build_graph(batch, 4.0)
    frac = batch.frac_coords.clone().requires_grad_(True)
    lattices = batch.lattices.clone().requires_grad_(True)

    def lengths(frac: torch.Tensor, lattices: torch.Tensor) -> torch.Tensor:
        vectors = edge_vectors(frac, lattices, graph.edge_index, graph.unit_shifts, graph.edge_batch)
        return vectors.norm(dim=-1)

    assert torch.autograd.gradcheck(lengths, (frac, lattices))


def test_pairs_exactly_at_the_cutoff_are_excluded() -> None:
    """The cutoff is strict (pymatgen, by contrast, keeps pairs up to cutoff + 1e-8)."""
    crystal = Crystal(np.eye(3) * 2.5, [[0.0, 0.0, 0.0]], [3])
    shifts = {edge[2:] for edge in our_edge_sets([crystal], 5.0)[0]}
    assert (1, 0, 0) in shifts and (2, 0, 0) not in shifts
    assert (2, 0, 0) in {edge[2:] for edge in pymatgen_edges(crystal, 5.0)}


def test_float32_input_gives_the_float64_graph_for_cells_without_near_cutoff_pairs() -> None:
    crystals = hand_built_crystals()
    graphs = [
        build_graph(CrystalBatch.from_crystals(crystals, dtype=dtype), 5.0) for dtype in (torch.float32, torch.float64)
    ]
    assert torch.equal(graphs[0].edge_index, graphs[1].edge_index)
    assert torch.equal(graphs[0].unit_shifts, graphs[1].unit_shifts)


def test_rejects_degenerate_lattices_and_bad_cutoffs() -> None:
    frac = torch.zeros(1, 3)
    with pytest.raises(ValueError, match="positive volume"):
        periodic_radius_graph(frac, torch.zeros(1, 3, 3), torch.tensor([1]), 5.0)
    with pytest.raises(ValueError, match="cutoff"):
        periodic_radius_graph(frac, torch.eye(3)[None], torch.tensor([1]), 0.0)


@pytest.mark.parametrize("cutoff", [3.0, 5.0])
def test_cells_much_larger_than_the_cutoff_match_ase_through_the_cell_list(
    dataset_crystals: list[Crystal], cutoff: float
) -> None:
    """Supercells of 240 and 540 atoms (4-8 cell-list bins along some direction, a skewed left-handed cell
    among them), batched with a small cell that takes the all-pairs path: every edge equals ASE's."""
    from autoperi.graph.neighbors import _bins_per_axis

    large = [dataset_crystals[6].supercell((5, 4, 3)), left_handed(dataset_crystals[10]).supercell((3, 5, 4))]
    crystals = [dataset_crystals[0], *large]
    batch = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    bins = _bins_per_axis(batch.lattices, batch.num_atoms, cutoff, None)
    assert bool(torch.all(bins[1:].max(dim=1).values >= 4)), bins  # more than 3 bins: the cell list is used
    for crystal, ours in zip(crystals, our_edge_sets(crystals, cutoff), strict=True):
        assert_same_edges(ours, ase_edges(crystal, cutoff), f"{crystal.id} ({crystal.num_atoms} atoms) at {cutoff} Å")
