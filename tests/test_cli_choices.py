"""The CLI offers exactly the choices the library accepts (they come from autoperi.choices)."""

from __future__ import annotations

import argparse

import pytest
import torch

from autoperi.cli.main import build_parser
from autoperi.errors import AutoPeriError
from autoperi.flow import Euclidean, ProductSpace, integrate
from autoperi.generative.composition import CompositionConfig
from autoperi.generative.csp import CSPSettings


def option_choices(command: str, option: str) -> tuple[str, ...]:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in subparsers.choices[command]._actions if option in a.option_strings)
    return tuple(action.choices)


def test_every_offered_integration_method_is_accepted_and_no_other():
    """dx/dt = 1 from x = 0 reaches x = 1 with every method the CLI offers; another method is refused."""
    space = ProductSpace({"x": Euclidean()})

    def field(state, t):
        return {"x": torch.ones_like(state["x"])}

    for command in ("sample", "csp"):
        for method in option_choices(command, "--method"):
            final = integrate(field, {"x": torch.zeros(2)}, space, steps=4, method=method)
            torch.testing.assert_close(final["x"], torch.ones(2))
    with pytest.raises(ValueError, match="unknown ODE method"):
        integrate(field, {"x": torch.zeros(2)}, space, steps=4, method="leapfrog")


def test_every_offered_strategy_is_accepted_and_no_other():
    for strategy in option_choices("csp", "--strategy"):
        assert CSPSettings(strategy=strategy).strategy == strategy
    with pytest.raises(AutoPeriError):
        CSPSettings(strategy="lookup")
    for strategy in option_choices("sample", "--structure-strategy"):
        assert CompositionConfig(structure_strategy=strategy).structure_strategy == strategy
    with pytest.raises(ValueError):
        CompositionConfig(structure_strategy="template")
