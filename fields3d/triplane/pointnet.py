"""PointNet (Qi et al. 2017, without the input/feature transforms): the point-cloud baseline for tri-plane
classification, trained on points sampled from the same meshes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class PointNetConfig:
    widths: tuple[int, ...] = (64, 128, 1024)
    """Widths of the shared per-point MLP."""
    head: tuple[int, ...] = (512, 256)
    """Widths of the classification head."""
    dropout: float = 0.3


class PointNet(nn.Module):
    """``forward(points (B, N, 3)) -> (B, num_classes)`` logits; invariant to point order."""

    def __init__(self, num_classes: int, config: PointNetConfig | None = None):
        super().__init__()
        self.config = config = config or PointNetConfig()
        layers, c_in = [], 3
        for w in config.widths:
            layers += [nn.Conv1d(c_in, w, 1), nn.BatchNorm1d(w), nn.ReLU(inplace=True)]
            c_in = w
        self.features = nn.Sequential(*layers)
        head = []
        for w in config.head:
            head += [nn.Linear(c_in, w), nn.BatchNorm1d(w), nn.ReLU(inplace=True), nn.Dropout(config.dropout)]
            c_in = w
        self.head = nn.Sequential(*head, nn.Linear(c_in, num_classes))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        if points.ndim != 3 or points.shape[2] != 3:
            raise ValueError(f"expected points (B, N, 3), got {tuple(points.shape)}")
        return self.head(self.features(points.transpose(1, 2)).max(dim=2).values)
