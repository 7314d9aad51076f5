"""The training loop: batches of rays, losses, Adam with warm-up and decay, occupancy updates, a progress
bar with loss and PSNR, periodic checkpoints, and a guard that stops at the first non-finite loss."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from fields3d.errors import Fields3dError
from fields3d.recon.checkpoint import load_checkpoint, save_checkpoint
from fields3d.recon.dataset import RayDataset
from fields3d.recon.losses import COLOR_LOSSES, LossWeights, color_loss, mask_loss
from fields3d.recon.unisdf import UniSDFModel


class TrainingDiverged(Fields3dError):
    """The loss or the parameters became NaN or infinite; the run can resume from its last good checkpoint.

    ``path`` is that checkpoint (or the checkpoint folder when none was written yet); the command line
    prints ``error: <path>: training diverged at step N: ...``.
    """

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


@dataclass
class TrainConfig:
    """Optimisation of a reconstruction."""

    steps: int = 5000
    """Optimisation steps."""
    rays_per_step: int = 2048
    """Rays (pixels) per step."""
    lr: float = 1e-2
    """Peak learning rate of the hash grids and MLPs (Adam)."""
    lr_variance: float = 1e-3
    """Learning rate of NeuS's variance parameter."""
    warmup_steps: int = 200
    """Linear learning-rate warm-up."""
    lr_final_fraction: float = 0.1
    """The learning rate decays (cosine) to this fraction of the peak at the last step."""
    color_loss: Literal["l1", "charbonnier", "mse"] = "l1"
    """Colour error."""
    weights: LossWeights = field(default_factory=LossWeights)
    """Loss weights."""
    eikonal_surface_points: int = 1024
    """Points per step drawn by rendering weight for the eikonal and normal losses."""
    eikonal_space_points: int = 256
    """Uniform points per step in the cube for the eikonal loss."""
    checkpoint_every: int = 500
    """Steps between checkpoints (and one at the end)."""
    seed: int = 0
    """Seed of the initialisation and of the ray sampling."""

    def validate(self) -> None:
        if self.steps < 1 or self.rays_per_step < 1:
            raise ValueError(
                f"expected steps >= 1 and rays_per_step >= 1, got {self.steps}, {self.rays_per_step}"
            )
        if not (self.lr > 0 and self.lr_variance >= 0):
            raise ValueError(f"expected lr > 0 and lr_variance >= 0, got {self.lr}, {self.lr_variance}")
        if self.warmup_steps < 0 or not 0 < self.lr_final_fraction <= 1:
            raise ValueError(
                f"expected warmup_steps >= 0 and lr_final_fraction in (0, 1], got {self.warmup_steps}, "
                f"{self.lr_final_fraction}"
            )
        if self.color_loss not in COLOR_LOSSES:
            raise ValueError(f"expected color_loss in {COLOR_LOSSES}, got {self.color_loss!r}")
        if self.checkpoint_every < 1:
            raise ValueError(f"expected checkpoint_every >= 1, got {self.checkpoint_every}")
        self.weights.validate()


