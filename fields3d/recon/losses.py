"""Losses of SDF reconstruction from images: colour, mask, and their weighting with the regularisers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

COLOR_LOSSES = ("l1", "charbonnier", "mse")
CHARBONNIER_EPS = 1e-3


def color_loss(
    pred: torch.Tensor, target: torch.Tensor, kind: str = "l1", weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean colour error of (R, 3) predictions against (R, 3) targets.

    Args:
        kind: "l1", "charbonnier" (``sqrt(e^2 + 1e-6)``) or "mse".
        weight: optional (R,) per-ray weights (e.g. a mask); the mean is taken over their sum.
    """
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(
            f"expected two (R, C) tensors of one shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    err = pred - target
    if kind == "l1":
        per = err.abs()
    elif kind == "charbonnier":
        per = torch.sqrt(err * err + CHARBONNIER_EPS**2)
    elif kind == "mse":
        per = err * err
    else:
        raise ValueError(f"expected a colour loss in {COLOR_LOSSES}, got {kind!r}")
    per = per.mean(-1)
    if weight is None:
        return per.mean()
    return (per * weight).sum() / weight.sum().clamp_min(1.0)


def mask_loss(opacity: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy between (R,) rendered opacity and (R,) target masks in {0, 1}."""
    if opacity.shape != mask.shape:
        raise ValueError(
            f"expected opacity and mask of one shape, got {tuple(opacity.shape)} and {tuple(mask.shape)}"
        )
    o = opacity.clamp(1e-3, 1.0 - 1e-3)
    return -(mask * torch.log(o) + (1.0 - mask) * torch.log(1.0 - o)).mean()


@dataclass
class LossWeights:
    """Weights of the terms of the training loss."""

    color: float = 1.0
    """Colour error (``TrainConfig.color_loss``)."""
    eikonal: float = 0.1
    """(|grad f| - 1)^2 at surface samples and random points."""
    mask: float = 0.1
    """Binary cross-entropy of the rendered opacity against the masks (captures with masks)."""
    normal: float = 0.01
    """Predicted normals against the normalised SDF gradient."""
    orientation: float = 0.01
    """Ref-NeRF's penalty on predicted normals facing away from the camera."""

    def validate(self) -> None:
        for name in ("color", "eikonal", "mask", "normal", "orientation"):
            if getattr(self, name) < 0:
                raise ValueError(f"expected a non-negative {name} loss weight, got {getattr(self, name)}")


ColorLossKind = Literal["l1", "charbonnier", "mse"]
