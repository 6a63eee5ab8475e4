"""The lattice representation of the crystal models: a cell as a point of R^6, with its fitted statistics.

A cell L of a crystal with N atoms is scaled to L / N^(1/3) (so the base cell volume follows the atom
count) and flowed through the matrix logarithm of its metric tensor G = L Lᵀ. G is invariant to rotations
of the Cartesian frame, and every symmetric matrix S is the logarithm of exactly one positive-definite G,
so every point of R^6 decodes to a valid cell (no angle bounds, no clamping). The six coordinates are the
upper triangle of S (S00, S11, S22, S12, S02, S01), each standardised by the ``loc`` and ``scale`` rows of
``stats`` (fit them on training lattices with :meth:`LatticeCoordinates.fit`; models save them with their
weights). Decoding returns the Cholesky factor: a along x, b in the xy plane. As a flow space the
coordinates are plain :class:`~autoperi.flow.Euclidean` R^6.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

UPPER_ROWS, UPPER_COLS = (0, 1, 2, 1, 0, 0), (0, 1, 2, 2, 2, 1)
LOG_METRIC_BOUND = 15.0  # on the Frobenius norm of log G: cell lengths between e^-7.5 and e^7.5 Å (times N^(1/3))


def default_stats() -> torch.Tensor:
    """Statistics before fitting: loc 3.2 on the diagonal (about a 5 Å cube per N^(1/3)) over scale one."""
    return torch.stack([torch.tensor([3.2, 3.2, 3.2, 0.0, 0.0, 0.0]), torch.ones(6)])


def cell_scale(num_atoms: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """N^(1/3) per crystal, shaped to divide a batch of 3x3 lattices."""
    return num_atoms.to(dtype).pow(1.0 / 3.0).view(-1, 1, 1)


def log_metric_vector(lattices: torch.Tensor) -> torch.Tensor:
    """The upper triangle of log(L Lᵀ), unscaled and unstandardised."""
    log_metric = SymmetricLog.apply(lattices @ lattices.transpose(-1, -2))
    return log_metric[..., UPPER_ROWS, UPPER_COLS]


@dataclass(frozen=True)
class LatticeCoordinates:
    """Cells <-> standardised 6-vectors under the statistics ``stats`` (rows: loc, scale)."""

    stats: torch.Tensor = field(default_factory=default_stats)

    @classmethod
    def fit(cls, lattices: torch.Tensor, num_atoms: torch.Tensor) -> LatticeCoordinates:
        """Mean and standard deviation of each coordinate over (many) training cells, in float64."""
        vectors = log_metric_vector(lattices.double() / cell_scale(num_atoms, torch.float64))
        return cls(torch.stack([vectors.mean(0), vectors.std(0).clamp_min(1e-3)]))

    def encode(self, lattices: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
        vectors = log_metric_vector(lattices / cell_scale(num_atoms, lattices.dtype))
        return (vectors - self.stats[0].to(lattices)) / self.stats[1].to(lattices)

    def decode(self, vectors: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
        values = vectors * self.stats[1].to(vectors) + self.stats[0].to(vectors)
        log_metric = torch.zeros(*vectors.shape[:-1], 3, 3, dtype=vectors.dtype, device=vectors.device)
        log_metric[..., UPPER_ROWS, UPPER_COLS] = values
        log_metric[..., UPPER_COLS, UPPER_ROWS] = values
        # matrix_exp, not an eigendecomposition: its gradient stays finite at the repeated eigenvalues of cubic
        # cells; in float64 and symmetrised, as a float32 exponential can fail the Cholesky factorisation. Any
        # vector (a far-off path point, an early network output) must give a valid cell: a Frobenius norm of
        # log G above the bound is scaled down to it, so G's condition number stays below e^(2 x bound).
        norm = torch.linalg.matrix_norm(log_metric.double())[..., None, None]
        bounded = log_metric.double() * (LOG_METRIC_BOUND / norm.clamp_min(LOG_METRIC_BOUND))
        metric = torch.linalg.matrix_exp(bounded)
        cells = torch.linalg.cholesky(0.5 * (metric + metric.transpose(-1, -2))).to(vectors.dtype)
        return cells * cell_scale(num_atoms, vectors.dtype)


class SymmetricLog(torch.autograd.Function):
    """Logarithm of symmetric positive-definite matrices, with a gradient that stays finite at repeated
    eigenvalues (cubic cells), where the eigendecomposition's own gradient divides by zero.

    The gradient is the Daleckii–Krein form V (D ∘ Vᵀ Ḡ V) Vᵀ, D_ij = (log λ_i − log λ_j) / (λ_i − λ_j),
    whose limit for λ_i = λ_j is 1 / λ_i.
    """

    @staticmethod
    def forward(ctx, matrix: torch.Tensor) -> torch.Tensor:
        eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
        ctx.save_for_backward(eigenvalues, eigenvectors)
        return eigenvectors @ torch.diag_embed(eigenvalues.log()) @ eigenvectors.transpose(-1, -2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        eigenvalues, eigenvectors = ctx.saved_tensors
        differences = _log_divided_differences(eigenvalues)
        inner = eigenvectors.transpose(-1, -2) @ grad @ eigenvectors
        return eigenvectors @ (differences * inner) @ eigenvectors.transpose(-1, -2)


def _log_divided_differences(eigenvalues: torch.Tensor) -> torch.Tensor:
    """(log λ_i − log λ_j) / (λ_i − λ_j) as log1p(x) / (x λ_j) with x = λ_i / λ_j − 1, by its series near x = 0."""
    ratio = eigenvalues[..., :, None] / eigenvalues[..., None, :] - 1
    small = ratio.abs() < 1e-4
    safe = torch.where(small, torch.ones_like(ratio), ratio)
    exact = torch.log1p(safe) / safe
    series = 1 - ratio / 2 + ratio**2 / 3
    return torch.where(small, series, exact) / eigenvalues[..., None, :]