def lr_factor(step: int, config: TrainConfig) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up, then cosine decay to ``lr_final_fraction``."""
    if config.warmup_steps and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    span = max(config.steps - config.warmup_steps, 1)
    progress = min(max(step - config.warmup_steps, 0) / span, 1.0)
    f = config.lr_final_fraction
    return f + (1.0 - f) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: UniSDFModel, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam over the model's parameter groups (fused kernel when this torch build has one: several times
    faster on the CPU than the per-tensor loop)."""
    groups = model.parameter_groups()
    param_groups = [
        {"params": groups["grid"], "lr": config.lr, "name": "grid", "base_lr": config.lr},
        {"params": groups["mlp"], "lr": config.lr, "name": "mlp", "base_lr": config.lr},
        {
            "params": groups["variance"],
            "lr": config.lr_variance,
            "name": "variance",
            "base_lr": config.lr_variance,
        },
    ]
    try:
        return torch.optim.Adam(param_groups, betas=(0.9, 0.99), eps=1e-15, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(param_groups, betas=(0.9, 0.99), eps=1e-15)


@dataclass
class StepStats:
    """What one step measured (floats, for the history and the progress bar)."""

    step: int
    loss: float
    color: float
    psnr: float
    eikonal: float
    mask: float
    normal: float
    orientation: float
    inv_s: float
    samples_per_ray: float
    occupied: float
    seconds: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Trainer:
    """Optimises a :class:`UniSDFModel` on a :class:`RayDataset`; see the module docstring.

    Args:
        checkpoint_dir: where ``latest.pt`` goes (None: no checkpoints).
        background_color: (3,) colour behind the foreground when the model has no background field.
        log_every: steps between history records.
    """

    def __init__(
        self,
        model: UniSDFModel,
        data: RayDataset,
        config: TrainConfig,
        checkpoint_dir: str | Path | None = None,
        background_color: torch.Tensor | None = None,
        progress: bool = True,
        log_every: int = 10,
    ):
        config.validate()
        self.model, self.data, self.config = model, data, config
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.progress, self.log_every = progress, max(1, log_every)
        self.optimizer = make_optimizer(model, config)
        self.generator = torch.Generator(device=model.device)
        self.generator.manual_seed(config.seed + 1)
        self.background_color = (
            background_color.to(model.device)
            if background_color is not None
            else torch.zeros(3, device=model.device)
        )
        self.step = 0
        self.history: list[dict] = []
        self.lr_scale = 1.0
        self.train_seconds = 0.0

    # ----------------------------------------------------------------------------------------------
    def state_extra(self) -> dict:
        return {
            "generator": self.generator.get_state(),
            "history": self.history,
            "lr_scale": self.lr_scale,
            "train_seconds": self.train_seconds,
        }

    def save(self) -> Path | None:
        if self.checkpoint_dir is None:
            return None
        return save_checkpoint(self.checkpoint_dir, self.model, self.optimizer, self.step, self.state_extra())

    def resume(self, path: str | Path, lr_scale: float = 1.0) -> int:
        """Load a checkpoint (model, optimiser, step, sampling state, history); ``lr_scale`` multiplies the
        learning rates from now on (e.g. 0.5 after a divergence). Returns the step to continue from."""
        state = load_checkpoint(path, map_location=self.model.device)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        extra = state.get("extra", {})
        if "generator" in extra:
            self.generator.set_state(
                extra["generator"].cpu() if torch.is_tensor(extra["generator"]) else extra["generator"]
            )
        self.history = list(extra.get("history", []))
        self.lr_scale = float(extra.get("lr_scale", 1.0)) * lr_scale
        self.train_seconds = float(extra.get("train_seconds", 0.0))
        self.step = int(state["step"])
        if lr_scale != 1.0:  # a different random stream, so that the same divergence is not replayed
            self.generator.manual_seed(self.config.seed + 1 + 7919 * self.step)
        self.model.update_step(self.step)
        return self.step

    def _set_lr(self, step: int) -> None:
        f = lr_factor(step, self.config) * self.lr_scale
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * f

    # ----------------------------------------------------------------------------------------------
    def train_step(self) -> StepStats:
        """One optimisation step (advances ``self.step``)."""
        cfg, model = self.config, self.model
        t0 = time.perf_counter()
        step = self.step
        model.update_step(step)
        occupied = float("nan")
        if step % model.config.sampling.grid.update_every == 0:
            occupied = model.update_occupancy()
        self._set_lr(step)
        with torch.profiler.record_function("trainer.batch"):
            batch = self.data.sample(cfg.rays_per_step, self.generator)
        rescue = batch.mask > 0.5 if batch.mask is not None else None
        out = model.render_rays(
            batch.origins,
            batch.directions,
            train=True,
            background_color=self.background_color,
            rescue=rescue,
            color_rays=rescue if cfg.weights.mask > 0 else None,
            generator=self.generator,
        )
        w = cfg.weights
        color_weight = batch.mask if batch.mask is not None else None
        l_color = color_loss(out.rgb, batch.rgb, cfg.color_loss, color_weight)
        loss = w.color * l_color
        l_mask = torch.zeros((), device=model.device)
        if batch.mask is not None and w.mask > 0:
            l_mask = mask_loss(out.opacity, batch.mask)
            loss = loss + w.mask * l_mask
        l_orient = out.orientation.mean()
        if w.orientation > 0:
            loss = loss + w.orientation * l_orient
        with torch.profiler.record_function("trainer.geometry_losses"):
            geo = model.geometry_losses(
                out, cfg.eikonal_surface_points, cfg.eikonal_space_points, self.generator
            )
        if w.eikonal > 0:
            loss = loss + w.eikonal * geo.eikonal
        if w.normal > 0:
            loss = loss + w.normal * geo.normal
        if not bool(torch.isfinite(loss.detach())):
            raise self._diverged(step, f"the loss is {float(loss.detach())}")
        self.optimizer.zero_grad(set_to_none=True)
        with torch.profiler.record_function("trainer.backward"):
            loss.backward()
        with torch.profiler.record_function("trainer.optimizer"):
            self.optimizer.step()
        with torch.no_grad():
            err = out.rgb.detach() - batch.rgb
            if batch.mask is not None:
                mse = float((err**2).mean(-1).mul(batch.mask).sum() / batch.mask.sum().clamp_min(1.0))
            else:
                mse = float((err**2).mean())
        self.step = step + 1
        seconds = time.perf_counter() - t0
        self.train_seconds += seconds
        return StepStats(
            step=step,
            loss=float(loss.detach()),
            color=float(l_color.detach()),
            psnr=-10.0 * math.log10(max(mse, 1e-10)),
            eikonal=float(geo.eikonal.detach()),
            mask=float(l_mask.detach()),
            normal=float(geo.normal.detach()),
            orientation=float(l_orient.detach()),
            inv_s=float(model.inv_s.detach()),
            samples_per_ray=out.num_samples / max(cfg.rays_per_step, 1),
            occupied=occupied,
            seconds=seconds,
        )

    def _diverged(self, step: int, what: str) -> TrainingDiverged:
        if self.checkpoint_dir is None:
            return TrainingDiverged(f"training diverged at step {step}: {what}")
        from fields3d.io.atomic import write_json

        write_json(self.checkpoint_dir / "diverged.json", {"step": step, "what": what})
        latest = self.checkpoint_dir / "latest.pt"
        if latest.exists():
            return TrainingDiverged(
                f"training diverged at step {step}: {what}; this is the last good checkpoint: run the same "
                "command with --resume to continue from it (the learning rate is halved on resume after a "
                "divergence)",
                latest,
            )
        return TrainingDiverged(
            f"training diverged at step {step}: {what}, before the first checkpoint; start the run again "
            "(another --seed, or fewer --rays)",
            self.checkpoint_dir,
        )

    def train(self, until: int | None = None) -> list[dict]:
        """Run from ``self.step`` to ``config.steps`` (or to step ``until``, as an interrupted run would stop,
        with a checkpoint there); returns the history (one dict per ``log_every`` steps)."""
        from tqdm.auto import tqdm

        cfg = self.config
        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            desc="training",
            unit="step",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        smooth_psnr = None
        last_occupied = float("nan")
        try:
            stop = cfg.steps if until is None else min(until, cfg.steps)
            while self.step < stop:
                stats = self.train_step()
                if not math.isnan(stats.occupied):
                    last_occupied = stats.occupied
                smooth_psnr = stats.psnr if smooth_psnr is None else 0.9 * smooth_psnr + 0.1 * stats.psnr
                if stats.step % self.log_every == 0 or self.step == cfg.steps:
                    record = stats.as_dict()
                    record["occupied"] = last_occupied
                    self.history.append(record)
                bar.update(1)
                bar.set_postfix(
                    loss=f"{stats.loss:.4f}",
                    psnr=f"{smooth_psnr:.2f}",
                    s=f"{stats.inv_s:.0f}",
                    spr=f"{stats.samples_per_ray:.1f}",
                    refresh=False,
                )
                if self.step % cfg.checkpoint_every == 0 and self.step < cfg.steps:
                    if self.save() is None and self.checkpoint_dir is not None:
                        raise self._diverged(self.step, "a parameter or optimiser moment is not finite")
        except KeyboardInterrupt:
            self.save()
            raise
        finally:
            bar.close()
        if self.checkpoint_dir is not None and self.save() is None:
            raise self._diverged(self.step, "a parameter or optimiser moment is not finite")
        return self.history
