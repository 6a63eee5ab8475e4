"""Rerun the whole benchmark table at a chosen scale: train, tune, evaluate, then write TABLE.md.

Smoke scale (a few training steps and a handful of crystals; a pipeline check, minutes for Perov-5 on 2
CPU cores, numbers meaningless):

    python benchmarks/run_table.py --scale smoke --datasets perov_5

Full scale (the settings of the published AutoPeri numbers; hours per dataset on 2 CPU cores):

    python benchmarks/run_table.py --scale full --datasets perov_5 mp_20 --out runs/table-full --device cpu --seed 0

Per dataset: autoencoder -> frac_anneal tuning on val -> latent flow (the AutoPeri generator); direct
crystal flow (de novo); crystal flow in CSP mode -> tuning. Then reconstruction (train and test), CSP
k=1 and k=20, DNG metrics of both generators (``autoperi sample`` + ``autoperi evaluate``) and sampling
speed. Every command goes to OUT/commands.log with its wall time, its output to OUT/logs/,
the collected results to OUT/<dataset>.json and the tables to OUT/TABLE.md, next to the published
baselines. A stage whose output exists and is newer than its inputs is skipped, so rerunning the same
command resumes a long run (an interrupted training continues from its last checkpoint); ``--force``
redoes every stage. The scale presets live in ``SCALES``; the full scale scores DNG against the whole
test split, whose reference fingerprints take a while once and are cached afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("autoencoder", "latent_flow", "crystal_flow", "crystal_flow_csp")
GENERATORS = ("latent_flow", "crystal_flow")
TUNED = ("autoencoder", "crystal_flow_csp")
DATASETS = ("perov_5", "mp_20", "carbon_24")


@dataclass(frozen=True)
class Scale:
    train_steps: dict[str, int]  # per entry of MODELS
    tune_count: int  # val crystals per frac_anneal value
    tune_values: tuple[float, ...]
    recon_count: int  # test crystals (0: the whole split); the training split is capped at the same number
    csp_k1_count: int  # test targets for k=1 (0: the whole split)
    csp_k20_count: int  # test targets for k=20, from the start of the split
    sampling_steps: int  # Euler steps for CSP and DNG sampling
    dng_samples: int  # crystals per generator
    dng_reference_count: int  # first test crystals DNG is scored against (0: the whole split, cached fingerprints)
    speed_num: int
    speed_steps: tuple[int, ...]


SCALES: dict[str, Scale] = {
    "smoke": Scale(
        train_steps={"autoencoder": 20, "latent_flow": 20, "crystal_flow": 20, "crystal_flow_csp": 20},
        tune_count=8,
        tune_values=(0.0, 2.0),
        recon_count=8,
        csp_k1_count=8,
        csp_k20_count=2,
        sampling_steps=10,
        dng_samples=16,
        dng_reference_count=32,
        speed_num=8,
        speed_steps=(10,),
    ),
    "full": Scale(
        train_steps={"autoencoder": 4000, "latent_flow": 3000, "crystal_flow": 3000, "crystal_flow_csp": 4000},
        tune_count=300,
        tune_values=(0.0, 1.0, 2.0, 3.0, 4.0),
        recon_count=0,
        csp_k1_count=0,
        csp_k20_count=200,
        sampling_steps=50,
        dng_samples=1000,
        dng_reference_count=0,
        speed_num=64,
        speed_steps=(10, 20, 50, 100),
    ),
}


@dataclass(frozen=True)
class Baseline:
    dataset: str
    task: str  # "reconstruction" or "csp_k1"
    method: str
    match_rate_percent: float
    rmse: float
    source: str


# Published figures (models trained on the full training splits), the anchors of the project's issues.
# No DNG baseline is quoted: the issues name none that this table could vouch for.
BASELINES: tuple[Baseline, ...] = (
    Baseline("perov_5", "reconstruction", "CDVAE", 97.52, 0.0156, "CDVAE paper (Xie et al., 2022)"),
    Baseline("carbon_24", "reconstruction", "CDVAE", 55.22, 0.2080, "CDVAE paper (Xie et al., 2022)"),
    Baseline("mp_20", "reconstruction", "CDVAE", 45.43, 0.0356, "CDVAE paper (Xie et al., 2022)"),
    Baseline("perov_5", "csp_k1", "DiffCSP", 52.02, 0.0760, "DiffCSP paper (Jiao et al., 2023)"),
    Baseline("mp_20", "csp_k1", "DiffCSP", 51.49, 0.0631, "DiffCSP paper (Jiao et al., 2023)"),
    Baseline("perov_5", "csp_k1", "FlowMM", 53.15, 0.0992, "FlowMM paper (Miller et al., 2024)"),
    Baseline("mp_20", "csp_k1", "FlowMM", 61.39, 0.0566, "FlowMM paper (Miller et al., 2024)"),
)


def _fresh(done: Path, inputs: tuple[Path, ...] = ()) -> bool:
    """Whether ``done`` exists and is at least as new as every input."""
    if not done.exists():
        return False
    mtime = done.stat().st_mtime
    return all(not path.exists() or path.stat().st_mtime <= mtime for path in inputs)


def _display(command: list[str]) -> str:
    """The command as a user in the repository root with the environment active would type it."""
    shown = list(command)
    if shown[:3] == [sys.executable, "-m", "autoperi.cli.main"]:
        shown[:3] = ["autoperi"]
    elif shown[0] == sys.executable:
        shown[0] = "python"
    return shlex.join(os.path.relpath(part) if os.path.isabs(part) else part for part in shown)


@dataclass
class Runner:
    out: Path
    force: bool

    def log(self, text: str) -> None:
        with (self.out / "commands.log").open("a") as handle:
            handle.write(text + "\n")
        print(text, flush=True)

    def stage(
        self,
        label: str,
        command: list[str],
        done: Path,
        inputs: tuple[Path, ...] = (),
        stdout_to: Path | None = None,
    ) -> None:
        """Run ``command`` unless ``done`` is fresh; its stdout goes to ``stdout_to`` (atomically) or the log."""
        if not self.force and _fresh(done, inputs):
            self.log(f"# {label}: skipped, {os.path.relpath(done)} is up to date")
            return
        log_path = self.out / "logs" / f"{label.replace('/', '-')}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log(f"# {label} ({time.strftime('%Y-%m-%d %H:%M:%S')})\n{_display(command)}")
        start = time.perf_counter()
        with log_path.open("w") as log:
            completed = subprocess.run(command, stdout=subprocess.PIPE if stdout_to else log, stderr=log, text=True)
        seconds = time.perf_counter() - start
        self.log(f"# exit {completed.returncode}, {seconds:.1f} s")
        if completed.returncode:
            raise SystemExit(f"{label} failed (exit {completed.returncode}); its output is in {log_path}")
        if stdout_to:
            partial = stdout_to.with_name(stdout_to.name + ".part")
            partial.write_text(completed.stdout)
            partial.replace(stdout_to)


def _autoperi(*arguments: object) -> list[str]:
    return [sys.executable, "-m", "autoperi.cli.main", *map(str, arguments)]


def _benchmark(script: str, *arguments: object) -> list[str]:
    return [sys.executable, str(ROOT / "benchmarks" / script), *map(str, arguments)]


def _write_if_changed(path: Path, text: str) -> Path:
    """Write ``text`` unless the file already holds it (its age decides which stages are stale)."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def write_config(dataset: str, model: str, folder: Path, seed: int) -> Path:
    """A copy of configs/<dataset>-<model>.yaml with this run's seed and, for a latent flow, its autoencoder."""
    import yaml

    from autoperi.training.config import load_config

    config = load_config(ROOT / "configs" / f"{dataset}-{model}.yaml")
    config.seed = seed
    if model == "latent_flow":
        config.model.autoencoder = os.path.relpath(folder / "autoencoder" / "model.pt")
    path = folder / "configs" / f"{model}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_if_changed(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def train_model(runner: Runner, dataset: str, model: str, folder: Path, scale: Scale, args) -> Path:
    config = write_config(dataset, model, folder, args.seed)
    run_dir = folder / model
    done = run_dir / "model.pt"
    inputs = (config, folder / "autoencoder" / "model.pt") if model == "latent_flow" else (config,)
    if run_dir.exists() and (runner.force or (done.exists() and not _fresh(done, inputs))):
        shutil.rmtree(run_dir)  # stale: retrain from scratch rather than resume
    device = ["--accelerator", "gpu", "--devices", "1"] if args.device == "gpu" else []
    command = _autoperi(
        "train", "--config", config, "--out", run_dir, "--max-steps", scale.train_steps[model], "--resume", *device
    )
    runner.stage(f"{dataset}/train-{model}", command, done, inputs)
    if model in TUNED:
        values = [str(v) for v in scale.tune_values]
        tune = _benchmark(
            "tune_anneal.py", "--model", run_dir, "--dataset", dataset, "--count", scale.tune_count,
            "--seed", args.seed, "--values", *values, "--write",
        )  # fmt: skip
        runner.stage(f"{dataset}/tune-{model}", tune, run_dir / "tune_anneal.txt", (done,), run_dir / "tune_anneal.txt")
    return done


