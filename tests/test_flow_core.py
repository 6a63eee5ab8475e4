"""The generic flow-matching core: paths, tangency, samplers against analytic flows, learning a toy target."""

import math

import pytest
import torch

from autoperi.flow import (
    METHODS,
    Euclidean,
    FlatTorus,
    ProductSpace,
    flow_matching_loss,
    group_mean,
    integrate,
    sample_path,
    sample_time,
)


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)


def test_group_mean_matches_a_loop():
    values = torch.randn(7, 3, dtype=torch.float64)
    group = torch.tensor([0, 0, 1, 1, 1, 2, 2])
    means = group_mean(values, group)
    for g in range(3):
        torch.testing.assert_close(means[group == g], values[group == g].mean(0).expand(int((group == g).sum()), 3))


@pytest.mark.parametrize("manifold", [Euclidean(), FlatTorus(remove_translation=False)])
def test_interpolants_hit_their_endpoints(manifold, generator):
    x0 = manifold.sample_base((16, 4), generator).double()
    x1 = manifold.sample_base((16, 4), generator).double()
    ones, zeros = torch.ones(16, 1, dtype=torch.float64), torch.zeros(16, 1, dtype=torch.float64)
    torch.testing.assert_close(manifold.interpolate(x0, x1, zeros), x0)
    torch.testing.assert_close(manifold.interpolate(x0, x1, ones), x1)


def test_torus_paths_take_the_shortest_image_and_end_at_a_translate(generator):
    torus = FlatTorus(remove_translation=True)
    group = torch.tensor([0, 0, 0, 1, 1])
    x0, x1 = torus.sample_base((5, 3), generator).double(), torus.sample_base((5, 3), generator).double()
    assert torus.log(x0, x1).abs().max() <= 0.5
    velocity = torus.target_velocity(x0, x1, group)
    torch.testing.assert_close(group_mean(velocity, group), torch.zeros_like(velocity))
    end = torus.interpolate(x0, x1, torch.ones(5, 1, dtype=torch.float64), group)
    shift = torus.log(x1, end)  # the same rigid shift for every row of a group
    for g in (0, 1):
        rows = shift[group == g]
        torch.testing.assert_close(rows, rows[:1].expand_as(rows))


def gaussian_transport_field(mu: float, sigma: float):
    """Marginal velocity of straight paths from N(0, 1) to N(mu, sigma²); its flow maps x to mu + sigma x."""

    def field(state, t):
        x = state["x"]
        variance = (1 - t) ** 2 + t**2 * sigma**2
        return {"x": mu + (x - t * mu) * (t * sigma**2 - (1 - t)) / variance}

    return field


@pytest.mark.parametrize("method", METHODS)
def test_samplers_recover_a_gaussian_in_euclidean_space(method, generator):
    mu, sigma = 2.0, 0.5
    x0 = torch.randn(20000, 2, generator=generator, dtype=torch.float64)
    space = ProductSpace({"x": Euclidean()})
    x1 = integrate(gaussian_transport_field(mu, sigma), {"x": x0}, space, steps=40, method=method)["x"]
    assert abs(float(x1.mean()) - mu) < 0.02
    assert abs(float(x1.std()) - sigma) < 0.02
    tolerance = {"euler": 0.1, "midpoint": 1e-3, "heun": 1e-3, "rk4": 1e-6}[method]
    assert float((x1 - (mu + sigma * x0)).abs().max()) < tolerance


def test_higher_order_methods_are_more_accurate(generator):
    x0 = torch.randn(1000, 1, generator=generator, dtype=torch.float64)
    space = ProductSpace({"x": Euclidean()})
    field = gaussian_transport_field(1.0, 0.3)
    errors = {
        method: float((integrate(field, {"x": x0}, space, steps=10, method=method)["x"] - (1 + 0.3 * x0)).abs().max())
        for method in METHODS
    }
    assert errors["rk4"] < errors["heun"] < errors["euler"]
    assert errors["rk4"] < errors["midpoint"] < errors["euler"]


def torus_sine_flow(x0: torch.Tensor, strength: float) -> torch.Tensor:
    """Solution at t = 1 of dx/dt = a·sin(2πx) on the circle: tan(πx) grows by e^(2πa)."""
    growth = math.exp(2 * math.pi * strength)
    return torch.remainder(torch.atan2(growth * torch.sin(math.pi * x0), torch.cos(math.pi * x0)) / math.pi, 1.0)


