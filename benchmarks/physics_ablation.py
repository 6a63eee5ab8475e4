"""Physics-loss ablation: one trained generator fine-tuned twice, without and with the physics losses.

Both arms start from the weights of ``--base`` (a ``crystal_flow`` or ``latent_flow`` model.pt) and train for
``--steps`` steps with the same seed, data (the base config's training split), optimiser and schedule; they
differ only in the ``physics`` config. Each arm then samples ``--num`` crystals with the same seed (a CSP
model: the compositions of the first ``--num`` crystals of ``--split``; a de novo model: atom counts drawn
from the base model), and the raw samples are scored: structural and compositional validity, CHGNet energy per
atom and mean force norm, CHGNet relaxation (FIRE + FrechetCellFilter, ``--fmax``, ``--relax-steps``) with the
StructureMatcher RMSD raw → relaxed (only where the matcher matches) and the RMS atomic displacement raw →
relaxed in Å (defined for every relaxed crystal), and stable / metastable rates (E_hull ≤ 0 / ≤ 0.1 eV/atom)
of the relaxed crystals. Training cost is the wall time per step of each arm (the fit, validation included)
and the logged forward time of the physics terms.

Default physics weights, and why. Measured on the shipped Perov-5 CSP model (64 lowdata_train crystals,
3 draws of noise and times): the flow loss is ~1.7 with a gradient norm of 7–11, while the energy term at
weight 1 has a gradient norm of 0.08–0.28 (it acts on at most 8 crystals per step, time-weighted), and
repulsion + volume are ~1e-4 with gradient norms of 0.002–0.02 at weight 1 (they vanish on near-real
structures by construction). Hence energy 1.0: a few per cent of the flow gradient, a steady push toward
lower CHGNet energy that should not undo the flow. Repulsion 10.0: one pair overlapping by 0.5 Å in a
ten-atom cell adds 10 x 0.5 x 0.5² / 10 = 0.125 to that crystal's loss, a tenth of its flow loss, while real
crystals add nothing; it matters for de novo samples with clashing atoms. Volume 1.0: it only acts on absurd
cells. Force and stress 0: their second derivatives through CHGNet cost ~2.5x the energy term per step
(docs/BENCHMARKS.md); test them as a further arm with ``--force`` / ``--stress``. CHGNet runs on
``--potential-structures`` crystals per step (the library default, 8). The fine-tuning uses a fifth of the
base peak learning rate (2e-4) and an EMA decay of 0.99, so that the exported EMA weights reflect the
fine-tuning (0.999 would keep ~37 % of the base weights after 1,000 steps).

Hull reference: the hull at a composition depends only on the reference entries inside its chemical
system, so the reference is the training crystals (``--hull-split``, default the base config's training
split) whose elements lie within the chemical system of some sample of either arm, plus relaxed elemental
prototypes for every sample element with no elemental structure among them. Without ``--hull-limit`` this
gives the samples the same E_hull as the whole split would; ``--hull-limit N`` screens only its first N
crystals. Entries (per dataset) and prototypes (per element, shared by datasets) are checkpointed under
``$AUTOPERI_CACHE_DIR/hull/ablation-*`` and reused by later runs. The output names the reference used. The
low-data training split is not the published training split, so this hull is less strict than one from the
full training set.

Writes ``OUT/ablation.json`` (settings, per-arm summaries and per-crystal rows), ``OUT/ablation.md`` (the
table) and, per arm, ``OUT/<arm>/`` (run folder with logs and model.pt) and ``OUT/<arm>/samples/`` (CIFs).

Runs reported in docs/BENCHMARKS.md (CPU, from the repository root; runs/mp_20-crystal_flow_csp comes from
configs/mp_20-crystal_flow_csp.yaml):

    python benchmarks/physics_ablation.py --base src/autoperi/checkpoints/perov_5-crystal_flow_csp.pt \\
        --steps 300 --num 60 --relax-steps 300 --prototype-steps 100 --workers 2 --threads 1 --out runs/ablation-perov_5
    python benchmarks/physics_ablation.py --base runs/mp_20-crystal_flow_csp/model.pt \\
        --steps 300 --num 100 --relax-steps 300 --prototype-steps 100 --workers 2 --threads 1 --out runs/ablation-mp_20
    python benchmarks/physics_ablation.py --base mp_20-latent_flow \\
        --steps 300 --num 100 --relax-steps 300 --prototype-steps 100 --workers 2 --threads 1 \\
        --out runs/ablation-mp_20-latent
    python benchmarks/physics_ablation.py --base perov_5-latent_flow \\
        --steps 300 --num 60 --relax-steps 300 --prototype-steps 100 --workers 2 --threads 1 \\
        --out runs/ablation-perov_5-latent
    python benchmarks/physics_ablation.py --base src/autoperi/checkpoints/perov_5-crystal_flow_csp.pt \\
        --steps 300 --num 60 --relax-steps 300 --prototype-steps 100 --workers 2 --threads 1 --energy 5 \\
        --out runs/ablation-perov_5-energy5

Smoke scale (about 6 minutes on 2 busy cores, mostly the 66 elemental prototypes):

    python benchmarks/physics_ablation.py --base src/autoperi/checkpoints/perov_5-crystal_flow_csp.pt \\
        --steps 5 --num 4 --sample-steps 10 --relax-steps 20 --prototype-steps 10 --hull-limit 200 \\
        --threads 1 --out /tmp/ablation-smoke
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.physics.losses import PhysicsLossConfig
from autoperi.training.config import TrainConfig

ARMS = ("flow", "physics")
MIN_VOLUME_PER_ATOM = 1.0  # Å³/atom; below this a cell has collapsed and CHGNet's neighbour list explodes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="a generator's model.pt (or shipped model name)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=500, help="fine-tuning steps per arm")
    parser.add_argument("--lr", type=float, default=2e-4, help="peak learning rate of the fine-tuning")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--ema-decay", type=float, default=0.99, help="short runs need a short EMA")
    parser.add_argument("--val-crystals", type=int, default=128)
    parser.add_argument("--energy", type=float, default=1.0, help="physics arm: energy weight")
    parser.add_argument("--force", type=float, default=0.0)
    parser.add_argument("--stress", type=float, default=0.0)
    parser.add_argument("--repulsion", type=float, default=10.0)
    parser.add_argument("--volume", type=float, default=1.0)
    parser.add_argument("--potential-structures", type=int, default=8, help="CHGNet crystals per step")
    parser.add_argument("--num", type=int, default=200, help="samples per arm")
    parser.add_argument("--split", default="test", help="CSP: compositions from this split")
    parser.add_argument("--sample-steps", type=int, default=50)
    parser.add_argument("--fmax", type=float, default=0.05)
    parser.add_argument("--relax-steps", type=int, default=500)
    parser.add_argument("--hull-split", help="reference crystals (default: the base config's training split)")
    parser.add_argument("--hull-limit", type=int, help="screen only the first N crystals of --hull-split")
    parser.add_argument("--prototype-steps", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1, help="relaxation processes")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--render", action="store_true", help="only rewrite OUT/ablation.md from OUT/ablation.json")
    return parser.parse_args()


def arm_config(base: TrainConfig, physics: PhysicsLossConfig, args: argparse.Namespace, name: str) -> TrainConfig:
    """The base config with only the fine-tuning schedule, the physics weights and the starting weights set."""
    return replace(
        base,
        name=f"{base.name}-ablation-{name}",
        physics=physics,
        init_from=args.base,
        seed=args.seed,
        optim=replace(base.optim, lr=args.lr, warmup_steps=args.warmup, max_steps=args.steps, ema_decay=args.ema_decay),
        data=replace(base.data, max_val_crystals=args.val_crystals),
        val_every_steps=max(1, args.steps // 4),
        checkpoint_every_steps=args.steps,
        log_every_steps=1,
        threads=args.threads,
    )


def logged(folder: Path, column: str) -> list[float]:
    (metrics,) = (folder / "logs").rglob("metrics.csv")
    return [float(row[column]) for row in csv.DictReader(metrics.open()) if row.get(column)]


def fine_tune(config: TrainConfig, folder: Path) -> tuple[torch.nn.Module, dict]:
    from autoperi.training.export import load_model
    from autoperi.training.train import train

    model, _, metadata = load_model(train(config, folder, progress=False))
    physics_seconds = logged(folder, "train/physics_seconds")
    validation = logged(folder, "val/total")
    return model, {
        "steps": metadata["steps"],
        "seconds_per_step": metadata["wall_seconds_this_run"] / max(1, metadata["steps"]),
        "physics_seconds_per_step": statistics.mean(physics_seconds) if physics_seconds else 0.0,
        "final_val_flow_loss": validation[-1] if validation else math.nan,
    }


def sampling_plan(model, config: TrainConfig, args: argparse.Namespace) -> tuple[list[int], list | None]:
    """Atom counts and (CSP) compositions, the same for both arms."""
    if model.de_novo:
        counts = model.sample_num_atoms(args.num, torch.Generator().manual_seed(args.seed))
        return counts.tolist(), None
    from autoperi.data import load_split

    targets = list(load_split(config.data.dataset, args.split))[: args.num]
    return [t.num_atoms for t in targets], [t.atomic_numbers for t in targets]


def unusable(crystal: Crystal) -> str | None:
    from autoperi.errors import CrystalError
    from autoperi.physics.chgnet_adapter import check_supported_elements

    if not (np.isfinite(crystal.lattice).all() and abs(crystal.volume) / crystal.num_atoms >= MIN_VOLUME_PER_ATOM):
        return "collapsed or non-finite cell"
    try:
        check_supported_elements(crystal.atomic_numbers.tolist())
    except CrystalError as error:
        return str(error)
    return None


def static_physics(crystal: Crystal) -> tuple[float, float]:
    """CHGNet energy per atom (eV/atom) and mean force norm (eV/Å) of a raw sample."""
    from autoperi.physics.chgnet_adapter import chgnet_potential

    output = chgnet_potential().evaluate(CrystalBatch.from_crystals([crystal]), forces=True)
    return float(output.energy_per_atom[0]), float(output.forces.detach().norm(dim=-1).mean())


def score_arm(samples: list[Crystal], rows: list[dict], args: argparse.Namespace) -> list[dict]:
    """Per-crystal raw physics and relaxation results, added to the sample folder's summary rows."""
    from autoperi.physics.relax import relax_crystals

    reasons = [unusable(c) for c in samples]
    usable = [c for c, reason in zip(samples, reasons, strict=True) if reason is None]
    relaxed = iter(relax_crystals(usable, args.fmax, args.relax_steps, args.workers, progress=False))
    for crystal, row, reason in zip(samples, rows, reasons, strict=True):
        row.update(energy_per_atom=math.nan, mean_force=math.nan, rmsd=math.nan, displacement=math.nan)
        row.update(relaxed_energy_per_atom=math.nan)
        row.update(converged=False, relaxed=None, error=reason)
        if reason is None:
            result = next(relaxed)
            row["energy_per_atom"], row["mean_force"] = static_physics(crystal)
            row.update(rmsd=result.rmsd, displacement=result.displacement)
            row.update(relaxed_energy_per_atom=result.energy_per_atom_final)
            row.update(converged=result.converged, relaxed=result.relaxed, error=result.error)
    return rows


