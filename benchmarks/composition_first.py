"""Chemistry of de novo samples: compositions from a composition model, and sample folders of any generator.

python benchmarks/composition_first.py --dataset mp_20 --composition-model mp_20-composition -n 1000 \\
    --seed 0 --samples-dir runs/i14/latent_flow runs/i14/composition_first --out runs/i14/chemistry.json

Every row reports, against the dataset's test split (``--reference-split lowdata_val`` to tune): W(#elements)
and W(#atoms) (1-D Wasserstein distances of the whole set), the fraction with >= 6 elements, SMACT
compositional validity (the evaluation suite's rule), the fraction for which pymatgen's
``Composition.oxi_state_guesses()`` finds a charge-neutral assignment, the fraction whose element set admits
some neutral cell of at most 20 atoms (pymatgen's oxidation states: ICSD ones, else common ones; a sample
that has such elements but is not neutral fails for its counts alone), and the fraction of reduced
compositions absent from the training pool (``lowdata_train``); a charge-grammar model's rows (and the
reference row, labelled by the model's vocabulary) add the share of its ionic class and the mean number of
elements in each class. The reference split itself is a row (the
reference values); a composition model's rows add its negative log-likelihood per token of the reference
split's compositions. A sample folder's row adds structural validity, shortest distances under 0.5 Å,
W(density) over at most 1,000 valid crystals (as the evaluation suite draws them) and, unless
``--no-matching``, StructureMatcher uniqueness and novelty against the pool. ``--temperatures`` and
``--top-p`` sample the composition model at each pair of them; ``--write T P`` stores the chosen pair
(temperature, nucleus mass) in its model file; ``--calibrate-neutral DRAWS`` first stores the neutral shares
of the training formulas and of DRAWS of the model's draws in it (autoperi.generative.neutral_calibration);
``--element-count-prior`` first stores the training formulas' P(#elements | N) in it, before any neutral
calibration, whose model shares are then those of draws with the prior
(autoperi.generative.element_count_prior; ``--no-element-count-prior`` samples without it); and
``--valid-sample N`` scores only the N valid crystals of each folder that `autoperi evaluate` draws.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from functools import cache

import numpy as np
import torch


@cache
def _oxidation_states(z: int) -> tuple[int, ...]:
    from pymatgen.core import Element

    element = Element.from_Z(z)
    return tuple(element.icsd_oxidation_states or element.common_oxidation_states)


MAX_CHARGE = 8 * 20  # |total charge| of at most 20 sites of oxidation states within -8..8


def _with_one_more_site(charges: int, states: tuple[int, ...]) -> int:
    """Charges as a bit set (bit MAX_CHARGE + c for charge c), each raised by one of ``states``."""
    out = 0
    for q in states:
        out |= charges << q if q >= 0 else charges >> -q
    return out


@cache
def _balanceable(elements: tuple[int, ...], max_atoms: int = 20) -> bool:
    """Whether some cell of at most ``max_atoms`` atoms, at least one of each element, with one oxidation
    state from the element's list per site, is neutral (the sites of an element may differ, as in pymatgen)."""
    reachable = [1 << MAX_CHARGE] + [0] * max_atoms  # reachable[n]: the total charges of n sites placed
    for z in elements:
        layer, grown = reachable, [0] * (max_atoms + 1)
        for _ in range(max_atoms):  # 1, 2, ... sites of this element
            layer = [0] + [_with_one_more_site(charges, _oxidation_states(z)) for charges in layer[:-1]]
            grown = [a | b for a, b in zip(grown, layer, strict=True)]
        reachable = grown
    return any(charges >> MAX_CHARGE & 1 for charges in reachable)


def composition_row(compositions: list[np.ndarray], reference: list[np.ndarray], known: set) -> dict:
    from scipy.stats import wasserstein_distance

    from autoperi.generative.neutral_calibration import is_neutral
    from autoperi.metrics.validity import composition_is_valid, reduced_composition

    reduced = [reduced_composition(z) for z in compositions]
    elements = np.array([len(r[0]) for r in reduced])
    atoms = np.array([len(z) for z in compositions])
    reference_elements = [len(set(z.tolist())) for z in reference]
    return {
        "count": len(compositions),
        "wdist_num_elements": round(float(wasserstein_distance(elements, reference_elements)), 4),
        "wdist_num_atoms": round(float(wasserstein_distance(atoms, [len(z) for z in reference])), 4),
        "mean_num_elements": round(float(elements.mean()), 3),
        "frac_6plus_elements": round(float((elements >= 6).mean()), 4),
        "comp_valid": round(float(np.mean([composition_is_valid(*r) for r in reduced])), 4),
        "oxi_neutral": round(float(np.mean([is_neutral(*r) for r in reduced])), 4),
        "oxi_balanceable_elements": round(float(np.mean([_balanceable(r[0]) for r in reduced])), 4),
        "novel_composition": round(float(np.mean([r not in known for r in reduced])), 4),
        "num_atoms_histogram": np.bincount(atoms).tolist(),
    }


