"""The crystal models' lattice representation: log of the metric tensor of L / N^(1/3), standardised."""

import numpy as np
import pytest
import torch

from autoperi.generative.lattice import UPPER_COLS, UPPER_ROWS, LatticeCoordinates, log_metric_vector


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)


def test_the_cell_scale_follows_the_atom_count():
    """A cell with 8 times the atoms and twice the edges has the coordinates of the original."""
    lattice = torch.tensor([[[4.0, 0.0, 0.0], [1.0, 5.0, 0.0], [0.5, 0.3, 6.0]]], dtype=torch.float64)
    space = LatticeCoordinates()
    torch.testing.assert_close(space.encode(2 * lattice, torch.tensor([8])), space.encode(lattice, torch.tensor([1])))


def test_lattice_parameters_round_trip_and_rotation_invariance(mp20_sample):
    lattices = torch.tensor(np.stack([c.lattice for c in mp20_sample]))
    num_atoms = torch.tensor([c.num_atoms for c in mp20_sample])
    space = LatticeCoordinates.fit(lattices, num_atoms)
    encoded = space.encode(lattices, num_atoms)
    torch.testing.assert_close(encoded.mean(0), torch.zeros(6, dtype=torch.float64))
    torch.testing.assert_close(encoded.std(0), torch.ones(6, dtype=torch.float64))
    decoded = space.decode(encoded, num_atoms)
    metric = lattices @ lattices.transpose(-1, -2)
    torch.testing.assert_close(decoded @ decoded.transpose(-1, -2), metric)
    torch.testing.assert_close(torch.linalg.det(decoded), torch.linalg.det(lattices).abs())
    rotation = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))[0]
    torch.testing.assert_close(space.encode(lattices @ rotation.T, num_atoms), encoded)


def test_every_lattice_vector_decodes_to_a_cell(generator):
    vectors = 2 * torch.randn(2000, 6, generator=generator, dtype=torch.float64)
    decoded = LatticeCoordinates().decode(vectors, torch.randint(1, 21, (2000,), generator=generator))
    assert torch.all(torch.linalg.det(decoded) > 0) and torch.isfinite(decoded).all()


def test_lattice_decodes_far_path_points_in_float32():
    """Every 6-vector is a valid cell, also in float32 far from the data (a float32 matrix exponential
    failed the Cholesky factorisation for 2 % of standard-normal x 3 vectors)."""
    vectors = 3.0 * torch.randn(20000, 6, generator=torch.Generator().manual_seed(0))
    lattices = LatticeCoordinates().decode(vectors, torch.ones(20000))
    assert lattices.dtype == torch.float32 and torch.isfinite(lattices).all()
    assert (torch.linalg.det(lattices.double()) > 0).all()


def test_lattice_decodes_any_vector_to_a_valid_cell():
    """Huge vectors (an untrained network's output) still give finite cells with positive volume."""
    vectors = 1e3 * torch.randn(2000, 6, generator=torch.Generator().manual_seed(1))
    lattices = LatticeCoordinates().decode(vectors, torch.ones(2000))
    assert torch.isfinite(lattices).all() and (torch.linalg.det(lattices.double()) > 0).all()


def _log_metric_by_eigh(lattices: torch.Tensor) -> torch.Tensor:
    """Independent reference: log G through the eigendecomposition's own autograd."""
    eigenvalues, eigenvectors = torch.linalg.eigh(lattices @ lattices.transpose(-1, -2))
    log_metric = eigenvectors @ torch.diag_embed(eigenvalues.log()) @ eigenvectors.transpose(-1, -2)
    return log_metric[..., UPPER_ROWS, UPPER_COLS]


def test_lattice_gradient_matches_the_eigendecomposition_away_from_repeated_eigenvalues(generator):
    lattices = (torch.eye(3) + 0.3 * torch.randn(16, 3, 3, generator=generator)).double().requires_grad_()
    weights = torch.randn(16, 6, generator=generator, dtype=torch.float64)
    (expected,) = torch.autograd.grad((_log_metric_by_eigh(lattices) * weights).sum(), lattices)
    (actual,) = torch.autograd.grad((log_metric_vector(lattices) * weights).sum(), lattices)
    torch.testing.assert_close(actual, expected)


def test_lattice_gradient_is_finite_and_exact_for_cubic_cells():
    """A cubic cell has a threefold eigenvalue of G = L Lᵀ = a² I, where the eigendecomposition's gradient is
    NaN (axis-aligned) or wrong (rotated); this broke physics training through decoded Perov-5 lattices.
    There d log G = dG / a², so for Σ_k w_k (log G)_k over the upper triangle, the gradient is (W + Wᵀ) L / a²."""
    weights = torch.arange(1.0, 7.0, dtype=torch.float64)
    upper = torch.zeros(3, 3, dtype=torch.float64)
    upper[UPPER_ROWS, UPPER_COLS] = weights
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)).double())[0]
    for orientation in (torch.eye(3, dtype=torch.float64), rotation):
        lattice = (3.9 * orientation).requires_grad_()
        (gradient,) = torch.autograd.grad((log_metric_vector(lattice) * weights).sum(), lattice)
        torch.testing.assert_close(gradient, (upper + upper.T) @ lattice.detach() / 3.9**2)
    axis_aligned = (3.9 * torch.eye(3, dtype=torch.float64)).requires_grad_()
    (reference,) = torch.autograd.grad((_log_metric_by_eigh(axis_aligned) * weights).sum(), axis_aligned)
    assert not torch.isfinite(reference).all()  # the failure this replaces


def test_lattice_gradient_passes_gradcheck_near_repeated_eigenvalues():
    base = torch.diag(torch.tensor([2.0, 2.0 + 1e-6, 3.0], dtype=torch.float64))
    lattice = (base + 0.01 * torch.randn(3, 3, generator=torch.Generator().manual_seed(1)).double()).requires_grad_()
    assert torch.autograd.gradcheck(log_metric_vector, (lattice,))