def hull_reference(relaxed: list[Crystal], config: TrainConfig, args: argparse.Namespace):
    """The training crystals inside the samples' chemical systems plus elemental prototypes (see above)."""
    from autoperi.caching import cache_dir
    from autoperi.data import load_split
    from autoperi.physics.chgnet_adapter import chgnet_potential
    from autoperi.physics.hull import HullReference, elemental_prototype_entries, reference_entries

    split = args.hull_split or config.data.train_split
    systems = {frozenset(c.symbols) for c in relaxed}
    candidates = list(load_split(config.data.dataset, split))[: args.hull_limit]
    inside = [
        c.copy(id=f"{c.id}#{index}")
        for index, c in enumerate(candidates)
        if any(set(c.symbols) <= system for system in systems)
    ]
    version = chgnet_potential().version
    data_dir = cache_dir() / "hull" / f"ablation-{config.data.dataset}-{split}-{version}"
    prototype_dir = cache_dir() / "hull" / f"ablation-prototypes-{version}-{args.prototype_steps}-steps"
    for folder in (data_dir, prototype_dir):
        folder.mkdir(parents=True, exist_ok=True)
    entries, skipped = reference_entries(inside, data_dir / "entries.jsonl", progress=False)
    elemental = {next(iter(e.composition)) for e in entries if len(e.composition) == 1}
    missing = set().union(*systems) - elemental
    prototypes = elemental_prototype_entries(
        missing, prototype_dir / "prototypes.jsonl", args.prototype_steps, args.workers, progress=False
    )
    added = [e for e in prototypes if next(iter(e.composition)) in missing]
    limit = f"the first {args.hull_limit} of " if args.hull_limit else ""
    source = (
        f"{len(entries)} of {limit}{config.data.dataset}/{split} ({len(candidates)} crystals) inside the samples' "
        f"chemical systems, plus {len(added)} elemental prototypes (relaxed ≤ {args.prototype_steps} steps) for "
        f"{len(missing)} elements without an elemental structure there; CHGNet {version}"
    )
    entries += added
    return HullReference(entries=entries, model_version=version, source=source, skipped=skipped)