def class_row(tokens: torch.Tensor, vocabulary) -> dict:
    """A charge-grammar model's classes: the ionic share and the mean number of elements in each class."""
    ionic = tokens[:, 1] == vocabulary.ionic
    elements = (vocabulary.split(vocabulary.body(tokens)[:, 1:])[0] > 0).sum(1).float()
    return {
        "ionic_class": round(float(ionic.float().mean()), 4),
        "mean_num_elements_ionic": round(float(elements[ionic].mean()), 3),
        "mean_num_elements_other": round(float(elements[~ionic].mean()), 3),
    }


def structure_row(crystals: list, reference: list, pool: list, matching: bool) -> dict:
    from autoperi.metrics.distribution import property_table, sample_valid, wasserstein_distances
    from autoperi.metrics.validity import is_compositionally_valid, is_structurally_valid, min_interatomic_distance

    structural = np.array([is_structurally_valid(c) for c in crystals])
    valid = structural & np.array([is_compositionally_valid(c) for c in crystals])
    generated = {"density": property_table(crystals)["density"]}
    wdist = wasserstein_distances(generated, {"density": property_table(reference)["density"]}, sample_valid(valid))
    row = {
        "struct_valid": round(float(structural.mean()), 4),
        "valid": round(float(valid.mean()), 4),
        "frac_min_distance_below_0.5": round(float(np.mean([min_interatomic_distance(c) < 0.5 for c in crystals])), 4),
        "wdist_density": round(wdist["wdist_density"], 4),
    }
    if matching:
        from autoperi.metrics.uniqueness import novel_mask, unique_mask

        row["unique"] = round(float(unique_mask(crystals, 1).mean()), 4)
        row["novel_structure"] = round(float(novel_mask(crystals, pool, 1).mean()), 4)
    return row


def _timed(function, *arguments) -> dict:
    started, cpu = time.time(), time.process_time()
    row = function(*arguments)
    return row | {"wall_s": round(time.time() - started, 1), "cpu_s": round(time.process_time() - cpu, 1)}


def _store_sampling(model: str, temperature: float, top_p: float, split: str) -> None:
    from autoperi.training.export import resolve_model_path

    path = resolve_model_path(model)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    payload["config"]["model"] |= {"temperature": temperature, "top_p": top_p}
    payload["metadata"]["temperature_tuning"] = {"split": split}
    torch.save(payload, path)


# The sampling-only fields each calibration stores in a composition model's file.
CALIBRATION_FIELDS = {
    "neutral_calibration": ("neutral_share_data", "neutral_share_model"),
    "element_count_prior": ("element_count_prior",),
}


def _store_calibration(model: str, kind: str, count: int, seed: int, pseudo_count: float) -> None:
    """Store a calibration of the model from its training formulas in its file: ``neutral_calibration`` (the
    neutral shares of the formulas and of ``count`` of its draws) or ``element_count_prior`` (P(k | N))."""
    from autoperi.data import load_split
    from autoperi.training.export import load_model, resolve_model_path

    composition_model, config, _ = load_model(model, "composition")
    training = [c.atomic_numbers for c in load_split(config.data.dataset, config.data.train_split)]
    started = time.process_time()
    if kind == "neutral_calibration":
        generator = torch.Generator().manual_seed(seed)
        composition_model.calibrate_neutral_share(training, count, generator, pseudo_count)
        draws = {"model_draws": count, "seed": seed, "element_count_prior": composition_model.element_counts_drawn}
    else:
        composition_model.calibrate_element_counts(training, pseudo_count)
        draws = {}
    path = resolve_model_path(model)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    payload["config"]["model"] |= {name: getattr(composition_model.config, name) for name in CALIBRATION_FIELDS[kind]}
    payload["metadata"][kind] = {
        "training_split": f"{config.data.dataset}/{config.data.train_split}",
        **draws,
        "pseudo_count": pseudo_count,
        "temperature": composition_model.config.temperature,
        "top_p": composition_model.config.top_p,
        "cpu_s": round(time.process_time() - started, 1),
    }
    torch.save(payload, path)
    print(json.dumps(payload["metadata"][kind] | {"path": str(path)}))


