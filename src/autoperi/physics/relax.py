"""Relaxation of crystals with CHGNet through ASE: positions and cell together, in parallel over crystals.

Each crystal is relaxed with an ASE optimiser (FIRE or BFGS) on a ``FrechetCellFilter`` (positions and the
cell, at zero external pressure) with CHGNet's ASE calculator, until the largest force (including the cell's
virial term) is below ``fmax`` eV/Å or ``steps`` optimiser steps have been taken. Energies are per atom
(eV/atom). A slab (a crystal with a vacuum axis) keeps its cell, which is the substrate's and its vacuum:
only positions relax, and the atoms of its ``fixed_layers`` lowest layers (:meth:`Crystal.layers`) stay put,
as in a DFT slab whose bottom layers stand for the bulk.
The RMSD between the input and the relaxed crystal is pymatgen ``StructureMatcher.get_rms_dist`` (default
tolerances): the root-mean-square displacement after matching, normalised by (V/N)^(1/3) — dimensionless,
the same normalisation as the CDVAE match-rate RMSE — or NaN when the matcher finds no match (or for a slab). Because a
relaxation keeps the atoms in order, the displacement RMS (Å) is defined for every relaxed crystal: the
fractional displacement of each atom (minimum image, mean drift removed), expressed in the relaxed cell.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoperi.crystal import Crystal
from autoperi.errors import CrystalError
from autoperi.parallel import parallel_map

OPTIMIZERS = ("FIRE", "BFGS")


@dataclass
class RelaxResult:
    id: str | None
    initial: Crystal
    relaxed: Crystal | None  # None when the relaxation failed (see ``error``)
    energy_per_atom_initial: float  # eV/atom
    energy_per_atom_final: float  # eV/atom
    rmsd: float  # StructureMatcher RMS distance (normalised), NaN when unmatched or failed
    steps: int
    converged: bool
    error: str | None = None
    displacement: float = math.nan  # RMS atomic displacement in Å (see module docstring), NaN when failed

    def row(self) -> dict[str, object]:
        return {
            "id": self.id,
            "formula": self.initial.formula,
            "num_atoms": self.initial.num_atoms,
            "energy_per_atom_initial": self.energy_per_atom_initial,
            "energy_per_atom_final": self.energy_per_atom_final,
            "matched_rms": self.rmsd,
            "displacement": self.displacement,
            "steps": self.steps,
            "converged": self.converged,
            "error": self.error or "",
        }


@dataclass(frozen=True)
class RelaxSettings:
    fmax: float = 0.05
    steps: int = 500
    optimizer: str = "FIRE"
    trajectory_dir: str | None = None
    pressure_gpa: float = 0.0  # external pressure on the cell (bulk crystals: the enthalpy is minimised)


def _calculator():
    from chgnet.model.dynamics import CHGNetCalculator

    from autoperi.physics.chgnet_adapter import load_chgnet

    with contextlib.redirect_stdout(io.StringIO()):  # the calculator prints its device
        return CHGNetCalculator(model=load_chgnet(), use_device="cpu", on_isolated_atoms="error")


def _rms_distance(initial: Crystal, relaxed: Crystal) -> float:
    if not initial.is_bulk:  # StructureMatcher's Niggli reduction of a slab's cell can fail
        return math.nan
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from autoperi.io.pymatgen_adapter import structure_from_crystal

    match = StructureMatcher().get_rms_dist(structure_from_crystal(initial), structure_from_crystal(relaxed))
    return math.nan if match is None else float(match[0])


def displacement_rms(initial: Crystal, relaxed: Crystal) -> float:
    """RMS displacement (Å) of corresponding atoms: minimum-image fractional shifts without their mean, in the
    relaxed cell, so a rigid translation and the cell's strain do not count."""
    shift = relaxed.frac_coords - initial.frac_coords
    shift -= np.round(shift)
    shift -= shift.mean(axis=0)
    shift -= np.round(shift)
    return float(np.sqrt(((shift @ relaxed.lattice) ** 2).sum(axis=1).mean()))


def _failed(crystal: Crystal, message: str) -> RelaxResult:
    return RelaxResult(crystal.id, crystal, None, math.nan, math.nan, math.nan, 0, False, message)


