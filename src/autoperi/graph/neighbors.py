"""Batched periodic neighbour lists in plain torch.

For every crystal in a batch, :func:`periodic_radius_graph` returns each directed edge ``(i, j, shift)``
with ``|r_j + shift @ L - r_i| < cutoff``: self-images (``i == j``, nonzero shift) included, the
zero-shift self pair never. Images are enumerated per atom pair by slicing the cutoff sphere in the frame
where the lattice is lower triangular: the number of layers along c follows from the cell's perpendicular
height, rows and points from the remaining radius. Nothing assumes a fixed 27 images, so cells smaller
than the cutoff and thin or strongly skewed cells are exact. Cells more than three cutoffs (and mean atomic
spacings) tall in some direction pair only atoms of neighbouring bins of a cell list, so the cost grows
linearly with the atoms at a fixed cutoff instead of with their square. Along a non-periodic direction (a slab's
vacuum axis, ``pbc``) only the zero shift is kept: no edge crosses the vacuum.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from autoperi.batch import CrystalBatch
from autoperi.graph.geometry import edge_vectors

# Distances closer than this (Å) count as tied for the k-nearest cap; float32 coordinates of cells a few
# nanometres wide carry rounding of ~1e-6 Å.
TIE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class PeriodicGraph:
    """A directed periodic graph over a batch of crystals.

    ``edge_index[0]`` is the centre atom ``i`` (the receiver of messages), ``edge_index[1]`` the neighbour
    ``j``; the neighbour's image is ``frac_coords[j] + unit_shifts``, in units of lattice vectors, relative
    to the fractional coordinates the graph was built from. Every edge ``(i, j, s)`` comes with its reverse
    ``(j, i, -s)``; the order of the edges is deterministic but otherwise unspecified.
    """

    edge_index: torch.Tensor  # (2, E) int64, global atom indices
    unit_shifts: torch.Tensor  # (E, 3) int64
    edge_batch: torch.Tensor  # (E,) int64, crystal of each edge
    num_atoms: torch.Tensor  # (B,) int64
    cutoff: float
    max_neighbors: int | None = None

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]

    def to(self, device: torch.device | str) -> PeriodicGraph:
        return replace(
            self,
            edge_index=self.edge_index.to(device),
            unit_shifts=self.unit_shifts.to(device),
            edge_batch=self.edge_batch.to(device),
            num_atoms=self.num_atoms.to(device),
        )

    def vectors(self, frac_coords: torch.Tensor, lattices: torch.Tensor) -> torch.Tensor:
        """Differentiable Cartesian edge vectors (E, 3) for these (possibly moved) coordinates, lattices."""
        return edge_vectors(frac_coords, lattices, self.edge_index, self.unit_shifts, self.edge_batch)


def _ragged_arange(counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For segments of the given lengths: the segment of every element and its index inside the segment."""
    owner = torch.repeat_interleave(counts)
    starts = torch.cumsum(counts, 0) - counts
    return owner, torch.arange(len(owner), device=counts.device) - starts.index_select(0, owner)