def add_hull(rows: list[dict], reference) -> None:
    from autoperi.physics.hull import energy_above_hull

    done = [row for row in rows if row["relaxed"] is not None]
    energies = [row["relaxed_energy_per_atom"] for row in done]
    results = energy_above_hull([row["relaxed"] for row in done], reference, energies) if done else []
    for row in rows:
        row.update(e_above_hull=math.nan, stable=False, metastable=False)
    for row, result in zip(done, results, strict=True):
        row.update(e_above_hull=result.e_above_hull, stable=result.stable, metastable=result.metastable)


def summary(rows: list[dict], training: dict) -> dict:
    def finite(key: str) -> list[float]:
        return [row[key] for row in rows if math.isfinite(row[key])]

    def mean(key: str) -> float:
        return statistics.mean(finite(key)) if finite(key) else math.nan

    def median(key: str) -> float:
        return statistics.median(finite(key)) if finite(key) else math.nan

    def rate(key: str) -> float:
        return sum(bool(row[key]) for row in rows) / len(rows)

    valid = [row["structurally_valid"] and row["compositionally_valid"] for row in rows]
    return {
        **training,
        "samples": len(rows),
        "structural_validity": rate("structurally_valid"),
        "compositional_validity": rate("compositionally_valid"),
        "validity": sum(valid) / len(rows),
        "chgnet_evaluated": len(finite("energy_per_atom")),
        "energy_per_atom_mean": mean("energy_per_atom"),
        "energy_per_atom_median": median("energy_per_atom"),
        "mean_force_mean": mean("mean_force"),
        "mean_force_median": median("mean_force"),
        "relax_converged": rate("converged"),
        "rmsd_matched": len(finite("rmsd")) / len(rows),
        "rmsd_mean": mean("rmsd"),
        "rmsd_median": median("rmsd"),
        "displacement_mean": mean("displacement"),
        "displacement_median": median("displacement"),
        "relaxed_energy_per_atom_mean": mean("relaxed_energy_per_atom"),
        "e_above_hull_known": len(finite("e_above_hull")) / len(rows),
        "e_above_hull_median": median("e_above_hull"),
        "stable_rate": rate("stable"),
        "metastable_rate": rate("metastable"),
    }


