"""Targets of conditioned generation: a space group or property ranges, and the guidance weight.

Each condition is named once here with the dataset property a model trains on (MP-20's columns). A model
records the conditions it knows (its ``conditions``); :func:`require_conditions` turns a request for any
other into one line naming what the model does know.

A property target is a range. One number means the side a user asks for: a band gap of at least that many
eV, a formation energy or an energy above the hull of at most that many eV/atom; ``LOW:HIGH`` (either side
may be left open, e.g. ``1:2`` or ``:0.05``) gives both bounds. Models learn a property through its bins
(:data:`PROPERTY_BINS`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from autoperi.errors import AutoPeriError

NUM_SPACE_GROUPS = 230
# condition -> the per-crystal property (CrystalBatch.labels) a conditioned model learns it from
CONDITION_PROPERTIES = {
    "space_group": "spacegroup.number",
    "band_gap": "band_gap",
    "formation_energy": "formation_energy_per_atom",
    "e_above_hull": "e_above_hull",
}

PROPERTY_CONDITIONS = ("band_gap", "formation_energy", "e_above_hull")
# Inner bin edges of each property (eV, eV/atom): bin 0 lies below the first edge, the last bin above the last.
PROPERTY_BINS = {
    "band_gap": (0.01, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0),
    "formation_energy": (-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0),
    "e_above_hull": (0.001, 0.01, 0.02, 0.04, 0.06, 0.1),
}
# One number asks for at least it (band gap) or at most it (energies).
AT_LEAST = {"band_gap": True, "formation_energy": False, "e_above_hull": False}
UNITS = {"band_gap": "eV", "formation_energy": "eV/atom", "e_above_hull": "eV/atom"}


@dataclass(frozen=True)
class PropertyRange:
    """A closed range of a property; an open side is infinite."""

    low: float = -math.inf
    high: float = math.inf

    def __post_init__(self) -> None:
        if math.isnan(self.low) or math.isnan(self.high) or self.low > self.high:
            raise AutoPeriError(f"a property range needs low <= high, got {self.low}:{self.high}")

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        if math.isinf(self.low):
            return f"<= {self.high:g}"
        return f">= {self.low:g}" if math.isinf(self.high) else f"{self.low:g} to {self.high:g}"


def property_range(condition: str, value: float | str | PropertyRange) -> PropertyRange:
    """The range a number (the side :data:`AT_LEAST` gives) or a ``LOW:HIGH`` text asks for."""
    if isinstance(value, PropertyRange):
        return value
    text = str(value).strip()
    try:
        if ":" not in text:
            number = float(text)
            return PropertyRange(low=number) if AT_LEAST[condition] else PropertyRange(high=number)
        low, high = text.split(":", 1)
        return PropertyRange(float(low) if low.strip() else -math.inf, float(high) if high.strip() else math.inf)
    except ValueError:
        raise AutoPeriError(f"{option(condition)}: expected a number or LOW:HIGH, got {text!r}") from None


@dataclass(frozen=True)
class Targets:
    """What a sample is asked for; None: not asked. ``guidance`` is the classifier-free guidance weight:
    0 ignores the condition, 1 samples the conditional model, above 1 pushes further towards it."""

    space_group: int | None = None
    band_gap: PropertyRange | float | str | None = None  # a number or text becomes its range (property_range)
    formation_energy: PropertyRange | float | str | None = None
    e_above_hull: PropertyRange | float | str | None = None
    guidance: float = 1.0

    def __post_init__(self) -> None:
        for name in PROPERTY_CONDITIONS:
            if getattr(self, name) is not None:
                object.__setattr__(self, name, property_range(name, getattr(self, name)))
        if self.space_group is not None and not 1 <= self.space_group <= NUM_SPACE_GROUPS:
            raise AutoPeriError(f"a space group is a number from 1 to {NUM_SPACE_GROUPS}, got {self.space_group}")
        if self.guidance < 0:
            raise AutoPeriError(f"the guidance weight must be at least 0, got {self.guidance}")
        if self.guidance != 1.0 and not self.requested:
            raise AutoPeriError("a guidance weight needs a condition (e.g. --space-group)")

    @property
    def requested(self) -> tuple[str, ...]:
        return tuple(name for name in CONDITION_PROPERTIES if getattr(self, name) is not None)

    def range_of(self, condition: str) -> PropertyRange | None:
        value = getattr(self, condition)
        assert value is None or isinstance(value, PropertyRange)  # __post_init__ made it one
        return value


def option(condition: str) -> str:
    """The command-line flag of a condition: ``--space-group``."""
    return "--" + condition.replace("_", "-")


def require_conditions(known: Sequence[str], targets: Targets, model_name: str) -> None:
    """Raise a one-line error when ``targets`` ask for a condition the model was not trained on."""
    missing = [name for name in targets.requested if name not in known]
    if missing:
        knows = ", ".join(option(name) for name in known) if known else "no condition"
        asked = ", ".join(option(name) for name in missing)
        raise AutoPeriError(f"{model_name} was not trained on {asked} (it knows {knows})")


def property_bins(condition: str, values: torch.Tensor) -> torch.Tensor:
    """The bin (0..len(edges)) of each value of a property."""
    edges = torch.tensor(PROPERTY_BINS[condition], dtype=values.dtype, device=values.device)
    return torch.bucketize(values, edges, right=True)  # bin b: edges[b - 1] <= value < edges[b]


def range_bin_weights(
    condition: str, wanted: PropertyRange, counts: torch.Tensor, bounds: torch.Tensor
) -> torch.Tensor:
    """How likely each bin of a property is among the training crystals in ``wanted``: a bin's count times the
    share of its interval inside the range (values taken as uniform within a bin; the outer bins end at the
    training ``bounds``, min and max)."""
    edges = torch.tensor(PROPERTY_BINS[condition], dtype=torch.float64)
    low = torch.cat([bounds[:1].double(), edges]).clamp(*bounds.double().tolist())
    high = torch.cat([edges, bounds[1:].double()]).clamp(*bounds.double().tolist())
    width = high - low
    inside = (high.clamp(max=wanted.high) - low.clamp(min=wanted.low)).clamp(min=0)
    point = torch.tensor([float(wanted.contains(v)) for v in low.tolist()], dtype=torch.float64)
    share = torch.where(width > 0, inside / width.clamp(min=1e-12), point)
    if wanted.low == wanted.high:  # one value (a band gap of 0): its bin
        share = torch.zeros_like(share).index_fill_(0, property_bins(condition, torch.tensor([wanted.low])), 1.0)
    weights = counts.double() * share
    if not weights.sum() > 0:
        raise AutoPeriError(
            f"{option(condition)} {wanted}: no training crystal of this model lies in that range "
            f"(training values {bounds[0]:.3g} to {bounds[1]:.3g} {UNITS[condition]})"
        )
    return weights