@pytest.mark.parametrize("method", METHODS)
def test_samplers_recover_a_known_distribution_on_the_torus(method, generator):
    strength = 0.3
    space = ProductSpace({"x": FlatTorus(remove_translation=False)})
    x0 = space.manifolds["x"].sample_base((20000, 1), generator).double()
    x1 = integrate(
        lambda s, t: {"x": strength * torch.sin(2 * math.pi * s["x"])},
        {"x": x0},
        space,
        steps=50,
        method=method,
    )["x"]
    exact = torus_sine_flow(x0, strength)
    assert float(FlatTorus().log(x1, exact).abs().max()) < (2e-2 if method == "euler" else 1e-3)
    # Kolmogorov-Smirnov distance to the analytic pushforward of the uniform distribution
    grid = torch.linspace(0, 1, 201, dtype=torch.float64)[1:-1]
    shrink = math.exp(-2 * math.pi * strength)
    analytic_cdf = torch.atan2(shrink * torch.sin(math.pi * grid), torch.cos(math.pi * grid)) / math.pi
    empirical_cdf = (x1.view(1, -1) <= grid.view(-1, 1)).double().mean(1)
    assert float((empirical_cdf - analytic_cdf).abs().max()) < 0.02


def test_learned_flow_matches_a_toy_distribution_on_the_torus(generator):
    """Conditional flow matching with a small network learns a two-mode distribution across the seam."""
    torch.manual_seed(0)
    space = ProductSpace({"x": FlatTorus(remove_translation=False)})

    def target(n):
        centres = torch.tensor([0.05, 0.55])[torch.randint(0, 2, (n,), generator=generator)]
        return torch.remainder(centres + 0.06 * torch.randn(n, generator=generator), 1.0).unsqueeze(-1)

    network = torch.nn.Sequential(
        torch.nn.Linear(5, 32),
        torch.nn.SiLU(),
        torch.nn.Linear(32, 32),
        torch.nn.SiLU(),
        torch.nn.Linear(32, 1),
    )

    def field(state, t):
        angle = 2 * math.pi * state["x"]
        harmonics = [torch.sin(angle), torch.cos(angle), torch.sin(2 * angle), torch.cos(2 * angle)]
        return {"x": network(torch.cat([*harmonics, t.expand_as(angle)], -1))}

    steps = 500
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        path = sample_path(space, {"x": target(256)}, sample_time(256, generator=generator), {"x": None}, generator)
        loss = flow_matching_loss(field(path.xt, path.t["x"]), path, space)["x"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    base = torch.rand(4000, 1, generator=generator)
    samples = integrate(field, {"x": base}, space, steps=50, method="heun")["x"]
    grid = torch.linspace(0, 1, 101)
    difference = (samples.view(1, -1) <= grid.view(-1, 1)).float().mean(1) - (
        target(4000).view(1, -1) <= grid.view(-1, 1)
    ).float().mean(1)
    assert float(difference.max() - difference.min()) < 0.1  # Kuiper statistic: rotation-invariant on the circle
    near_a_mode = torch.minimum(
        FlatTorus().log(samples, torch.tensor(0.05)).abs(), FlatTorus().log(samples, torch.tensor(0.55)).abs()
    )
    assert float((near_a_mode < 0.2).float().mean()) > 0.9


def test_time_sampling_stays_inside(generator):
    for kind in ("uniform", "logit_normal"):
        t = sample_time(5000, kind, generator)
        assert float(t.min()) > 0 and float(t.max()) < 1
    with pytest.raises(ValueError):
        sample_time(3, "beta")


def test_integrate_rejects_bad_arguments():
    space = ProductSpace({"x": Euclidean()})
    with pytest.raises(ValueError, match="unknown ODE method"):
        integrate(lambda s, t: s, {"x": torch.zeros(1, 1)}, space, method="leapfrog")
    with pytest.raises(ValueError, match="at least 1"):
        integrate(lambda s, t: s, {"x": torch.zeros(1, 1)}, space, steps=0)


def test_centred_euclidean_keeps_every_group_centred_and_never_wraps(generator):
    """With remove_translation, base draws and velocities have zero mean per group, so a path from a centred
    base point to centred data stays centred; values far outside any unit interval are kept as they are."""
    space = Euclidean(scale=30.0, remove_translation=True)
    group = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    x0 = space.sample_base((7, 1), generator, group).double()
    torch.testing.assert_close(group_mean(x0, group), torch.zeros_like(x0), atol=1e-5, rtol=0)  # drawn in float32
    x0 = x0 - group_mean(x0, group)
    assert x0.abs().max() > 1.0  # Å-scale heights: nothing is reduced modulo 1
    x1 = torch.randn(7, 1, generator=generator, dtype=torch.float64)
    x1 = x1 - group_mean(x1, group)
    velocity = space.target_velocity(x0, x1, group)
    torch.testing.assert_close(velocity, x1 - x0)  # centred endpoints: the projection changes nothing
    drift = space.project(x0, velocity + 5.0, group)
    torch.testing.assert_close(drift, velocity)  # a common translation is removed
    for t in (0.25, 0.5, 1.0):
        point = space.interpolate(x0, x1, torch.full((7, 1), t, dtype=torch.float64), group)
        torch.testing.assert_close(group_mean(point, group), torch.zeros_like(point))
    assert Euclidean(remove_translation=True).sample_base((4, 1), generator).abs().sum() > 0  # no groups: no centring
