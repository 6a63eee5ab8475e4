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
    """R^d with a normal base of standard deviation ``scale`` (latents, or any unconstrained parameterisation).

    With ``remove_translation``, each group is centred: base draws have zero mean within each group and so do
    velocities, so a path from a centred base point stays centred (the data must be centred too) and no
    sample is ever translated as a whole. Without groups nothing is centred.
    """

    def __init__(self, scale: float = 1.0, remove_translation: bool = False) -> None:
        self.scale = scale
        self.remove_translation = remove_translation

    def sample_base(self, shape, generator=None, group=None):
        draw = self.scale * torch.randn(shape, generator=generator)
        if self.remove_translation and group is not None:
            return draw - group_mean(draw, group.to(draw.device))
        return draw

    def log(self, x, y):
        return y - x

    def exp(self, x, velocity):
        return x + velocity

    def project(self, x, velocity, group=None):
        if self.remove_translation and group is not None:
            return velocity - group_mean(velocity, group)
        return velocity


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


__all__ = [
    "Euclidean",
    "FlatTorus",
    "Manifold",
    "group_mean",
]
