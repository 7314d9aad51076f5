"""Per-frame maps the optimiser works on: normalised depth priors, validity and colour at low resolution.

A depth prior ``d`` (any per-frame scale and shift) is block-averaged to the working resolution over its
valid pixels (a cell is valid when at least ``min_cell_coverage`` of it is), then normalised per frame::

    n = (d - median(d)) / mean|d - median(d)|

so every frame's prior has median 0 and unit mean absolute deviation; the optimiser's per-frame scale and
shift (:mod:`fields3d.frozenrecon.parameters`) act on ``n``.  ``center`` and ``spread`` keep the raw
prior's statistics, so rectification can be applied to the full-resolution prior later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class FrameMaps:
    """N frames at the working resolution (h, w); the full image is ``width`` x ``height`` pixels.

    Attributes:
        prior: (N, h, w) float64 normalised prior (0 where invalid).
        valid: (N, h, w) bool, cells with a prior value.
        color: (N, 3, h, w) float64 RGB in [0, 1].
        center, spread: (N,) float64 median and mean absolute deviation of each raw prior.
    """

    prior: torch.Tensor
    valid: torch.Tensor
    color: torch.Tensor
    center: torch.Tensor
    spread: torch.Tensor
    width: int
    height: int

    def __len__(self) -> int:
        return self.prior.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.prior.shape[1]), int(self.prior.shape[2])

    def to(self, device) -> FrameMaps:
        return FrameMaps(
            self.prior.to(device),
            self.valid.to(device),
            self.color.to(device),
            self.center.to(device),
            self.spread.to(device),
            self.width,
            self.height,
        )

    def subset(self, frames: list[int]) -> FrameMaps:
        """The listed frames, in that order."""
        idx = torch.as_tensor(frames, dtype=torch.long, device=self.prior.device)
        return FrameMaps(
            self.prior[idx],
            self.valid[idx],
            self.color[idx],
            self.center[idx],
            self.spread[idx],
            self.width,
            self.height,
        )

    def stacked(self) -> torch.Tensor:
        """(N, 5, h, w): normalised prior, validity (0/1), RGB — the maps the warp samples."""
        return torch.cat([self.prior[:, None], self.valid[:, None].to(self.prior.dtype), self.color], 1)

    def median_prior(self) -> torch.Tensor:
        """(N,) median of each frame's normalised prior over its valid cells (about 0 by construction)."""
        cached = getattr(self, "_median_prior", None)
        if cached is None or cached.device != self.prior.device:
            cached = torch.stack([self.prior[k][self.valid[k]].median() for k in range(len(self))])
            self._median_prior = cached
        return cached

    def normalize(self, raw: torch.Tensor) -> torch.Tensor:
        """Normalise raw prior values (N, ...) with each frame's ``center`` and ``spread``."""
        shape = (-1,) + (1,) * (raw.ndim - 1)
        return (raw - self.center.reshape(shape)) / self.spread.reshape(shape)


def working_size(width: int, height: int, cells: int) -> tuple[int, int]:
    """(h, w) of the working grid: ``cells`` columns along the longer side, aspect kept (>= 4 cells)."""
    if width >= height:
        w = min(cells, width)
        h = max(4, min(height, round(w * height / width)))
    else:
        h = min(cells, height)
        w = max(4, min(width, round(h * width / height)))
    return h, w


def downsample_prior(
    depth: np.ndarray, size: tuple[int, int], min_cell_coverage: float = 0.75
) -> tuple[torch.Tensor, torch.Tensor]:
    """Block-average an (H, W) prior (non-finite = missing) to ``size`` (h, w) over its valid pixels.

    Returns (h, w) float64 values (0 where invalid) and (h, w) bool validity.
    """
    d = torch.from_numpy(np.asarray(depth, dtype=np.float64))[None, None]
    ok = torch.isfinite(d)
    num = F.interpolate(torch.where(ok, d, torch.zeros_like(d)), size=size, mode="area")
    den = F.interpolate(ok.to(d.dtype), size=size, mode="area")
    valid = den >= min_cell_coverage
    value = torch.where(valid, num / den.clamp_min(1e-12), torch.zeros_like(num))
    return value[0, 0], valid[0, 0]


def downsample_color(image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """(H, W, 3) float RGB -> (3, h, w) float64 area average."""
    t = torch.from_numpy(np.asarray(image, dtype=np.float64)).permute(2, 0, 1)[None]
    return F.interpolate(t, size=size, mode="area")[0]


def build_frame_maps(
    priors: list[np.ndarray], colors: list[np.ndarray], size: tuple[int, int], min_cell_coverage: float = 0.75
) -> FrameMaps:
    """Downsample and normalise N priors (H, W) and colour images (H, W, 3) to ``size`` (h, w).

    Raises:
        ValueError: a frame has fewer than 16 valid cells or a constant prior (callers check priors
            earlier and name the file; this guards the numerics).
    """
    if len(priors) != len(colors) or not priors:
        raise ValueError(
            f"expected as many priors as colour images (>= 1), got {len(priors)} and {len(colors)}"
        )
    height, width = np.asarray(priors[0]).shape
    values, valids, cols, centers, spreads = [], [], [], [], []
    for k, (d, c) in enumerate(zip(priors, colors, strict=True)):
        v, ok = downsample_prior(d, size, min_cell_coverage)
        if int(ok.sum()) < 16:
            raise ValueError(f"frame {k}: expected >= 16 valid cells at {size}, got {int(ok.sum())}")
        center = v[ok].median()
        spread = (v[ok] - center).abs().mean()
        if not spread > 0:
            raise ValueError(f"frame {k}: expected a prior that varies, got a constant one")
        values.append(torch.where(ok, (v - center) / spread, torch.zeros_like(v)))
        valids.append(ok)
        cols.append(downsample_color(c, size))
        centers.append(center)
        spreads.append(spread)
    return FrameMaps(
        torch.stack(values),
        torch.stack(valids),
        torch.stack(cols),
        torch.stack(centers),
        torch.stack(spreads),
        int(width),
        int(height),
    )
