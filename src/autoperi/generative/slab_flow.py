"""Slab structure prediction: a flow on a slab's atom positions for a given cell and composition.

A slab (:class:`~autoperi.crystal.Crystal` with ``pbc`` (True, True, False)) is periodic along a and b and
carries vacuum along c. Its atoms live on a product of two manifolds of the generic core
(:mod:`autoperi.flow`):

- ``plane``: the fractional coordinates along a and b, on the flat 2-torus, with each slab's mean drift
  removed (no in-plane translation);
- ``height``: the Cartesian height in Å along the surface normal about the slab's mean height, Euclidean
  and centred per slab (no translation along c), with a Gaussian base whose scale is the spread of the
  training slabs' heights. It is never wrapped: the slab is placed about the middle of the given cell
  (fractional c = 1/2) and the vacuum stays where the cell puts it.

The vector field is the direct crystal flow's network in ``coords`` mode
(:class:`~autoperi.generative.crystal_flow.CrystalFlow`): its fractional velocity ``(f_a, f_b, f_c)`` of
the slab in its given cell is the plane velocity ``(f_a, f_b)`` and the height velocity ``f_c h_c``, where
``h_c`` is the cell's height along c (the position is ``f_a a + f_b b + f_c c`` and a height change moves
``f_c`` by ``dh / h_c``). The network's graph never crosses the vacuum (``pbc``). Velocities are invariant
to rotations of the Cartesian frame, equivariant to permutations of atoms and unchanged by in-plane periodic
translations and by translations along the normal. Only the PaiNN network is allowed: the Fourier network
treats every direction as periodic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from autoperi.batch import CrystalBatch, batch_index
from autoperi.crystal import MIN_VACUUM, Crystal, cell_heights
from autoperi.flow import Euclidean, FlatTorus, ProductSpace, integrate, sample_path, sample_time
from autoperi.flow.manifolds import group_mean
from autoperi.flow.paths import flow_matching_loss
from autoperi.generative.crystal_flow import CrystalFlow, CrystalFlowConfig
from autoperi.nn.networks import NetworkConfig, network_config
from autoperi.nn.painn import PaiNNConfig

SLAB_PBC = (True, True, False)
SLAB_CENTRE = 0.5  # fractional c of a predicted slab's mean height


@dataclass
class SlabFlowConfig:
    network: NetworkConfig = field(
        default_factory=lambda: PaiNNConfig(hidden_dim=64, num_layers=3, cutoff=5.0, max_neighbors=16)
    )
    plane_weight: float = 1.0
    height_weight: float = 1.0  # the height loss is in units of the base scale (divided by its square)
    time_distribution: str = "uniform"
    max_atoms: int = 64
    # Sampling only: velocities are scaled by (1 + anneal * t), as the crystal flow's frac_anneal.
    anneal: float = 0.0
    training_only_fields: ClassVar[tuple[str, ...]] = ("plane_weight", "height_weight", "anneal")

    def __post_init__(self) -> None:
        if isinstance(self.network, dict):
            self.network = network_config(self.network)
        if not isinstance(self.network, PaiNNConfig):
            raise ValueError("a slab flow needs the PaiNN network (kind painn): the others wrap every direction")


def cell_height_c(lattices: torch.Tensor) -> torch.Tensor:
    """Each cell's height along c, normal to the a-b plane: |det L| / |a x b|, shape (B,)."""
    area = torch.linalg.norm(torch.linalg.cross(lattices[:, 0], lattices[:, 1]), dim=-1)
    return torch.linalg.det(lattices).abs() / area


def slab_state(batch: CrystalBatch) -> dict[str, torch.Tensor]:
    """The ``plane`` (N, 2) and centred ``height`` (N, 1, Å) coordinates of a batch of slabs (vacuum along c)."""
    heights = batch.frac_coords[:, 2:] * cell_height_c(batch.lattices)[batch.batch, None]
    return {
        "plane": torch.remainder(batch.frac_coords[:, :2], 1.0),
        "height": heights - group_mean(heights, batch.batch),
    }


def slab_batch(
    state: dict[str, torch.Tensor], lattices: torch.Tensor, atomic_numbers: torch.Tensor, num_atoms: torch.Tensor
) -> CrystalBatch:
    """Slabs in their given cells from a state, each centred at fractional c = 1/2 (never wrapped along c)."""
    atom_batch = batch_index(num_atoms)
    frac_c = SLAB_CENTRE + state["height"] / cell_height_c(lattices)[atom_batch, None]
    pbc = torch.tensor(SLAB_PBC).expand(len(num_atoms), 3)
    return CrystalBatch(lattices, torch.cat([state["plane"], frac_c], -1), atomic_numbers, num_atoms, pbc=pbc)