TABLE = [
    ("training wall s/step (fit incl. validation)", "seconds_per_step", "{:.3f}"),
    ("physics terms, forward s/step", "physics_seconds_per_step", "{:.3f}"),
    ("final validation flow loss", "final_val_flow_loss", "{:.4f}"),
    ("structural validity", "structural_validity", "{:.3f}"),
    ("compositional validity", "compositional_validity", "{:.3f}"),
    ("CHGNet energy, raw (eV/atom), mean", "energy_per_atom_mean", "{:.3f}"),
    ("CHGNet energy, raw (eV/atom), median", "energy_per_atom_median", "{:.3f}"),
    ("mean force norm, raw (eV/Å), mean", "mean_force_mean", "{:.3f}"),
    ("mean force norm, raw (eV/Å), median", "mean_force_median", "{:.3f}"),
    ("relaxations converged", "relax_converged", "{:.3f}"),
    ("raw ↔ relaxed matched", "rmsd_matched", "{:.3f}"),
    ("RMSD raw → relaxed (matched), mean", "rmsd_mean", "{:.4f}"),
    ("RMSD raw → relaxed (matched), median", "rmsd_median", "{:.4f}"),
    ("atom displacement RMS raw → relaxed (Å), mean", "displacement_mean", "{:.3f}"),
    ("atom displacement RMS raw → relaxed (Å), median", "displacement_median", "{:.3f}"),
    ("relaxed energy (eV/atom), mean", "relaxed_energy_per_atom_mean", "{:.3f}"),
    ("E_hull known", "e_above_hull_known", "{:.3f}"),
    ("E_hull (eV/atom), median", "e_above_hull_median", "{:.3f}"),
    ("stable rate (E_hull ≤ 0)", "stable_rate", "{:.3f}"),
    ("metastable rate (E_hull ≤ 0.1)", "metastable_rate", "{:.3f}"),
]


