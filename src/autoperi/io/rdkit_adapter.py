"""1D-periodic polymer chains from repeat-unit SMILES, with RDKit.

A repeat unit is a SMILES with two attachment points, ``[*:1]`` (head) and ``[*:2]`` (tail), or two plain
``[*]`` (the first is the head). The construction of a chain cell:

1. ``cell_units + 2`` copies of the repeat unit are joined tail to head (``Chem.molzip``) into an oligomer
   whose two free ends are capped with hydrogen; hydrogens are made explicit.
2. The oligomer is embedded with ETKDG v3 (fixed ``seed``); every rotatable backbone bond (on the shortest
   path between the two end caps; not in a ring, not a double or triple bond) is then set to 180 degrees,
   an extended planar-zigzag chain, and the oligomer is relaxed with MMFF94 (UFF where MMFF lacks
   parameters). The extended chain is an idealisation: polymers whose crystals hold helices (PTFE, isotactic
   PP, PEO, POM) are built as zigzags.
3. The cell holds the atoms of the ``cell_units`` inner repeat units (their hydrogens included, attachment
   points not). The chain lattice vector is the translation from the head atom of the first inner unit to
   the head atom of the unit after the last, so the bond across the periodic boundary has exactly the
   oligomer's length; it is rotated
   onto x. The other two lattice vectors are y and z, each the atoms' extent plus ``vacuum`` (>= 15 Å by
   default), and only the chain direction is periodic: ``pbc = (True, False, False)``.

The chain is a translate of itself only as far as the inner units of the relaxed oligomer are translates
of their neighbours; :func:`autoperi.metrics.polymers.check_chain` judges the result against the repeat
unit's graph, which :func:`chain_graph` gives in the cell's atom order. A planar zigzag whose repeat unit
has an odd number of backbone atoms (PEO, nylon-6, ...) repeats only every second unit (a 2_1 screw), so
:func:`build_chain` by default takes one repeat unit per cell where that passes the check, else two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.metrics.polymers import ChainGraph

CHAIN_PBC = (True, False, False)
MIN_VACUUM = 15.0  # Å
CELL_UNITS = (1, 2)  # tried in turn by build_chain
_HEAD, _TAIL = 1, 2
_IDEAL_ANGLE = {"SP": 180.0, "SP2": 120.0, "SP3": 109.47, "SP3D": 109.47, "SP3D2": 90.0}


@dataclass(frozen=True)
class Oligomer:
    """An oligomer with explicit hydrogens, the repeat-unit index of each atom, and each unit's head and tail."""

    mol: object  # rdkit.Chem.Mol
    unit_of_atom: np.ndarray
    heads: list[int]
    tails: list[int]

    @property
    def cell_units(self) -> int:
        return len(self.heads) - 2

    def cell_atoms(self) -> np.ndarray:
        """The atoms of the inner units (1 to ``cell_units``), in oligomer order."""
        return np.flatnonzero((self.unit_of_atom >= 1) & (self.unit_of_atom <= self.cell_units))


def repeat_unit(smiles: str) -> object:
    """The repeat unit as an RDKit molecule with its attachment points mapped 1 (head) and 2 (tail)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles) if smiles.strip() else None
    if mol is None:
        raise AutoPeriError(f"RDKit cannot parse the SMILES {smiles!r}")
    dummies = [atom for atom in mol.GetAtoms() if atom.GetAtomicNum() == 0]
    if len(dummies) != 2 or any(atom.GetDegree() != 1 for atom in dummies):
        raise AutoPeriError(f"a repeat unit needs exactly two attachment points [*], each on one atom: {smiles!r}")
    maps = sorted(atom.GetAtomMapNum() for atom in dummies)
    if maps not in ([0, 0], [_HEAD, _TAIL]):
        raise AutoPeriError(f"attachment points must be [*:1] and [*:2], or two plain [*]: {smiles!r}")
    if maps == [0, 0]:
        for label, atom in zip((_HEAD, _TAIL), dummies, strict=True):
            atom.SetAtomMapNum(label)
    return mol


def _copy_of_unit(unit: object, index: int, units: int) -> object:
    """Copy ``index`` of the unit, its attachment points relabelled so that molzip joins neighbours; the
    oligomer's two free ends become hydrogens."""
    from rdkit import Chem

    copy = Chem.RWMol(unit)
    for atom in copy.GetAtoms():
        atom.SetIntProp("unit", index)
        atom.SetIntProp("orig", atom.GetIdx())
        label = atom.GetAtomMapNum() if atom.GetAtomicNum() == 0 else 0
        end = (label == _HEAD and index == 0) or (label == _TAIL and index == units - 1)
        if end:
            atom.SetAtomicNum(1)
            atom.SetAtomMapNum(0)
            atom.SetBoolProp("cap", True)
        elif label:
            atom.SetAtomMapNum(100 + index + (label == _TAIL))
    return copy


