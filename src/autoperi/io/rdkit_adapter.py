"""1D-periodic polymer chains from repeat-unit SMILES, with RDKit.

A repeat unit is a SMILES with two attachment points, ``[*:1]`` (head) and ``[*:2]`` (tail), or two plain
``[*]`` (the first is the head). The construction of a chain cell:

1. ``units`` copies of the repeat unit are joined tail to head (``Chem.molzip``) into an oligomer whose two
   free ends are capped with hydrogen; hydrogens are made explicit.
2. The oligomer is embedded with ETKDG v3 (fixed ``seed``); every rotatable backbone bond (on the shortest
   path between the two end caps; not in a ring, not a double or triple bond) is then set to 180 degrees,
   an extended planar-zigzag chain, and the oligomer is relaxed with MMFF94 (UFF where MMFF lacks
   parameters). The extended chain is an idealisation: polymers whose crystals hold helices (PTFE, isotactic
   PP, PEO, POM) are built as zigzags.
3. The cell holds the atoms of the middle repeat unit (its hydrogens included, its attachment points not).
   The chain lattice vector is the translation from the head atom of the middle unit to the head atom of
   the next unit, so the bond across the periodic boundary has exactly the oligomer's length; it is rotated
   onto x. The other two lattice vectors are y and z, each the atoms' extent plus ``vacuum`` (>= 15 Å by
   default), and only the chain direction is periodic: ``pbc = (True, False, False)``.

The chain is a translate of itself only as far as neighbouring units of the relaxed oligomer are translates
of each other; :func:`autoperi.metrics.polymers.check_chain` judges the result against the repeat unit's
graph, which :func:`chain_graph` gives in the cell's atom order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.metrics.polymers import ChainGraph

CHAIN_PBC = (True, False, False)
MIN_VACUUM = 15.0  # Å
DEFAULT_UNITS = 3
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
    def middle(self) -> int:
        return len(self.heads) // 2

    def middle_atoms(self) -> np.ndarray:
        return np.flatnonzero(self.unit_of_atom == self.middle)


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


def oligomer(smiles: str, units: int = DEFAULT_UNITS) -> Oligomer:
    """``units`` repeat units joined tail to head, ends capped with H, hydrogens explicit."""
    from rdkit import Chem

    if units < 3:
        raise AutoPeriError(f"a chain is cut from an oligomer of at least 3 repeat units, got {units}")
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


def chain_graph(smiles: str, units: int = DEFAULT_UNITS) -> ChainGraph:
    """The repeat unit's graph in the atom order of :func:`build_chain`'s cell: atomic numbers, bonds (the
    tail-to-head bond across the boundary included), bond orders, and heavy-atom angles with their ideal
    values (ring angles from the ring size, else from the hybridisation)."""
    chain = oligomer(smiles, units)
    return _graph_of_middle(chain)


def _graph_of_middle(chain: Oligomer) -> ChainGraph:
    mol, middle = chain.mol, chain.middle
    atoms = chain.middle_atoms()
    # (cell index, period shift) of each atom; the next unit's head and the previous unit's tail are this
    # unit's, one period on and one back
    place = {int(atom): (index, 0) for index, atom in enumerate(atoms)}
    place[chain.heads[middle + 1]] = (place[chain.heads[middle]][0], 1)
    place[chain.tails[middle - 1]] = (place[chain.tails[middle]][0], -1)
    bonds, orders = [], []
    for bond in mol.GetBonds():
        begin, end = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        if begin in place and end in place and chain.tails[middle - 1] not in (begin, end):
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


def build_chain(
    smiles: str,
    units: int = DEFAULT_UNITS,
    seed: int = 0,
    vacuum: float = MIN_VACUUM,
    chain_id: str | None = None,
) -> Crystal:
    """The chain cell of a repeat unit (see the module docstring), periodic along its first lattice vector."""
    if vacuum < 0:
        raise AutoPeriError(f"the vacuum must be non-negative, got {vacuum} Å")
    chain = oligomer(smiles, units)
    positions = _embed_extended(chain, seed)
    translation = positions[chain.heads[chain.middle + 1]] - positions[chain.heads[chain.middle]]
    cart = positions[chain.middle_atoms()] @ _rotation_onto_x(translation).T
    extent = cart.max(axis=0) - cart.min(axis=0)
    lattice = np.diag([np.linalg.norm(translation), extent[1] + vacuum, extent[2] + vacuum])
    cart = cart - cart.min(axis=0) + np.array([0.0, vacuum / 2, vacuum / 2])
    numbers = np.array([chain.mol.GetAtomWithIdx(int(a)).GetAtomicNum() for a in chain.middle_atoms()])
    # not wrapped: the chain graph's period shifts refer to these coordinates
    return Crystal(lattice, cart @ np.linalg.inv(lattice), numbers, id=chain_id, pbc=CHAIN_PBC)