def _degrees_of_freedom(atoms, crystal: Crystal, fixed_layers: int, pressure_gpa: float = 0.0):
    """What the optimiser moves: positions and cell of a bulk crystal (under ``pressure_gpa``), free positions
    of a slab."""
    from ase.constraints import FixAtoms
    from ase.filters import FrechetCellFilter
    from ase.units import GPa

    if crystal.is_bulk:
        return FrechetCellFilter(atoms, scalar_pressure=pressure_gpa * GPa)
    if fixed_layers > 0:
        atoms.set_constraint(FixAtoms(mask=crystal.layers() < fixed_layers))
    return atoms


def _relax(crystal: Crystal, settings: RelaxSettings, trajectory_name: str | None, fixed_layers: int) -> RelaxResult:
    from ase.optimize import BFGS, FIRE

    from autoperi.io.ase_adapter import atoms_from_crystal, crystal_from_atoms
    from autoperi.physics.chgnet_adapter import check_supported_elements

    check_supported_elements(crystal.atomic_numbers.tolist(), crystal.id or "structure")
    atoms = atoms_from_crystal(crystal)
    atoms.calc = _calculator()
    energy_initial = atoms.get_potential_energy() / len(atoms)
    trajectory = None
    if settings.trajectory_dir and trajectory_name:
        trajectory = str(Path(settings.trajectory_dir) / f"{trajectory_name}.traj")
    optimizer_class = {"FIRE": FIRE, "BFGS": BFGS}[settings.optimizer]
    moving = _degrees_of_freedom(atoms, crystal, fixed_layers, settings.pressure_gpa)
    optimizer = optimizer_class(moving, logfile=None, trajectory=trajectory)
    converged = bool(optimizer.run(fmax=settings.fmax, steps=settings.steps))
    energy_final = atoms.get_potential_energy() / len(atoms)
    relaxed = crystal_from_atoms(atoms, crystal.id).copy(properties=dict(crystal.properties))
    return RelaxResult(
        crystal.id,
        crystal,
        relaxed,
        float(energy_initial),
        float(energy_final),
        _rms_distance(crystal, relaxed),
        int(optimizer.nsteps),
        converged,
        displacement=displacement_rms(crystal, relaxed),
    )


def relax_one(
    crystal: Crystal, settings: RelaxSettings, trajectory_name: str | None = None, fixed_layers: int = 0
) -> RelaxResult:
    """Relax one crystal (a slab: positions only, its ``fixed_layers`` lowest layers fixed); a failure
    (unsupported element, isolated atom, ...) is reported, not raised."""
    try:
        with warnings.catch_warnings():
            # CHGNet turns cell volumes into a plain tensor while computing stress; harmless.
            warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True")
            return _relax(crystal, settings, trajectory_name, fixed_layers)
    except CrystalError as error:
        return _failed(crystal, str(error))
    except (ValueError, RuntimeError) as error:  # CHGNet's isolated-atom check, singular cells
        return _failed(crystal, f"{type(error).__name__}: {str(error).splitlines()[0][:200]}")


def _relax_job(job: tuple[Crystal, RelaxSettings, str | None, int]) -> RelaxResult:
    return relax_one(*job)


def relax_crystals(
    crystals: Sequence[Crystal],
    fmax: float = RelaxSettings.fmax,
    steps: int = RelaxSettings.steps,
    workers: int = 1,
    optimizer: str = RelaxSettings.optimizer,
    trajectory_dir: str | Path | None = None,
    trajectory_names: Sequence[str] | None = None,
    progress: bool = True,
    fixed_layers: int = 0,
    pressure_gpa: float = 0.0,
) -> list[RelaxResult]:
    """Relax every crystal with CHGNet (results in input order), ``workers`` processes in parallel; slabs
    relax their positions only, with the atoms of their ``fixed_layers`` lowest layers fixed. Bulk cells relax
    under the external pressure ``pressure_gpa`` (0: none).

    Each worker process loads CHGNet once and runs on one thread. Trajectories, when ``trajectory_dir`` is
    given, are written as ASE ``.traj`` files named by ``trajectory_names`` (default: the crystal ids).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if trajectory_dir is not None:
        Path(trajectory_dir).mkdir(parents=True, exist_ok=True)
    settings = RelaxSettings(fmax, steps, optimizer, str(trajectory_dir) if trajectory_dir else None, pressure_gpa)
    names = list(trajectory_names) if trajectory_names else [c.id or f"structure-{i}" for i, c in enumerate(crystals)]
    jobs = [(crystal, settings, name, fixed_layers) for crystal, name in zip(crystals, names, strict=True)]
    return parallel_map(_relax_job, jobs, workers, "relaxing", uses_torch=True, progress=progress)
