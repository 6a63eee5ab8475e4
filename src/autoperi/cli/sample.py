"""``autoperi sample``: de novo generation, or a given composition with a direct crystal flow model."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autoperi.generative.composition import CompositionFirstGenerator
    from autoperi.generative.conditions import Targets
    from autoperi.training.config import TrainConfig


def add_sampling_options(parser: argparse.ArgumentParser, default_out: str, default_steps: int = 50) -> None:
    from autoperi.choices import INTEGRATION_METHODS

    parser.add_argument("--model", help="a shipped model name or a model.pt / run folder (default: MP-20 model)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same crystals)")
    parser.add_argument(
        "--steps", type=int, default=default_steps, help=f"ODE integration steps (default: {default_steps})"
    )
    parser.add_argument(
        "--method",
        default="euler",
        choices=INTEGRATION_METHODS,
        help="ODE integrator (default: euler; midpoint, heun and rk4 cost 2, 2 and 4 network calls per step)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="crystals generated together (default: 64)")
    parser.add_argument("--out", default=default_out, help=f"output folder (default: {default_out})")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from autoperi.choices import STRUCTURE_STRATEGIES

    sample = subparsers.add_parser("sample", help="generate new crystals with a trained model")
    sample.add_argument("-n", "--num", type=int, default=100, help="number of crystals")
    choice = sample.add_mutually_exclusive_group()
    choice.add_argument("--num-atoms", type=int, help="atoms per cell (default: drawn from the training data)")
    choice.add_argument("--formula", help="generate this composition as written, e.g. Li2Fe2O4")
    sample.add_argument("--elements", help="restrict de novo types to a chemical system, e.g. Li,Fe,O")
    sample.add_argument(
        "--structure-model",
        help="with a composition model (e.g. mp_20-composition): the CSP model that predicts each structure "
        "(default: the one the composition model names)",
    )
    sample.add_argument(
        "--structure-strategy",
        choices=STRUCTURE_STRATEGIES,
        help="with a composition model: hybrid (nearest training template of the same anonymous formula, else "
        "the CSP flow) or flow (default: the composition model's setting)",
    )
    sample.add_argument(
        "--no-neutral-calibration",
        action="store_true",
        help="with a composition model that stores its neutral shares: draw compositions without the correction "
        "that matches the training formulas' share of charge-neutral compositions",
    )
    sample.add_argument(
        "--no-element-count-prior",
        action="store_true",
        help="with a composition model that stores an element-count prior: let the model choose the number of "
        "elements of each composition instead of drawing it from the training formulas' distribution",
    )
    add_target_options(sample)
    add_sampling_options(sample, "samples")
    sample.set_defaults(func=run_sample)


def add_target_options(parser: argparse.ArgumentParser) -> None:
    targets = parser.add_argument_group("targets (a model trained on the condition)")
    targets.add_argument("--space-group", type=int, help="international space-group number, 1-230")
    targets.add_argument(
        "--band-gap", metavar="EV", help="band gap of at least EV eV (e.g. 3), or a range LOW:HIGH (e.g. 1:2, 0:0)"
    )
    targets.add_argument(
        "--formation-energy",
        metavar="EV",
        help="formation energy of at most EV eV/atom (e.g. -2), or a range LOW:HIGH (write --formation-energy=-1.5:-1)",
    )
    targets.add_argument(
        "--e-above-hull",
        metavar="EV",
        help="energy above the convex hull of at most EV eV/atom (e.g. 0.1), or a range LOW:HIGH",
    )
    targets.add_argument(
        "--guidance",
        type=float,
        default=1.0,
        help="classifier-free guidance weight (0: ignore the condition, 1: conditional model, default; >1: stronger)",
    )


def _targets(args: argparse.Namespace) -> Targets:
    from autoperi.generative.conditions import Targets

    return Targets(args.space_group, args.band_gap, args.formation_energy, args.e_above_hull, args.guidance)


def targeted_generator(
    model: CompositionFirstGenerator, config: TrainConfig, targets: Targets, redraws: int | None = None
) -> CompositionFirstGenerator:
    """The generator drawing for ``targets``: a composition-first one takes its structures from the training
    templates of the requested space group (else from the CSP flow alone, as without a library); a composition
    without such a template is drawn again up to ``redraws`` times (default: the generator's TEMPLATE_REDRAWS
    for a space group, else 0: property targets keep the whole template pool, as unconditional sampling)."""
    from autoperi.generative.composition import TEMPLATE_REDRAWS
    from autoperi.generative.conditions import require_conditions
    from autoperi.generative.space_group_templates import space_group_library

    require_conditions(model.conditions, targets, config.name)
    library = model.library
    if library is not None and targets.space_group is not None:
        library = space_group_library(config.data.dataset, config.data.train_split, targets.space_group)
    if redraws is None:
        redraws = TEMPLATE_REDRAWS if targets.space_group is not None else 0
    return model.targeted(targets, library, redraws)


def _finish(crystals, out: str) -> int:
    from autoperi.metrics.samples import write_sample_folder

    rows = write_sample_folder(crystals, out)
    structural = sum(bool(row["structurally_valid"]) for row in rows)
    compositional = sum(bool(row["compositionally_valid"]) for row in rows)
    print(
        f"wrote {len(rows)} crystals to {out}/: {structural} structurally valid, {compositional} compositionally"
        f" valid (SMACT); summary in {out}/summary.csv"
    )
    return 0


def _check_counts(*values: int) -> None:
    from autoperi.errors import AutoPeriError

    if any(v is not None and v < 1 for v in values):
        raise AutoPeriError("counts and steps must be positive")


def run_sample(args: argparse.Namespace) -> int:
    from autoperi.errors import AutoPeriError
    from autoperi.generative.sampling import element_numbers, formula_atomic_numbers, generate
    from autoperi.training.export import load_generator

    _check_counts(args.num, args.steps, args.batch_size, args.num_atoms)
    targets = _targets(args)
    model, config, _ = load_generator(args.model, args.structure_model, args.structure_strategy)
    for flag, field in (
        ("no_neutral_calibration", "neutral_calibration"),
        ("no_element_count_prior", "use_element_count_prior"),
    ):
        if getattr(args, flag):
            if not hasattr(model, "composition"):
                raise AutoPeriError(f"--{flag.replace('_', '-')} goes with a composition model only")
            setattr(model.composition.config, field, False)
    if targets.requested:
        model = targeted_generator(model, config, targets)
    compositions = None
    if args.formula:
        composition = formula_atomic_numbers(args.formula)
        compositions, counts = [composition] * args.num, [len(composition)] * args.num
    elif args.num_atoms:
        counts = [args.num_atoms] * args.num
    else:
        import torch

        counts = model.sample_num_atoms(args.num, torch.Generator().manual_seed(args.seed)).tolist()
    allowed = element_numbers(args.elements) if args.elements else None
    if (allowed or compositions is None) and not model.de_novo:
        raise AutoPeriError("this is a structure-prediction model: give --formula, or use `autoperi csp`")
    crystals = generate(model, counts, compositions, args.steps, args.method, args.seed, args.batch_size, allowed)
    if hasattr(model, "composition"):
        print(
            f"redrawn: {model.composition.neutral_redraws} compositions (neutral-share correction), "
            f"{model.contact_redraws} structures (atoms closer than 0.5 Å), "
            f"{model.duplicate_redraws} structures (the same as an earlier sample of the composition)"
        )
        if model.composition.element_counts_drawn:
            print(
                f"element-count prior: {model.composition.element_count_redraws} compositions redrawn after a dead "
                f"end, {model.composition.element_count_fallbacks} drawn without the prior"
            )
    return _finish(crystals, args.out)