def oligomer(smiles: str, cell_units: int = 1) -> Oligomer:
    """``cell_units + 2`` repeat units joined tail to head, ends capped with H, hydrogens explicit."""
    from rdkit import Chem

    if cell_units < 1:
        raise AutoPeriError(f"a chain cell holds at least one repeat unit, got {cell_units}")
    units = cell_units + 2
    unit = repeat_unit(smiles)
    joined = _copy_of_unit(unit, 0, units)
    for index in range(1, units):
        joined = Chem.CombineMols(joined, _copy_of_unit(unit, index, units))
    mol = Chem.AddHs(Chem.molzip(joined))
    unit_of_atom = np.array(
        [
            atom.GetIntProp("unit") if atom.HasProp("unit") else atom.GetNeighbors()[0].GetIntProp("unit")
            for atom in mol.GetAtoms()
        ]
    )
    head_atom = next(a.GetNeighbors()[0].GetIdx() for a in unit.GetAtoms() if a.GetAtomMapNum() == _HEAD)
    tail_atom = next(a.GetNeighbors()[0].GetIdx() for a in unit.GetAtoms() if a.GetAtomMapNum() == _TAIL)
    original = {(a.GetIntProp("unit"), a.GetIntProp("orig")): a.GetIdx() for a in mol.GetAtoms() if a.HasProp("orig")}
    return Oligomer(
        mol,
        unit_of_atom,
        [original[(k, head_atom)] for k in range(units)],
        [original[(k, tail_atom)] for k in range(units)],
    )


def chain_graph(smiles: str, cell_units: int = 1) -> ChainGraph:
    """The repeat unit's graph in the atom order of :func:`build_chain`'s cell: atomic numbers, bonds (the
    tail-to-head bond across the boundary included), bond orders, and heavy-atom angles with their ideal
    values (ring angles from the ring size, else from the hybridisation)."""
    return _graph_of_cell(oligomer(smiles, cell_units))


def _graph_of_cell(chain: Oligomer) -> ChainGraph:
    mol, last = chain.mol, chain.cell_units
    atoms = chain.cell_atoms()
    # (cell index, period shift) of each atom; the head after the cell and the tail before it are the cell's
    # first head one period on and its last tail one period back
    place = {int(atom): (index, 0) for index, atom in enumerate(atoms)}
    place[chain.heads[last + 1]] = (place[chain.heads[1]][0], 1)
    place[chain.tails[0]] = (place[chain.tails[last]][0], -1)
    bonds, orders = [], []
    for bond in mol.GetBonds():
        begin, end = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        if begin in place and end in place and chain.tails[0] not in (begin, end):
            bonds.append((place[begin][0], place[end][0], place[end][1] - place[begin][1]))
            orders.append(bond.GetBondTypeAsDouble())
    ring_info = mol.GetRingInfo()
    angles = []
    for centre in atoms:
        atom = mol.GetAtomWithIdx(int(centre))
        heavy = [n.GetIdx() for n in atom.GetNeighbors() if n.GetAtomicNum() > 1]
        for first_index, first in enumerate(heavy):
            for second in heavy[first_index + 1 :]:
                ring = [len(r) for r in ring_info.AtomRings() if {first, int(centre), second} <= set(r)]
                ideal = 180.0 * (min(ring) - 2) / min(ring) if ring else _IDEAL_ANGLE[str(atom.GetHybridization())]
                angles.append((*place[first], place[int(centre)][0], *place[second], ideal))
    numbers = np.array([mol.GetAtomWithIdx(int(atom)).GetAtomicNum() for atom in atoms])
    return ChainGraph(numbers, np.array(bonds, dtype=np.int64), np.array(orders), np.array(angles))


