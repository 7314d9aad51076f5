"""Ray bundles."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class RayBundle:
    """R rays in world space.

    Attributes:
        origins: (R, 3) float32 ray origins (camera centres), world units.
        directions: (R, 3) float32 unit directions.
        camera_index: (R,) int64 index of the camera each ray belongs to.
    """

    origins: torch.Tensor
    directions: torch.Tensor
    camera_index: torch.Tensor

    def __len__(self) -> int:
        return self.origins.shape[0]

    def __getitem__(self, idx) -> RayBundle:
        return RayBundle(self.origins[idx], self.directions[idx], self.camera_index[idx])

    def at(self, t: torch.Tensor) -> torch.Tensor:
        """Points at distances ``t`` (R,) or (R, S) along the rays -> (R, 3) or (R, S, 3)."""
        if t.ndim == 1:
            return self.origins + t[:, None] * self.directions
        return self.origins[:, None] + t[..., None] * self.directions[:, None]

    def to(self, device) -> RayBundle:
        return RayBundle(self.origins.to(device), self.directions.to(device), self.camera_index.to(device))