def dng_reference(dataset: str, count: int, folder: Path) -> list[str]:
    """``autoperi evaluate`` options for the DNG reference: the test split, or its first ``count`` crystals."""
    if not count:
        return ["--reference", dataset]
    from autoperi.data import available_splits, load_split
    from autoperi.io.ase_adapter import write_extxyz
    from autoperi.metrics.reference import TRAINING_SPLITS

    # inside folder/ (named after the dataset), so evaluate takes the dataset's coverage cut-offs
    path = folder / f"reference-test-{count}.extxyz"
    if not path.exists():
        write_extxyz(list(load_split(dataset, "test"))[:count], path)
    novelty = [f"{dataset}:{split}" for split in TRAINING_SPLITS if split in available_splits(dataset)]
    return ["--reference", str(path), *(option for name in novelty for option in ("--novelty-reference", name))]


def evaluate(runner: Runner, dataset: str, folder: Path, models: dict[str, Path], scale: Scale, args) -> None:
    seed, steps = args.seed, scale.sampling_steps
    recon = _benchmark(
        "reconstruction_benchmark.py", "--model", models["autoencoder"], "--dataset", dataset,
        "--count", scale.recon_count, "--seed", seed, "--out", folder / "reconstruction.json",
    )  # fmt: skip
    runner.stage(f"{dataset}/reconstruction", recon, folder / "reconstruction.json", (models["autoencoder"],))
    for k, count in ((1, scale.csp_k1_count), (20, scale.csp_k20_count)):
        csp = _benchmark(
            "csp_benchmark.py", "--model", models["crystal_flow_csp"], "--dataset", dataset, "--count", count,
            "--k", k, "--steps", steps, "--seed", seed,
        )  # fmt: skip
        out = folder / f"csp-k{k}.out"
        runner.stage(f"{dataset}/csp-k{k}", csp, out, (models["crystal_flow_csp"],), out)
    reference = dng_reference(dataset, scale.dng_reference_count, folder)
    for generator in GENERATORS:
        samples = folder / f"samples-{generator}"
        sample = _autoperi(
            "sample", "--model", models[generator], "-n", scale.dng_samples, "--seed", seed, "--steps", steps,
            "--out", samples,
        )  # fmt: skip
        runner.stage(f"{dataset}/sample-{generator}", sample, samples / "summary.csv", (models[generator],))
        metrics = folder / f"dng-{generator}"
        score = _autoperi(
            "evaluate", samples / "samples.extxyz", *reference, "--task", "dng", "--seed", seed, "--out", metrics
        )
        runner.stage(f"{dataset}/evaluate-{generator}", score, metrics / "metrics.json", (samples / "summary.csv",))
        speed = _benchmark(
            "sampling_speed.py", "--model", models[generator], "--num", scale.speed_num, "--seed", seed,
            "--steps", *scale.speed_steps,
        )  # fmt: skip
        out = folder / f"speed-{generator}.out"
        runner.stage(f"{dataset}/speed-{generator}", speed, out, (models[generator],), out)