def _backbone_dihedrals(mol: object) -> list[tuple[int, int, int, int]]:
    """Quadruples around each rotatable bond on the shortest path between the two end caps."""
    from rdkit import Chem

    caps = [atom.GetIdx() for atom in mol.GetAtoms() if atom.HasProp("cap")]
    path = list(Chem.GetShortestPath(mol, caps[0], caps[-1]))
    quadruples = []
    for index in range(1, len(path) - 2):
        bond = mol.GetBondBetweenAtoms(path[index], path[index + 1])
        if not bond.IsInRing() and bond.GetBondType() == Chem.BondType.SINGLE:
            quadruples.append(tuple(path[index - 1 : index + 3]))
    return quadruples


def _embed_extended(chain: Oligomer, seed: int) -> np.ndarray:
    from rdkit.Chem import AllChem, rdMolTransforms

    mol = chain.mol
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        params.useRandomCoords = True  # ETKDG's default start fails now and then on small conjugated oligomers
    if mol.GetNumConformers() == 0 and AllChem.EmbedMolecule(mol, params) != 0:
        raise AutoPeriError("RDKit could not embed the oligomer")
    conformer = mol.GetConformer()
    for quadruple in _backbone_dihedrals(mol):
        rdMolTransforms.SetDihedralDeg(conformer, *quadruple, 180.0)
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=5000)
    else:
        AllChem.UFFOptimizeMolecule(mol, maxIters=5000)
    return np.asarray(mol.GetConformer().GetPositions())


def _rotation_onto_x(vector: np.ndarray) -> np.ndarray:
    """A proper rotation matrix R with R @ vector along +x."""
    x = vector / np.linalg.norm(vector)
    helper = np.eye(3)[np.argmin(np.abs(x))]
    y = np.cross(x, helper)
    y /= np.linalg.norm(y)
    return np.stack([x, y, np.cross(x, y)])


def chain_cell(smiles: str, cell_units: int = 1, seed: int = 0, vacuum: float = MIN_VACUUM) -> Crystal:
    """The chain cell of ``cell_units`` repeat units (see the module docstring), periodic along x."""
    if vacuum < 0:
        raise AutoPeriError(f"the vacuum must be non-negative, got {vacuum} Å")
    chain = oligomer(smiles, cell_units)
    positions = _embed_extended(chain, seed)
    translation = positions[chain.heads[cell_units + 1]] - positions[chain.heads[1]]
    cart = positions[chain.cell_atoms()] @ _rotation_onto_x(translation).T
    extent = cart.max(axis=0) - cart.min(axis=0)
    lattice = np.diag([np.linalg.norm(translation), extent[1] + vacuum, extent[2] + vacuum])
    cart = cart - cart.min(axis=0) + np.array([0.0, vacuum / 2, vacuum / 2])
    numbers = np.array([chain.mol.GetAtomWithIdx(int(a)).GetAtomicNum() for a in chain.cell_atoms()])
    # not wrapped: the chain graph's period shifts refer to these coordinates
    return Crystal(
        lattice, cart @ np.linalg.inv(lattice), numbers, pbc=CHAIN_PBC, properties={"cell_units": cell_units}
    )


def build_chain(smiles: str, seed: int = 0, vacuum: float = MIN_VACUUM, chain_id: str | None = None) -> Crystal:
    """The chain cell with the fewest repeat units (of :data:`CELL_UNITS`) that passes
    :func:`~autoperi.metrics.polymers.check_chain`, else the last tried; ``properties["cell_units"]`` says
    how many it holds."""
    from autoperi.metrics.polymers import check_chain

    for cell_units in CELL_UNITS:
        crystal = chain_cell(smiles, cell_units, seed, vacuum)
        if check_chain(crystal, chain_graph(smiles, cell_units)).valid:
            break
    return crystal.copy(id=chain_id)
