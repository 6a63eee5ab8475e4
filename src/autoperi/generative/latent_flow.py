"""The AutoPeri generator: flow matching in the periodic autoencoder's latent space.

A crystal's latent is a set of per-atom vectors plus one per-crystal vector (global part and lattice
latent, see :mod:`autoperi.generative.autoencoder`). The flow moves standardised latents from a standard
normal along straight paths (the generic core's :class:`~autoperi.flow.Euclidean` manifold); its vector
field is a transformer over the atom tokens and one crystal token, without positional encodings, so it is
equivariant to permutations of the atoms. The atom count is drawn from the training distribution (or
given) and embedded in the crystal token. Sampled latents are decoded by the autoencoder's decoder.

Symmetry of the sampled distribution: latents are invariant, so the decoded crystals' distribution is
invariant to permutations of atoms (the field is equivariant and the base is i.i.d. per atom); the
decoder's coordinate flow adds invariance to rotations (it only produces fractional coordinates and an
invariant lattice parameterisation) and to periodic translations (zero mean drift on the torus).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from autoperi.batch import CrystalBatch, pad_atoms
from autoperi.errors import AutoPeriError
from autoperi.flow import Euclidean, ProductSpace, integrate, sample_path, sample_time
from autoperi.flow.paths import PathSample, flow_matching_loss
from autoperi.generative.autoencoder import AutoencoderConfig, Latent, PeriodicAutoencoder
from autoperi.generative.crystal_flow import atom_count_histogram, draw_atom_counts, initial_atom_count_weights
from autoperi.nn.embeddings import SinusoidalEmbedding

ENCODE_CHUNK = 256  # crystals per encoder call when fitting statistics


@dataclass
class LatentFlowConfig:
    # The trained autoencoder (a model.pt path relative to the working directory, read once when training
    # starts); its config is copied into ``autoencoder_config`` so that saved models are self-contained.
    autoencoder: str = ""
    autoencoder_config: dict = field(default_factory=dict)
    hidden_dim: int = 128
    num_layers: int = 4
    num_heads: int = 4
    time_dim: int = 64
    max_atoms: int = 20
    crystal_weight: float = 1.0
    time_distribution: str = "uniform"
    # Physics losses (training config ``physics``) act on decoded clean-latent estimates of the crystals
    # closest to the data end of the path, decoded with this many differentiable decoder steps (None: the
    # autoencoder's decode_steps; much fewer steps decode to crystals far from real ones).
    physics_crystals: int = 8
    physics_decode_steps: int | None = None
    # Settings that do not change the weights: a fine-tune (``init_from``) may set them differently.
    training_only_fields: ClassVar[tuple[str, ...]] = ("physics_crystals", "physics_decode_steps")


class LatentVelocity(nn.Module):
    """Transformer over [crystal token, atom tokens] of each crystal; returns both velocities."""

    def __init__(self, config: LatentFlowConfig, atom_dim: int, crystal_dim: int) -> None:
        super().__init__()
        hidden = config.hidden_dim
        self.atom_in = nn.Linear(atom_dim, hidden)
        self.crystal_in = nn.Linear(crystal_dim, hidden)
        self.count = nn.Embedding(config.max_atoms + 1, hidden)
        self.time = nn.Sequential(
            SinusoidalEmbedding(config.time_dim),
            nn.Linear(config.time_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
        )
        layer = nn.TransformerEncoderLayer(
            hidden, config.num_heads, dim_feedforward=2 * hidden, dropout=0.0, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        self.atom_out = nn.Linear(hidden, atom_dim)
        self.crystal_out = nn.Linear(hidden, crystal_dim)

    def forward(
        self, atoms: torch.Tensor, crystals: torch.Tensor, num_atoms: torch.Tensor, time: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        padded, mask = pad_atoms(self.atom_in(atoms), num_atoms)
        crystal_token = self.crystal_in(crystals) + self.count(num_atoms)
        tokens = torch.cat([crystal_token[:, None], padded], dim=1) + self.time(time)[:, None]
        padding = torch.cat([mask.new_zeros(len(num_atoms), 1), ~mask], dim=1)
        hidden = self.norm(self.transformer(tokens, src_key_padding_mask=padding))
        return self.atom_out(hidden[:, 1:][mask]), self.crystal_out(hidden[:, 0])


class LatentGenerator(nn.Module):
    """``loss(batch)`` trains the latent flow (the autoencoder stays frozen); ``sample(num_atoms)`` generates."""

    de_novo = True
    conditions: tuple[str, ...] = ()  # no conditioning yet (issue 19)

    def __init__(self, config: LatentFlowConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or LatentFlowConfig()
        if not config.autoencoder_config:
            raise AutoPeriError("a latent flow needs its autoencoder's config (set model.autoencoder to a model.pt)")
        self.autoencoder = PeriodicAutoencoder(AutoencoderConfig(**config.autoencoder_config)).requires_grad_(False)
        ae_config = self.autoencoder.config
        atom_dim, crystal_dim = ae_config.atom_latent_dim, ae_config.condition_dim - ae_config.atom_latent_dim
        self.velocity = LatentVelocity(config, atom_dim, crystal_dim)
        self.space = ProductSpace({"atoms": Euclidean(), "crystals": Euclidean()})
        # Standardisation of the latents (mean, std) and the atom-count distribution, fit on training data.
        self.register_buffer("atom_stats", torch.stack([torch.zeros(atom_dim), torch.ones(atom_dim)]))
        self.register_buffer("crystal_stats", torch.stack([torch.zeros(crystal_dim), torch.ones(crystal_dim)]))
        self.register_buffer("atom_count_weights", initial_atom_count_weights(config.max_atoms))

    def train(self, mode: bool = True) -> LatentGenerator:
        super().train(mode)
        self.autoencoder.eval()
        return self

    @torch.no_grad()
    def fit_statistics(self, batch: CrystalBatch) -> None:
        """Means and spreads of posterior samples of the latents, and the atom-count distribution, from the
        training data."""
        dtype = self.atom_stats.dtype
        draws = torch.Generator().manual_seed(0)
        latents = [  # posterior samples, as in training
            self.autoencoder.encode(_crystal_slice(batch, start, ENCODE_CHUNK).to(dtype=dtype), draws)
            for start in range(0, batch.num_crystals, ENCODE_CHUNK)
        ]
        atoms = torch.cat([latent.atoms for latent in latents])
        crystals = torch.cat([latent.crystals for latent in latents])
        self.atom_stats.copy_(torch.stack([atoms.mean(0), atoms.std(0).clamp_min(1e-3)]))
        self.crystal_stats.copy_(torch.stack([crystals.mean(0), crystals.std(0).clamp_min(1e-3)]))
        self.atom_count_weights.copy_(atom_count_histogram(batch.num_atoms, self.config.max_atoms))

    def standardise(self, latent: Latent) -> dict[str, torch.Tensor]:
        return {
            "atoms": (latent.atoms - self.atom_stats[0]) / self.atom_stats[1],
            "crystals": (latent.crystals - self.crystal_stats[0]) / self.crystal_stats[1],
        }

    def unstandardise(self, state: dict[str, torch.Tensor], num_atoms: torch.Tensor) -> Latent:
        atoms = state["atoms"] * self.atom_stats[1] + self.atom_stats[0]
        return Latent(atoms, state["crystals"] * self.crystal_stats[1] + self.crystal_stats[0], num_atoms)

    def loss(self, batch: CrystalBatch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Flow matching on posterior samples of the frozen encoder (the latents its decoder was trained on)."""
        return self._flow_losses(batch, generator)[0]

    def loss_and_estimate(
        self, batch: CrystalBatch, generator: torch.Generator | None = None
    ) -> tuple[dict[str, torch.Tensor], CrystalBatch, torch.Tensor]:
        """The losses of :meth:`loss`, plus crystals decoded from the one-step clean latent estimate
        ẑ1 = z_t + (1 − t) v̂ of the ``physics_crystals`` crystals closest to the data end, and their times.

        The decoding is the frozen autoencoder's, with ``physics_decode_steps`` steps and gradients from the
        decoded lattices and coordinates back to v̂ (types are an argmax), so that physics losses on the
        decoded crystals train the latent field."""
        losses, path, velocities, t = self._flow_losses(batch, generator)
        count = min(self.config.physics_crystals, batch.num_crystals)
        chosen = torch.zeros(batch.num_crystals, dtype=torch.bool, device=t.device)
        chosen[t.topk(count).indices] = True
        atom_chosen = chosen[batch.batch]
        estimate = {}
        for key, selected in (("atoms", atom_chosen), ("crystals", chosen)):
            remaining = (1 - path.t[key][selected]).reshape(-1, 1)
            estimate[key] = path.xt[key][selected] + remaining * velocities[key][selected]
        latent = self.unstandardise(estimate, batch.num_atoms[chosen])
        decoded = self.autoencoder.decode(
            latent, self.config.physics_decode_steps, generator=generator, differentiable=True
        )
        return losses, decoded, t[chosen]

    def _flow_losses(
        self, batch: CrystalBatch, generator: torch.Generator | None
    ) -> tuple[dict[str, torch.Tensor], PathSample, dict[str, torch.Tensor], torch.Tensor]:
        with torch.no_grad():
            clean = self.standardise(self.autoencoder.encode(batch, generator, sample=True))
        t = sample_time(batch.num_crystals, self.config.time_distribution, generator).to(batch.lattices)
        path = sample_path(self.space, clean, t, {"atoms": batch.batch, "crystals": None}, generator)
        atoms, crystals = self.velocity(path.xt["atoms"], path.xt["crystals"], batch.num_atoms, t)
        velocities = {"atoms": atoms, "crystals": crystals}
        losses = flow_matching_loss(velocities, path, self.space, {"crystals": self.config.crystal_weight})
        losses["total"] = losses["atoms"] + losses["crystals"]
        return losses, path, velocities, t

    def sample_num_atoms(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return draw_atom_counts(self.atom_count_weights, count, generator)

    @torch.no_grad()
    def sample_latents(
        self, num_atoms: torch.Tensor, steps: int = 50, method: str = "euler", generator: torch.Generator | None = None
    ) -> Latent:
        if int(num_atoms.max()) > self.config.max_atoms:
            raise AutoPeriError(f"this model generates at most {self.config.max_atoms} atoms per cell")
        dtype = self.atom_stats.dtype
        base = {
            "atoms": torch.randn(int(num_atoms.sum()), self.atom_stats.shape[1], generator=generator, dtype=dtype),
            "crystals": torch.randn(len(num_atoms), self.crystal_stats.shape[1], generator=generator, dtype=dtype),
        }

        def field(state: dict[str, torch.Tensor], t: torch.Tensor) -> dict[str, torch.Tensor]:
            atoms, crystals = self.velocity(
                state["atoms"], state["crystals"], num_atoms, t.to(dtype).expand(len(num_atoms))
            )
            return {"atoms": atoms, "crystals": crystals}

        return self.unstandardise(integrate(field, base, self.space, steps=steps, method=method), num_atoms)

    @torch.no_grad()
    def sample(
        self,
        num_atoms: torch.Tensor,
        atomic_numbers: torch.Tensor | None = None,
        steps: int = 50,
        method: str = "euler",
        generator: torch.Generator | None = None,
        allowed_elements: list[int] | None = None,
    ) -> CrystalBatch:
        """Sample latents with ``steps`` ODE steps and decode them with as many decoder steps."""
        if atomic_numbers is not None:
            raise AutoPeriError("the latent generator samples compositions; for a given formula use `autoperi csp`")
        num_atoms = num_atoms.long()
        latent = self.sample_latents(num_atoms, steps, method, generator)
        return self.autoencoder.decode(latent, steps, method, generator, allowed_elements)


def _crystal_slice(batch: CrystalBatch, start: int, count: int) -> CrystalBatch:
    stop = min(start + count, batch.num_crystals)
    first, last = int(batch.num_atoms[:start].sum()), int(batch.num_atoms[:stop].sum())
    return CrystalBatch(
        batch.lattices[start:stop],
        batch.frac_coords[first:last],
        batch.atomic_numbers[first:last],
        batch.num_atoms[start:stop],
    )
