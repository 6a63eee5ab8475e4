"""The charge grammar of the composition model: ionic compositions carry an oxidation state per element.

With ``charge_grammar`` on, a cell of N atoms is the token sequence

    [N] [class] S1 c1 S2 c2 ... Sk ck [end]

where [class] is [ionic] or [other]. An ionic composition's S tokens are species (element, oxidation state),
one per element, with the states pymatgen's ``Composition.oxi_state_guesses`` searches (ICSD states, else
common ones); an other composition's S tokens are plain elements. A training formula is ionic when
pymatgen's guesses include one with an integer state per element (the first such guess gives the states);
mixed-valence and intermetallic formulas are other. Within the ionic class the grammar lets a composition end
only at zero total charge, and masks every species and count from which zero charge is no longer reachable
with the atoms, elements and element slots left, so every sampled ionic composition is neutral under its
states and the model learns which class a cell of N atoms is.

Reachability is a table: ``reach[r, k, n, q]`` says whether n atoms of total charge q can be placed with at
most k further elements, all ranked above r in the element order and allowed, one state each (a cell's
charge cannot leave the range that ``max_atoms`` sites of the extreme states span). The ``exact`` tables
count exactly k further elements, for decoding a drawn number of elements
(:mod:`autoperi.generative.element_count_prior`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from math import gcd
from typing import Protocol

import torch

from autoperi.generative.crystal_flow import NUM_ELEMENTS


@cache
def oxidation_states(z: int) -> tuple[int, ...]:
    """The states pymatgen's oxidation-state guesses try for element ``z``."""
    from pymatgen.core import Element

    element = Element.from_Z(z)
    return tuple(sorted(element.icsd_oxidation_states or element.common_oxidation_states))


