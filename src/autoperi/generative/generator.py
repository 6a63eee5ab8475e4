"""The generator interface: what generation, the CLI and composition-first pipelines need of a model."""

from __future__ import annotations

from typing import Protocol

import torch

from autoperi.batch import CrystalBatch


class CrystalGenerator(Protocol):
    """A model that draws crystals: the direct crystal flow, the latent generator, or a composition model
    paired with a structure model. Sampling is a deterministic function of ``generator``'s state."""

    @property
    def de_novo(self) -> bool:
        """True when it chooses compositions itself; False for structure prediction (``atomic_numbers`` given)."""
        ...

    @property
    def conditions(self) -> tuple[str, ...]:
        """The conditions it was trained on (:data:`autoperi.generative.conditions.CONDITION_PROPERTIES`)."""
        ...

    def sample_num_atoms(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``count`` atom counts drawn from the training data's distribution."""
        ...

    def sample(
        self,
        num_atoms: torch.Tensor,
        atomic_numbers: torch.Tensor | None = None,
        steps: int = 50,
        method: str = "euler",
        generator: torch.Generator | None = None,
        allowed_elements: list[int] | None = None,
    ) -> CrystalBatch:
        """Crystals with these atom counts; ``atomic_numbers`` (concatenated per crystal) fix the compositions,
        ``allowed_elements`` restrict de novo types to a chemical system."""
        ...
