"""The periodic autoencoder: crystal -> invariant latent -> crystal.

Latent of a crystal with N atoms:

- one invariant vector per atom (``atom_latent_dim``, from the periodic GNN encoder, with a Gaussian
  posterior and a KL term that keeps the latent space smooth for a flow to sample);
- one per-crystal vector: a learned global part (``global_latent_dim``, also variational) followed by the
  lattice latent, the six standardised coordinates of log(G) of the Niggli-reduced cell scaled by N^(1/3)
  (see :mod:`autoperi.generative.lattice`), which decodes to a valid cell by construction.

Every part is invariant to rotations, rigid translations and the choice of cell (inputs are Niggli-reduced
first; the GNN's per-atom features do not depend on the cell basis), and the per-atom latents permute
with the atoms. The decoder reads the types from the latents, the lattice from the lattice latent, and
the fractional coordinates with a short coordinate flow conditioned on the latents.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn

from autoperi.batch import CrystalBatch, batch_index
from autoperi.crystal import Crystal
from autoperi.generative.crystal_flow import NUM_ELEMENTS, CrystalFlow, CrystalFlowConfig
from autoperi.nn.embeddings import segment_mean
from autoperi.nn.painn import PaiNNConfig, PeriodicPaiNN

LATTICE_LATENT_DIM = 6


@dataclass
class AutoencoderConfig:
    encoder: PaiNNConfig = field(
        default_factory=lambda: PaiNNConfig(hidden_dim=64, num_layers=3, cutoff=5.0, max_neighbors=None)
    )
    decoder: CrystalFlowConfig = field(
        default_factory=lambda: CrystalFlowConfig(
            mode="coords", network=PaiNNConfig(hidden_dim=64, num_layers=3, cutoff=5.0, max_neighbors=16)
        )
    )
    atom_latent_dim: int = 8
    global_latent_dim: int = 8
    kl_weight: float = 1e-3
    type_weight: float = 1.0
    decode_steps: int = 20

    def __post_init__(self) -> None:
        if isinstance(self.encoder, dict):
            self.encoder = PaiNNConfig(**self.encoder)
        if isinstance(self.decoder, dict):
            self.decoder = CrystalFlowConfig(**self.decoder)

    @property
    def condition_dim(self) -> int:
        return self.atom_latent_dim + self.global_latent_dim + LATTICE_LATENT_DIM


@dataclass
class Latent:
    atoms: torch.Tensor  # (N, atom_latent_dim)
    crystals: torch.Tensor  # (B, global_latent_dim + 6); the last six are the lattice latent
    num_atoms: torch.Tensor  # (B,)

    @property
    def batch(self) -> torch.Tensor:
        return batch_index(self.num_atoms)

    def per_atom(self) -> torch.Tensor:
        """Atom latents with their crystal's latent appended: the decoder's conditioning, (N, condition_dim)."""
        return torch.cat([self.atoms, self.crystals[self.batch]], dim=-1)


def _gaussian_kl(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    return 0.5 * (mean.square() + log_variance.exp() - 1.0 - log_variance).sum(-1).mean()


class PeriodicAutoencoder(nn.Module):
    def __init__(self, config: AutoencoderConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AutoencoderConfig()
        self.encoder = PeriodicPaiNN(config.encoder)
        hidden = config.encoder.hidden_dim
        self.atom_posterior = nn.Linear(hidden, 2 * config.atom_latent_dim)
        self.global_posterior = nn.Sequential(
            nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2 * config.global_latent_dim)
        )
        decoder_config = replace(config.decoder, mode="coords", atom_condition_dim=config.condition_dim)
        self.coordinate_flow = CrystalFlow(decoder_config)
        self.type_decoder = nn.Sequential(
            nn.Linear(config.condition_dim, hidden), nn.SiLU(), nn.Linear(hidden, NUM_ELEMENTS)
        )

    def fit_statistics(self, batch: CrystalBatch) -> None:
        self.coordinate_flow.fit_statistics(batch)

    def _posteriors(self, batch: CrystalBatch) -> tuple[torch.Tensor, ...]:
        scalars = self.encoder(batch).scalars
        atom_mean, atom_log_variance = self.atom_posterior(scalars).chunk(2, dim=-1)
        pooled = segment_mean(scalars, batch.batch, batch.num_crystals)
        global_mean, global_log_variance = self.global_posterior(pooled).chunk(2, dim=-1)
        return atom_mean, atom_log_variance.clamp(-10, 5), global_mean, global_log_variance.clamp(-10, 5)

    def lattice_latent(self, batch: CrystalBatch) -> torch.Tensor:
        return self.coordinate_flow.lattice.encode(batch.lattices, batch.num_atoms)

    def encode(self, batch: CrystalBatch, generator: torch.Generator | None = None, sample: bool = False) -> Latent:
        """Posterior means, or posterior samples when ``sample`` or a ``generator`` is given. Inputs must be
        Niggli-reduced (as loaded datasets are); :meth:`encode_crystals` reduces arbitrary cells first."""
        atom_mean, atom_log_variance, global_mean, global_log_variance = self._posteriors(batch)
        if sample or generator is not None:
            atom_mean = atom_mean + (0.5 * atom_log_variance).exp() * _noise(atom_mean, generator)
            global_mean = global_mean + (0.5 * global_log_variance).exp() * _noise(global_mean, generator)
        return Latent(atom_mean, torch.cat([global_mean, self.lattice_latent(batch)], -1), batch.num_atoms)

    def encode_crystals(self, crystals: list[Crystal]) -> Latent:
        dtype = next(self.parameters()).dtype
        return self.encode(CrystalBatch.from_crystals([c.niggli_reduced() for c in crystals], dtype=dtype))

    def decode_types(self, latent: Latent, allowed_elements: list[int] | None = None) -> torch.Tensor:
        logits = self.type_decoder(latent.per_atom())
        return (logits + CrystalFlow.element_mask(allowed_elements, logits.dtype)).argmax(-1) + 1

    def decode(
        self,
        latent: Latent,
        steps: int | None = None,
        method: str = "euler",
        generator: torch.Generator | None = None,
        allowed_elements: list[int] | None = None,
        differentiable: bool = False,
    ) -> CrystalBatch:
        """Crystals from latents; ``allowed_elements`` restricts the decoded types to a chemical system. With
        ``differentiable``, gradients flow from the decoded lattices and coordinates to the latents (types are
        an argmax), for losses on decoded crystals; otherwise no autograd graph is built."""
        flow = self.coordinate_flow
        with torch.set_grad_enabled(differentiable):
            lattices = flow.lattice.decode(latent.crystals[:, -LATTICE_LATENT_DIM:], latent.num_atoms)
            state = flow.base_state(latent.num_atoms, generator)
            state = {key: value.to(lattices) for key, value in state.items()}
            return flow.integrate_from(
                state,
                latent.num_atoms,
                self.decode_types(latent, allowed_elements),
                steps or self.config.decode_steps,
                method,
                lattices=lattices,
                atom_condition=latent.per_atom(),
            )

    def loss(self, batch: CrystalBatch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        condition, latent_losses = self._condition(batch, generator)
        frac = self.coordinate_flow.loss(batch, generator, atom_condition=condition)["frac"]
        return _with_total({"frac": frac} | latent_losses)

    def loss_and_estimate(
        self, batch: CrystalBatch, generator: torch.Generator | None = None
    ) -> tuple[dict[str, torch.Tensor], CrystalBatch, torch.Tensor]:
        """The losses of :meth:`loss`, the decoder's one-step clean estimate of each crystal (true lattice and
        types, predicted coordinates) and its time on the decoder's path, for physics losses."""
        condition, latent_losses = self._condition(batch, generator)
        flow_losses, estimate, times = self.coordinate_flow.loss_and_estimate(batch, generator, condition)
        return _with_total({"frac": flow_losses["frac"]} | latent_losses), estimate, times

    def _condition(
        self, batch: CrystalBatch, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The decoder's conditioning from posterior samples, and the type and KL losses."""
        atom_mean, atom_log_variance, global_mean, global_log_variance = self._posteriors(batch)
        atoms = atom_mean + (0.5 * atom_log_variance).exp() * _noise(atom_mean, generator)
        globals_ = global_mean + (0.5 * global_log_variance).exp() * _noise(global_mean, generator)
        condition = Latent(atoms, torch.cat([globals_, self.lattice_latent(batch)], -1), batch.num_atoms).per_atom()
        kl = _gaussian_kl(atom_mean, atom_log_variance) + _gaussian_kl(global_mean, global_log_variance)
        return condition, {
            "types": self.config.type_weight
            * nn.functional.cross_entropy(self.type_decoder(condition), batch.atomic_numbers - 1),
            "kl": self.config.kl_weight * kl,
        }


def _with_total(losses: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return losses | {"total": sum(losses.values())}


def _noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator, dtype=like.dtype)
