"""Composition-first generation: a small autoregressive model of cell compositions, then a structure for each.

A cell with N atoms and composition {Z1: c1, ..., Zk: ck} is the token sequence

    [N] Z1 c1 Z2 c2 ... Zk ck [end]

with the elements in a fixed order: by atomic number, or by Mendeleev (Pettifor) number, which puts
metals first and anions last, so that the anions' counts are drawn knowing the cations.

The model is a causal transformer over these tokens, conditioned on N through the first token. Every
prediction is made under a grammar mask, in training and in sampling alike: an element token must come
later in the order than the previous element (so elements are distinct) and from the allowed chemical
system, a count may not exceed the atoms still to place, [end] comes exactly when all N atoms are placed,
and the last count is forced to the remainder when no further element is possible. Sampled compositions
therefore always hold exactly N atoms of distinct, allowed elements. With ``charge_grammar`` a class token
follows [N], and ionic compositions carry oxidation states and end only at zero charge
(:mod:`autoperi.generative.charge_grammar`). A model that stores an element-count prior draws the number of
distinct elements of each cell first and decodes exactly that many (:mod:`autoperi.generative.element_count_prior`).

:class:`CompositionFirstGenerator` pairs the composition model with a structure-prediction (CSP) model
and is a de novo generator (a :class:`~autoperi.generative.generator.CrystalGenerator`, like the other
generators); given ``atomic_numbers`` it predicts structures only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from autoperi.batch import CrystalBatch, batch_index
from autoperi.choices import STRUCTURE_STRATEGIES
from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.generative.charge_grammar import (
    SpeciesTable,
    charge_grammar,
    ionic_mask,
    ionic_states,
    running_totals,
)
from autoperi.generative.conditions import (
    CONDITION_PROPERTIES,
    NUM_SPACE_GROUPS,
    PROPERTY_BINS,
    PROPERTY_CONDITIONS,
    Targets,
    property_bins,
    range_bin_weights,
    require_conditions,
)
from autoperi.generative.crystal_flow import (
    NUM_ELEMENTS,
    CrystalFlow,
    atom_count_histogram,
    draw_atom_counts,
    initial_atom_count_weights,
)
from autoperi.generative.csp import CSPSettings, predict_structures
from autoperi.generative.element_count_prior import (
    MAX_ELEMENT_COUNT_REDRAWS,
    as_table,
    check_prior,
    draw_element_counts,
    element_count_prior,
)
from autoperi.generative.neutral_calibration import (
    MAX_NEUTRAL_REDRAWS,
    PSEUDO_COUNT,
    acceptance,
    check_shares,
    neutral_flags,
    neutral_shares,
)
from autoperi.generative.species import mendeleev_number
from autoperi.generative.templates import TemplateLibrary
from autoperi.io.pymatgen_adapter import structure_from_crystal
from autoperi.metrics.uniqueness import same_structure
from autoperi.metrics.validity import MIN_INTERATOMIC_DISTANCE, min_interatomic_distance, reduced_composition

PAD, END = 0, 1
ReducedFormula = tuple[tuple[int, ...], tuple[int, ...]]  # metrics.validity.reduced_composition
# Targeted generation with a template library: a drawn composition whose anonymous formula has no template in
# it is drawn again, up to this many times, before the CSP flow gives it a structure.
TEMPLATE_REDRAWS = 10
# A sampled structure with two atoms closer than MIN_INTERATOMIC_DISTANCE, or (with templates) the same structure as
# an earlier sample of its composition, is drawn again up to this many times (a formula may have a dozen templates
# of one structure type).
STRUCTURE_REDRAWS = 10
ELEMENT_OFFSET = 1  # token of element Z: ELEMENT_OFFSET + its rank (1..NUM_ELEMENTS) in the element order
ELEMENT_ORDERS = ("atomic_number", "mendeleev")


@dataclass
class CompositionConfig:
    hidden_dim: int = 128
    num_layers: int = 3
    num_heads: int = 4
    max_atoms: int = 20
    max_elements: int = 8  # longer compositions are left out of training (and cannot be sampled)
    element_order: str = "atomic_number"  # or "mendeleev": the order of a composition's elements in its tokens
    dropout: float = 0.1  # the transformer layers' dropout rate (attention and feed-forward), in training only
    # An [ionic]/[other] token after the cell size; ionic compositions are (element, oxidation state) tokens
    # that end only at zero total charge (autoperi.generative.charge_grammar). The model also sees the charge
    # placed and the atoms left after every token.
    charge_grammar: bool = False
    # Conditioning on the space group (the training crystals' spacegroup.number): its embedding is added to every
    # token's input, replaced by the no-condition embedding for a condition_dropout share of the training
    # cells, so the one model samples with or without a group and classifier-free guidance can mix the two.
    space_group_condition: bool = False
    # Conditioning on properties (names of PROPERTY_CONDITIONS, e.g. band_gap): the embedding of the training
    # cell's bin of each (conditions.PROPERTY_BINS) is added likewise. Every condition is dropped
    # independently, so the model also learns each one alone and none at all.
    property_conditions: tuple[str, ...] = ()
    condition_dropout: float = 0.1
    # The CSP model that gives sampled compositions their structures: a shipped name or a model.pt path, and
    # how: "hybrid" (the nearest training template of the same anonymous formula, else the flow) or "flow".
    structure_model: str = "mp_20-crystal_flow_csp"
    structure_strategy: str = "hybrid"
    # Sampling only: next-token logits are divided by this (below 1: more typical compositions, fewer novel
    # ones). Tuned on a validation split, stored per model.
    temperature: float = 1.0
    # Sampling only: nucleus sampling, each token drawn from the most probable tokens whose probabilities
    # add up to top_p (1: all tokens).
    top_p: float = 1.0
    # Sampling only: the neutral share of the training formulas and of the model's own draws per cell size
    # (index N), for the density-ratio correction of autoperi.generative.neutral_calibration, which is applied
    # when both are stored and neutral_calibration is on (empty, as in older files: draws are not corrected).
    neutral_share_data: tuple[float, ...] = ()
    neutral_share_model: tuple[float, ...] = ()
    neutral_calibration: bool = True
    # Sampling only: P(k | N), the training formulas' share of cells with k distinct elements (columns
    # k = 0..max_elements) per cell size (rows N = 0..max_atoms); when stored and use_element_count_prior is on,
    # every draw places exactly a k drawn from it (autoperi.generative.element_count_prior; empty, as in older
    # files: k is left to the model).
    element_count_prior: tuple[tuple[float, ...], ...] = ()
    use_element_count_prior: bool = True
    training_only_fields: ClassVar[tuple[str, ...]] = (
        "dropout",
        "structure_model",
        "structure_strategy",
        "temperature",
        "top_p",
        "neutral_share_data",
        "neutral_share_model",
        "neutral_calibration",
        "element_count_prior",
        "use_element_count_prior",
    )

    def __post_init__(self) -> None:
        if self.structure_strategy not in STRUCTURE_STRATEGIES:
            raise ValueError(f"structure_strategy must be one of {STRUCTURE_STRATEGIES}")
        if self.element_order not in ELEMENT_ORDERS:
            raise ValueError(f"element_order must be one of {ELEMENT_ORDERS}")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if not isinstance(self.charge_grammar, bool):
            raise ValueError("charge_grammar must be true or false")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")
        if not 0 <= self.condition_dropout < 1:
            raise ValueError("condition_dropout must be in [0, 1)")
        unknown = sorted(set(self.property_conditions) - set(PROPERTY_CONDITIONS))
        if unknown:
            raise ValueError(f"property_conditions: unknown {unknown} (known: {list(PROPERTY_CONDITIONS)})")
        check_shares(self.neutral_share_data, self.neutral_share_model, self.max_atoms)
        self.element_count_prior = as_table(self.element_count_prior)
        check_prior(self.element_count_prior, self.max_atoms, self.max_elements)


def element_ranks(order: str) -> torch.Tensor:
    """rank[Z] for Z = 0..NUM_ELEMENTS: 1..NUM_ELEMENTS, the place of element Z in ``order`` (rank[0] = 0)."""
    elements = list(range(1, NUM_ELEMENTS + 1))
    if order == "mendeleev":
        elements.sort(key=lambda z: (mendeleev_number(z), z))
    rank = torch.zeros(NUM_ELEMENTS + 1, dtype=torch.long)
    rank[torch.tensor(elements)] = torch.arange(1, NUM_ELEMENTS + 1)
    return rank


class Vocabulary:
    """Token ids: padding, end, elements 1..NUM_ELEMENTS (by rank in the element order), counts 1..max_atoms,
    cell sizes 1..max_atoms; with the charge grammar then [ionic], [other] and the species (element, state)."""

    end = END

    def __init__(self, max_atoms: int, element_order: str = "atomic_number", charge: bool = False) -> None:
        self.max_atoms = max_atoms
        self.rank = element_ranks(element_order)
        self.element_of_rank = torch.argsort(self.rank)
        self.count_offset = ELEMENT_OFFSET + NUM_ELEMENTS
        self.size_offset = self.count_offset + max_atoms
        self.size = self.species_offset = self.size_offset + max_atoms + 1
        self.species: SpeciesTable | None = None
        if charge:
            self.ionic, self.other, self.species_offset = self.size, self.size + 1, self.size + 2
            self.species = SpeciesTable(tuple(self.element_of_rank.tolist()), max_atoms)
            self.size = self.species_offset + len(self.species)

    def split(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Element rank (0 where not an element or species token) and count (0 where not a count token) of
        every token."""
        is_element = (tokens > ELEMENT_OFFSET) & (tokens <= self.count_offset)
        is_count = (tokens > self.count_offset) & (tokens <= self.size_offset)
        ranks = torch.where(is_element, tokens - ELEMENT_OFFSET, 0)
        if self.species is not None:
            is_species = tokens >= self.species_offset
            species_rank = self.species.rank[(tokens - self.species_offset).clamp(0, len(self.species) - 1)]
            ranks = torch.where(is_species, species_rank, ranks)
        return ranks, torch.where(is_count, tokens - self.count_offset, 0)

    def body(self, tokens: torch.Tensor) -> torch.Tensor:
        """The tokens without the class token: [N] S1 c1 ... (all of them without the charge grammar)."""
        return tokens if self.species is None else torch.cat([tokens[:, :1], tokens[:, 2:]], 1)


