"""Train a generator with Lightning: data loaders, statistics, checkpoints with resume, export."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.data import load_split
from autoperi.errors import AutoPeriError
from autoperi.nn.baseline import add_frequencies, adds_frequencies
from autoperi.training.config import TrainConfig, save_config
from autoperi.training.export import (
    attach_pretrained_config,
    lineage_totals,
    load_model,
    load_pretrained_parts,
    save_model,
)

LAST_CHECKPOINT = "last.ckpt"
SNAPSHOT_FOLDER = "snapshots"


def _crystals(config: TrainConfig, split: str) -> list[Crystal]:
    """The crystals of a split up to ``data.max_atoms`` atoms: bulk crystals, or with ``data.slab_bulks`` the
    slabs of that many of the split's bulk crystals (``data.val_slab_bulks`` for the validation split)."""
    data = config.data
    bulks = (data.val_slab_bulks or data.slab_bulks) if split == data.val_split else data.slab_bulks
    if bulks:
        from autoperi.data.slabs import load_slabs

        crystals = load_slabs(data.dataset, split, limit=bulks)
    else:
        crystals = load_split(data.dataset, split)
    return [c for c in crystals if c.num_atoms <= data.max_atoms]


def _loader(crystals: list[Crystal], batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    return DataLoader(
        crystals,
        batch_size=min(batch_size, len(crystals)),
        shuffle=shuffle,
        drop_last=shuffle,
        collate_fn=CrystalBatch.from_crystals,
        generator=torch.Generator().manual_seed(seed),
    )


def _start_from_base_model(module, config: TrainConfig) -> None:
    """The weights and statistics of ``config.init_from`` (a model with the same model config, or with fewer
    Fourier frequencies, which are added at zero weight), and the steps and CPU seconds its training cost, so
    that totals accumulate over every run of a lineage."""
    model, base, metadata = load_model(config.init_from, config.model_type)
    training_only = {name: getattr(config.model, name) for name in getattr(config.model, "training_only_fields", ())}
    base_model = replace(base.model, **training_only)
    state = model.state_dict()
    old_network, new_network = getattr(base_model, "network", None), getattr(config.model, "network", None)
    if adds_frequencies(old_network, new_network):
        base_model, state = replace(base_model, network=new_network), add_frequencies(state, old_network, new_network)
    if base_model != config.model:
        raise AutoPeriError(f"init_from {config.init_from}: its model config differs from this config's model")
    module.model.load_state_dict(state)
    module.prior_steps, module.prior_cpu_seconds = lineage_totals(metadata)


def _metadata(config: TrainConfig, train_set: list[Crystal]) -> dict:
    return {"dataset": config.data.dataset, "train_split": config.data.train_split, "train_crystals": len(train_set)}


def _progress(module, steps: int) -> dict:
    """Steps of this run and CPU seconds of this process, and both totals over the model's lineage."""
    return {
        "steps": steps,
        "cpu_seconds_this_run": round(time.process_time(), 3),
        "total_steps": module.prior_steps + steps,
        "total_cpu_seconds": round(module.total_cpu_seconds(), 3),
    }


def _snapshot_callback(config: TrainConfig, out: Path, metadata: dict):
    """Exports the EMA model every ``config.snapshot_every_steps`` steps with its :func:`_progress`, so that
    learning curves can be drawn afterwards (benchmarks/learning_curve.py)."""
    import lightning as L

    class Snapshots(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            step = trainer.global_step
            if trainer.is_global_zero and step % config.snapshot_every_steps == 0:
                path = out / SNAPSHOT_FOLDER / f"step_{module.prior_steps + step:06d}.pt"
                save_model(module.ema.module, config, path, metadata | _progress(module, step))

    return Snapshots()


def train(
    config: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    accelerator: str = "cpu",
    devices: int | str = 1,
    strategy: str = "auto",
    num_nodes: int = 1,
    tensorboard: bool = False,
    progress: bool = True,
) -> Path | None:
    """Fit, writing ``out_dir/checkpoints/last.ckpt`` (for resume), logs, ``config.yaml`` and ``model.pt``.

    A fresh run starts from the weights and statistics of ``config.init_from`` when it is set.

    Returns the exported model's path on the main process, None on the other DDP processes."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from autoperi.training.module import GeneratorModule

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    L.seed_everything(config.seed, workers=True, verbose=False)
    train_set = _crystals(config, config.data.train_split)
    val_set = _crystals(config, config.data.val_split)[: config.data.max_val_crystals]
    attach_pretrained_config(config)
    module = GeneratorModule(config.to_dict())
    checkpoint = out / "checkpoints" / LAST_CHECKPOINT
    if not (resume and checkpoint.exists()):
        if config.init_from:  # all weights, a latent flow's autoencoder included
            _start_from_base_model(module, config)
        else:
            load_pretrained_parts(module.model, config)
            module.model.fit_statistics(CrystalBatch.from_crystals(train_set, dtype=torch.float64))
        module.ema.module.load_state_dict(module.model.state_dict())
    save_config(config, out / "config.yaml")
    loggers = [CSVLogger(out, name="logs")] + ([TensorBoardLogger(out, name="tensorboard")] if tensorboard else [])
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        num_nodes=num_nodes,
        max_steps=config.optim.max_steps,
        gradient_clip_val=config.optim.grad_clip,
        val_check_interval=min(config.val_every_steps, max(1, len(train_set) // config.data.batch_size)),
        check_val_every_n_epoch=None,
        callbacks=[
            ModelCheckpoint(
                dirpath=out / "checkpoints",
                every_n_train_steps=config.checkpoint_every_steps,
                save_last=True,
                save_top_k=0,
            )
        ]
        + ([_snapshot_callback(config, out, _metadata(config, train_set))] if config.snapshot_every_steps > 0 else []),
        logger=loggers,
        log_every_n_steps=config.log_every_steps,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    started = time.time()
    trainer.fit(
        module,
        _loader(train_set, config.data.batch_size, True, config.seed),
        _loader(val_set, config.data.batch_size, False, config.seed),
        ckpt_path=str(checkpoint) if resume and checkpoint.exists() else None,
    )
    metadata = _metadata(config, train_set) | _progress(module, int(trainer.global_step))
    metadata["wall_seconds_this_run"] = round(time.time() - started, 1)
    if not trainer.is_global_zero:
        return None
    return save_model(module.ema.module, config, out / "model.pt", metadata)
