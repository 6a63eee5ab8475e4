"""Classifier-free guidance: train with conditions randomly dropped, sample with a guided velocity."""

from __future__ import annotations

import torch

from autoperi.flow.samplers import State, VectorField


def drop_condition(
    condition: torch.Tensor, probability: float, null: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Replace each sample's condition by ``null`` with the given probability (for training)."""
    keep = torch.rand(condition.shape[0], generator=generator) >= probability
    return torch.where(keep.view(-1, *([1] * (condition.dim() - 1))), condition, null.to(condition))


def guided_field(conditional: VectorField, unconditional: VectorField, scale: float) -> VectorField:
    """v = v_uncond + scale · (v_cond − v_uncond); scale 1 is the conditional field, 0 the unconditional."""

    def field(state: State, t: torch.Tensor) -> State:
        with_condition = conditional(state, t)
        if scale == 1.0:
            return with_condition
        without = unconditional(state, t)
        return {key: without[key] + scale * (with_condition[key] - without[key]) for key in with_condition}

    return field