def _valid_subset(crystals: list, count: int) -> list:
    """The ``count`` structurally and compositionally valid crystals `autoperi evaluate` draws (seed 0)."""
    from autoperi.metrics.distribution import sample_valid
    from autoperi.metrics.validity import is_compositionally_valid, is_structurally_valid

    valid = np.array([is_structurally_valid(c) and is_compositionally_valid(c) for c in crystals])
    return [crystals[i] for i in sample_valid(valid, count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mp_20")
    parser.add_argument("--composition-model", help="sample -n compositions (atom counts from its prior)")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--temperatures", type=float, nargs="*", help="sampling temperatures (default: the model's)")
    parser.add_argument("--top-p", type=float, nargs="*", help="nucleus masses (default: the model's)")
    parser.add_argument("--reference-split", default="test", help="the split compared with (lowdata_val to tune)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples-dir", nargs="*", default=[], help="sample folders (autoperi sample --out)")
    parser.add_argument("--no-matching", action="store_true", help="skip StructureMatcher uniqueness and novelty")
    parser.add_argument(
        "--write", type=float, nargs=2, metavar=("T", "P"), help="store temperature T and top-p P in the model's file"
    )
    parser.add_argument(
        "--calibrate-neutral",
        type=int,
        metavar="DRAWS",
        help="store the neutral shares of the training formulas and of DRAWS model draws in the model's file first",
    )
    parser.add_argument(
        "--element-count-prior",
        action="store_true",
        help="store the training formulas' P(#elements | cell size) in the model's file (before --calibrate-neutral)",
    )
    parser.add_argument(
        "--pseudo-count", type=float, default=50.0, help="with --calibrate-neutral / --element-count-prior: shrinkage"
    )
    parser.add_argument(
        "--no-neutral-calibration", action="store_true", help="sample the composition model without its correction"
    )
    parser.add_argument(
        "--no-element-count-prior", action="store_true", help="sample the composition model without its prior"
    )
    parser.add_argument("--valid-sample", type=int, help="score only this many valid crystals of each sample folder")
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.element_count_prior:
        _store_calibration(args.composition_model, "element_count_prior", 0, args.seed, args.pseudo_count)
    if args.calibrate_neutral:
        calibration = (args.composition_model, "neutral_calibration", args.calibrate_neutral)
        _store_calibration(*calibration, args.seed, args.pseudo_count)

    from autoperi.batch import CrystalBatch
    from autoperi.data import load_split
    from autoperi.io import read_crystals
    from autoperi.metrics.validity import reduced_composition

    test = load_split(args.dataset, args.reference_split)
    pool = load_split(args.dataset, "lowdata_train")
    known = {reduced_composition(c.atomic_numbers) for c in pool}
    reference = [c.atomic_numbers for c in test]
    rows = {f"{args.reference_split}_split": _timed(composition_row, reference, reference, known)}
    if args.composition_model:
        from autoperi.generative.composition import composition_tokens
        from autoperi.training.export import load_model

        model, _, _ = load_model(args.composition_model, "composition")
        model.config.neutral_calibration = not args.no_neutral_calibration
        model.config.use_element_count_prior = not args.no_element_count_prior
        with torch.no_grad():
            nll = round(float(model.eval().loss(CrystalBatch.from_crystals(test))["total"]), 4)
        if model.config.charge_grammar:
            batch = CrystalBatch.from_crystals(test)
            tokens, fits = composition_tokens(
                batch.atomic_numbers, batch.num_atoms, model.vocabulary, model.config.max_elements
            )
            rows[f"{args.reference_split}_split"] |= class_row(tokens[fits], model.vocabulary)
        settings = itertools.product(
            args.temperatures or [model.config.temperature], args.top_p or [model.config.top_p]
        )
        for temperature, top_p in settings if args.n else ():  # -n 0: only write a calibration
            model.config.temperature, model.config.top_p = temperature, top_p
            generator = torch.Generator().manual_seed(args.seed)
            counts = model.sample_num_atoms(args.n, generator)
            tokens = model.sample_tokens(counts, generator)
            compositions = [z.numpy() for z in torch.split(model.atomic_numbers(tokens), counts.tolist())]
            row = _timed(composition_row, compositions, reference, known) | {"reference_nll_per_token": nll}
            if model.config.charge_grammar:
                row |= class_row(tokens, model.vocabulary)
            row |= {"neutral_corrected": model.neutral_corrected, "neutral_redraws": model.neutral_redraws}
            row |= {
                "element_count_prior": model.element_counts_drawn,
                "element_count_redraws": model.element_count_redraws,
                "element_count_fallbacks": model.element_count_fallbacks,
            }
            model.neutral_redraws = model.element_count_redraws = model.element_count_fallbacks = 0
            rows[f"{args.composition_model} compositions, temperature {temperature}, top-p {top_p}"] = row
    for folder in args.samples_dir:
        crystals = read_crystals(folder).crystals
        if args.valid_sample:
            crystals = _valid_subset(crystals, args.valid_sample)
        row = _timed(composition_row, [c.atomic_numbers for c in crystals], reference, known)
        rows[folder] = row | _timed(structure_row, crystals, test, pool, not args.no_matching)
    if args.write is not None:
        _store_sampling(args.composition_model, *args.write, f"{args.dataset}/{args.reference_split}")
    text = json.dumps({"command": vars(args), "rows": rows}, indent=2)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
