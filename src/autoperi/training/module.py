"""The Lightning module that trains a generator: loss, EMA of weights, warm-up + cosine LR schedule.

With physics weights in the config, the physics terms of :mod:`autoperi.physics.losses` on the model's
one-step clean estimate are added to the training loss (on the CPU, where CHGNet runs; CHGNet is loaded on
first use, once per process) and logged as ``train/physics_<term>``, with the wall time of their forward
pass as ``train/physics_seconds`` (their backward runs inside Lightning's). Validation keeps the flow loss.
"""

from __future__ import annotations

import math
import time

import lightning as L
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from autoperi.batch import CrystalBatch
from autoperi.errors import AutoPeriError
from autoperi.physics.losses import physics_losses
from autoperi.training.config import TrainConfig
from autoperi.training.export import build_model


class GeneratorModule(L.LightningModule):
    def __init__(self, config: dict) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.config = TrainConfig.from_dict(config)
        self.model = build_model(self.config)
        self.ema = AveragedModel(
            self.model, multi_avg_fn=get_ema_multi_avg_fn(self.config.optim.ema_decay), use_buffers=True
        ).requires_grad_(False)  # updated by averaging, never by gradients (and so invisible to DDP)
        self.validation_generator = torch.Generator()
        # Training this model has cost before this process: from init_from's lineage or a resumed checkpoint.
        self.prior_steps = 0
        self.prior_cpu_seconds = 0.0
        self._process_cpu_start = time.process_time()

    def total_cpu_seconds(self) -> float:
        """CPU seconds of training so far, over every run in this model's lineage (this process included)."""
        return self.prior_cpu_seconds + time.process_time() - self._process_cpu_start

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["autoperi_lineage"] = {"prior_steps": self.prior_steps, "cpu_seconds": self.total_cpu_seconds()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        lineage = checkpoint.get("autoperi_lineage", {})
        self.prior_steps = lineage.get("prior_steps", 0)
        self.prior_cpu_seconds = lineage.get("cpu_seconds", 0.0)
        self._process_cpu_start = time.process_time()

    def transfer_batch_to_device(self, batch: CrystalBatch, device: torch.device, dataloader_idx: int):
        return batch.to(device)

    def training_step(self, batch: CrystalBatch, batch_idx: int) -> torch.Tensor:
        losses = self.training_losses(batch)
        for name, value in losses.items():
            self.log(f"train/{name}", value, prog_bar=name == "total", batch_size=batch.num_crystals)
        return losses["total"]

    def training_losses(self, batch: CrystalBatch) -> dict[str, torch.Tensor]:
        """The model's losses, plus ``physics_<term>`` for each active physics term (added to ``total``)."""
        if not self.config.physics.active_terms:
            return self.model.loss(batch)
        losses, estimate, times = self.model.loss_and_estimate(batch)
        started = time.perf_counter()
        physics = physics_losses(estimate.to("cpu"), self.config.physics, times.cpu())
        self.log("train/physics_seconds", time.perf_counter() - started, batch_size=batch.num_crystals)
        total = losses.pop("total") + physics.pop("total").to(self.device)
        return losses | {f"physics_{term}": value.to(self.device) for term, value in physics.items()} | {"total": total}

    def on_before_optimizer_step(self, optimizer) -> None:
        """Stop at the step that produced a non-finite gradient, before it reaches the weights (clipping would
        spread it to every weight and the failure would surface steps later, far from its cause)."""
        named = [(name, p.grad) for name, p in self.model.named_parameters() if p.grad is not None]
        finite = torch.stack([grad.isfinite().all() for _, grad in named]) if named else torch.ones(0, dtype=torch.bool)
        if not finite.all():  # one host-device synchronisation per step, names only on failure
            broken = [name for (name, _), ok in zip(named, finite.tolist(), strict=True) if not ok]
            raise AutoPeriError(
                f"training step {self.global_step}: non-finite gradient in {len(broken)} parameters "
                f"({', '.join(broken[:3])}{', ...' if len(broken) > 3 else ''})"
            )

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.ema.update_parameters(self.model)

    def on_validation_epoch_start(self) -> None:
        self.validation_generator.manual_seed(self.config.seed)  # same noise and times at every validation

    def validation_step(self, batch: CrystalBatch, batch_idx: int) -> None:
        losses = self.ema.module.loss(batch, self.validation_generator)
        for name, value in losses.items():
            self.log(f"val/{name}", value, prog_bar=name == "total", batch_size=batch.num_crystals, sync_dist=True)

    def configure_optimizers(self):
        optim = self.config.optim
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)

        def factor(step: int) -> float:
            if step < optim.warmup_steps:
                return (step + 1) / optim.warmup_steps
            progress = min(1.0, (step - optim.warmup_steps) / max(1, optim.max_steps - optim.warmup_steps))
            return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
