"""The direct crystal flow: a joint flow on fractional coordinates, lattice and atom types.

Built on the generic core (:mod:`autoperi.flow`) with the periodic GNN as vector field:

- fractional coordinates on the flat torus, with each crystal's mean drift removed (no global translation);
- the lattice as the matrix log of the metric tensor of ``L / N^(1/3)`` (rotation invariant, any vector is
  a valid cell, and the base scale follows the atom count ``N``);
- atom types by masked discrete flow matching (de novo mode): each atom's type is hidden (atomic number
  0) with probability 1 − t and revealed with its true value otherwise; sampling reveals each atom once,
  at a reveal time drawn in the base state, as the Gumbel-max of the predicted logits, so later atoms see
  the types already chosen and compositions come out coherent. In structure prediction (CSP) the types
  are the given composition;
- in ``coords`` mode only the coordinates flow, for a given lattice and composition (the autoencoder's
  decoder, conditioned on per-atom latents through ``atom_condition``).

The network is a choice of the config (``network.kind``). It receives the current cell as its 6-vector in
the lattice space (rotation invariant), as a per-crystal condition. With the PaiNN network (``painn``, the
default), each atom's Cartesian velocity is the network's vector output plus an edge
readout (EGNN-style: a sum over neighbours of a learned invariant weight times the unit edge vector; the
PaiNN vector channels alone start near zero and learn slowly), turned into the fractional velocity
``v L⁻¹``. The lattice velocity is an MLP of the atom-mean scalars and the cell's 6-vector, plus the
invariant ``L S Lᵀ / V^(2/3)`` of the network's symmetric lattice tensor ``S``. With the fully connected
Fourier network (``fourier``, as in DiffCSP), a linear map of each atom's invariant features is its fractional
velocity and the same MLP of the atom-mean features and the cell's 6-vector is the lattice velocity. Every
predicted velocity is
invariant to rotations of the Cartesian frame, equivariant to permutations of atoms and unchanged by
periodic translations. It is not covariant under a change of cell basis (the cell's 6-vector is an
input, as the lattice inner products are in DiffCSP), so crystals enter in their Niggli-reduced cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch
from torch import nn

from autoperi.batch import CrystalBatch, batch_index
from autoperi.crystal import MAX_ATOMIC_NUMBER
from autoperi.flow import Euclidean, FlatTorus, Manifold, ProductSpace, integrate, sample_path, sample_time
from autoperi.flow.paths import PathSample, flow_matching_loss
from autoperi.generative.lattice import UPPER_COLS, UPPER_ROWS, LatticeCoordinates, default_stats
from autoperi.graph import safe_norm
from autoperi.nn.baseline import FullyConnectedBaseline
from autoperi.nn.embeddings import cosine_cutoff, segment_mean
from autoperi.nn.networks import NetworkConfig, network_config
from autoperi.nn.painn import PaiNNConfig, PeriodicPaiNN

NUM_ELEMENTS = 100  # classes are atomic numbers 1..100
MODES = ("dng", "csp", "coords")
LATTICE_DIM = 6
EDGE_READOUT_SCALE = 4.0  # √16: a sum over ~16 neighbours of roughly independent terms
SPECIES_WIDTH = MAX_ATOMIC_NUMBER + 1  # one-hot index = atomic number


@dataclass
class CrystalFlowConfig:
    mode: str = "dng"
    network: NetworkConfig = field(
        default_factory=lambda: PaiNNConfig(hidden_dim=128, num_layers=4, cutoff=6.0, max_neighbors=24)
    )
    frac_weight: float = 1.0
    lattice_weight: float = 1.0
    type_weight: float = 1.0
    time_distribution: str = "uniform"
    max_atoms: int = 64
    atom_condition_dim: int = 0  # extra invariant per-atom inputs (e.g. autoencoder latents)
    # Sampling only: coordinate velocities are scaled by (1 + frac_anneal * t) (inference anti-annealing,
    # as in FlowMM); it sharpens positions late on the path. Tuned on a validation split, stored per model.
    frac_anneal: float = 0.0
    # Loss weights shape training only and frac_anneal sampling only: a lineage may change them when it
    # continues (init_from); the continued model keeps this config's values.
    training_only_fields: ClassVar[tuple[str, ...]] = ("frac_weight", "lattice_weight", "type_weight", "frac_anneal")

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if isinstance(self.network, dict):
            self.network = network_config(self.network)


def initial_atom_count_weights(max_atoms: int) -> torch.Tensor:
    """Weights over atom counts 0..max_atoms before fitting: every count but 0 equally likely."""
    return torch.ones(max_atoms + 1).index_fill_(0, torch.tensor(0), 0)


def atom_count_histogram(num_atoms: torch.Tensor, max_atoms: int) -> torch.Tensor:
    """How often each atom count 0..max_atoms occurs (larger counts are dropped)."""
    return torch.bincount(num_atoms, minlength=max_atoms + 1)[: max_atoms + 1]


def draw_atom_counts(weights: torch.Tensor, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``count`` atom counts drawn in proportion to ``weights``."""
    return torch.multinomial(weights.float().cpu(), count, replacement=True, generator=generator)


