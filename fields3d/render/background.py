"""The background of unbounded captures: scene contraction and a small density field outside the unit sphere.

Everything beyond the unit sphere (the region the SDF reconstructs) is a NeRF-like density and colour
field on the *contracted* coordinates of mip-NeRF 360,

    contract(x) = x                          if |x| <= 1
                  (2 - 1 / |x|) x / |x|      otherwise          (the whole space -> the ball of radius 2),

sampled uniformly in inverse distance from where a ray leaves the unit sphere to ``far``, and
composited behind the foreground: ``C = C_fg + T_fg C_bg``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from fields3d.encodings import HashGridEncoding, HashGridEncodingConfig, spherical_harmonics
from fields3d.fields.mlp import MLP, MLPConfig


def contract(x: torch.Tensor) -> torch.Tensor:
    """mip-NeRF 360's contraction of (..., 3) points into the ball of radius 2 (identity inside the unit
    ball)."""
    if x.shape[-1] != 3:
        raise ValueError(f"expected points of shape (..., 3), got {tuple(x.shape)}")
    norm = x.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    return torch.where(norm <= 1.0, x, (2.0 - 1.0 / norm) * (x / norm))


def inverse_depth_samples(
    start: torch.Tensor, far: float, count: int, jitter: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(R, count + 1) interval edges from ``start`` (R,) to ``far``, uniform in 1 / t (stratified when
    jittered)."""
    if count < 1:
        raise ValueError(f"expected count >= 1, got {count}")
    r = start.shape[0]
    edges = torch.linspace(0.0, 1.0, count + 1, device=start.device, dtype=start.dtype)[None].expand(r, -1)
    if jitter:
        u = (torch.rand(r, count + 1, device=start.device, generator=generator) - 0.5) / count
        u[:, 0] = 0.0
        u[:, -1] = 0.0
        edges = (edges + u).clamp(0.0, 1.0)
    inv_start = 1.0 / start.clamp_min(1e-4)[:, None]
    inv = inv_start * (1.0 - edges) + edges / far
    return 1.0 / inv


@dataclass
class BackgroundFieldConfig:
    """Density + colour field on contracted coordinates."""

    grid: HashGridEncodingConfig = field(
        default_factory=lambda: HashGridEncodingConfig(
            n_levels=8, features_per_level=2, log2_table_size=16, base_resolution=16, finest_resolution=256
        )
    )
    """Hash grid over the contracted ball (the cube [-2, 2]^3)."""
    mlp: MLPConfig = field(default_factory=lambda: MLPConfig(hidden_dim=32, n_hidden_layers=1))
    """Density / colour MLPs."""
    feature_dim: int = 8
    """Features passed from the density MLP to the colour MLP."""
    sh_degrees: int = 3
    """Spherical-harmonic bands of the view direction."""
    samples: int = 16
    """Samples per ray, uniform in inverse distance."""
    far: float = 100.0
    """Farthest sample distance, normalised units."""

    def validate(self) -> None:
        if self.samples < 1:
            raise ValueError(f"expected background samples >= 1, got {self.samples}")
        if not self.far > 1.0:
            raise ValueError(f"expected background far > 1 (the unit sphere), got {self.far}")
        self.mlp.validate()


@dataclass
class BackgroundOutput:
    """Per-ray background: (R, 3) premultiplied colour and (R,) opacity."""

    rgb: torch.Tensor
    opacity: torch.Tensor


class BackgroundField(nn.Module):
    """NeRF outside the unit sphere; :meth:`render` composites it for the rays' segments beyond ``start``."""

    def __init__(self, config: BackgroundFieldConfig | None = None):
        super().__init__()
        self.config = config = config or BackgroundFieldConfig()
        config.validate()
        self.encoding = HashGridEncoding(config.grid)
        self.density_mlp = MLP(self.encoding.out_dim, 1 + config.feature_dim, config.mlp)
        self.color_mlp = MLP(config.feature_dim + config.sh_degrees**2, 3, config.mlp)

    def update_step(self, step: int) -> None:
        self.encoding.update_step(step)

    def forward(self, points: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3) points (normalised frame, any distance), (N, 3) unit directions -> density (N,),
        rgb (N, 3)."""
        unit = (contract(points) / 2.0 + 1.0) * 0.5
        h = self.density_mlp(self.encoding(unit))
        density = nn.functional.softplus(h[:, 0] - 1.0)
        sh = spherical_harmonics(directions, self.config.sh_degrees)
        rgb = torch.sigmoid(self.color_mlp(torch.cat([h[:, 1:], sh], dim=-1)))
        return density, rgb

    def render(
        self,
        origins: torch.Tensor,
        directions: torch.Tensor,
        start: torch.Tensor,
        jitter: bool,
        generator: torch.Generator | None = None,
    ) -> BackgroundOutput:
        """Composite the background along (R, 3) rays from ``start`` (R,) (where they leave the unit
        sphere)."""
        n = self.config.samples
        edges = inverse_depth_samples(start, self.config.far, n, jitter, generator)  # (R, n + 1)
        mid = 0.5 * (edges[:, :-1] + edges[:, 1:])
        delta = edges[:, 1:] - edges[:, :-1]
        pts = origins[:, None, :] + mid[..., None] * directions[:, None, :]
        dirs = directions[:, None, :].expand(-1, n, -1)
        density, rgb = self(pts.reshape(-1, 3), dirs.reshape(-1, 3))
        alpha = 1.0 - torch.exp(-density.view(-1, n) * delta)
        survive = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-7], dim=1), dim=1)
        weights = alpha * survive[:, :-1]
        return BackgroundOutput((weights[..., None] * rgb.view(-1, n, 3)).sum(1), weights.sum(1))