def fully_connected_pairs(num_atoms: torch.Tensor) -> torch.Tensor:
    """Every ordered pair ``(i, j)`` of atoms of the same crystal, ``i == j`` included: shape (2, sum n^2)."""
    crystal, local = _ragged_arange(num_atoms * num_atoms)
    offsets = (torch.cumsum(num_atoms, 0) - num_atoms).index_select(0, crystal)
    size = num_atoms.index_select(0, crystal)
    return torch.stack([offsets + local // size, offsets + local % size])


def _upper_pairs(num_atoms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every atom pair ``i < j`` inside each crystal, as global indices."""
    crystal_of_atom, local_atom = _ragged_arange(num_atoms)
    center, offset = _ragged_arange(num_atoms.index_select(0, crystal_of_atom) - local_atom - 1)
    return center, center + 1 + offset


# Bin offsets of a cell list: the 27 neighbouring bins (the bin itself included).
BIN_OFFSETS = torch.tensor([[a, b, c] for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)])


def _bins_per_axis(
    lattices: torch.Tensor, num_atoms: torch.Tensor, cutoff: float, pbc: torch.Tensor | None
) -> torch.Tensor:
    """Bins of a cell list along each lattice direction (B, 3): as many as fit with each bin at least
    ``cutoff`` tall (perpendicular height) and no smaller than the mean spacing of the atoms; one along a
    non-periodic direction."""
    volume = torch.linalg.det(lattices).abs()
    heights = volume[:, None] / torch.linalg.cross(lattices[:, [1, 2, 0]], lattices[:, [2, 0, 1]]).norm(dim=-1)
    width = (volume / num_atoms.clamp(min=1)).pow(1 / 3).clamp(min=cutoff)
    bins = torch.floor(heights / width[:, None]).long().clamp(min=1)
    return bins if pbc is None else torch.where(pbc, bins, 1)


def _linear_bin(cell: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    return (cell[:, 0] * bins[:, 1] + cell[:, 1]) * bins[:, 2] + cell[:, 2]


def _binned_pairs(frac: torch.Tensor, num_atoms: torch.Tensor, bins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every pair ``i < j`` of atoms of one crystal in neighbouring bins of its cell list: a superset of the
    pairs with an image within the cutoff, in time linear in the atoms. Two atoms within the cutoff differ
    by less than one bin in every fractional coordinate (a bin is at least the cutoff tall), so their bins
    are neighbours modulo the bin count; along a direction with one or two bins, -1 and +1 name the same
    bin as another offset and are left out, so each pair is listed once."""
    crystal_of_atom = torch.repeat_interleave(num_atoms)
    atom_bins = bins.index_select(0, crystal_of_atom)
    cell = torch.floor(torch.remainder(frac, 1.0) * atom_bins).long().clamp_(min=0).minimum(atom_bins - 1)
    bin_base = torch.cumsum(bins.prod(1), 0) - bins.prod(1)
    atom_bin = bin_base.index_select(0, crystal_of_atom) + _linear_bin(cell, atom_bins)
    order = torch.argsort(atom_bin, stable=True)
    per_bin = torch.bincount(atom_bin, minlength=int(bins.prod(1).sum()))
    bin_start = torch.cumsum(per_bin, 0) - per_bin
    offsets = BIN_OFFSETS.to(frac.device)
    distinct = ((offsets >= 0) | (atom_bins[:, None] >= 3)) & ((offsets <= 0) | (atom_bins[:, None] >= 2))
    atom, offset = torch.nonzero(distinct.all(-1), as_tuple=True)
    target_bins = atom_bins.index_select(0, atom)
    target = torch.remainder(cell.index_select(0, atom) + offsets.index_select(0, offset), target_bins)
    target_bin = bin_base.index_select(0, crystal_of_atom.index_select(0, atom)) + _linear_bin(target, target_bins)
    owner, local = _ragged_arange(per_bin.index_select(0, target_bin))
    centers = atom.index_select(0, owner)
    neighbors = order.index_select(0, bin_start.index_select(0, target_bin.index_select(0, owner)) + local)
    keep = torch.nonzero(centers < neighbors)[:, 0]
    return centers.index_select(0, keep), neighbors.index_select(0, keep)


def _candidate_pairs(
    frac: torch.Tensor, lattices: torch.Tensor, num_atoms: torch.Tensor, cutoff: float, pbc: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Atom pairs ``i < j`` whose images may lie within the cutoff: the pairs of a cell list (linear in the
    atoms) in crystals with more than three bins along some direction, all pairs in the others (with at most
    three bins per direction every bin neighbours every other, and the cell list would only add work)."""
    bins = _bins_per_axis(lattices, num_atoms, cutoff, pbc)
    small = torch.all(bins <= 3, dim=1)
    if bool(small.all()):
        return _upper_pairs(num_atoms)
    atom_in_small = torch.repeat_interleave(small, num_atoms)
    small_atoms, large_atoms = torch.nonzero(atom_in_small)[:, 0], torch.nonzero(~atom_in_small)[:, 0]
    small_pairs = _upper_pairs(num_atoms[small])
    large_pairs = _binned_pairs(frac.index_select(0, large_atoms), num_atoms[~small], bins[~small])
    return tuple(  # type: ignore[return-value]
        torch.cat([small_atoms.index_select(0, small_end), large_atoms.index_select(0, large_end)])
        for small_end, large_end in zip(small_pairs, large_pairs, strict=True)
    )


def _columns(*columns: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Write 1-D tensors into the columns of ``out`` (much faster than ``torch.stack(..., -1)`` on CPU)."""
    for index, column in enumerate(columns):
        out[:, index] = column
    return out


def _open_interval(ratio: torch.Tensor, half_width: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every integer ``s`` with ``|s + ratio| < half_width``, per row: (row of each, ``s`` as float64)."""
    upper = torch.ceil_(ratio + half_width)
    count = (upper - torch.floor_(ratio - half_width)).sub_(1).clamp_(min=0)
    first = torch.cumsum(count, 0).sub_(count)  # float64 counts and sums stay exact integers
    row = torch.repeat_interleave(count.long())
    lowest = torch.sub(1, upper).sub_(first)  # the smallest integer of the row, less the row's first index
    return row, torch.arange(len(row), dtype=ratio.dtype, device=row.device).add_(lowest.index_select(0, row))


def _sphere_images(
    frac_difference: torch.Tensor, cell: torch.Tensor, cutoff: float
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Every image shift ``s`` with ``|(d + s) @ T| < cutoff`` for each row's fractional difference ``d``.

    ``frac_difference`` is (3, R); ``cell`` (6, R) holds ``a_x, b_x, b_y, c_x, c_y, c_z`` of ``T``, the
    lattice in the frame where it is lower triangular (a along x, b in the xy plane). The sphere is cut into
    exact intervals: layers along c (only c has a z component, and that component is the cell's height),
    rows along b inside each layer, points along a inside each row. Returns the row index of every image and
    its shift as three float64 columns (exact integers). Only pairs within ~1e-15 (relative) of the cutoff
    can be decided differently from exact arithmetic.
    """
    a_x, b_x, b_y, c_x, c_y, c_z = cell
    d_x, d_y, d_z = frac_difference
    squared_cutoff = cutoff * cutoff

    layer_row, shift_c = _open_interval(d_z, cutoff / c_z)
    frac_c = d_z.index_select(0, layer_row).add_(shift_c)
    z = frac_c * c_z.index_select(0, layer_row)
    layer_b_y = b_y.index_select(0, layer_row)
    layer_y = (d_y * b_y).index_select(0, layer_row).addcmul_(frac_c, c_y.index_select(0, layer_row))
    layer_x = (d_x * a_x + d_y * b_x).index_select(0, layer_row).addcmul_(frac_c, c_x.index_select(0, layer_row))
    layer_squared = z.square_()

    layer_radius = torch.sub(squared_cutoff, layer_squared).clamp_(min=0).sqrt_()
    line_layer, shift_b = _open_interval(layer_y / layer_b_y, layer_radius.div_(layer_b_y))
    line_row = layer_row.index_select(0, line_layer)
    y = layer_y.index_select(0, line_layer).addcmul_(shift_b, layer_b_y.index_select(0, line_layer))
    line_squared = layer_squared.index_select(0, line_layer).addcmul_(y, y)
    line_x = layer_x.index_select(0, line_layer).addcmul_(shift_b, b_x.index_select(0, line_row))
    line_a_x = a_x.index_select(0, line_row)

    line_radius = torch.sub(squared_cutoff, line_squared).clamp_(min=0).sqrt_()
    point_line, shift_a = _open_interval(line_x.div_(line_a_x), line_radius.div_(line_a_x))
    shifts = (
        shift_a,
        shift_b.index_select(0, point_line),
        shift_c.index_select(0, line_layer).index_select(0, point_line),
    )
    return line_row.index_select(0, point_line), shifts


def _positive_half(shifts: torch.Tensor) -> torch.Tensor:
    """Mask of the shifts that are lexicographically positive (exactly one of ``s`` and ``-s`` for s != 0)."""
    first_nonzero = torch.where(
        shifts[:, 0] != 0, shifts[:, 0], torch.where(shifts[:, 1] != 0, shifts[:, 1], shifts[:, 2])
    )
    return first_nonzero > 0


def _along_periodic(shifts: torch.Tensor, periodic: torch.Tensor) -> torch.Tensor:
    """Mask of the shifts (E, 3) that are zero along every non-periodic direction (``periodic``: (E, 3))."""
    return torch.all((shifts == 0) | periodic, dim=1)


def _self_images(
    num_atoms: torch.Tensor, cell: torch.Tensor, cutoff: float, pbc: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Half of every atom's own images within the cutoff (one of each ``±s``): (atom index, shift)."""
    crystal, columns = _sphere_images(cell.new_zeros(3, cell.shape[1]), cell, cutoff)
    shifts = _columns(*columns, out=crystal.new_empty(len(crystal), 3))
    keep = _positive_half(shifts)
    if pbc is not None:
        keep &= _along_periodic(shifts, pbc.index_select(0, crystal))
    keep = torch.nonzero(keep)[:, 0]
    crystal, shifts = crystal.index_select(0, keep), shifts.index_select(0, keep)
    per_crystal = torch.bincount(crystal, minlength=len(num_atoms))
    first_image = torch.cumsum(per_crystal, 0) - per_crystal
    atom, image = _ragged_arange(per_crystal.repeat_interleave(num_atoms))
    crystal_of_atom = torch.repeat_interleave(num_atoms)
    return atom, shifts.index_select(0, first_image.index_select(0, crystal_of_atom.index_select(0, atom)) + image)


def _both_directions(
    pair_ends: tuple[torch.Tensor, torch.Tensor],
    pair: torch.Tensor,
    pair_shifts: tuple[torch.Tensor, ...],
    self_atom: torch.Tensor,
    self_shifts: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Edge index (2, 2H) and shifts (2H, 3) of the half edges (pair images, then self-images) followed by
    their reverses ``(j, i, -s)``, written straight into the output buffers."""
    num_pair, half = len(pair), len(pair) + len(self_atom)
    edge_index = pair.new_empty(2, 2 * half)
    unit_shifts = pair.new_empty(2 * half, 3)
    for row, ends in enumerate(pair_ends):
        torch.index_select(ends, 0, pair, out=edge_index[row, :num_pair])
        edge_index[row, num_pair:half] = self_atom
    edge_index[0, half:] = edge_index[1, :half]
    edge_index[1, half:] = edge_index[0, :half]
    _columns(*pair_shifts, out=unit_shifts[:num_pair])
    unit_shifts[num_pair:half] = self_shifts
    unit_shifts[half:].copy_(unit_shifts[:half]).neg_()
    return edge_index, unit_shifts


def _nearest_per_center(
    centers: torch.Tensor, distances: torch.Tensor, num_centers: int, max_neighbors: int, tie_tolerance: float
) -> torch.Tensor:
    """Edges kept when every centre keeps its ``max_neighbors`` nearest neighbours and every neighbour tied
    with the farthest of those (within ``tie_tolerance`` Å), so the choice never depends on atom order."""
    if len(distances) == 0:
        return centers.new_zeros(0)
    by_distance = torch.argsort(distances, stable=True)
    order = by_distance[torch.argsort(centers[by_distance], stable=True)]
    per_center = torch.bincount(centers, minlength=num_centers)
    starts = torch.cumsum(per_center, 0) - per_center
    last_rank = (per_center.clamp(max=max_neighbors) - 1).clamp(min=0)
    threshold = distances[order][(starts + last_rank).clamp(max=max(len(order) - 1, 0))]
    keep = distances <= threshold[centers] + tie_tolerance
    return torch.nonzero(keep)[:, 0]


def periodic_radius_graph(
    frac_coords: torch.Tensor,
    lattices: torch.Tensor,
    num_atoms: torch.Tensor,
    cutoff: float,
    max_neighbors: int | None = None,
    tie_tolerance: float = TIE_TOLERANCE,
    pbc: torch.Tensor | None = None,
) -> PeriodicGraph:
    """All directed edges within ``cutoff`` (Å) of every atom, optionally capped to the ``max_neighbors``
    nearest per centre (plus every neighbour tied with the last one within ``tie_tolerance`` Å). ``pbc``
    (B, 3) bool marks each crystal's periodic directions (None: all); images along the others are never
    used, so no edge crosses a slab's vacuum.

    Works in float64 whatever the input dtype; the graph is discrete and carries no gradient (edge vectors
    are recomputed differentiably by :meth:`PeriodicGraph.vectors`). Pairs ``i < j`` and half of the
    self-images are enumerated; the reverse edges ``(j, i, -s)`` complete the graph.
    """
    if cutoff <= 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    with torch.no_grad():
        frac64 = frac_coords.detach().to(torch.float64)
        lattices64 = lattices.detach().to(torch.float64)
        triangular, info = torch.linalg.cholesky_ex(lattices64 @ lattices64.transpose(-1, -2))
        if bool(torch.any(info != 0)) or not bool(torch.all(torch.isfinite(triangular))):
            raise ValueError("every lattice must be finite with positive volume")
        cell = triangular[:, [0, 1, 1, 2, 2, 2], [0, 0, 1, 0, 1, 2]].T.contiguous()
        crystal_of_atom = torch.repeat_interleave(num_atoms)
        pbc = None if pbc is None or bool(pbc.all()) else pbc.to(device=frac64.device, dtype=torch.bool)
        centers, neighbors = _candidate_pairs(frac64, lattices64, num_atoms, float(cutoff), pbc)
        frac_rows = frac64.T.contiguous()
        pair, pair_shifts = _sphere_images(
            frac_rows.index_select(1, neighbors) - frac_rows.index_select(1, centers),
            cell.index_select(1, crystal_of_atom.index_select(0, centers)),
            float(cutoff),
        )
        if pbc is not None:
            pair_crystal = crystal_of_atom.index_select(0, centers.index_select(0, pair))
            kept = torch.nonzero(_along_periodic(torch.stack(pair_shifts, 1), pbc.index_select(0, pair_crystal)))
            pair, pair_shifts = (
                pair.index_select(0, kept[:, 0]),
                tuple(s.index_select(0, kept[:, 0]) for s in pair_shifts),
            )
        self_atom, self_shifts = _self_images(num_atoms, cell, float(cutoff), pbc)
        edge_index, unit_shifts = _both_directions((centers, neighbors), pair, pair_shifts, self_atom, self_shifts)
        if max_neighbors is not None:
            distances = edge_vectors(frac64, lattices64, edge_index, unit_shifts, crystal_of_atom[edge_index[0]])
            kept = _nearest_per_center(edge_index[0], distances.norm(dim=-1), len(frac64), max_neighbors, tie_tolerance)
            edge_index, unit_shifts = edge_index[:, kept], unit_shifts[kept]
        edge_batch = crystal_of_atom.index_select(0, edge_index[0])
    return PeriodicGraph(edge_index, unit_shifts, edge_batch, num_atoms, float(cutoff), max_neighbors)


def build_graph(batch: CrystalBatch, cutoff: float, max_neighbors: int | None = None) -> PeriodicGraph:
    """:func:`periodic_radius_graph` of a :class:`~autoperi.batch.CrystalBatch`."""
    return periodic_radius_graph(
        batch.frac_coords, batch.lattices, batch.num_atoms, cutoff, max_neighbors, pbc=batch.pbc
    )
