"""CHGNet as an AutoPeri :class:`~autoperi.physics.potential.Potential` (the only module importing chgnet).

CHGNet 0.3.0's pretrained weights ship inside the ``chgnet`` wheel, so this works offline and on CPU. The
model predicts the energy per atom (eV/atom); forces and stress are derivatives of the total energy.

Differentiability: CHGNet's ``CrystalGraphConverter`` builds the neighbour list (atom graph within 6 Å,
bond graph within 3 Å) in numpy from the input geometry. The adapter builds that list from the detached
geometry, then replaces the graph's fractional coordinates and lattice with the batch's own tensors, so
bond vectors, distances and angles, and hence the energy, are differentiable with respect to both. The
neighbour list itself is fixed within one evaluation; CHGNet's smooth radial cutoff keeps the energy
continuous when a pair crosses it between two evaluations.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from functools import lru_cache
from typing import TYPE_CHECKING

import torch

from autoperi.batch import CrystalBatch
from autoperi.errors import CrystalError
from autoperi.physics.potential import PotentialOutput, forces_and_stress

if TYPE_CHECKING:
    from chgnet.graph import CrystalGraph
    from chgnet.model import CHGNet

MODEL_NAME = "0.3.0"
CHGNET_MAX_ATOMIC_NUMBER = 94  # CHGNet embeds H (1) to Pu (94)
CHGNET_DTYPE = torch.float32


@lru_cache(maxsize=1)
def load_chgnet() -> CHGNet:
    """The pretrained CHGNet, loaded once per process, in eval mode with frozen weights."""
    from chgnet.model import CHGNet

    with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints a banner on load
        model = CHGNet.load(model_name=MODEL_NAME, use_device="cpu", verbose=False)
    model.eval()
    model.requires_grad_(False)
    return model


def check_supported_elements(atomic_numbers: torch.Tensor | list[int], label: str = "structure") -> None:
    numbers = torch.as_tensor(atomic_numbers)
    unsupported = numbers[(numbers < 1) | (numbers > CHGNET_MAX_ATOMIC_NUMBER)]
    if len(unsupported):
        from ase.data import chemical_symbols

        z = int(unsupported[0])
        symbol = chemical_symbols[z] if 0 < z < len(chemical_symbols) else str(z)
        raise CrystalError(
            "unsupported_element", f"{label}: CHGNet has no parameters for element {symbol} (Z={z}; max 94)"
        )


class CHGNetPotential:
    """Energies (eV, eV/atom), forces (eV/Å) and stress (eV/Å³) from the pretrained CHGNet.

    Atoms with no neighbour within 6 Å are allowed (CHGNet still returns a finite energy for them);
    generated cells that are far too large are the volume loss's business, not an error here.
    """

    name = "chgnet"

    def __init__(self) -> None:
        from chgnet.graph import CrystalGraphConverter

        self.model = load_chgnet()
        converter = self.model.graph_converter
        self.converter = CrystalGraphConverter(
            atom_graph_cutoff=converter.atom_graph_cutoff,
            bond_graph_cutoff=converter.bond_graph_cutoff,
            on_isolated_atoms="ignore",
        )
        self.version = f"chgnet-{self.model.version or MODEL_NAME}"

    def evaluate(
        self,
        batch: CrystalBatch,
        *,
        forces: bool = False,
        stress: bool = False,
        create_graph: bool = False,
    ) -> PotentialOutput:
        check_supported_elements(batch.atomic_numbers)
        needs_derivatives = forces or stress
        with torch.enable_grad() if needs_derivatives else contextlib.nullcontext():
            return self._evaluate(batch, needs_derivatives, create_graph)

    def _evaluate(self, batch: CrystalBatch, needs_derivatives: bool, create_graph: bool) -> PotentialOutput:
        frac_coords, lattices = batch.frac_coords, batch.lattices
        if needs_derivatives:
            frac_coords, lattices = _differentiable(frac_coords), _differentiable(lattices)
        graphs = self._graphs(frac_coords.to(CHGNET_DTYPE), lattices.to(CHGNET_DTYPE), batch)
        with warnings.catch_warnings():
            # CHGNet turns cell volumes into a plain tensor; harmless since its own stress is not used here.
            warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True")
            energy_per_atom = self.model(graphs, task="e")["e"].to(batch.lattices.dtype)
        energy = energy_per_atom * batch.num_atoms.to(energy_per_atom.dtype)
        output = PotentialOutput(energy=energy, energy_per_atom=energy_per_atom)
        if needs_derivatives:
            output.forces, output.stress = forces_and_stress(
                energy, frac_coords, lattices, batch, create_graph=create_graph
            )
        return output

    def _graphs(self, frac_coords: torch.Tensor, lattices: torch.Tensor, batch: CrystalBatch) -> list[CrystalGraph]:
        from pymatgen.core import Lattice, Structure

        bounds = batch.ptr.tolist()
        numbers = batch.atomic_numbers.tolist()
        graphs = []
        for index in range(batch.num_crystals):
            start, end = bounds[index], bounds[index + 1]
            frac, lattice = frac_coords[start:end], lattices[index]
            structure = Structure(
                Lattice(lattice.detach().double().numpy()), numbers[start:end], frac.detach().double().numpy()
            )
            graph = self.converter(structure, graph_id=str(index))
            graph.atom_frac_coord = frac
            graph.lattice = lattice
            graphs.append(graph)
        return graphs


def _differentiable(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor itself when it is already part of a graph, else a leaf copy that requires grad."""
    return tensor if tensor.requires_grad else tensor.detach().clone().requires_grad_(True)


@lru_cache(maxsize=1)
def chgnet_potential() -> CHGNetPotential:
    """The process-wide CHGNet potential (the model is loaded on first use)."""
    return CHGNetPotential()