PAIRED = [
    ("CHGNet energy, raw (eV/atom)", "energy_per_atom"),
    ("mean force norm, raw (eV/Å)", "mean_force"),
    ("atom displacement RMS raw → relaxed (Å)", "displacement"),
    ("E_hull after relaxation (eV/atom)", "e_above_hull"),
]


def paired_differences(crystals: dict[str, list[dict]], key: str) -> tuple[int, float, float, float]:
    """Sample i of both arms comes from the same seed (and, for CSP, composition): over the pairs where both
    values are finite, the count, the mean of physics − flow, its standard error and the share of pairs where
    the physics arm is lower."""
    pairs = [
        (a[key], b[key])
        for a, b in zip(crystals["flow"], crystals["physics"], strict=True)
        if math.isfinite(a.get(key, math.nan)) and math.isfinite(b.get(key, math.nan))
    ]
    if len(pairs) < 2:
        return len(pairs), math.nan, math.nan, math.nan
    differences = [b - a for a, b in pairs]
    error = statistics.stdev(differences) / math.sqrt(len(differences))
    return len(pairs), statistics.mean(differences), error, sum(d < 0 for d in differences) / len(differences)


def paired_table(crystals: dict[str, list[dict]]) -> list[str]:
    lines = [
        "",
        "| paired (physics − flow) | pairs | mean difference ± s.e. | physics lower |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, key in PAIRED:
        count, mean, error, lower = paired_differences(crystals, key)
        lines.append(f"| {label} | {count} | {mean:+.3f} ± {error:.3f} | {lower:.0%} |")
    return lines


def markdown(result: dict) -> str:
    arms = result["arms"]
    lines = [
        f"# Physics-loss ablation: {result['base']}",
        "",
        f"Fine-tuned {result['settings']['steps']} steps per arm (seed {result['settings']['seed']}), "
        f"{arms['flow']['samples']} samples per arm; physics arm: {result['physics']}.",
        f"Hull reference: {result['hull_reference']}.",
        f"Machine: {result['machine']}.",
        "",
        "| metric | " + " | ".join(ARMS) + " |",
        "| --- | " + " | ".join("---:" for _ in ARMS) + " |",
    ]
    lines += [
        f"| {label} | " + " | ".join(style.format(arms[a].get(key, math.nan)) for a in ARMS) + " |"
        for label, key, style in TABLE
    ]
    lines += paired_table(result["crystals"])
    lines += ["", "Rates are over all samples (a failed relaxation or unknown E_hull counts as not stable)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    if args.render:
        result = json.loads((Path(args.out) / "ablation.json").read_text())
        (Path(args.out) / "ablation.md").write_text(markdown(result))
        print(markdown(result))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    from autoperi.generative.sampling import generate
    from autoperi.metrics.samples import write_sample_folder
    from autoperi.training.export import load_model

    base_model, base, _ = load_model(args.base)  # either generator
    out = Path(args.out)
    physics = PhysicsLossConfig(
        energy_weight=args.energy,
        force_weight=args.force,
        stress_weight=args.stress,
        repulsion_weight=args.repulsion,
        volume_weight=args.volume,
        max_potential_structures=args.potential_structures,
    )
    counts, compositions = sampling_plan(base_model, base, args)
    arms = {}
    for name, arm_physics in zip(ARMS, (PhysicsLossConfig(), physics), strict=True):
        model, training = fine_tune(arm_config(base, arm_physics, args, name), out / name)
        samples = generate(model, counts, compositions, args.sample_steps, seed=args.seed, id_prefix=name)
        rows = score_arm(samples, write_sample_folder(samples, out / name / "samples"), args)
        arms[name] = (rows, training)
    reference = hull_reference(
        [row["relaxed"] for rows, _ in arms.values() for row in rows if row["relaxed"]], base, args
    )
    for rows, _ in arms.values():
        add_hull(rows, reference)
    result = {
        "base": args.base,
        "settings": vars(args),
        "physics": {k: v for k, v in asdict(physics).items() if k.endswith("_weight") and v},
        "hull_reference": reference.source,
        "machine": f"{os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, load {os.getloadavg()[0]:.1f}",
        "arms": {name: summary(rows, training) for name, (rows, training) in arms.items()},
        "crystals": {
            name: [{k: v for k, v in row.items() if k != "relaxed"} for row in rows] for name, (rows, _) in arms.items()
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "ablation.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
