"""Tri-plane encodings: one object's three feature planes, or a batch of objects' tri-planes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fields3d.encodings.base import Encoding
from fields3d.ops.triplane import BACKENDS, REDUCTIONS, triplane_sample


@dataclass
class TriplaneEncodingConfig:
    """Three axis-aligned feature planes (xy, xz, yz), each channels x resolution x resolution."""

    channels: int = 32
    """Feature channels per plane."""
    resolution: int = 256
    """Texels per side of each plane."""
    reduce: str = "sum"
    """How the three plane readings combine: sum | product (-> channels) | concat (-> 3 * channels)."""
    init_std: float = 0.1
    """Initial plane values are normal with this standard deviation (product: keep it near 1)."""
    backend: str = "auto"
    """auto | torch | cpp | cuda (see fields3d.ops.triplane)."""


def _check_config(config: TriplaneEncodingConfig) -> None:
    if config.reduce not in REDUCTIONS:
        raise ValueError(f"expected reduce in {REDUCTIONS}, got {config.reduce!r}")
    if config.backend not in BACKENDS:
        raise ValueError(f"expected backend in {BACKENDS}, got {config.backend!r}")
    if config.channels < 1 or config.resolution < 2:
        raise ValueError(
            f"expected channels >= 1 and resolution >= 2, got {config.channels} and {config.resolution}"
        )


def _channel_last_parameter(n_objects: int | None, config: TriplaneEncodingConfig) -> nn.Parameter:
    """Planes of shape (3, C, R, R) (or (B, 3, C, R, R)) stored channel-last in memory, so the kernels
    read them (and write their gradients) without a permuted copy."""
    c, r = config.channels, config.resolution
    if n_objects is None:
        data = torch.empty(3, r, r, c).normal_(0.0, config.init_std).permute(0, 3, 1, 2)
    else:
        data = torch.empty(n_objects, 3, r, r, c).normal_(0.0, config.init_std).permute(0, 1, 4, 2, 3)
    return nn.Parameter(data)


class TriplaneEncoding(Encoding):
    """(..., 3) points in [0, 1]^3 -> (..., C) (sum, product) or (..., 3C) (concat) features.

    ``planes`` is ``(3, C, R, R)`` (xy, xz, yz; rows follow the plane's second axis), bilinear with
    texel centres at 0 and 1 (``grid_sample(..., align_corners=True)``).
    """

    def __init__(self, config: TriplaneEncodingConfig | None = None):
        super().__init__()
        self.config = config = config or TriplaneEncodingConfig()
        _check_config(config)
        self.in_dim = 3
        self.out_dim = config.channels * (3 if config.reduce == "concat" else 1)
        self.planes = _channel_last_parameter(None, config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat, lead = self._flatten(x)
        out = triplane_sample(
            flat.to(self.planes.dtype), self.planes, None, self.config.reduce, self.config.backend
        )
        return out.reshape(*lead, self.out_dim)

    def extra_repr(self) -> str:
        c = self.config
        return f"channels={c.channels}, resolution={c.resolution}, reduce={c.reduce}, backend={c.backend}"


class BatchedTriplaneEncoding(nn.Module):
    """The tri-planes of ``n_objects`` objects at once, ``planes`` of shape (B, 3, C, R, R), for fitting
    many tri-planes in one optimisation: ``forward(x, index)`` reads object ``index[i]`` at ``x[i]``."""

    def __init__(self, n_objects: int, config: TriplaneEncodingConfig | None = None):
        super().__init__()
        if n_objects < 1:
            raise ValueError(f"expected n_objects >= 1, got {n_objects}")
        self.config = config = config or TriplaneEncodingConfig()
        _check_config(config)
        self.n_objects = n_objects
        self.in_dim = 3
        self.out_dim = config.channels * (3 if config.reduce == "concat" else 1)
        self.planes = _channel_last_parameter(n_objects, config)

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """x: (..., 3) points in [0, 1]^3; index: (...) int64 object of each point -> (..., out_dim)."""
        if x.ndim < 1 or x.shape[-1] != 3:
            raise ValueError(f"expected points of shape (..., 3), got {tuple(x.shape)}")
        if index.shape != x.shape[:-1]:
            raise ValueError(
                f"expected an object index of shape {tuple(x.shape[:-1])}, got {tuple(index.shape)}"
            )
        flat = x.reshape(-1, 3).to(self.planes.dtype)
        out = triplane_sample(
            flat, self.planes, index.reshape(-1).long(), self.config.reduce, self.config.backend
        )
        return out.reshape(*x.shape[:-1], self.out_dim)

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"objects={self.n_objects}, channels={c.channels}, resolution={c.resolution}, "
            f"reduce={c.reduce}, backend={c.backend}"
        )