class SlabFlow(nn.Module):
    """``loss(batch)`` on slabs for training; ``sample(lattices, atomic_numbers, num_atoms)`` to predict."""

    conditions: tuple[str, ...] = ()

    def __init__(self, config: SlabFlowConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SlabFlowConfig()
        coords = CrystalFlowConfig(mode="coords", network=config.network, max_atoms=config.max_atoms)
        self.field = CrystalFlow(coords)  # its network and cell statistics; only its coordinate velocity is used
        self.register_buffer("height_scale", torch.tensor(1.0))  # Å, fit on training slabs

    def fit_statistics(self, batch: CrystalBatch) -> None:
        """The cell standardisation, atom counts and the height spread (Å) of training slabs."""
        self.field.fit_statistics(batch)
        self.height_scale.fill_(float(slab_state(batch)["height"].std()))

    def product_space(self, atom_batch: torch.Tensor) -> ProductSpace:
        manifolds = {
            "plane": FlatTorus(remove_translation=True),
            "height": Euclidean(scale=float(self.height_scale), remove_translation=True),
        }
        return ProductSpace(manifolds, groups={"plane": atom_batch, "height": atom_batch})

    def velocities(self, state: dict[str, torch.Tensor], time: torch.Tensor, batch: CrystalBatch) -> dict:
        """Plane and height velocities at ``state`` in the batch's cells, with its types."""
        current = slab_batch(state, batch.lattices, batch.atomic_numbers, batch.num_atoms)
        frac_velocity = self.field.velocities(current, time)[0]["frac"]
        height_c = cell_height_c(batch.lattices)[batch.batch, None]
        return {"plane": frac_velocity[:, :2], "height": frac_velocity[:, 2:] * height_c}

    def loss(self, batch: CrystalBatch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        space = self.product_space(batch.batch)
        t = sample_time(batch.num_crystals, self.config.time_distribution, generator).to(batch.frac_coords)
        rows = {"plane": batch.batch, "height": batch.batch}
        path = sample_path(space, slab_state(batch), t, rows, generator)
        predicted = self.velocities(path.xt, t, batch)
        weights = {"plane": self.config.plane_weight, "height": self.config.height_weight / self.height_scale**2}
        losses = flow_matching_loss(predicted, path, space, weights)
        losses["total"] = sum(losses.values())
        return losses

    def base_state(self, num_atoms: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        atom_batch = batch_index(num_atoms)
        space = self.product_space(atom_batch)
        dtype = self.height_scale.dtype
        shapes = {"plane": (len(atom_batch), 2), "height": (len(atom_batch), 1)}
        return {
            key: manifold.sample_base(shapes[key], generator, atom_batch).to(dtype)
            for key, manifold in space.manifolds.items()
        }

    @torch.no_grad()
    def sample(
        self,
        lattices: torch.Tensor,
        atomic_numbers: torch.Tensor,
        num_atoms: torch.Tensor,
        steps: int = 50,
        method: str = "euler",
        generator: torch.Generator | None = None,
    ) -> CrystalBatch:
        """Slabs with the given cells (B, 3, 3; c along the vacuum) and types (N,), atoms in batch order."""
        num_atoms = num_atoms.long()
        dtype = self.height_scale.dtype
        given = CrystalBatch(lattices.to(dtype), torch.zeros(int(num_atoms.sum()), 3, dtype=dtype), atomic_numbers,
                             num_atoms)  # fmt: skip
        space = self.product_space(given.batch)
        anneal = self.config.anneal

        def field(state: dict[str, torch.Tensor], t: torch.Tensor) -> dict[str, torch.Tensor]:
            time = t.to(dtype).expand(len(num_atoms))
            return {key: (1.0 + anneal * t) * v for key, v in self.velocities(state, time, given).items()}

        final = integrate(field, self.base_state(num_atoms, generator), space, steps=steps, method=method)
        return slab_batch(final, given.lattices, atomic_numbers, num_atoms)


def thickness(crystal: Crystal) -> float:
    """A slab's extent in Å along the normal (vacuum along c, coordinates not wrapped)."""
    return cell_heights(crystal.lattice)[2] - crystal.vacuum_along(2)


def keeps_vacuum(prediction: Crystal, minimum: float = MIN_VACUUM) -> bool:
    """Whether a predicted slab still sits inside its cell along c with at least ``minimum`` Å of vacuum
    between its top and the bottom of its periodic image."""
    frac_c = prediction.frac_coords[:, 2]
    return prediction.vacuum_along(2) >= minimum and frac_c.min() >= 0.0 and frac_c.max() < 1.0
