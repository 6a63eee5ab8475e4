"""``autoperi reconstruct``: encode crystals with a trained autoencoder, decode them, score the errors."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("reconstruct", help="autoencoder round trip of crystals, with per-structure errors")
    parser.add_argument("input", help="a .cif, a folder of CIFs, .extxyz, or a CDVAE .csv/.csv.gz")
    parser.add_argument("--model", required=True, help="a trained autoencoder: model.pt or its run folder")
    parser.add_argument("--out", default="reconstructed", help="output folder (default: reconstructed)")
    parser.add_argument("--steps", type=int, default=None, help="decoder ODE steps (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import torch
    from tqdm.auto import tqdm

    from autoperi.batch import CrystalBatch
    from autoperi.errors import CrystalError
    from autoperi.generative.sampling import write_rows, write_sample_folder
    from autoperi.io.readers import read_crystals
    from autoperi.metrics.reconstruction import pair_errors, summarise_pairs
    from autoperi.training.export import load_model

    model, _, _ = load_model(args.model, model_type="autoencoder")
    report = read_crystals(args.input, niggli=True)
    if report.skipped:
        print(report.summary())
    if not report.crystals:
        raise CrystalError("empty", f"{args.input}: no usable crystal to reconstruct")
    targets = [c.niggli_reduced() for c in report.crystals]
    predictions = []
    for start in tqdm(range(0, len(targets), args.batch_size), desc="reconstructing", disable=None):
        chunk = targets[start : start + args.batch_size]
        latent = model.encode(CrystalBatch.from_crystals(chunk))
        decoded = model.decode(latent, args.steps, generator=torch.Generator().manual_seed(args.seed + start))
        for target, crystal in zip(chunk, decoded.to_crystals(), strict=True):
            predictions.append(crystal.copy(id=target.id).wrapped())
    out = Path(args.out)
    write_sample_folder(predictions, out)
    errors = pair_errors(predictions, targets)
    rows = [{"id": t.id, "formula": t.formula, **e} for t, e in zip(targets, errors, strict=True)]
    write_rows(rows, out / "errors.csv")
    summary = summarise_pairs(errors, predictions, targets)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"reconstructions in {out}/, per-structure errors in {out}/errors.csv")
    return 0
