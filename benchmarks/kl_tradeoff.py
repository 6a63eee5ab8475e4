"""How the autoencoder's KL weight trades reconstruction against the quality of latent-flow samples.

python benchmarks/kl_tradeoff.py --dataset perov_5 --kl 1e-4 1e-3 1e-2 --ae-steps 800 --lf-steps 800 \\
    --out runs/kl-perov_5

For every KL weight, the same autoencoder config (``configs/<dataset>-autoencoder.yaml`` with only
``kl_weight`` changed) and the same latent-flow config are trained with the same seed and steps; the
decoder's ``frac_anneal`` is set to one value for all (``--frac-anneal``), and the EMA decay is shortened
to suit the short runs (``--ema-decay``). Each point then reports the
reconstruction match rate and RMSE on the first ``--recon-count`` test crystals and ``autoperi evaluate``'s
de novo metrics of ``--samples`` latent-flow samples against the test split. Writes OUT/kl_tradeoff.json
and OUT/kl_tradeoff.md. The budgets are far below the shipped models': compare the points with each other.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

METRICS = ("struct_valid", "comp_valid", "cov_recall", "cov_precision", "wdist_density", "wdist_num_elements")


def _autoperi(*arguments: str) -> None:
    subprocess.run([sys.executable, "-m", "autoperi.cli.main", *arguments], check=True, stdout=subprocess.DEVNULL)


def _train(config, out: Path, steps: int) -> Path:
    from autoperi.training.config import save_config

    out.mkdir(parents=True, exist_ok=True)
    config_path = save_config(config, out.parent / f"{out.name}.yaml")
    if not (out / "model.pt").exists():
        _autoperi("train", "--config", str(config_path), "--out", str(out), "--max-steps", str(steps))
    return out / "model.pt"


def _reconstruction(model_path: Path, dataset: str, count: int, frac_anneal: float) -> dict:
    from autoperi.data import load_split
    from autoperi.generative.sampling import reconstruct_crystals
    from autoperi.metrics.csp import match_rate_and_rmse
    from autoperi.training.export import load_model

    autoencoder, _, _ = load_model(model_path, "autoencoder")
    autoencoder.coordinate_flow.config.frac_anneal = frac_anneal
    targets = [c.niggli_reduced() for c in load_split(dataset, "test")[:count]]
    predictions = reconstruct_crystals(autoencoder, targets)
    result = match_rate_and_rmse([[p] for p in predictions], targets)
    return {"recon_match_rate": result["match_rate"], "recon_rmse": result["rmse"]}


def _generation(model_path: Path, dataset: str, samples: int, out: Path) -> dict:
    _autoperi("sample", "--model", str(model_path), "-n", str(samples), "--seed", "0", "--out", str(out / "samples"))
    _autoperi("evaluate", str(out / "samples"), "--reference", dataset, "--no-novelty", "--out", str(out / "eval"))
    metrics = json.loads((out / "eval" / "metrics.json").read_text())["metrics"]
    return {key: metrics.get(key) for key in METRICS}


def _point(args: argparse.Namespace, kl: float) -> dict:
    from autoperi.training.config import load_config

    out = Path(args.out) / f"kl-{kl:g}"
    started = time.perf_counter()
    autoencoder = load_config(f"configs/{args.dataset}-autoencoder.yaml")
    autoencoder.name = f"{args.dataset}-autoencoder-kl{kl:g}"
    autoencoder.model.kl_weight = kl
    autoencoder.model.decoder.frac_anneal = args.frac_anneal
    autoencoder.optim.ema_decay = args.ema_decay
    autoencoder_path = _train(autoencoder, out / "autoencoder", args.ae_steps)
    latent = load_config(f"configs/{args.dataset}-latent_flow.yaml")
    latent.name = f"{args.dataset}-latent_flow-kl{kl:g}"
    latent.model.autoencoder = str(autoencoder_path)
    latent.optim.ema_decay = args.ema_decay
    latent_path = _train(latent, out / "latent_flow", args.lf_steps)
    row = {"kl_weight": kl, **_reconstruction(autoencoder_path, args.dataset, args.recon_count, args.frac_anneal)}
    row.update(_generation(latent_path, args.dataset, args.samples, out))
    row["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(row), flush=True)
    return row


def _format(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _markdown(rows: list[dict]) -> str:
    header = "| KL weight | recon match | recon RMSE | valid struct / comp | COV-R / COV-P | W(density) | W(#elem) |"
    lines = [header, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        cells = [
            f"{row['kl_weight']:g}",
            _format(row["recon_match_rate"], ".1%"),
            _format(row["recon_rmse"], ".4f"),
            f"{_format(row['struct_valid'], '.1%')} / {_format(row['comp_valid'], '.1%')}",
            f"{_format(row['cov_recall'], '.1%')} / {_format(row['cov_precision'], '.1%')}",
            _format(row["wdist_density"], ".3f"),
            _format(row["wdist_num_elements"], ".3f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="perov_5")
    parser.add_argument("--kl", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2])
    parser.add_argument("--ae-steps", type=int, default=800)
    parser.add_argument("--lf-steps", type=int, default=800)
    parser.add_argument("--frac-anneal", type=float, default=0.0)
    # 0.999 would leave 0.999^800 = 45 % of the initial weights in the exported EMA after 800 steps
    parser.add_argument("--ema-decay", type=float, default=0.99, help="EMA decay for these short runs")
    parser.add_argument("--recon-count", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--out", default="runs/kl-tradeoff")
    args = parser.parse_args()
    rows = [_point(args, kl) for kl in args.kl]
    out = Path(args.out)
    (out / "kl_tradeoff.json").write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=2) + "\n")
    (out / "kl_tradeoff.md").write_text(_markdown(rows))
    print(_markdown(rows))


if __name__ == "__main__":
    main()
