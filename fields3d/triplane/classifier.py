"""Networks that read tri-planes directly (Cardace et al., ICLR 2024).

Tri-planes fitted from random starts agree up to a permutation of their channels, so the main network
does not care about channel order: each channel (its three R x R slices, one per plane) is one token,
embedded by a shared linear map; a transformer encoder without positional encoding mixes the tokens;
max-pooling over tokens gives the shape's feature. Permuting the channels permutes the tokens and leaves
the output unchanged (exactly).

:class:`TriplaneCNN` is the baseline that ignores this: the 3C slices stacked as image channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ChannelTransformerConfig:
    """Size of the channel-token transformer."""

    dim: int = 128
    """Token width."""
    layers: int = 4
    """Transformer encoder layers."""
    heads: int = 4
    """Attention heads."""
    mlp_ratio: float = 2.0
    """Feed-forward width / token width."""
    dropout: float = 0.1
    """Dropout in the encoder and the head."""


def _check_planes(planes: torch.Tensor, channels: int, resolution: int) -> None:
    if planes.ndim != 5 or planes.shape[1] != 3 or planes.shape[3:] != (resolution, resolution):
        raise ValueError(f"expected planes (B, 3, C, {resolution}, {resolution}), got {tuple(planes.shape)}")
    if channels and planes.shape[2] != channels:
        raise ValueError(f"expected {channels} channels, got {planes.shape[2]}")


class PlaneStandardizer(nn.Module):
    """(x - mean) / std with dataset-wide scalar statistics (buffers, saved with the model)."""

    def __init__(self, mean: float = 0.0, std: float = 1.0):
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, planes: torch.Tensor) -> torch.Tensor:
        return (planes - self.mean) / self.std


class ChannelTokenEncoder(nn.Module):
    """(B, 3, C, R, R) tri-planes -> (B, C, D) channel tokens (permutation-equivariant) and (B, D) feature
    (max over tokens, permutation-invariant)."""

    def __init__(self, resolution: int, config: ChannelTransformerConfig | None = None):
        super().__init__()
        self.config = config = config or ChannelTransformerConfig()
        self.resolution = resolution
        self.standardize = PlaneStandardizer()
        self.embed = nn.Sequential(
            nn.Linear(3 * resolution * resolution, config.dim), nn.LayerNorm(config.dim)
        )
        layer = nn.TransformerEncoderLayer(
            config.dim,
            config.heads,
            int(config.dim * config.mlp_ratio),
            config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.dim)

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_planes(planes, 0, self.resolution)
        b, _, c, r, _ = planes.shape
        tokens = self.standardize(planes).permute(0, 2, 1, 3, 4).reshape(b, c, 3 * r * r)
        tokens = self.norm(self.encoder(self.embed(tokens)))
        return tokens, tokens.max(dim=1).values


class ChannelTokenTransformer(nn.Module):
    """Tri-plane classifier: channel tokens -> transformer (no positional encoding) -> max-pool -> logits.

    ``forward(planes (B, 3, C, R, R)) -> (B, num_classes)`` logits, invariant to channel order.
    """

    def __init__(self, num_classes: int, resolution: int, config: ChannelTransformerConfig | None = None):
        super().__init__()
        self.encoder = ChannelTokenEncoder(resolution, config)
        d = self.encoder.config.dim
        self.head = nn.Sequential(
            nn.Linear(d, d), nn.GELU(), nn.Dropout(self.encoder.config.dropout), nn.Linear(d, num_classes)
        )

    @property
    def standardize(self) -> PlaneStandardizer:
        return self.encoder.standardize

    def forward(self, planes: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(planes)[1])


@dataclass
class TriplaneCNNConfig:
    """Width of the CNN baseline."""

    width: int = 64
    """Channels of the first convolution (doubled at each of the three stride-2 stages)."""
    dropout: float = 0.1


class TriplaneCNN(nn.Module):
    """Baseline: the 3C plane slices as one (3C, R, R) image -> convolutions -> global pooling -> logits.

    Depends on channel order (a permutation of the channels changes its output).
    """

    def __init__(
        self, num_classes: int, channels: int, resolution: int, config: TriplaneCNNConfig | None = None
    ):
        super().__init__()
        self.config = config = config or TriplaneCNNConfig()
        self.channels, self.resolution = channels, resolution
        self.standardize = PlaneStandardizer()
        w = config.width
        layers, c_in = [], 3 * channels
        for k, c_out in enumerate((w, 2 * w, 4 * w, 4 * w)):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=1 if k == 0 else 2, padding=1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.Conv2d(c_out, c_out, 3, padding=1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(config.dropout), nn.Linear(c_in, num_classes))

    def forward(self, planes: torch.Tensor) -> torch.Tensor:
        _check_planes(planes, self.channels, self.resolution)
        b, _, c, r, _ = planes.shape
        x = self.features(self.standardize(planes).reshape(b, 3 * c, r, r))
        return self.head(x.amax(dim=(2, 3)))