class CrystalFlow(nn.Module):
    """``loss(batch)`` for training; ``sample(num_atoms, atomic_numbers=None)`` for generation."""

    def __init__(self, config: CrystalFlowConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or CrystalFlowConfig()
        network = replace(
            config.network,
            num_species=SPECIES_WIDTH + config.atom_condition_dim,
            condition_dim=LATTICE_DIM + config.network.condition_dim,
        )
        hidden = config.network.hidden_dim
        if isinstance(network, PaiNNConfig):
            self.network = PeriodicPaiNN(network)
            self.edge_readout = nn.Sequential(
                nn.Linear(2 * hidden + network.num_radial, hidden), nn.SiLU(), nn.Linear(hidden, 1)
            )
        else:
            self.network = FullyConnectedBaseline(network)
            self.frac_readout = nn.Linear(hidden, 3)
        self.type_head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, NUM_ELEMENTS))
        self.lattice_readout = nn.Sequential(
            nn.Linear(hidden + LATTICE_DIM, hidden), nn.SiLU(), nn.Linear(hidden, LATTICE_DIM)
        )
        # Normalisation statistics, fit on training data and saved with the weights.
        self.register_buffer("lattice_stats", default_stats())
        self.register_buffer("atom_count_weights", initial_atom_count_weights(config.max_atoms))

    conditions: tuple[str, ...] = ()  # no conditioning yet (issue 19)

    @property
    def de_novo(self) -> bool:
        return self.config.mode == "dng"

    def fit_statistics(self, batch: CrystalBatch) -> None:
        """Lattice standardisation and the atom-count distribution, from (a large batch of) training data."""
        self.lattice_stats.copy_(LatticeCoordinates.fit(batch.lattices, batch.num_atoms).stats)
        self.atom_count_weights.copy_(atom_count_histogram(batch.num_atoms, self.config.max_atoms))

    @property
    def lattice(self) -> LatticeCoordinates:
        """The lattice representation under this model's fitted statistics."""
        return LatticeCoordinates(self.lattice_stats)

    def product_space(self, atom_batch: torch.Tensor) -> ProductSpace:
        manifolds: dict[str, Manifold] = {"frac": FlatTorus(remove_translation=True)}
        if self.config.mode != "coords":
            manifolds["lattice"] = Euclidean()
        return ProductSpace(manifolds, groups={"frac": atom_batch})

    def clean_state(self, batch: CrystalBatch) -> dict[str, torch.Tensor]:
        state = {"frac": batch.frac_coords}
        if self.config.mode != "coords":
            state["lattice"] = self.lattice.encode(batch.lattices, batch.num_atoms)
        return state

    def predict(
        self,
        state: dict[str, torch.Tensor],
        time: torch.Tensor,
        num_atoms: torch.Tensor,
        atomic_numbers: torch.Tensor | None = None,
        lattices: torch.Tensor | None = None,
        atom_condition: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Velocities and type logits (N, NUM_ELEMENTS) at ``state`` and time ``t``.

        ``atomic_numbers`` are the current types (0 for a hidden type in de novo mode); ``lattices`` are
        given in coords mode."""
        if lattices is None:
            lattices = self.lattice.decode(state["lattice"], num_atoms)
        batch = CrystalBatch(lattices, state["frac"], atomic_numbers, num_atoms)
        velocities, logits = self.velocities(batch, time, atom_condition)
        if self.config.mode == "coords":
            del velocities["lattice"]
        return velocities, logits

    def velocities(
        self, batch: CrystalBatch, time: torch.Tensor, atom_condition: torch.Tensor | None = None
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Invariant velocities for a crystal batch in any orientation (see the module docstring)."""
        species = nn.functional.one_hot(batch.atomic_numbers, SPECIES_WIDTH).to(batch.frac_coords)
        if self.config.atom_condition_dim:
            species = torch.cat([species, atom_condition], dim=-1)
        cell = self.lattice.encode(batch.lattices, batch.num_atoms)
        if isinstance(self.network, PeriodicPaiNN):
            scalars, frac_velocity, lattice_term = self._painn_outputs(batch, time, cell, species)
        else:
            scalars = self.network(batch, time=time, condition=cell, atom_features=species)
            frac_velocity, lattice_term = self.frac_readout(scalars), 0.0
        pooled = segment_mean(scalars, batch.batch, batch.num_crystals)
        lattice_velocity = lattice_term + self.lattice_readout(torch.cat([pooled, cell], -1))
        velocities = {"frac": frac_velocity, "lattice": lattice_velocity}
        return velocities, self.type_head(scalars)

    def _painn_outputs(
        self, batch: CrystalBatch, time: torch.Tensor, cell: torch.Tensor, species: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """PaiNN's atom scalars, the fractional velocity of its vector and edge readouts, and the invariant
        upper triangle of ``L S Lᵀ / V^(2/3)`` of its lattice tensor ``S``."""
        graph = self.network.build_graph(batch)
        output = self.network(batch, time=time, condition=cell, atom_features=species, graph=graph)
        lattices = batch.lattices
        cartesian = output.vectors[:, 0, :] + self._edge_readout(batch, graph, output.scalars)
        frac_velocity = torch.linalg.solve(lattices[batch.batch].transpose(1, 2), cartesian.unsqueeze(-1)).squeeze(-1)
        volume_scale = torch.linalg.det(lattices).abs().pow(2.0 / 3.0).view(-1, 1, 1)
        lattice_tensor = lattices @ output.lattice @ lattices.transpose(1, 2) / volume_scale
        return output.scalars, frac_velocity, lattice_tensor[:, UPPER_ROWS, UPPER_COLS]

    def _edge_readout(self, batch: CrystalBatch, graph, scalars: torch.Tensor) -> torch.Tensor:
        """Sum over neighbours of w(s_i, s_j, d_ij) times the unit vector from i to j, over √16, shape (N, 3)."""
        vectors = graph.vectors(batch.frac_coords, batch.lattices)
        distances = safe_norm(vectors)
        envelope = cosine_cutoff(distances, self.config.network.cutoff)[:, None]
        centers, neighbors = graph.edge_index
        features = torch.cat([scalars[centers], scalars[neighbors], self.network.radial(distances) * envelope], -1)
        weighted = self.edge_readout(features) * envelope * vectors / distances[:, None]
        return scalars.new_zeros(len(scalars), 3).index_add_(0, centers, weighted) / EDGE_READOUT_SCALE

    def loss(
        self,
        batch: CrystalBatch,
        generator: torch.Generator | None = None,
        atom_condition: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        return self._flow_losses(batch, generator, atom_condition)[0]

    def loss_and_estimate(
        self,
        batch: CrystalBatch,
        generator: torch.Generator | None = None,
        atom_condition: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], CrystalBatch, torch.Tensor]:
        """The losses of :meth:`loss`, the one-step clean estimate (:meth:`clean_estimate`) and each crystal's
        time on the path, for losses on the predicted clean structure (physics)."""
        losses, path, velocities, t = self._flow_losses(batch, generator, atom_condition)
        return losses, self.clean_estimate(batch, path, velocities), t

    def _flow_losses(
        self, batch: CrystalBatch, generator: torch.Generator | None, atom_condition: torch.Tensor | None
    ) -> tuple[dict[str, torch.Tensor], PathSample, dict[str, torch.Tensor], torch.Tensor]:
        atom_batch = batch.batch
        space = self.product_space(atom_batch)
        t = sample_time(batch.num_crystals, self.config.time_distribution, generator).to(batch.frac_coords)
        path = sample_path(space, self.clean_state(batch), t, {"frac": atom_batch, "lattice": None}, generator)
        types = batch.atomic_numbers
        if self.de_novo:
            hidden = torch.rand(len(types), generator=generator).to(t.device) >= t[atom_batch]
            types = torch.where(hidden, torch.zeros_like(types), types)
        lattices = batch.lattices if self.config.mode == "coords" else None
        velocities, logits = self.predict(path.xt, t, batch.num_atoms, types, lattices, atom_condition)
        weights = {"frac": self.config.frac_weight, "lattice": self.config.lattice_weight}
        losses = flow_matching_loss(velocities, path, space, weights)
        if self.de_novo:
            per_atom = nn.functional.cross_entropy(logits, batch.atomic_numbers - 1, reduction="none")
            losses["types"] = self.config.type_weight * (per_atom * hidden).sum() / hidden.sum().clamp_min(1)
        losses["total"] = sum(losses.values())
        return losses, path, velocities, t

    def clean_estimate(
        self, batch: CrystalBatch, path: PathSample, velocities: dict[str, torch.Tensor]
    ) -> CrystalBatch:
        """The clean crystal predicted in one step from the path point: x̂1 = exp(x_t, (1 − t) v̂), that is
        x_t + (1 − t) v̂ on these straight paths, with coordinates wrapped into the cell and the batch's true
        types. Differentiable with respect to ``velocities``; with the target velocities it is the data (up
        to a rigid translation of each crystal's atoms)."""
        space = self.product_space(batch.batch)
        projected = space.project(path.xt, velocities)
        state = {
            key: manifold.exp(path.xt[key], (1 - path.t[key]) * projected[key])
            for key, manifold in space.manifolds.items()
        }
        lattices = batch.lattices
        if self.config.mode != "coords":
            lattices = self.lattice.decode(state["lattice"], batch.num_atoms)
        return CrystalBatch(lattices, state["frac"], batch.atomic_numbers, batch.num_atoms, batch.ids)

    def sample_num_atoms(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return draw_atom_counts(self.atom_count_weights, count, generator)

    def base_state(self, num_atoms: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """A draw from the base distribution for crystals with these atom counts.

        In de novo mode it also holds each atom's reveal time (uniform) and Gumbel noise over the element
        classes, so that sampling is a deterministic function of the base state."""
        atom_batch = batch_index(num_atoms)
        space = self.product_space(atom_batch)
        dtype = next(self.parameters()).dtype
        shapes = {"frac": (len(atom_batch), 3), "lattice": (len(num_atoms), 6)}
        state = {
            key: manifold.sample_base(shapes[key], generator, space.groups.get(key)).to(dtype)
            for key, manifold in space.manifolds.items()
        }
        if self.de_novo:
            state["reveal_time"] = torch.rand(len(atom_batch), generator=generator).to(dtype)
            uniform = torch.rand(len(atom_batch), NUM_ELEMENTS, generator=generator).clamp(1e-12, 1 - 1e-12)
            state["gumbel"] = -torch.log(-torch.log(uniform)).to(dtype)
        return state

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
        """Draw from the base distribution and integrate; see :meth:`integrate_from`."""
        num_atoms = num_atoms.long()
        state = self.base_state(num_atoms, generator)
        return self.integrate_from(state, num_atoms, atomic_numbers, steps, method, allowed_elements)

    def path_state(
        self, batch: CrystalBatch, t0: float, generator: torch.Generator | None = None, noise: bool = True
    ) -> dict[str, torch.Tensor]:
        """The state at time ``t0`` on the path to the given crystals (e.g. templates to refine): with ``noise``,
        the point ``t0`` of the way from a base draw to them, as on the training paths; else the crystals."""
        clean = self.clean_state(batch)
        if not noise:
            return clean
        space = self.product_space(batch.batch)
        base = self.base_state(batch.num_atoms, generator)
        time = torch.tensor(t0, dtype=batch.frac_coords.dtype)
        return {
            key: manifold.interpolate(base[key], clean[key], time, space.groups.get(key))
            for key, manifold in space.manifolds.items()
        }

    @torch.no_grad()
    def refine(
        self,
        batch: CrystalBatch,
        t0: float,
        steps: int = 10,
        method: str = "euler",
        generator: torch.Generator | None = None,
        noise: bool = True,
    ) -> CrystalBatch:
        """Crystals refined by the flow from time ``t0`` (see :meth:`path_state`), ``steps`` steps to t = 1,
        with the batch's composition."""
        if self.de_novo:
            raise ValueError("refinement keeps the composition: it needs a structure-prediction model")
        if not 0.0 <= t0 < 1.0:
            raise ValueError(f"the start time must be in [0, 1), got {t0}")
        state = self.path_state(batch, t0, generator, noise)
        lattices = batch.lattices if self.config.mode == "coords" else None
        numbers = batch.atomic_numbers
        return self.integrate_from(state, batch.num_atoms, numbers, steps, method, lattices=lattices, t0=t0)

    def integrate_from(
        self,
        state: dict[str, torch.Tensor],
        num_atoms: torch.Tensor,
        atomic_numbers: torch.Tensor | None = None,
        steps: int = 50,
        method: str = "euler",
        allowed_elements: list[int] | None = None,
        lattices: torch.Tensor | None = None,
        atom_condition: torch.Tensor | None = None,
        t0: float = 0.0,
    ) -> CrystalBatch:
        """Integrate a state at time ``t0`` (a base state when 0) to crystals at t = 1.

        ``atomic_numbers`` (N,), in batch order, fixes the composition (required in CSP mode; in de novo
        mode the types are otherwise revealed during integration). ``allowed_elements`` restricts revealed
        types to a chemical system.
        In coords mode ``lattices`` are given and only coordinates move. Differentiable with respect to the
        conditions where gradients are enabled (:meth:`sample` disables them).
        """
        if not self.de_novo and atomic_numbers is None:
            raise ValueError("structure prediction needs the atomic numbers of every crystal")
        if self.config.mode == "coords" and lattices is None:
            raise ValueError("coords mode needs the lattices")
        atom_batch = batch_index(num_atoms)
        space = self.product_space(atom_batch)
        dtype = state["frac"].dtype
        reveal = atomic_numbers is None
        state = {**state, "types": torch.zeros_like(atom_batch) if reveal else atomic_numbers}
        mask = self.element_mask(allowed_elements, dtype)
        latest_logits: list[torch.Tensor] = []

        def field(current: dict[str, torch.Tensor], t: torch.Tensor) -> dict[str, torch.Tensor]:
            time = t.to(dtype).expand(len(num_atoms))
            velocities, logits = self.predict(current, time, num_atoms, current["types"], lattices, atom_condition)
            latest_logits[:] = [logits]
            return {**velocities, "frac": velocities["frac"] * (1.0 + self.config.frac_anneal * t)}

        def reveal_types(current: dict[str, torch.Tensor], t_end: float) -> dict[str, torch.Tensor]:
            due = (current["types"] == 0) & (current["reveal_time"] <= t_end + 1e-9)
            choice = (latest_logits[0] + mask + current["gumbel"]).argmax(-1) + 1
            return {**current, "types": torch.where(due, choice, current["types"])}

        after_step = reveal_types if reveal else None
        final = integrate(field, state, space, steps=steps, method=method, t0=t0, after_step=after_step)
        if lattices is None:
            lattices = self.lattice.decode(final["lattice"], num_atoms)
        return CrystalBatch(lattices, final["frac"], final["types"], num_atoms)

    @staticmethod
    def element_mask(allowed_elements: list[int] | None, dtype: torch.dtype) -> torch.Tensor:
        """0 for allowed classes and -inf for the rest (all allowed when None)."""
        if not allowed_elements:
            return torch.zeros(NUM_ELEMENTS, dtype=dtype)
        mask = torch.full((NUM_ELEMENTS,), float("-inf"), dtype=dtype)
        mask[torch.tensor(allowed_elements) - 1] = 0.0
        return mask
