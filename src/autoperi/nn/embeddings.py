"""Embeddings shared by AutoPeri's networks: radial bases, a smooth cutoff, time and condition context."""

from __future__ import annotations

import math

import torch
from torch import nn


class GaussianRadialBasis(nn.Module):
    """Gaussians of the distance with centres evenly spaced on [0, cutoff], shape (E, num_basis)."""

    def __init__(self, num_basis: int, cutoff: float) -> None:
        super().__init__()
        self.register_buffer("centers", torch.linspace(0.0, cutoff, num_basis))
        self.width = cutoff / max(num_basis - 1, 1)

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * ((distances[:, None] - self.centers) / self.width) ** 2)


def cosine_cutoff(distances: torch.Tensor, cutoff: float) -> torch.Tensor:
    """``(cos(pi d / cutoff) + 1) / 2`` inside the cutoff, 0 outside: value and slope vanish at the cutoff,
    so an edge entering or leaving the neighbour list changes nothing discontinuously."""
    envelope = 0.5 * (torch.cos(math.pi * distances / cutoff) + 1.0)
    return envelope * (distances < cutoff).to(distances.dtype)


class SinusoidalEmbedding(nn.Module):
    """Sines and cosines of a scalar (e.g. flow time in [0, 1]) at geometric frequencies, shape (B, dim)."""

    def __init__(self, dim: int, max_frequency: float = 1000.0) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"the sinusoidal embedding needs an even dimension, got {dim}")
        self.register_buffer("frequencies", torch.exp(torch.linspace(0.0, math.log(max_frequency), dim // 2)))

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        angles = values.reshape(-1, 1) * self.frequencies
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class ContextEmbedding(nn.Module):
    """Per-crystal context from an optional time (B,) and an optional condition vector (B, condition_dim).

    Both are invariant inputs, so the context is an invariant scalar feature of each crystal. Returns None
    when neither is given.
    """

    def __init__(self, hidden_dim: int, time_dim: int, condition_dim: int) -> None:
        super().__init__()
        self.condition_dim = condition_dim
        self.time = nn.Sequential(
            SinusoidalEmbedding(time_dim),
            nn.Linear(time_dim, hidden_dim),
            nn.SiLU(),
            nn.Linear(hidden_dim, hidden_dim),
        )
        self.condition = (
            nn.Sequential(nn.Linear(condition_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim))
            if condition_dim
            else None
        )

    def forward(
        self, num_crystals: int, time: torch.Tensor | None, condition: torch.Tensor | None
    ) -> torch.Tensor | None:
        context = None
        if time is not None:
            time = torch.as_tensor(time, dtype=self.time[1].weight.dtype, device=self.time[1].weight.device)
            context = self.time(time.expand(num_crystals) if time.dim() == 0 else time)
        if condition is not None:
            if self.condition is None:
                raise ValueError("this network was built with condition_dim=0 and takes no condition")
            embedded = self.condition(condition.reshape(num_crystals, self.condition_dim))
            context = embedded if context is None else context + embedded
        return context


def segment_mean(values: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Mean of ``values`` over each segment (e.g. the atoms of each crystal), shape (num_segments, ...)."""
    total = values.new_zeros((num_segments, *values.shape[1:])).index_add_(0, segment, values)
    count = torch.bincount(segment, minlength=num_segments).clamp(min=1).to(values.dtype)
    return total / count.reshape(-1, *([1] * (values.dim() - 1)))
