"""Does `autoperi adsorb`'s top-ranked placement sit on the DFT-preferred site? The fcc(111) set (issue 17).

For every (metal, adsorbate) at ``--coverage`` (0.25 ML: one adsorbate atom on the 2x2 cell, which is what
`autoperi adsorb` places), the metal's clean DFT slab gets the same pipeline as the CLI: ``-k`` placements
(the first four are the symmetry-distinct sites ontop, bridge, fcc, hcp of pymatgen's AdsorbateSiteFinder,
the rest seeded random points), CHGNet relaxation (positions, lowest two of four layers fixed) and ranking by
energy. The DFT-preferred site is the site of the lowest DFT adsorption energy in the group. Also recorded:
CHGNet's energy of each DFT-relaxed structure (no relaxation), whose lowest gives a site too.

Adsorption energies (Xu & Kitchin 2014, as the data's fairchem tutorial uses them): atomic,
E_ads = E(slab + X) - E(slab) - E(X atom). CHGNet's is its binding energy E(slab + X) - E(slab) minus a
reference for the atom: CHGNet's own energy of an isolated atom, or a per-adsorbate constant fitted on the
training metals (the mean of binding energy minus DFT E_ads there); the MAE is reported on the held-out
metals. One record per group goes to ``--records`` (JSON lines; a rerun skips groups already there).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/adsorption_sites.py --records runs/i17/adsorption.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

TRAIN_METALS = ("Ag", "Au", "Cu", "Ir", "Pt")
TEST_METALS = ("Pd", "Rh")
ADSORBATES = ("Br", "C", "Cl", "F", "H", "N", "O", "S")


def dft_groups(coverage: float) -> tuple[dict, dict]:
    """``{(metal, adsorbate): {site: DFT slab}}`` at ``coverage``, and ``{metal: clean DFT slab}``."""
    from autoperi.data.slabs import load_adsorbate_slabs

    groups: dict[tuple[str, str], dict] = {}
    clean = {}
    for slab in load_adsorbate_slabs():
        p = slab.properties
        if p["coverage"] == 0.0:
            clean[p["metal"]] = slab
        elif p["coverage"] == coverage:
            groups.setdefault((p["metal"], p["adsorbate"]), {})[p["site"]] = slab
    return groups, clean


def chgnet_energies(crystals: list) -> list[float]:
    """CHGNet total energies (eV) of the structures as given."""
    from autoperi.batch import CrystalBatch
    from autoperi.physics.chgnet_adapter import chgnet_potential

    output = chgnet_potential().evaluate(CrystalBatch.from_crystals(crystals))
    return output.energy.double().tolist()


def isolated_atom_energy(symbol: str) -> float:
    """CHGNet's energy (eV) of one atom alone in a 20 Å box."""
    from ase.data import atomic_numbers

    from autoperi.crystal import Crystal

    return chgnet_energies([Crystal(np.eye(3) * 20.0, [[0.5, 0.5, 0.5]], [atomic_numbers[symbol]])])[0]


def run_group(metal: str, adsorbate: str, sites: dict, clean: dict, args: argparse.Namespace) -> dict:
    from autoperi.adsorption.placement import placements
    from autoperi.adsorption.ranking import rank_placements
    from autoperi.physics.relax import RelaxSettings

    started = time.process_time()
    settings = RelaxSettings(args.fmax, args.steps, args.optimizer)
    candidates = placements(clean["slab"], adsorbate, args.k, args.seed)
    ranking = rank_placements(
        clean["slab"], candidates, settings, args.fixed_layers, progress=False, clean=clean["relaxed"]
    )
    dft = {site: slab.properties["adsorption_energy"] for site, slab in sites.items()}
    single = dict(zip(sites, chgnet_energies(list(sites.values())), strict=True))
    return {
        "metal": metal,
        "adsorbate": adsorbate,
        "coverage": args.coverage,
        "dft_energy": dft,
        "dft_site": min(dft, key=dft.get),
        "ranked": [
            {k: row[k] for k in ("rank", "site", "initial_site", "binding_energy", "steps", "converged")}
            for row in ranking.rows()
        ],
        "single_point_binding": {site: energy - clean["single_point"] for site, energy in single.items()},
        "cpu_s": round(time.process_time() - started, 1),
    }


