"""Targets of conditioned generation: a space group or property values, and the guidance weight.

Each condition is named once here with the dataset property a model trains on (MP-20's columns). A model
records the conditions it knows (its ``conditions``); :func:`require_conditions` turns a request for any
other into one line naming what the model does know.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from autoperi.errors import AutoPeriError

NUM_SPACE_GROUPS = 230
# condition -> the per-crystal property (CrystalBatch.labels) a conditioned model learns it from
CONDITION_PROPERTIES = {
    "space_group": "spacegroup.number",
    "band_gap": "band_gap",
    "formation_energy": "formation_energy_per_atom",
    "e_above_hull": "e_above_hull",
}


@dataclass(frozen=True)
class Targets:
    """What a sample is asked for; None: not asked. ``guidance`` is the classifier-free guidance weight:
    0 ignores the condition, 1 samples the conditional model, above 1 pushes further towards it."""

    space_group: int | None = None
    band_gap: float | None = None
    formation_energy: float | None = None
    e_above_hull: float | None = None
    guidance: float = 1.0

    def __post_init__(self) -> None:
        if self.space_group is not None and not 1 <= self.space_group <= NUM_SPACE_GROUPS:
            raise AutoPeriError(f"a space group is a number from 1 to {NUM_SPACE_GROUPS}, got {self.space_group}")
        if self.guidance < 0:
            raise AutoPeriError(f"the guidance weight must be at least 0, got {self.guidance}")
        if self.guidance != 1.0 and not self.requested:
            raise AutoPeriError("a guidance weight needs a condition (e.g. --space-group)")

    @property
    def requested(self) -> tuple[str, ...]:
        return tuple(name for name in CONDITION_PROPERTIES if getattr(self, name) is not None)


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
