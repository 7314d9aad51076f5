"""Part segmentation from a tri-plane: a part label for any query point.

For a point x and each channel c, the channel's three plane readings at x (3 numbers) are embedded and
added to the channel's token from a :class:`~fields3d.triplane.classifier.ChannelTokenEncoder` (context:
what that channel means for this shape); an MLP and a max over channels give a per-point feature that
does not depend on channel order. It is joined with the shape feature and a Fourier encoding of x, and
an MLP predicts the part logits. Per-face part labels become labelled surface points for training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from fields3d.triplane.classifier import ChannelTokenEncoder, ChannelTransformerConfig


@dataclass
class SegmenterConfig:
    """Sizes of the segmenter's point branch (the token encoder has its own config)."""

    point_dim: int = 64
    """Width of the per-(point, channel) embedding."""
    fourier_frequencies: int = 4
    """Octaves of the sin/cos encoding of the point position (0: none)."""
    hidden: int = 128
    """Width of the per-point MLP."""
    dropout: float = 0.1


def plane_readings(planes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(B, 3, C, R, R) planes, (B, N, 3) normalised points -> (B, N, C, 3) each channel's bilinear reading
    on planes xy, xz, yz (pure PyTorch, differentiable)."""
    from fields3d.ops.triplane import triplane_torch

    b, n = points.shape[:2]
    c = planes.shape[2]
    index = torch.arange(b, device=points.device)[:, None].expand(b, n).reshape(-1)
    u = ((points.reshape(-1, 3) + 1.0) * 0.5).to(planes.dtype)
    values = triplane_torch(u, planes, index, "concat")  # (B N, 3C) plane-major
    return values.reshape(b, n, 3, c).transpose(2, 3)


def fourier_features(points: torch.Tensor, octaves: int) -> torch.Tensor:
    """(..., 3) -> (..., 3 + 6 * octaves): x, sin(2^k pi x), cos(2^k pi x)."""
    if octaves == 0:
        return points
    freqs = (2.0 ** torch.arange(octaves, device=points.device, dtype=points.dtype)) * math.pi
    ang = points[..., None] * freqs  # (..., 3, K)
    return torch.cat([points, ang.sin().flatten(-2), ang.cos().flatten(-2)], dim=-1)


class TriplaneSegmenter(nn.Module):
    """``forward(planes (B, 3, C, R, R), points (B, N, 3)) -> (B, N, num_parts)`` part logits."""

    def __init__(
        self,
        num_parts: int,
        resolution: int,
        encoder_config: ChannelTransformerConfig | None = None,
        config: SegmenterConfig | None = None,
    ):
        super().__init__()
        self.config = config = config or SegmenterConfig()
        self.encoder = ChannelTokenEncoder(resolution, encoder_config)
        d, p = self.encoder.config.dim, config.point_dim
        self.reading = nn.Linear(3, p)
        self.context = nn.Linear(d, p)
        self.channel_mlp = nn.Sequential(nn.GELU(), nn.Linear(p, p), nn.GELU(), nn.Linear(p, p))
        in_dim = p + d + 3 + 6 * config.fourier_frequencies
        self.point_mlp = nn.Sequential(
            nn.Linear(in_dim, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, num_parts),
        )

    @property
    def standardize(self):
        return self.encoder.standardize

    def forward(self, planes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        if points.ndim != 3 or points.shape[0] != planes.shape[0] or points.shape[2] != 3:
            raise ValueError(f"expected points ({planes.shape[0]}, N, 3), got {tuple(points.shape)}")
        tokens, shape_feature = self.encoder(planes)  # (B, C, D), (B, D)
        readings = self.standardize(plane_readings(planes, points))  # (B, N, C, 3)
        h = self.reading(readings) + self.context(tokens)[:, None]  # (B, N, C, P)
        h = self.channel_mlp(h).max(dim=2).values  # (B, N, P)
        n = points.shape[1]
        x = torch.cat(
            [
                h,
                shape_feature[:, None].expand(-1, n, -1),
                fourier_features(points, self.config.fourier_frequencies),
            ],
            -1,
        )
        return self.point_mlp(x)
