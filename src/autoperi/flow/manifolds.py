"""One object per manifold: geodesic interpolation, target velocity, base distribution, tangent projection.

Nothing here knows about crystals. Tensors have the manifold's coordinates in their last dimension; rows
may be grouped (``group[i]`` is the sample row ``i`` belongs to), which lets the flat torus remove the
global translation of each sample (a zero mean drift per group).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

Group = torch.Tensor | None


def group_mean(values: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the rows of each group, broadcast back to the rows."""
    num_groups = int(group.max()) + 1 if group.numel() else 0
    sums = torch.zeros(num_groups, *values.shape[1:], dtype=values.dtype, device=values.device)
    sums.index_add_(0, group, values)
    counts = torch.bincount(group, minlength=num_groups).clamp(min=1).to(values.dtype)
    return (sums / counts.view(-1, *([1] * (values.dim() - 1))))[group]


LOG_METRIC_BOUND = 15.0  # on the Frobenius norm of log G: cell lengths between e^-7.5 and e^7.5 Å


class Manifold(ABC):
    """A space a flow runs on. Velocities live in the tangent space at the current point."""

    @abstractmethod
    def sample_base(
        self, shape: tuple[int, ...], generator: torch.Generator | None = None, group: Group = None
    ) -> torch.Tensor:
        """Samples of the base (t = 0) distribution."""

    @abstractmethod
    def log(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The tangent vector at ``x`` whose geodesic reaches ``y`` at time 1."""

    @abstractmethod
    def exp(self, x: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
        """Follow the geodesic from ``x`` with ``velocity`` for unit time."""

    def project(self, x: torch.Tensor, velocity: torch.Tensor, group: Group = None) -> torch.Tensor:
        """Project an ambient vector onto the tangent space at ``x``."""
        return velocity

    def target_velocity(self, x0: torch.Tensor, x1: torch.Tensor, group: Group = None) -> torch.Tensor:
        """Constant velocity of the geodesic path from ``x0`` to ``x1`` (flat manifolds: ``log``)."""
        return self.project(x0, self.log(x0, x1), group)

    def interpolate(self, x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor, group: Group = None) -> torch.Tensor:
        """Point at time ``t`` (broadcast over rows, shape (rows, 1)) on the geodesic path."""
        return self.exp(x0, t * self.target_velocity(x0, x1, group))


class Euclidean(Manifold):
    """R^d with a standard normal base (latents, or any unconstrained parameterisation)."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def sample_base(self, shape, generator=None, group=None):
        return self.scale * torch.randn(shape, generator=generator)

    def log(self, x, y):
        return y - x

    def exp(self, x, velocity):
        return x + velocity


class FlatTorus(Manifold):
    """[0, 1)^d with periodic boundaries and a uniform base; geodesics take the shortest image.

    With ``remove_translation``, velocities have zero mean within each group, so a whole sample is never
    translated: the path from ``x0`` ends at a rigid translate of ``x1``, the same periodic object.
    """

    def __init__(self, remove_translation: bool = True) -> None:
        self.remove_translation = remove_translation

    def sample_base(self, shape, generator=None, group=None):
        return torch.rand(shape, generator=generator)

    def log(self, x, y):
        difference = y - x
        return difference - torch.round(difference)

    def exp(self, x, velocity):
        return torch.remainder(x + velocity, 1.0)

    def project(self, x, velocity, group=None):
        if self.remove_translation and group is not None:
            return velocity - group_mean(velocity, group)
        return velocity


class LatticeMetric(Euclidean):
    """3x3 lattices flowed through the matrix logarithm of their metric tensor G = L Lᵀ.

    G is invariant to rotations of the Cartesian frame, and every symmetric matrix S is the logarithm of
    exactly one positive-definite G, so every point of R^6 decodes to a valid cell (no angle bounds, no
    clamping). The six coordinates are the upper triangle of S (S00, S11, S22, S12, S02, S01), each
    standardised by ``loc`` and ``scale`` (fit them on training lattices with :meth:`fit`). Decoding
    returns the Cholesky factor: a along x, b in the xy plane.
    """

    UPPER_ROWS, UPPER_COLS = (0, 1, 2, 1, 0, 0), (0, 1, 2, 2, 2, 1)

    def __init__(self, loc: torch.Tensor | None = None, scale: torch.Tensor | None = None) -> None:
        super().__init__(scale=1.0)
        self.loc = loc if loc is not None else torch.tensor([3.2, 3.2, 3.2, 0.0, 0.0, 0.0])
        self.log_scale = scale if scale is not None else torch.ones(6)

    def log_metric_vector(self, lattices: torch.Tensor) -> torch.Tensor:
        log_metric = SymmetricLog.apply(lattices @ lattices.transpose(-1, -2))
        return log_metric[..., self.UPPER_ROWS, self.UPPER_COLS]

    def fit(self, lattices: torch.Tensor) -> LatticeMetric:
        vectors = self.log_metric_vector(lattices)
        self.loc, self.log_scale = vectors.mean(0), vectors.std(0).clamp_min(1e-3)
        return self

    def encode(self, lattices: torch.Tensor) -> torch.Tensor:
        return (self.log_metric_vector(lattices) - self.loc.to(lattices)) / self.log_scale.to(lattices)

    def decode(self, vector: torch.Tensor) -> torch.Tensor:
        values = vector * self.log_scale.to(vector) + self.loc.to(vector)
        log_metric = torch.zeros(*vector.shape[:-1], 3, 3, dtype=vector.dtype, device=vector.device)
        log_metric[..., self.UPPER_ROWS, self.UPPER_COLS] = values
        log_metric[..., self.UPPER_COLS, self.UPPER_ROWS] = values
        # matrix_exp, not an eigendecomposition: its gradient stays finite at the repeated eigenvalues of cubic
        # cells; in float64 and symmetrised, as a float32 exponential can fail the Cholesky factorisation. Any
        # vector (a far-off path point, an early network output) must give a valid cell: a Frobenius norm of
        # log G above the bound is scaled down to it, so G's condition number stays below e^(2 x bound).
        norm = torch.linalg.matrix_norm(log_metric.double())[..., None, None]
        bounded = log_metric.double() * (LOG_METRIC_BOUND / norm.clamp_min(LOG_METRIC_BOUND))
        metric = torch.linalg.matrix_exp(bounded)
        return torch.linalg.cholesky(0.5 * (metric + metric.transpose(-1, -2))).to(vector.dtype)


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


__all__ = [
    "Euclidean",
    "FlatTorus",
    "LatticeMetric",
    "Manifold",
    "group_mean",
]