def _done(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run(args: argparse.Namespace) -> list[dict]:
    from autoperi.physics.relax import RelaxSettings, relax_one

    groups, clean_slabs = dft_groups(args.coverage)
    records = _done(args.records)
    done = {(r["metal"], r["adsorbate"]) for r in records}
    args.records.parent.mkdir(parents=True, exist_ok=True)
    for metal in args.metals:
        todo = [a for a in args.adsorbates if (metal, a) in groups and (metal, a) not in done]
        if not todo:
            continue
        slab = clean_slabs[metal]
        relaxed = relax_one(slab, RelaxSettings(args.fmax, args.steps, args.optimizer), fixed_layers=args.fixed_layers)
        clean = {"slab": slab, "relaxed": relaxed, "single_point": chgnet_energies([slab])[0]}
        for adsorbate in todo:
            record = run_group(metal, adsorbate, groups[metal, adsorbate], clean, args)
            top = record["ranked"][0]
            print(f"{metal} {adsorbate}: DFT {record['dft_site']}, CHGNet {top['site']} ({record['cpu_s']} CPU-s)")
            with args.records.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            records.append(record)
    return records


def _top(record: dict) -> dict:
    return record["ranked"][0]


def _accuracy(records: list[dict], predict) -> str:
    hits = sum(predict(r) == r["dft_site"] for r in records)
    return f"{hits}/{len(records)} ({100 * hits / max(len(records), 1):.0f} %)"


def _calibration(train: list[dict]) -> dict[str, float]:
    offsets: dict[str, list[float]] = {}
    for r in train:
        offsets.setdefault(r["adsorbate"], []).append(_top(r)["binding_energy"] - r["dft_energy"][r["dft_site"]])
    return {adsorbate: float(np.mean(values)) for adsorbate, values in offsets.items()}


def _errors(records: list[dict], reference: dict[str, float]) -> str:
    if not records:
        return "no groups"
    predicted = np.array([_top(r)["binding_energy"] - reference[r["adsorbate"]] for r in records])
    target = np.array([r["dft_energy"][r["dft_site"]] for r in records])
    correlation = np.corrcoef(predicted, target)[0, 1] if len(records) > 1 else float("nan")
    return f"MAE {np.abs(predicted - target).mean():.3f} eV, Pearson r {correlation:.3f} (n={len(records)})"


TIE_MARGINS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)  # eV


def _tie_broken(record: dict, prior: str, margin: float) -> str:
    """The prior's site when a placement that ended there is within ``margin`` eV of the lowest, else the lowest's."""
    lowest = _top(record)["binding_energy"]
    near = {row["site"] for row in record["ranked"] if row["binding_energy"] <= lowest + margin}
    return prior if prior in near else _top(record)["site"]


def _best_margin(train: list[dict], prior) -> float:
    """The smallest margin of TIE_MARGINS with the highest site accuracy on the training metals."""
    scores = [sum(_tie_broken(r, prior(r), m) == r["dft_site"] for r in train) for m in TIE_MARGINS]
    return TIE_MARGINS[int(np.argmax(scores))]


def summary(records: list[dict], atom_reference: dict[str, float]) -> str:
    train = [r for r in records if r["metal"] in TRAIN_METALS]
    test = [r for r in records if r["metal"] in TEST_METALS]
    common = {
        a: Counter(r["dft_site"] for r in train if r["adsorbate"] == a).most_common(1)[0][0]
        for a in {r["adsorbate"] for r in train}
    }
    overall = Counter(r["dft_site"] for r in train).most_common(1)[0][0] if train else "fcc"

    def prior(r: dict) -> str:
        return common.get(r["adsorbate"], overall)

    margin = _best_margin(train, prior)
    predictors = {
        "CHGNet-relaxed placements, lowest energy (autoperi adsorb)": lambda r: _top(r)["site"],
        f"the same, a placement within {margin:g} eV on the training prior's site wins (margin tuned on "
        "the training metals)": lambda r: _tie_broken(r, prior(r), margin),
        "CHGNet energy of the DFT-relaxed structures, lowest": lambda r: min(
            r["single_point_binding"], key=r["single_point_binding"].get
        ),
        f"training prior: most common DFT site in training, per adsorbate (overall: {overall})": prior,
        "always fcc": lambda r: "fcc",
    }
    lines = ["| predictor | held-out Pd, Rh | training metals | all |", "| --- | --- | --- | --- |"]
    for name, predict in predictors.items():
        cells = [_accuracy(subset, predict) for subset in (test, train, records)]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    calibrated = _calibration(train)
    held_out = [r for r in test if r["adsorbate"] in calibrated]
    lines += [
        "",
        f"Adsorption energy of the top-ranked placement, held-out metals, per-adsorbate reference fitted on the "
        f"training metals: {_errors(held_out, calibrated)}; CHGNet isolated-atom reference, all metals: "
        f"{_errors(records, atom_reference)}.",
        f"CPU time of the groups: {sum(r['cpu_s'] for r in records):.0f} CPU-s for {len(records)} groups, "
        f"{sum(len(r['ranked']) for r in records)} relaxations.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, required=True, help="JSON lines, one per group (resumable)")
    parser.add_argument("--coverage", type=float, default=0.25, help="coverage in ML (default 0.25)")
    parser.add_argument("--metals", nargs="+", default=[*TRAIN_METALS, *TEST_METALS])
    parser.add_argument("--adsorbates", nargs="+", default=list(ADSORBATES))
    parser.add_argument("-k", type=int, default=4, help="placements per group (default 4: the four sites)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fmax", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--optimizer", default="BFGS")
    parser.add_argument("--fixed-layers", type=int, default=2, help="fixed slab layers (default 2 of 4)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    records = run(args)
    atom_reference = {a: isolated_atom_energy(a) for a in {r["adsorbate"] for r in records}}
    print(summary(records, atom_reference))


if __name__ == "__main__":
    main()
