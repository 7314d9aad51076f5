"""Fitting B tri-plane fields at once to their shapes' supervision (one Adam over all objects).

The loss is the SUM over objects of each object's mean loss, and Adam is per-parameter, so every object
is fitted exactly as if alone: the batch only shares the passes. Seeded (point draws from one
``torch.Generator``), resumable (:class:`FitState` holds everything needed to continue).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from fields3d.triplane.field_batch import BatchedMLP, TriplaneFieldBatch, TriplaneFieldConfig


@dataclass
class FitConfig:
    """Optimisation of a batch of tri-plane fields."""

    steps: int = 600
    """Optimisation steps per batch."""
    points_per_step: int = 2048
    """Query points per object per step (drawn from its supervision pool)."""
    lr: float = 1e-2
    """Adam learning rate of the planes."""
    decoder_lr: float = 2e-3
    """Adam learning rate of the decoder(s)."""
    lr_final_ratio: float = 0.1
    """Cosine decay of both learning rates down to this fraction at the last step."""
    truncation: float = 0.1
    """sdf / udf: values beyond +-truncation (normalised units) are clamped (loss on the clamped field)."""
    seed: int = 0
    """Seed of the point draws (planes and decoders are seeded per object, see TriplaneFieldBatch)."""


@dataclass
class FitState:
    """Everything needed to resume a fit: parameters, optimiser, generator, step, loss history."""

    step: int
    model: dict
    optimizer: dict
    generator: torch.Tensor
    history: list = field(default_factory=list)


@dataclass
class FitResult:
    """A finished fit: the fields, each object's final loss (mean of the last 10% of steps), timing."""

    fields: TriplaneFieldBatch
    final_loss: torch.Tensor
    history: list
    seconds: float


def field_loss(pred: torch.Tensor, target: torch.Tensor, field_name: str, truncation: float) -> torch.Tensor:
    """(B, N) predictions and targets -> (B,) per-object mean loss.

    sdf / udf: L1 between values clamped to +-``truncation``; occupancy: binary cross-entropy on logits.
    """
    if field_name in ("sdf", "udf"):
        return (pred.clamp(-truncation, truncation) - target.clamp(-truncation, truncation)).abs().mean(dim=1)
    if field_name == "occupancy":
        return F.binary_cross_entropy_with_logits(pred, target, reduction="none").mean(dim=1)
    raise ValueError(f"expected field in ('sdf', 'udf', 'occupancy'), got {field_name!r}")


def _lr_factor(step: int, steps: int, final_ratio: float) -> float:
    t = step / max(steps - 1, 1)
    return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def make_optimizer(
    fields: TriplaneFieldBatch, config: FitConfig, train_decoder: bool = True
) -> torch.optim.Adam:
    groups = [{"params": [fields.encoding.planes], "lr": config.lr, "base_lr": config.lr}]
    if train_decoder:
        groups.append(
            {
                "params": list(fields.decoder.parameters()),
                "lr": config.decoder_lr,
                "base_lr": config.decoder_lr,
            }
        )
    return torch.optim.Adam(groups)


def fit_fields(
    points: torch.Tensor,
    values: torch.Tensor,
    field_name: str,
    field_config: TriplaneFieldConfig,
    config: FitConfig,
    seeds: list[int],
    *,
    shared_decoder: BatchedMLP | None = None,
    train_decoder: bool = True,
    resume: FitState | None = None,
    checkpoint: Callable[[FitState], None] | None = None,
    checkpoint_every: int = 100,
    progress: str | None = None,
) -> FitResult:
    """Fit B fields to their supervision.

    Args:
        points: (B, M, 3) float32 normalised query points of each object (on the device to fit on).
        values: (B, M) float32 target values (sdf, udf or occupancy in {0, 1}).
        field_name: "sdf" | "udf" | "occupancy".
        field_config: planes and decoder.
        config: optimisation.
        seeds: one per object (initial planes / decoder).
        shared_decoder: with ``field_config.decoder == "shared"``, the decoder every object uses.
        train_decoder: False freezes the decoder (a shared decoder fitted earlier).
        resume: a state saved by ``checkpoint`` to continue from.
        checkpoint: called with the state every ``checkpoint_every`` steps (not after the last step).
        progress: a tqdm description, or None for no bar.
    Returns:
        :class:`FitResult`.
    """
    if points.ndim != 3 or points.shape[2] != 3 or values.shape != points.shape[:2]:
        raise ValueError(
            "expected points (B, M, 3) and values (B, M), "
            f"got {tuple(points.shape)} and {tuple(values.shape)}"
        )
    n, m = points.shape[:2]
    device = points.device
    fields = TriplaneFieldBatch(n, field_config, seeds=seeds, shared_decoder=shared_decoder).to(device)
    if not train_decoder:
        for p in fields.decoder.parameters():
            p.requires_grad_(False)
    optimizer = make_optimizer(fields, config, train_decoder)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    start, history = 0, []
    if resume is not None:
        fields.load_state_dict(resume.model)
        optimizer.load_state_dict(resume.optimizer)
        generator.set_state(resume.generator)
        start, history = resume.step, list(resume.history)
    bar = None
    if progress is not None:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=start, desc=progress, unit="step", leave=False)
    t0 = time.perf_counter()
    tail = max(1, config.steps // 10)
    recent = []
    rows = torch.arange(n, device=device)[:, None]
    for step in range(start, config.steps):
        factor = _lr_factor(step, config.steps, config.lr_final_ratio)
        for g in optimizer.param_groups:
            g["lr"] = g["base_lr"] * factor
        pick = torch.randint(0, m, (n, config.points_per_step), generator=generator).to(device)
        x = points[rows, pick]
        y = values[rows, pick]
        pred = fields(x)[..., 0]
        per_object = field_loss(pred, y, field_name, config.truncation)
        loss = per_object.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= config.steps - tail:
            recent.append(per_object.detach())
        if step % 50 == 0 or step == config.steps - 1:
            history.append((step, float(per_object.detach().mean())))
        if bar is not None:
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{float(loss.detach()) / n:.4g}")
        if checkpoint is not None and (step + 1) % checkpoint_every == 0 and step + 1 < config.steps:
            checkpoint(
                FitState(
                    step + 1,
                    copy.deepcopy(fields.state_dict()),
                    copy.deepcopy(optimizer.state_dict()),
                    generator.get_state(),
                    list(history),
                )
            )
    if bar is not None:
        bar.close()
    final = torch.stack(recent).mean(0).cpu() if recent else torch.full((n,), float("nan"))
    return FitResult(fields, final, history, time.perf_counter() - t0)