def composition_tokens(
    atomic_numbers: torch.Tensor, num_atoms: torch.Tensor, vocabulary: Vocabulary, max_elements: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token sequences (B, 2 + 2 max_elements) of a batch's compositions, and which crystals fit in them."""
    crystals = len(num_atoms)
    key = batch_index(num_atoms) * (NUM_ELEMENTS + 1) + vocabulary.rank[atomic_numbers]
    keys, counts = torch.unique(key, return_counts=True)  # sorted: by crystal, then by element rank
    crystal, element = keys // (NUM_ELEMENTS + 1), keys % (NUM_ELEMENTS + 1)
    per_crystal = torch.bincount(crystal, minlength=crystals)
    rank = torch.arange(len(keys)) - (torch.cumsum(per_crystal, 0) - per_crystal)[crystal]
    fits = per_crystal <= max_elements
    keep = fits[crystal]
    tokens = torch.full((crystals, 2 + 2 * max_elements), PAD, dtype=torch.long)
    tokens[:, 0] = vocabulary.size_offset + num_atoms
    tokens[crystal[keep], 1 + 2 * rank[keep]] = ELEMENT_OFFSET + element[keep]
    tokens[crystal[keep], 2 + 2 * rank[keep]] = vocabulary.count_offset + counts[keep]
    rows = torch.nonzero(fits).squeeze(1)
    tokens[rows, 1 + 2 * per_crystal[rows]] = END
    if vocabulary.species is not None:
        tokens = _with_charge_classes(tokens, vocabulary)
    return tokens, fits


def _with_charge_classes(tokens: torch.Tensor, vocabulary: Vocabulary) -> torch.Tensor:
    """Each row with its class token after [N], and species instead of elements if it is ionic."""
    species = vocabulary.species
    assert species is not None
    out = torch.cat([tokens[:, :1], torch.full_like(tokens[:, :1], vocabulary.other), tokens[:, 1:]], 1)
    ranks, counts = vocabulary.split(tokens)
    for row, (row_ranks, row_counts) in enumerate(zip(ranks.tolist(), counts.tolist(), strict=True)):
        elements = [int(vocabulary.element_of_rank[r]) for r in row_ranks if r > 0]
        states = ionic_states(tuple(elements), tuple(c for c in row_counts if c > 0)) if elements else None
        if states is not None:
            keys = [(r, q) for r, q in zip([r for r in row_ranks if r > 0], states, strict=True)]
            out[row, 1] = vocabulary.ionic
            tokens_of_species = [vocabulary.species_offset + species.index[key] for key in keys]
            out[row, 2 : 2 + 2 * len(keys) : 2] = torch.tensor(tokens_of_species)
    return out


def grammar_mask(
    prefix: torch.Tensor,
    vocabulary: Vocabulary,
    max_elements: int,
    allowed_elements: list[int] | None = None,
    element_counts: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, P, vocabulary) booleans: the tokens allowed after each prefix ``prefix[:, : p + 1]``; with
    ``element_counts`` (B,), those of compositions with exactly that many distinct elements per row."""
    if vocabulary.species is None:
        return _element_mask(prefix, vocabulary, max_elements, allowed_elements, element_counts)
    exact = element_counts is not None
    grammar = charge_grammar(
        tuple(vocabulary.element_of_rank.tolist()),
        vocabulary.max_atoms,
        max_elements,
        tuple(sorted(allowed_elements)) if allowed_elements else None,
        exact,
    )
    mask = torch.zeros(*prefix.shape, vocabulary.size, dtype=torch.bool)
    num_atoms = (prefix[:, 0] - vocabulary.size_offset).clamp(0, vocabulary.max_atoms)
    slots = element_counts if exact else max_elements
    mask[:, 0, vocabulary.ionic] = grammar.reach[0, slots, num_atoms, -vocabulary.species.min_charge]
    mask[:, 0, vocabulary.other] = True
    if prefix.shape[1] > 1:
        body = vocabulary.body(prefix)
        plain = _element_mask(body, vocabulary, max_elements, allowed_elements, element_counts)
        ionic = ionic_mask(body, *vocabulary.split(body), grammar, vocabulary, element_counts)
        mask[:, 1:] = torch.where((prefix[:, 1] == vocabulary.ionic)[:, None, None], ionic, plain)
    return mask


def _element_mask(
    prefix: torch.Tensor,
    vocabulary: Vocabulary,
    max_elements: int,
    allowed_elements: list[int] | None,
    element_counts: torch.Tensor | None = None,
) -> torch.Tensor:
    """The grammar without charges: distinct allowed elements in order, counts that fill the cell; with
    ``element_counts``, exactly that many elements per row (each count leaves an atom per element to come)."""
    elements, counts = vocabulary.split(prefix)
    remaining = (prefix[:, :1] - vocabulary.size_offset) - torch.cumsum(counts, 1)
    last_element = torch.cummax(elements, 1).values
    chosen = torch.cumsum(elements > 0, 1)
    ended = torch.cumsum(prefix == END, 1) > 0
    allowed = torch.zeros(NUM_ELEMENTS + 1, dtype=torch.bool)
    allowed[vocabulary.rank[torch.tensor(allowed_elements)] if allowed_elements else slice(1, None)] = True
    # the allowed elements ranked above r, for r = 0..NUM_ELEMENTS
    above_count = torch.flip(torch.cumsum(torch.flip(allowed.long(), [0]), 0), [0]) - allowed.long()
    above = above_count > 0
    element_next = torch.arange(prefix.shape[1]) % 2 == 0  # position p is followed by an element (or end)

    mask = torch.zeros(*prefix.shape, vocabulary.size, dtype=torch.bool)
    z = torch.arange(NUM_ELEMENTS + 1)
    element_ok = allowed & (z > last_element[..., None]) & (remaining[..., None] > 0)
    mask[..., ELEMENT_OFFSET + 1 : vocabulary.count_offset + 1] = (element_ok & element_next[:, None])[..., 1:]
    mask[..., END] = element_next & (remaining == 0)
    c = torch.arange(1, vocabulary.max_atoms + 1)
    forced = (chosen >= max_elements) | ~above[last_element]
    room = remaining
    if element_counts is not None:
        to_place = element_counts[:, None] - chosen  # elements still to come after this token
        element_ok &= (to_place[..., None] > 0) & (remaining[..., None] >= to_place[..., None])
        element_ok &= above_count >= to_place[..., None] - 1
        mask[..., ELEMENT_OFFSET + 1 : vocabulary.count_offset + 1] = (element_ok & element_next[:, None])[..., 1:]
        mask[..., END] &= to_place == 0
        forced, room = forced | (to_place <= 0), remaining - to_place.clamp(min=0)
    count_ok = (c <= room[..., None]) & (~forced[..., None] | (c == remaining[..., None]))
    mask[..., vocabulary.count_offset + 1 : vocabulary.size_offset + 1] = count_ok & ~element_next[:, None]
    mask[ended] = False
    mask[..., END] |= ended
    return mask


def nucleus(probabilities: torch.Tensor, top_p: float) -> torch.Tensor:
    """Rows of ``probabilities`` kept on their smallest set of most probable tokens that holds ``top_p``."""
    if top_p >= 1:
        return probabilities
    ordered, order = probabilities.sort(-1, descending=True)
    outside = torch.cumsum(ordered, -1) - ordered >= top_p  # the tokens after the nucleus is full
    return probabilities.scatter(-1, order, ordered.masked_fill(outside, 0.0))


class CompositionModel(nn.Module):
    """``loss(batch)`` trains on the batch's compositions; ``sample(num_atoms)`` draws new ones."""

    def __init__(self, config: CompositionConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or CompositionConfig()
        self.vocabulary = Vocabulary(config.max_atoms, config.element_order, config.charge_grammar)
        self.length = 2 + 2 * config.max_elements + config.charge_grammar
        hidden = config.hidden_dim
        self.embedding = nn.Embedding(self.vocabulary.size, hidden)
        self.position = nn.Embedding(self.length, hidden)
        layer = nn.TransformerEncoderLayer(
            hidden,
            config.num_heads,
            dim_feedforward=4 * hidden,
            dropout=config.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, self.vocabulary.size)
        if config.charge_grammar:  # the running totals the grammar tracks, as inputs
            assert self.vocabulary.species is not None
            self.charge_embedding = nn.Embedding(self.vocabulary.species.charges, hidden)
            self.remaining_embedding = nn.Embedding(config.max_atoms + 1, hidden)
        if config.space_group_condition:  # row 0: no condition
            self.space_group_embedding = nn.Embedding(NUM_SPACE_GROUPS + 1, hidden)
        # per property: row 0 no condition, row b + 1 bin b; the training cells' count per bin and value bounds
        self.property_embeddings = nn.ModuleDict(
            {name: nn.Embedding(len(PROPERTY_BINS[name]) + 2, hidden) for name in config.property_conditions}
        )
        for name in config.property_conditions:
            self.register_buffer(f"{name}_bin_counts", torch.zeros(len(PROPERTY_BINS[name]) + 1))
            self.register_buffer(f"{name}_bounds", torch.zeros(2))
        self.register_buffer("atom_count_weights", initial_atom_count_weights(config.max_atoms))
        self.neutral_redraws = 0  # compositions drawn again by the neutral-share correction, over this model's life
        # cells decoded again after a dead end under the element-count prior, and those then decoded without it
        self.element_count_redraws = self.element_count_fallbacks = 0

    @property
    def conditions(self) -> tuple[str, ...]:
        return ("space_group",) * self.config.space_group_condition + tuple(self.config.property_conditions)

    @torch.no_grad()
    def fit_statistics(self, batch: CrystalBatch) -> None:
        self.atom_count_weights.copy_(atom_count_histogram(batch.num_atoms, self.config.max_atoms))
        for name in self.config.property_conditions:
            values = self._labels(batch, name)
            counts = torch.bincount(property_bins(name, values), minlength=len(PROPERTY_BINS[name]) + 1)
            getattr(self, f"{name}_bin_counts").copy_(counts)
            getattr(self, f"{name}_bounds").copy_(torch.stack([values.min(), values.max()]))

    @staticmethod
    def _labels(batch: CrystalBatch, condition: str) -> torch.Tensor:
        name = CONDITION_PROPERTIES[condition]
        if name not in batch.labels:
            raise AutoPeriError(f"a composition model conditioned on {condition} trains on crystals with {name!r}")
        return batch.labels[name].cpu()

    def logits(
        self,
        prefix: torch.Tensor,
        allowed_elements: list[int] | None = None,
        codes: torch.Tensor | None = None,
        element_counts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next-token logits after every prefix, -inf where the grammar forbids the token (with
        ``element_counts``: the grammar of exactly that many elements per row); a conditioned model takes each
        row's condition codes (B, len(conditions)): the space group, a property's bin + 1, 0 for no condition
        (None: none at all)."""
        positions = torch.arange(prefix.shape[1], device=prefix.device)
        causal = nn.Transformer.generate_square_subsequent_mask(prefix.shape[1], device=prefix.device)
        inputs = self.embedding(prefix) + self.position(positions)
        if self.config.charge_grammar:
            inputs = inputs + self._totals(prefix)
        if self.conditions:
            inputs = inputs + self._condition_embedding(codes, len(prefix)).to(prefix.device)[:, None]
        hidden = self.transformer(inputs, mask=causal, is_causal=True)
        logits = self.head(self.norm(hidden))
        mask = grammar_mask(prefix.cpu(), self.vocabulary, self.config.max_elements, allowed_elements, element_counts)
        return logits.masked_fill(~mask.to(logits.device), float("-inf"))

    def _condition_embedding(self, codes: torch.Tensor | None, rows: int) -> torch.Tensor:
        codes = torch.zeros(rows, len(self.conditions), dtype=torch.long) if codes is None else codes.cpu()
        tables = ([self.space_group_embedding] if self.config.space_group_condition else []) + [
            self.property_embeddings[name] for name in self.config.property_conditions
        ]
        device = self.embedding.weight.device
        return sum(table(codes[:, i].to(device)) for i, table in enumerate(tables))

    def _totals(self, prefix: torch.Tensor) -> torch.Tensor:
        """Embeddings of the charge placed and the atoms left after every token (the class token: as [N])."""
        vocabulary, species = self.vocabulary, self.vocabulary.species
        assert species is not None
        body = vocabulary.body(prefix.cpu())
        _, charge, remaining = running_totals(body, vocabulary.split(body)[1], species, vocabulary)
        charge = torch.cat([charge[:, :1], charge], 1)[:, : prefix.shape[1]]
        remaining = torch.cat([remaining[:, :1], remaining], 1)[:, : prefix.shape[1]]
        charge_index, _ = species.charge_index(charge)
        return self.charge_embedding(charge_index.to(prefix.device)) + self.remaining_embedding(
            remaining.to(prefix.device)
        )

    def loss(self, batch: CrystalBatch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Mean negative log-likelihood per token of the compositions (``generator`` is unused: no noise)."""
        tokens, fits = composition_tokens(
            batch.atomic_numbers.cpu(), batch.num_atoms.cpu(), self.vocabulary, self.config.max_elements
        )
        tokens = tokens[fits].to(batch.num_atoms.device)
        targets = tokens[:, 1:]
        codes = self._training_codes(batch, fits, generator) if self.conditions else None
        logits = self.logits(tokens[:, :-1], codes=codes)
        real = targets != PAD
        nll = nn.functional.cross_entropy(logits[real], targets[real])
        return {"tokens": nll, "total": nll}

    def _training_codes(
        self, batch: CrystalBatch, fits: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """The condition codes of every training cell that fits, each 0 (no condition) for a condition_dropout
        share of the cells, independently."""
        columns = [
            self._labels(batch, name).long()
            if name == "space_group"
            else property_bins(name, self._labels(batch, name)) + 1
            for name in self.conditions
        ]
        codes = torch.stack(columns, 1)[fits.cpu()]
        dropped = torch.rand(codes.shape, generator=generator) < self.config.condition_dropout
        return codes.masked_fill(dropped, 0)

    def target_codes(self, targets: Targets, rows: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Condition codes (rows, len(conditions)) for ``targets``: the space group asked for, and for a property
        range a bin per row, drawn as often as the training cells in the range fall into it."""
        codes = torch.zeros(rows, len(self.conditions), dtype=torch.long)
        for i, name in enumerate(self.conditions):
            wanted = None if name == "space_group" else targets.range_of(name)
            if name == "space_group" and targets.space_group is not None:
                codes[:, i] = targets.space_group
            elif wanted is not None:
                counts, bounds = getattr(self, f"{name}_bin_counts"), getattr(self, f"{name}_bounds")
                weights = range_bin_weights(name, wanted, counts.cpu(), bounds.cpu())
                codes[:, i] = torch.multinomial(weights.float(), rows, replacement=True, generator=generator) + 1
        return codes

    def sample_num_atoms(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return draw_atom_counts(self.atom_count_weights, count, generator)

    def _next_logits(
        self,
        tokens: torch.Tensor,
        allowed_elements: list[int] | None,
        targets: Targets | None,
        codes: torch.Tensor | None = None,
        element_counts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits of the next token; for targets (``codes``: their condition codes, drawn when omitted),
        classifier-free guided with weight w: log p(x | none) + w (log p(x | condition) - log p(x | none))."""
        if targets is None or not targets.requested:
            return self.logits(tokens, allowed_elements, element_counts=element_counts)[:, -1]
        codes = self.target_codes(targets, len(tokens)) if codes is None else codes
        conditional = self.logits(tokens, allowed_elements, codes)[:, -1].log_softmax(-1)
        if targets.guidance == 1.0:
            return conditional
        unconditional = self.logits(tokens, allowed_elements)[:, -1].log_softmax(-1)
        guided = unconditional + targets.guidance * (conditional - unconditional)
        return guided.masked_fill(~torch.isfinite(conditional), float("-inf"))  # the grammar's mask stays

    @torch.no_grad()
    def sample_tokens(
        self,
        num_atoms: torch.Tensor,
        generator: torch.Generator | None = None,
        allowed_elements: list[int] | None = None,
        targets: Targets | None = None,
    ) -> torch.Tensor:
        """Token sequences (B, length) of compositions with these atom counts (and ``targets``); draws of the
        unrestricted, unconditioned model place a number of elements drawn from its element-count prior when it
        stores one and ``use_element_count_prior`` is on (:mod:`autoperi.generative.element_count_prior`), and
        are neutral-share corrected when it stores the shares and ``neutral_calibration`` is on
        (:mod:`autoperi.generative.neutral_calibration`)."""
        if targets is not None:
            require_conditions(self.conditions, targets, "this composition model")
        num_atoms = num_atoms.long().cpu()
        if len(num_atoms) and (int(num_atoms.min()) < 1 or int(num_atoms.max()) > self.config.max_atoms):
            raise AutoPeriError(f"this composition model places 1 to {self.config.max_atoms} atoms per cell")
        tokens = self._draw_tokens(num_atoms, generator, allowed_elements, targets)
        if self.neutral_corrected and allowed_elements is None and (targets is None or not targets.requested):
            tokens = self._neutral_corrected(tokens, num_atoms, generator)
        return tokens

    @property
    def neutral_corrected(self) -> bool:
        return bool(self.config.neutral_calibration and self.config.neutral_share_data)

    @property
    def element_counts_drawn(self) -> bool:
        return bool(self.config.use_element_count_prior and self.config.element_count_prior)

    def _draw_tokens(
        self,
        num_atoms: torch.Tensor,
        generator: torch.Generator | None,
        allowed_elements: list[int] | None,
        targets: Targets | None,
    ) -> torch.Tensor:
        if self.element_counts_drawn and allowed_elements is None and (targets is None or not targets.requested):
            return self._draw_with_element_counts(num_atoms, generator)
        return self._decode(num_atoms, generator, allowed_elements, targets)[0]

    def _decode(
        self,
        num_atoms: torch.Tensor,
        generator: torch.Generator | None,
        allowed_elements: list[int] | None,
        targets: Targets | None,
        element_counts: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token sequences, and which rows reached a dead end (only with ``element_counts``: no legal token;
        such a row is finished with [end] tokens and is no composition)."""
        tokens = (self.vocabulary.size_offset + num_atoms)[:, None]
        codes = self.target_codes(targets, len(tokens), generator) if targets is not None else None
        dead = torch.zeros(len(tokens), dtype=torch.bool)
        for _ in range(self.length - 1):
            logits = self._next_logits(tokens, allowed_elements, targets, codes, element_counts)
            if element_counts is not None:
                stuck = ~torch.isfinite(logits).any(-1).cpu()
                dead |= stuck
                logits[stuck.to(logits.device), END] = 0.0
            probabilities = (logits / self.config.temperature).softmax(-1)
            probabilities = nucleus(probabilities, self.config.top_p)
            tokens = torch.cat([tokens, torch.multinomial(probabilities, 1, generator=generator)], 1)
        return tokens, dead

    def _draw_with_element_counts(self, num_atoms: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Draws with a number of elements per cell from the element-count prior; a cell whose decoding reaches
        a dead end gets a new number and is decoded again, up to MAX_ELEMENT_COUNT_REDRAWS times, then without
        the prior (counted in ``element_count_redraws`` and ``element_count_fallbacks``)."""
        prior = self.config.element_count_prior
        tokens = torch.full((len(num_atoms), self.length), PAD, dtype=torch.long)
        pending = torch.arange(len(num_atoms))
        for attempt in range(MAX_ELEMENT_COUNT_REDRAWS + 1):
            self.element_count_redraws += len(pending) if attempt else 0
            counts = draw_element_counts(prior, num_atoms[pending], generator)
            drawn, dead = self._decode(num_atoms[pending], generator, None, None, counts)
            tokens[pending] = drawn.cpu()
            pending = pending[dead]
            if not len(pending):
                return tokens
        self.element_count_fallbacks += len(pending)
        tokens[pending] = self._decode(num_atoms[pending], generator, None, None)[0].cpu()
        return tokens

    def _neutral_corrected(
        self, tokens: torch.Tensor, num_atoms: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """The draws, each kept with its acceptance probability and else drawn again at the same size."""
        accept_neutral, accept_other = acceptance(
            torch.tensor(self.config.neutral_share_data, dtype=torch.float64),
            torch.tensor(self.config.neutral_share_model, dtype=torch.float64),
        )
        tokens, pending = tokens.clone(), torch.arange(len(tokens))
        for _ in range(MAX_NEUTRAL_REDRAWS):
            sizes = num_atoms[pending]
            numbers = torch.split(self.atomic_numbers(tokens[pending]), sizes.tolist())
            neutral = torch.from_numpy(neutral_flags([z.numpy() for z in numbers]))
            keep = torch.where(neutral, accept_neutral[sizes], accept_other[sizes])
            pending = pending[torch.rand(len(pending), generator=generator, dtype=torch.float64) >= keep]
            self.neutral_redraws += len(pending)
            if not len(pending):
                break
            tokens[pending] = self._draw_tokens(num_atoms[pending], generator, None, None)
        return tokens

    def calibrate_neutral_share(
        self,
        training: Sequence[np.ndarray],
        count: int,
        generator: torch.Generator | None = None,
        pseudo_count: float = PSEUDO_COUNT,
    ) -> None:
        """Store the neutral shares per cell size of the ``training`` compositions (atomic numbers per cell)
        and of ``count`` uncorrected draws of this model (atom counts from its prior)."""
        self.config.neutral_share_data = self.config.neutral_share_model = ()
        num_atoms = self.sample_num_atoms(count, generator)
        drawn = torch.split(self.atomic_numbers(self.sample_tokens(num_atoms, generator)), num_atoms.tolist())
        model_share = neutral_shares([z.numpy() for z in drawn], self.config.max_atoms, pseudo_count)
        self.config.neutral_share_data = neutral_shares(list(training), self.config.max_atoms, pseudo_count)
        self.config.neutral_share_model = model_share

    def calibrate_element_counts(self, training: Sequence[np.ndarray], pseudo_count: float = PSEUDO_COUNT) -> None:
        """Store P(k | N) of the ``training`` compositions (atomic numbers per cell) as the element-count prior."""
        self.config.element_count_prior = element_count_prior(
            training, self.config.max_atoms, self.config.max_elements, pseudo_count
        )

    def sample(
        self,
        num_atoms: torch.Tensor,
        generator: torch.Generator | None = None,
        allowed_elements: list[int] | None = None,
        targets: Targets | None = None,
    ) -> torch.Tensor:
        """Atomic numbers (sorted within each crystal, crystals in order) of compositions with these atom counts."""
        return self.atomic_numbers(self.sample_tokens(num_atoms, generator, allowed_elements, targets))

    def atomic_numbers(self, tokens: torch.Tensor) -> torch.Tensor:
        """Atomic numbers (sorted within each crystal, crystals in order) of complete token sequences."""
        tokens = self.vocabulary.body(tokens)
        num_atoms = tokens[:, 0] - self.vocabulary.size_offset
        ranks, counts = self.vocabulary.split(tokens[:, 1:])
        ranks, counts = ranks[:, 0:-1:2], counts[:, 1::2]  # the last element slot is always [end]
        numbers = torch.repeat_interleave(self.vocabulary.element_of_rank[ranks[ranks > 0]], counts[ranks > 0])
        crystal = batch_index(num_atoms)
        return numbers[torch.argsort(crystal * (NUM_ELEMENTS + 1) + numbers)]


class CompositionFirstGenerator:
    """De novo generation as a composition model's draw followed by a structure for it: with a template
    ``library``, the hybrid strategy of :mod:`autoperi.generative.csp` (nearest relabelled training template of
    the same anonymous formula, else a draw of the CSP flow), without one the CSP flow alone.

    Every structure drawn for a composition, first or redrawn, takes the next unused candidate of its reduced
    formula over this generator's life: the nearest template, then the next one, and a flow draw once the
    templates are used up. A candidate that is the same structure as an earlier sample of its composition
    (pymatgen's StructureMatcher with its defaults, the uniqueness metric's rule: two training crystals of one
    structure type relabel to the same crystal) is drawn again, so a repeated composition does not give the
    same crystal twice."""

    de_novo = True

    def __init__(
        self,
        composition: CompositionModel,
        structure: CrystalFlow,
        library: TemplateLibrary | None = None,
        targets: Targets | None = None,
        redraws: int = 0,
    ) -> None:
        if structure.de_novo:
            raise AutoPeriError("a composition model's structure model must be a structure-prediction (csp) model")
        self.composition, self.structure, self.library, self.targets = composition, structure, library, targets
        self.redraws = redraws
        self.contact_redraws = 0  # structures drawn again for a close contact, over this generator's life
        self.candidates_used: Counter[ReducedFormula] = Counter()  # reduced formula: candidates taken
        self.duplicate_redraws = 0  # structures drawn again for repeating an earlier sample, over this life
        self._produced: dict[ReducedFormula, list] = defaultdict(list)  # reduced formula: Structures

    @property
    def conditions(self) -> tuple[str, ...]:
        return self.composition.conditions

    def targeted(
        self, targets: Targets, library: TemplateLibrary | None, redraws: int = TEMPLATE_REDRAWS
    ) -> CompositionFirstGenerator:
        """This generator drawing compositions for ``targets``, with structures from ``library`` (e.g. the
        templates of the requested space group; None: the CSP flow alone), a composition without a template
        there drawn again up to ``redraws`` times."""
        require_conditions(self.conditions, targets, "this composition model")
        return CompositionFirstGenerator(self.composition, self.structure, library, targets, redraws)

    def _compositions(
        self, num_atoms: torch.Tensor, generator: torch.Generator | None, allowed_elements: list[int] | None
    ) -> torch.Tensor:
        """Compositions drawn for the targets; with a library, each one without a template there is drawn
        again (same cell size) up to ``self.redraws`` times."""
        chunks = list(
            torch.split(
                self.composition.sample(num_atoms, generator, allowed_elements, self.targets), num_atoms.tolist()
            )
        )
        for _ in range(self.redraws if self.library is not None else 0):
            missing = [i for i, chunk in enumerate(chunks) if not self.library.num_templates(chunk.numpy())]
            if not missing:
                break
            sizes = num_atoms[missing]
            redrawn = self.composition.sample(sizes, generator, allowed_elements, self.targets)
            for i, chunk in zip(missing, torch.split(redrawn, sizes.tolist()), strict=True):
                chunks[i] = chunk
        return torch.cat(chunks) if chunks else num_atoms.new_zeros(0)

    def sample_num_atoms(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Atom counts of the training data; targeted with a template library, of its templates (the cell
        sizes the requested space group has)."""
        if self.targets is None or self.library is None or not len(self.library):
            return self.composition.sample_num_atoms(count, generator)
        sizes = torch.tensor([crystal.num_atoms for crystal in self.library.crystals])
        return draw_atom_counts(atom_count_histogram(sizes, self.composition.config.max_atoms), count, generator)

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
        """Compositions from the composition model (unless ``atomic_numbers`` are given), then structures."""
        num_atoms = num_atoms.long()
        if atomic_numbers is None:
            atomic_numbers = self._compositions(num_atoms.cpu(), generator, allowed_elements)
        compositions = [chunk.numpy() for chunk in torch.split(atomic_numbers.cpu(), num_atoms.tolist())]
        if self.library is None:
            crystals = self.structure.sample(num_atoms, atomic_numbers, steps, method, generator).to_crystals()
        else:
            crystals = self._next_candidates(compositions, self._claim(compositions), steps, method, generator)
        crystals = self._redrawn(crystals, compositions, steps, method, generator)
        return CrystalBatch.from_crystals(crystals, dtype=next(self.structure.parameters()).dtype)

    def _claim(self, compositions: list[np.ndarray]) -> list[int]:
        """The next unused candidate position of each composition's reduced formula, now marked used."""
        positions = []
        for composition in compositions:
            key = reduced_composition(composition)
            positions.append(self.candidates_used[key])
            self.candidates_used[key] += 1
        return positions

    def _next_candidates(
        self,
        compositions: list[np.ndarray],
        positions: list[int],
        steps: int,
        method: str,
        generator: torch.Generator | None,
    ) -> list[Crystal]:
        """Candidate number ``positions[i]`` of each composition's hybrid list (0: the nearest template); a
        position beyond the templates is one new flow draw. Compositions are batched by list length."""
        lengths = [min(p, self.library.num_templates(c)) + 1 for c, p in zip(compositions, positions, strict=True)]
        crystals: list[Crystal | None] = [None] * len(compositions)
        for length in sorted(set(lengths)):
            members = [i for i, n in enumerate(lengths) if n == length]
            groups = self._structures([compositions[i] for i in members], length, steps, method, generator)
            for i, group in zip(members, groups, strict=True):
                crystals[i] = group[-1]
        return crystals

    def _structures(
        self, compositions: list[np.ndarray], k: int, steps: int, method: str, generator: torch.Generator | None
    ) -> list[list[Crystal]]:
        """k candidates per composition: the hybrid strategy with the template library, else the flow."""
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        strategy = "flow" if self.library is None else "hybrid"
        settings = CSPSettings(strategy, k, steps, method, seed, max(1, len(compositions)))
        return predict_structures(compositions, settings, self.structure, self.library)

    def _redrawn(
        self,
        crystals: list[Crystal],
        compositions: list[np.ndarray],
        steps: int,
        method: str,
        generator: torch.Generator | None,
    ) -> list[Crystal]:
        """The crystals, each one with two atoms closer than MIN_INTERATOMIC_DISTANCE or (with templates) the
        same structure as an earlier sample of its composition given its structure again, up to
        STRUCTURE_REDRAWS times (the last draw stands): the next unused candidate of its composition, i.e. a
        template of its anonymous formula not yet taken while there is one, else a new flow draw."""
        accepted: dict[ReducedFormula, list] = defaultdict(list)  # this batch's kept structures (with templates)
        pending = list(range(len(crystals)))
        for attempt in range(STRUCTURE_REDRAWS + 1):
            rejected = []
            for i in pending:
                last = attempt == STRUCTURE_REDRAWS
                if not last and min_interatomic_distance(crystals[i]) < MIN_INTERATOMIC_DISTANCE:
                    self.contact_redraws += 1
                    rejected.append(i)
                elif self.library is not None:
                    key = reduced_composition(compositions[i])
                    structure = structure_from_crystal(crystals[i])
                    if not last and self._repeats(structure, key, accepted):
                        self.duplicate_redraws += 1
                        rejected.append(i)
                    else:
                        accepted[key].append(structure)
            if not rejected:
                break
            again = [compositions[i] for i in rejected]
            if self.library is None:
                redrawn = [group[0] for group in self._structures(again, 1, steps, method, generator)]
            else:
                redrawn = self._next_candidates(again, self._claim(again), steps, method, generator)
            for i, crystal in zip(rejected, redrawn, strict=True):
                crystals[i] = crystal
            pending = rejected
        for key, structures in accepted.items():
            self._produced[key].extend(structures)
        return crystals

    def _repeats(self, structure, key: ReducedFormula, accepted: dict) -> bool:
        """Whether ``structure`` matches an earlier sample of its reduced formula ``key``: of an earlier
        sample() call, or kept earlier in this batch."""
        return any(same_structure(structure, earlier) for earlier in self._produced[key] + accepted[key])
