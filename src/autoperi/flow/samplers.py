"""ODE samplers on products of manifolds: Euler, midpoint, Heun and RK4, with the step count a parameter.

The state is a dict of named tensors, each on its own manifold. A vector field maps (state, t) to a dict
of velocities; every velocity is projected onto its manifold's tangent space before a step. All the
manifolds here are flat, so tangent vectors at different points can be combined directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from tqdm.auto import tqdm

from autoperi.choices import INTEGRATION_METHODS
from autoperi.flow.manifolds import Manifold

State = dict[str, torch.Tensor]
VectorField = Callable[[State, torch.Tensor], State]
METHODS = INTEGRATION_METHODS


class ProductSpace:
    """Named manifolds, with optional row groups per name (e.g. atoms of one crystal)."""

    def __init__(self, manifolds: Mapping[str, Manifold], groups: Mapping[str, torch.Tensor] | None = None) -> None:
        self.manifolds = dict(manifolds)
        self.groups = dict(groups or {})

    def project(self, state: State, velocity: State) -> State:
        return {
            key: manifold.project(state[key], velocity[key], self.groups.get(key))
            for key, manifold in self.manifolds.items()
        }

    def step(self, state: State, velocity: State, dt: float) -> State:
        moved = dict(state)
        for key, manifold in self.manifolds.items():
            moved[key] = manifold.exp(state[key], dt * velocity[key])
        return moved


def _combine(velocities: list[State], weights: list[float]) -> State:
    return {key: sum(w * v[key] for v, w in zip(velocities, weights, strict=True)) for key in velocities[0]}


def _increment(space: ProductSpace, field: VectorField, state: State, t: float, dt: float, method: str) -> State:
    """The velocity that the chosen method applies over one step of length ``dt`` from ``state``."""

    def velocity(x: State, time: float) -> State:
        return space.project(x, field(x, torch.tensor(time)))

    k1 = velocity(state, t)
    if method == "euler":
        return k1
    if method == "midpoint":
        return velocity(space.step(state, k1, dt / 2), t + dt / 2)
    if method == "heun":
        k2 = velocity(space.step(state, k1, dt), t + dt)
        return _combine([k1, k2], [0.5, 0.5])
    k2 = velocity(space.step(state, k1, dt / 2), t + dt / 2)
    k3 = velocity(space.step(state, k2, dt / 2), t + dt / 2)
    k4 = velocity(space.step(state, k3, dt), t + dt)
    return _combine([k1, k2, k3, k4], [1 / 6, 1 / 3, 1 / 3, 1 / 6])


def integrate(
    field: VectorField,
    state: State,
    space: ProductSpace,
    steps: int = 50,
    method: str = "euler",
    t0: float = 0.0,
    t1: float = 1.0,
    progress: bool = False,
    after_step: Callable[[State, float], State] | None = None,
) -> State:
    """Integrate ``d state / dt = field(state, t)`` from ``t0`` to ``t1`` in ``steps`` equal steps.

    Keys of ``state`` without a manifold in ``space`` ride along unchanged; ``after_step(state, t)``, called
    at the end of every step with its end time, may change them (e.g. discrete jumps of categorical variables).
    Differentiable where gradients are enabled; samplers call it under ``torch.no_grad()``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown ODE method {method!r} (choose from {', '.join(METHODS)})")
    if steps < 1:
        raise ValueError("the number of steps must be at least 1")
    dt = (t1 - t0) / steps
    for index in tqdm(range(steps), desc=f"integrating ({method})", disable=not progress, leave=False):
        t = t0 + index * dt
        state = space.step(state, _increment(space, field, state, t, dt, method), dt)
        if after_step is not None:
            state = after_step(state, t + dt)
    return state


def network_calls_per_step(method: str) -> int:
    return {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}[method]
