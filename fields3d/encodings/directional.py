"""Ref-NeRF's integrated directional encoding (IDE) of reflected directions with a roughness."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fields3d.encodings.base import Encoding
from fields3d.encodings.spherical_harmonics import spherical_harmonics


def ide_bands(n_levels: int) -> list[int]:
    """Ref-NeRF's bands l = 1, 2, 4, ..., 2^(n_levels - 1)."""
    if n_levels < 1:
        raise ValueError(f"expected n_levels >= 1, got {n_levels}")
    return [2**i for i in range(n_levels)]


def integrated_directional_encoding(
    directions: torch.Tensor, roughness: torch.Tensor, n_levels: int = 5
) -> torch.Tensor:
    """IDE(omega, rho) ~= E[Y_l^m] under a von Mises-Fisher lobe of concentration 1 / rho.

    Args:
        directions: (..., 3) unit (reflected) directions.
        roughness: (..., 1) or (...) non-negative roughness rho (1 / kappa).
        n_levels: bands l = 1, 2, 4, ..., 2^(n_levels - 1) (Ref-NeRF uses 5).

    Returns:
        (..., sum(2l + 1)) features ``exp(-l (l + 1) rho / 2) Y_l^m(omega)``, band by band.
        Ref-NeRF stacks the real and imaginary parts of the complex Y_l^m, m = 0..l; the real
        harmonics m = -l..l used here span the same functions (up to constant factors), without
        Ref-NeRF's always-zero imaginary part of m = 0 (67 instead of 72 features for 5 levels).
    """
    bands = ide_bands(n_levels)
    if roughness.shape == directions.shape[:-1]:
        roughness = roughness.unsqueeze(-1)
    if roughness.shape != directions.shape[:-1] + (1,):
        raise ValueError(
            f"expected roughness of shape {tuple(directions.shape[:-1]) + (1,)}, got {tuple(roughness.shape)}"
        )
    sh = spherical_harmonics(directions, bands)
    sigma = torch.cat(
        [torch.full((2 * l + 1,), 0.5 * l * (l + 1), dtype=sh.dtype, device=sh.device) for l in bands]
    )
    return sh * torch.exp(-sigma * roughness.to(sh.dtype))


@dataclass
class IntegratedDirectionalEncodingConfig:
    """Ref-NeRF's IDE with bands l = 1, 2, 4, ..., 2^(n_levels - 1)."""

    n_levels: int = 5
    """Number of bands (Ref-NeRF: 5, i.e. l up to 16, 67 outputs)."""


class IntegratedDirectionalEncoding(Encoding):
    """``forward(directions (..., 3), roughness (..., 1))`` -> (..., out_dim); see
    :func:`integrated_directional_encoding`."""

    def __init__(self, config: IntegratedDirectionalEncodingConfig | None = None):
        super().__init__()
        self.config = config = config or IntegratedDirectionalEncodingConfig()
        self.bands = ide_bands(config.n_levels)
        self.in_dim = 3
        self.out_dim = sum(2 * l + 1 for l in self.bands)

    def forward(self, directions: torch.Tensor, roughness: torch.Tensor) -> torch.Tensor:
        return integrated_directional_encoding(directions, roughness, self.config.n_levels)
