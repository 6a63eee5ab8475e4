"""Fitting a tiny model to a tiny batch in the tests: a few hundred Adam steps on its own loss."""

from __future__ import annotations

import torch


def fit_briefly(model: torch.nn.Module, batch, steps: int = 200, lr: float = 3e-3) -> torch.nn.Module:
    """``model`` after ``steps`` Adam steps on ``model.loss(batch, generator)["total"]`` (seed 0), in eval mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        optimizer.zero_grad()
        model.loss(batch, generator)["total"].backward()
        optimizer.step()
    return model.eval()