@cache
def ionic_states(elements: tuple[int, ...], counts: tuple[int, ...]) -> tuple[int, ...] | None:
    """One oxidation state per element making the composition neutral (pymatgen's most probable guess whose
    every per-element mean is one of the element's states), or None (no guess, or only mixed-valence ones)."""
    from pymatgen.core import Composition, Element

    divisor = 0
    for count in counts:
        divisor = gcd(divisor, count)
    composition = Composition({Element.from_Z(z): n // divisor for z, n in zip(elements, counts, strict=True)})
    for guess in composition.oxi_state_guesses():
        states = [guess[Element.from_Z(z).symbol] for z in elements]  # per-element means of site states
        if all(state in oxidation_states(z) for z, state in zip(elements, states, strict=True)):
            return tuple(int(state) for state in states)
    return None


class TokenLayout(Protocol):
    end: int
    count_offset: int
    size_offset: int
    species_offset: int
    size: int


class SpeciesTable:
    """Species (element rank, state) in token order, and the charge range of cells of up to ``max_atoms``."""

    def __init__(self, element_of_rank: tuple[int, ...], max_atoms: int) -> None:
        pairs = [(rank, q) for rank in range(1, NUM_ELEMENTS + 1) for q in oxidation_states(element_of_rank[rank])]
        self.rank = torch.tensor([rank for rank, _ in pairs])
        self.state = torch.tensor([q for _, q in pairs])
        self.index = {pair: i for i, pair in enumerate(pairs)}
        self.max_atoms = max_atoms
        self.min_charge = min(0, int(self.state.min())) * max_atoms
        self.charges = (max(0, int(self.state.max())) * max_atoms) - self.min_charge + 1

    def __len__(self) -> int:
        return len(self.rank)

    def charge_index(self, charge: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices into a table's charge axis (clamped) and whether the charge lies in the table."""
        index = charge - self.min_charge
        inside = (index >= 0) & (index < self.charges)
        return index.clamp(0, self.charges - 1), inside


def _shift(table: torch.Tensor, atoms: int, charge: int) -> torch.Tensor:
    """``out[k, n, q] = table[k - 1, n - atoms, q - charge]`` (False outside): one more element of
    ``atoms`` sites with ``charge`` in total."""
    out = torch.zeros_like(table)
    width = table.shape[2] - abs(charge)
    if width > 0:
        source = table[:-1, : table.shape[1] - atoms, max(-charge, 0) : max(-charge, 0) + width]
        out[1:, atoms:, max(charge, 0) : max(charge, 0) + width] = source
    return out


@dataclass(frozen=True)
class ChargeGrammar:
    """The species, ``allowed_rank[r]``, ``reach[r, k, n, q]`` and ``species_reach[k, n, q, s]``: whether
    species s can come next with k element slots, n atoms and charge q (so far) to go, i.e. some count c of it
    leaves a reachable rest (charges offset by ``species.min_charge``); ``exact``: k counts exactly, not at most,
    the further elements."""

    species: SpeciesTable
    allowed_rank: torch.Tensor
    reach: torch.Tensor
    species_reach: torch.Tensor
    exact: bool = False


def _species_reach(species: SpeciesTable, reach: torch.Tensor) -> torch.Tensor:
    per_species = reach[species.rank]  # (S, k, n, q): the rest, with elements ranked above the species
    charges = torch.arange(species.charges) + species.min_charge
    out = torch.zeros_like(per_species)
    for count in range(1, reach.shape[2]):
        rest = torch.zeros_like(per_species)
        rest[:, 1:, count:] = per_species[:, :-1, : reach.shape[2] - count]
        target, inside = species.charge_index(-(charges + count * species.state[:, None]))  # (S, q)
        gathered = rest.gather(3, target[:, None, None, :].expand_as(rest))
        out |= gathered & inside[:, None, None, :]
    return out.permute(1, 2, 3, 0).contiguous()


@cache
def charge_grammar(
    element_of_rank: tuple[int, ...],
    max_atoms: int,
    max_elements: int,
    allowed: tuple[int, ...] | None,
    exact: bool = False,
) -> ChargeGrammar:
    """The tables for an element order (its ``element_of_rank``) and the allowed atomic numbers (None: all);
    ``exact``: with exactly, not at most, k further elements."""
    species = SpeciesTable(element_of_rank, max_atoms)
    allowed_rank = torch.tensor([r > 0 and (allowed is None or z in allowed) for r, z in enumerate(element_of_rank)])
    reach = torch.zeros(NUM_ELEMENTS + 1, max_elements + 1, max_atoms + 1, species.charges, dtype=torch.bool)
    reach[NUM_ELEMENTS, 0 if exact else slice(None), 0, -species.min_charge] = True
    for rank in range(NUM_ELEMENTS, 0, -1):
        above = reach[rank]
        grown = above.clone()
        if allowed_rank[rank]:
            for q in oxidation_states(element_of_rank[rank]):
                for count in range(1, max_atoms + 1):
                    grown |= _shift(above, count, count * q)
        reach[rank - 1] = grown
    return ChargeGrammar(species, allowed_rank, reach, _species_reach(species, reach), exact)


def running_totals(
    body: torch.Tensor, counts: torch.Tensor, species: SpeciesTable, layout: TokenLayout
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per token of ``[N] S1 c1 ...``: its oxidation state (0 unless a species), the charge placed and the
    atoms left to place (0 to N) after it."""
    is_species = body >= layout.species_offset
    state = torch.where(is_species, species.state[(body - layout.species_offset).clamp(0, len(species) - 1)], 0)
    previous_state = torch.cat([torch.zeros_like(state[:, :1]), state[:, :-1]], 1)
    charge = torch.cumsum(previous_state * counts, 1)
    remaining = (body[:, :1] - layout.size_offset) - torch.cumsum(counts, 1)
    return state, charge, remaining.clamp(0, species.max_atoms)


def ionic_mask(
    body: torch.Tensor,
    ranks: torch.Tensor,
    counts: torch.Tensor,
    grammar: ChargeGrammar,
    layout: TokenLayout,
    slots: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, P, vocabulary) allowed next tokens of ionic prefixes without their class token (``[N] S1 c1 ...``,
    ``ranks`` and ``counts`` each token's element rank and count, 0 where none); ``slots``: each row's number
    of elements (at most, or with an exact grammar exactly; None: the grammar's max_elements)."""
    species, reach = grammar.species, grammar.reach
    is_species = body >= layout.species_offset
    state, charge, remaining = running_totals(body, counts, species, layout)
    last_rank = torch.cummax(ranks, 1).values
    total = reach.shape[1] - 1 if slots is None else slots[:, None]
    slots_left = (total - torch.cumsum(ranks > 0, 1)).clamp(min=0)
    element_next = torch.arange(body.shape[1]) % 2 == 0
    charge_index, charge_inside = species.charge_index(charge)

    species_ok = grammar.species_reach[slots_left, remaining, charge_index]  # (B, P, S)
    species_ok &= grammar.allowed_rank[species.rank] & (species.rank > last_rank[..., None])
    species_ok &= ((slots_left > 0) & charge_inside)[..., None]
    c = torch.arange(1, reach.shape[2])
    rest = (remaining[..., None] - c).clamp(min=0)
    target, inside = species.charge_index(-(charge[..., None] + c * state[..., None]))
    count_ok = reach[last_rank[..., None], slots_left[..., None], rest, target] & inside
    count_ok &= (c <= remaining[..., None]) & is_species[..., None]

    mask = torch.zeros(*body.shape, layout.size, dtype=torch.bool)
    mask[..., layout.species_offset :] = species_ok & element_next[:, None]
    mask[..., layout.count_offset + 1 : layout.count_offset + 1 + len(c)] = count_ok & ~element_next[:, None]
    mask[..., layout.end] = element_next & (remaining == 0) & (charge == 0) & ((slots_left == 0) | (not grammar.exact))
    ended = torch.cumsum(body == layout.end, 1) > 0
    mask[ended] = False
    mask[..., layout.end] |= ended
    return mask