def last_json(text: str) -> dict:
    """The JSON object a benchmark printed last (an indented dump starting on a line of its own)."""
    lines = text.splitlines()
    start = max(i for i, line in enumerate(lines) if line == "{")
    return json.loads("\n".join(lines[start:]))


def parse_speed(text: str) -> list[dict]:
    """The rows of sampling_speed.py's table: steps, network calls, seconds, crystals/s, valid %."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0].isdigit() and parts[4].endswith("%"):
            rows.append(
                {
                    "steps": int(parts[0]),
                    "seconds": float(parts[2]),
                    "crystals_per_second": float(parts[3]),
                    "structurally_valid": float(parts[4][:-1]) / 100,
                }
            )
    return rows


def model_metadata(path: Path) -> dict:
    import torch

    metadata = torch.load(path, map_location="cpu", weights_only=True)["metadata"]
    return {key: metadata.get(key) for key in ("steps", "train_split", "train_crystals", "wall_seconds_this_run")}


def protocol(dataset: str, train_split: str) -> str:
    if train_split != "lowdata_train":
        return f"{train_split} split"
    from autoperi.data import available_splits

    return "low-data: val + train_partial" if "train_partial" in available_splits(dataset) else "low-data: val"


def collect(dataset: str, folder: Path, scale_name: str, args) -> dict:
    models = {model: model_metadata(folder / model / "model.pt") for model in MODELS}
    dng = {}
    for generator in GENERATORS:
        payload = json.loads((folder / f"dng-{generator}" / "metrics.json").read_text())
        dng[generator] = {"metrics": payload["metrics"], "settings": payload["settings"]}
    return {
        "dataset": dataset,
        "scale": scale_name,
        "settings": asdict(SCALES[scale_name]),
        "device": args.device,
        "seed": args.seed,
        "command": _display([sys.executable, *sys.argv]),
        "protocol": protocol(dataset, models["autoencoder"]["train_split"]),
        "models": models,
        "reconstruction": json.loads((folder / "reconstruction.json").read_text()),
        "csp": {f"k{k}": last_json((folder / f"csp-k{k}.out").read_text()) for k in (1, 20)},
        "dng": dng,
        "speed": {g: parse_speed((folder / f"speed-{g}.out").read_text()) for g in GENERATORS},
    }


COLUMNS = (
    "Task",
    "Method",
    "Training",
    "Count",
    "Match rate",
    "RMSE",
    "Valid (struct / comp)",
    "COV-R / COV-P",
    "Unique / novel",
    "W-dist ρ / N_el",
    "Crystals/s",
)
DATASET_TITLES = {"perov_5": "Perov-5", "mp_20": "MP-20", "carbon_24": "Carbon-24"}
MODEL_LABELS = {
    "autoencoder": "AutoPeri autoencoder",
    "latent_flow": "AutoPeri latent flow",
    "crystal_flow": "AutoPeri direct crystal flow",
    "crystal_flow_csp": "AutoPeri crystal flow (CSP)",
}


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def _number(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _three_digits(value: float | None) -> str:
    return _number(value, 3)


def _pair(first: float | None, second: float | None, style=_percent) -> str:
    return f"{style(first)} / {style(second)}"


def _training(result: dict, model: str) -> str:
    steps = result["models"][model]["steps"]
    where = "this CPU" if result["device"] == "cpu" else "GPU"
    text = f"{result['protocol']}, {steps:,} steps, {where}"
    if model == "latent_flow":
        text += f" (autoencoder {result['models']['autoencoder']['steps']:,} steps)"
    return text


def _row(**cells: str) -> str:
    keys = ("task", "method", "training", "count", "match", "rmse", "valid", "cov", "unique", "wdist", "speed")
    return "| " + " | ".join(cells.get(key, "") for key in keys) + " |"


def _reconstruction_rows(result: dict) -> list[str]:
    recon, rows = result["reconstruction"], []
    for part in ("test", "train"):
        scores = recon[part]
        rows.append(
            _row(
                task=f"Reconstruction ({part})",
                method=MODEL_LABELS["autoencoder"],
                training=_training(result, "autoencoder"),
                count=f"{scores['crystals']:,} ({scores['split']})",
                match=_percent(scores["match_rate"]),
                rmse=_number(scores["rmse"]),
                speed=_number(scores["crystals"] / max(scores["decode_seconds"], 0.1), 1),
            )
        )
    return rows


def _csp_rows(result: dict) -> list[str]:
    rows = []
    for scores in result["csp"].values():
        rows.append(
            _row(
                task=f"CSP k={scores['candidates_per_target']}",
                method=MODEL_LABELS["crystal_flow_csp"],
                training=_training(result, "crystal_flow_csp"),
                count=f"{scores['n_targets']:,} targets",
                match=_percent(scores["match_rate"]),
                rmse=_number(scores["rmse"]),
                valid=_percent(scores["candidate_struct_valid"]) + " / –",
                speed=_number(scores["crystals_per_second"], 1),
            )
        )
    return rows


def _speed_at(rows: list[dict], steps: int) -> float | None:
    return next((row["crystals_per_second"] for row in rows if row["steps"] == steps), None)


def _dng_rows(result: dict) -> list[str]:
    rows = []
    steps = result["settings"]["sampling_steps"]
    for generator in GENERATORS:
        metrics = result["dng"][generator]["metrics"]
        rows.append(
            _row(
                task="DNG",
                method=MODEL_LABELS[generator],
                training=_training(result, generator),
                count=f"{metrics['n_generated']:,} samples",
                valid=_pair(metrics["struct_valid"], metrics["comp_valid"]),
                cov=_pair(metrics["cov_recall"], metrics["cov_precision"]),
                unique=_pair(metrics.get("unique"), metrics.get("novel")),
                wdist=_pair(metrics.get("wdist_density"), metrics.get("wdist_num_elements"), _three_digits),
                speed=_number(_speed_at(result["speed"][generator], steps), 1),
            )
        )
    return rows


def _baseline_rows(dataset: str, task: str) -> list[str]:
    label = {"reconstruction": "Reconstruction (test)", "csp_k1": "CSP k=1"}[task]
    return [
        _row(
            task=label,
            method=f"{b.method} (published)",
            training="full train split",
            match=f"{b.match_rate_percent:.2f} %",
            rmse=f"{b.rmse:.4f}",
        )
        for b in BASELINES
        if b.dataset == dataset and b.task == task
    ]


def _reference_text(result: dict) -> str:
    settings = result["dng"][GENERATORS[0]]["settings"]
    count = result["settings"]["dng_reference_count"]
    if count:
        return f"the first {count:,} crystals of {result['dataset']}:test"
    return f"{settings['reference']} ({settings['n_reference']:,} crystals)"


def _notes(result: dict) -> str:
    settings = result["settings"]
    novelty = result["dng"][GENERATORS[0]]["settings"]["novelty_reference"]
    sources = sorted({b.source for b in BASELINES if b.dataset == result["dataset"]})
    quoted = f"Published rows are quoted, not rerun ({'; '.join(sources)})" if sources else "No published rows"
    return (
        f"Scale `{result['scale']}`, seed {result['seed']}, {settings['sampling_steps']} Euler steps for CSP and "
        f"DNG sampling; StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10). DNG scored against "
        f"{_reference_text(result)}, novelty against {novelty}; crystals/s of the DNG rows from "
        f"`sampling_speed.py` ({settings['speed_num']} crystals per batch). {quoted}; no published DNG "
        "figures are quoted."
    )


def render_dataset(result: dict) -> str:
    """One Markdown table for one dataset: AutoPeri's rows next to the published baselines', with notes."""
    dataset = result["dataset"]
    lines = [
        f"## {DATASET_TITLES.get(dataset, dataset)}",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *_reconstruction_rows(result),
        *_baseline_rows(dataset, "reconstruction"),
        *_csp_rows(result),
        *_baseline_rows(dataset, "csp_k1"),
        *_dng_rows(result),
        "",
        _notes(result),
    ]
    return "\n".join(lines) + "\n"


def render_document(results: list[dict]) -> str:
    first = results[0]
    header = [
        f"# Benchmark table, {first['scale']} scale",
        "",
        f"Written by `{first['command']}`; every command and its wall time are in commands.log beside this file.",
        "AutoPeri rows are trained under the protocol named in their Training column on the machine named there;",
        "the published baselines trained on the full training splits, so the two are not directly comparable.",
    ]
    if first["scale"] == "smoke":
        header.append("**Smoke scale: a check that the pipeline runs end to end; its numbers say nothing of quality.**")
    return "\n".join(header) + "\n\n" + "\n".join(render_dataset(result) for result in results)


def run_dataset(runner: Runner, dataset: str, scale_name: str, args) -> dict:
    scale = SCALES[scale_name]
    folder = runner.out / dataset
    folder.mkdir(parents=True, exist_ok=True)
    models = {model: train_model(runner, dataset, model, folder, scale, args) for model in MODELS}
    evaluate(runner, dataset, folder, models, scale, args)
    result = collect(dataset, folder, scale_name, args)
    (runner.out / f"{dataset}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="smoke")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=["perov_5", "mp_20"])
    parser.add_argument("--out", default=None, help="output folder (default: runs/table-<scale>)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="where the models train")
    parser.add_argument("--seed", type=int, default=0, help="training, sampling and evaluation seed")
    parser.add_argument("--force", action="store_true", help="redo every stage, even those whose output exists")
    args = parser.parse_args()

    out = Path(args.out or f"runs/table-{args.scale}")
    out.mkdir(parents=True, exist_ok=True)
    runner = Runner(out, args.force)
    started = time.perf_counter()
    runner.log(f"## {_display([sys.executable, *sys.argv])} ({time.strftime('%Y-%m-%d %H:%M:%S')})")
    runner.log(f"## in {os.getcwd()}, interpreter {sys.executable}, {os.cpu_count()} CPUs, models on {args.device}")
    results = [run_dataset(runner, dataset, args.scale, args) for dataset in args.datasets]
    (out / "TABLE.md").write_text(render_document(results))
    runner.log(f"## done in {time.perf_counter() - started:.1f} s: {out / 'TABLE.md'}")


if __name__ == "__main__":
    main()
