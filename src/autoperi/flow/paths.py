"""Conditional flow-matching paths: base point, time, interpolant and target velocity."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from autoperi.flow.samplers import ProductSpace, State


def sample_time(
    num: int, kind: str = "uniform", generator: torch.Generator | None = None, eps: float = 1e-4
) -> torch.Tensor:
    """Training times in [eps, 1 − eps]: ``uniform`` or ``logit_normal`` (more weight mid-path)."""
    if kind == "uniform":
        t = torch.rand(num, generator=generator)
    elif kind == "logit_normal":
        t = torch.sigmoid(torch.randn(num, generator=generator))
    else:
        raise ValueError(f"unknown time distribution {kind!r}")
    return t.clamp(eps, 1 - eps)


@dataclass
class PathSample:
    t: State  # per-key times broadcast to rows, shape (rows, 1)
    x0: State
    xt: State
    target: State


def sample_path(
    space: ProductSpace,
    x1: State,
    t: torch.Tensor,
    row_sample: dict[str, torch.Tensor | None],
    generator: torch.Generator | None = None,
) -> PathSample:
    """Points on the conditional paths from base samples to data ``x1`` at per-sample times ``t``.

    ``row_sample[key]`` maps each row of ``x1[key]`` to its sample index in ``t`` (None: one row per
    sample). The target velocity is the constant velocity of the geodesic, so it does not depend on t.
    """
    times, x0, xt, target = {}, {}, {}, {}
    for key, manifold in space.manifolds.items():
        rows = row_sample.get(key)
        times[key] = (t if rows is None else t[rows]).unsqueeze(-1).to(x1[key].dtype)
        group = space.groups.get(key)
        x0[key] = manifold.sample_base(tuple(x1[key].shape), generator, group).to(x1[key])
        target[key] = manifold.target_velocity(x0[key], x1[key], group)
        xt[key] = manifold.exp(x0[key], times[key] * target[key])
    return PathSample(times, x0, xt, target)


def flow_matching_loss(
    predicted: State, path: PathSample, space: ProductSpace, weights: dict[str, float] | None = None
) -> dict[str, torch.Tensor]:
    """Mean squared error between projected predicted velocities and the targets, per key."""
    projected = space.project(path.xt, predicted)
    weights = weights or {}
    return {
        key: weights.get(key, 1.0) * ((projected[key] - path.target[key]) ** 2).sum(-1).mean()
        for key in space.manifolds
    }
