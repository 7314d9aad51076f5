"""Appearance of a G-Shell surface: an albedo volume (a small 3D texture) shaded by learned lights.

The colour of a surface point x with a unit normal n turned towards the camera is

    rgb(x, n) = albedo(x) * (ambient + sum_k strength_k * max(0, n . l_k))

with ``albedo`` trilinear in a dense (3, nx, ny, nz) grid (sigmoid of the parameters, so in [0, 1]) and
K directional lights ``l_k`` (learned directions, softplus strengths) plus a learned ambient term —
the model of a diffuse object under fixed lights, evaluated per pixel at the rasterized surface point.
The texture lives in space rather than on the mesh, so it survives the mesh changing every step and
the two sides of a thin sheet share one albedo.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fields3d.extract.grid import SampleGrid


@dataclass
class GShellAppearanceConfig:
    """Size of the albedo volume and number of lights."""

    resolution: int = 64
    """Albedo grid points along the longest side of the box."""
    lights: int = 3
    """Directional lights (plus an ambient term)."""

    def validate(self) -> None:
        if self.resolution < 2:
            raise ValueError(f"expected an albedo resolution >= 2, got {self.resolution}")
        if self.lights < 0:
            raise ValueError(f"expected lights >= 0, got {self.lights}")


class GShellAppearance(nn.Module):
    """Albedo volume over ``aabb`` and learned Lambertian lights (see the module docstring).

    Args:
        aabb: (2, 3) box the albedo volume covers (outside it the albedo is clamped to the border).
    """

    def __init__(self, aabb, config: GShellAppearanceConfig | None = None):
        super().__init__()
        from fields3d.fields.gshell_grid import cubic_grid

        self.config = config or GShellAppearanceConfig()
        self.config.validate()
        self.grid: SampleGrid = cubic_grid(aabb, max(self.config.resolution, 4))
        self.albedo_logits = nn.Parameter(torch.zeros(3, *self.grid.shape))
        k = self.config.lights
        directions = torch.randn(k, 3, generator=torch.Generator().manual_seed(1))
        self.light_directions = nn.Parameter(directions / directions.norm(dim=1, keepdim=True))
        self.light_strength_raw = nn.Parameter(torch.full((k,), -1.0))  # softplus -> 0.31
        self.ambient_raw = nn.Parameter(torch.tensor(0.5))  # softplus -> 0.97

    def albedo(self, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) world points -> (N, 3) albedo in [0, 1]."""
        from fields3d.fields.gshell_grid import trilinear

        return torch.sigmoid(trilinear(self.albedo_logits, self.grid, points, 0.0))

    def shading(self, normals: torch.Tensor) -> torch.Tensor:
        """(N, 3) unit normals facing the camera -> (N,) light intensity."""
        ambient = torch.nn.functional.softplus(self.ambient_raw)
        if self.config.lights == 0:
            return ambient.expand(normals.shape[0])
        dirs = torch.nn.functional.normalize(self.light_directions, dim=1)
        strength = torch.nn.functional.softplus(self.light_strength_raw)
        return ambient + (torch.relu(normals @ dirs.T) * strength).sum(-1)

    def forward(self, points: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
        """(N, 3) points and (N, 3) camera-facing unit normals -> (N, 3) colours (not clamped)."""
        return self.albedo(points) * self.shading(normals)[:, None]
