"""The interface every encoding implements."""

from __future__ import annotations

import torch
from torch import nn


class Encoding(nn.Module):
    """Maps ``(..., in_dim)`` inputs to ``(..., out_dim)`` features.

    Positional encodings take points in [0, 1]^in_dim (normalise the scene's bounding box first);
    directional ones take unit vectors. ``update_step(step)`` advances coarse-to-fine schedules (a
    no-op for encodings without one); call it with the optimisation step before each forward pass
    (and after loading a checkpoint).
    """

    in_dim: int
    out_dim: int

    def update_step(self, step: int) -> None:  # noqa: B027 - deliberately a no-op by default
        """Advance the coarse-to-fine schedule to optimisation step ``step`` (default: nothing)."""

    def _flatten(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """(..., in_dim) -> (N, in_dim) and the leading shape, validating the last dimension."""
        if x.ndim < 1 or x.shape[-1] != self.in_dim:
            raise ValueError(f"expected inputs of shape (..., {self.in_dim}), got {tuple(x.shape)}")
        return x.reshape(-1, self.in_dim), tuple(x.shape[:-1])
