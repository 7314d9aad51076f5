"""An occupancy grid over the SDF's cube, and the ray sampler that skips its empty cells.

A cell of the ``resolution^3`` grid over ``[-bound, bound]^3`` is *occupied* when the field's surface
band may pass through it: ``|sdf(centre)| <= band + safety * half_diagonal`` (for a 1-Lipschitz signed
distance no point of an empty cell comes closer to the surface than ``band``).  The band is where NeuS
opacity is not negligible (a few ``1 / s``), so samples in empty cells contribute (almost) nothing and
are never evaluated.  Updates evaluate the field coarse to fine: a grid 4x coarser first, then only the
fine cells inside coarse cells that may be occupied.

:meth:`OccupancyGrid.sample` marches rays through the grid with a fixed step and returns the occupied
positions as dense ``(R, S)`` arrays (see :mod:`fields3d.render.volume`), plus optional stratified
samples over the whole ray segment inside the unit sphere (so that regions the grid calls empty can
still receive gradients, e.g. where a mask says there is an object).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class RaySamples:
    """Samples of R rays as dense arrays sorted along each ray.

    Attributes:
        t: (R, S) distances along the rays (normalised units); +inf for padding.
        valid: (R, S) bool, True for real samples (always a prefix of each row).
    """

    t: torch.Tensor
    valid: torch.Tensor

    @property
    def num_samples(self) -> int:
        return int(self.valid.sum())


@dataclass
class OccupancyGridConfig:
    """Occupancy grid and ray marching."""

    resolution: int = 128
    """Cells per axis (a multiple of 4 when >= 64: updates run coarse to fine)."""
    update_every: int = 16
    """Training steps between updates."""
    band_scale: float = 5.0
    """Band half-width in units of 1 / s (NeuS's inverse standard deviation)."""
    min_band: float = 0.0
    """Smallest band half-width, normalised units."""
    safety: float = 1.5
    """Multiplier of the cell half-diagonal (covers SDFs with gradients somewhat above 1)."""
    dilation: int = 1
    """Occupied cells are grown by this many cells after each update."""

    def validate(self) -> None:
        if self.resolution < 4:
            raise ValueError(f"expected resolution >= 4, got {self.resolution}")
        if self.resolution >= 64 and self.resolution % 4:
            raise ValueError(f"expected a resolution divisible by 4 (>= 64), got {self.resolution}")
        if self.update_every < 1:
            raise ValueError(f"expected update_every >= 1, got {self.update_every}")
        if self.band_scale < 0 or self.min_band < 0 or self.safety < 1 or self.dilation < 0:
            raise ValueError(
                "expected band_scale >= 0, min_band >= 0, safety >= 1, dilation >= 0, got "
                f"{self.band_scale}, {self.min_band}, {self.safety}, {self.dilation}"
            )


class OccupancyGrid(nn.Module):
    """Boolean occupancy of a ``resolution^3`` grid over ``[-bound, bound]^3`` (a buffer: saved in
    checkpoints)."""

    def __init__(self, config: OccupancyGridConfig | None = None, bound: float = 1.0):
        super().__init__()
        self.config = config = config or OccupancyGridConfig()
        config.validate()
        if not bound > 0:
            raise ValueError(f"expected a positive bound, got {bound}")
        self.bound = float(bound)
        r = config.resolution
        self.register_buffer("occupied", torch.ones(r, r, r, dtype=torch.bool))

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def cell_size(self) -> float:
        return 2.0 * self.bound / self.resolution

    def occupied_fraction(self) -> float:
        return float(self.occupied.float().mean())

    def cell_centers(self, resolution: int | None = None) -> torch.Tensor:
        """(r^3, 3) centres of a ``resolution^3`` grid over the cube, C order (x slowest)."""
        r = resolution or self.resolution
        c = (torch.arange(r, device=self.occupied.device, dtype=torch.float32) + 0.5) * (
            2 * self.bound / r
        ) - self.bound
        return torch.stack(torch.meshgrid(c, c, c, indexing="ij"), dim=-1).reshape(-1, 3)

    # ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def update(
        self, sdf_fn: Callable[[torch.Tensor], torch.Tensor], band: float, chunk_size: int = 1 << 16
    ) -> float:
        """Recompute occupancy from ``sdf_fn`` ((N, 3) normalised points -> (N,) SDF); returns the occupied
        fraction.

        Args:
            band: half-width of the surface band (normalised units) that must stay inside occupied cells.
        """
        if not math.isfinite(band) or band < 0:
            raise ValueError(f"expected a finite band >= 0, got {band}")
        cfg = self.config
        r = self.resolution
        half_diag = 0.5 * math.sqrt(3.0) * self.cell_size

        def evaluate(points: torch.Tensor) -> torch.Tensor:
            return (
                torch.cat([sdf_fn(p).reshape(-1) for p in points.split(chunk_size)])
                if len(points)
                else points[:, 0]
            )

        if r >= 64:
            rc = r // 4
            coarse_half = 0.5 * math.sqrt(3.0) * (2 * self.bound / rc)
            coarse_sdf = evaluate(self.cell_centers(rc)).abs()
            coarse = coarse_sdf <= band + cfg.safety * coarse_half
            # fine centres lie within coarse_half - half_diag of their coarse centre: where even the
            # farthest one is inside the band, all 64 are occupied without evaluating them
            full = coarse_sdf <= band + cfg.safety * (2 * half_diag - coarse_half)

            def upsample(flags: torch.Tensor) -> torch.Tensor:
                v = flags.view(rc, rc, rc)
                return v.repeat_interleave(4, 0).repeat_interleave(4, 1).repeat_interleave(4, 2).reshape(-1)

            candidate = upsample(coarse & ~full)
            index = candidate.nonzero()[:, 0]
            occupied = upsample(full).clone()
            if len(index):
                ijk = torch.stack([index // (r * r), (index // r) % r, index % r], dim=-1)
                centers = (ijk.float() + 0.5) * self.cell_size - self.bound
                occupied[index] = evaluate(centers).abs() <= band + cfg.safety * half_diag
            occupied = occupied.view(r, r, r)
        else:
            occupied = (evaluate(self.cell_centers()).abs() <= band + cfg.safety * half_diag).view(r, r, r)
        if cfg.dilation > 0:
            k = 2 * cfg.dilation + 1
            occupied = (
                nn.functional.max_pool3d(occupied[None, None].float(), k, stride=1, padding=cfg.dilation)[
                    0, 0
                ]
                > 0
            )
        self.occupied.copy_(occupied)
        return self.occupied_fraction()

    def query(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 3) normalised points -> (...) bool: inside the cube and in an occupied cell."""
        r = self.resolution
        idx = torch.floor((points + self.bound) / self.cell_size).long()
        inside = ((idx >= 0) & (idx < r)).all(-1)
        idx = idx.clamp(0, r - 1)
        flat = (idx[..., 0] * r + idx[..., 1]) * r + idx[..., 2]
        return inside & self.occupied.reshape(-1)[flat]

    def occupied_bounds(self, margin_cells: int = 2) -> torch.Tensor:
        """(2, 3) min and max corners of the occupied cells (grown by ``margin_cells``), clipped to the cube;
        the whole cube when nothing is occupied."""
        r = self.resolution
        idx = self.occupied.nonzero()
        if len(idx) == 0:
            return torch.tensor([[-self.bound] * 3, [self.bound] * 3])
        lo = (idx.min(0).values - margin_cells).clamp(0, r).float() * self.cell_size - self.bound
        hi = (idx.max(0).values + 1 + margin_cells).clamp(0, r).float() * self.cell_size - self.bound
        return torch.stack([lo, hi]).cpu()

    # ----------------------------------------------------------------------------------------------
    def sample(
        self,
        origins: torch.Tensor,
        directions: torch.Tensor,
        near: torch.Tensor,
        far: torch.Tensor,
        hit: torch.Tensor,
        *,
        step: float,
        max_samples: int,
        n_uniform: int = 0,
        extra_uniform: torch.Tensor | None = None,
        n_extra_uniform: int = 0,
        jitter: bool = True,
        generator: torch.Generator | None = None,
    ) -> RaySamples:
        """March R rays from ``near`` to ``far`` with ``step``, keeping positions in occupied cells.

        Args:
            origins, directions: (R, 3) rays (unit directions), normalised frame.
            near, far, hit: (R,) the segment of each ray to sample (e.g. inside the unit sphere) and
                whether it has one.
            step: marching step, normalised units.
            max_samples: most occupied samples kept per ray (the nearest ones).
            n_uniform: stratified samples over [near, far] added to every hit ray.
            extra_uniform: optional (R,) bool; those of these rays that have no occupied sample get
                ``n_extra_uniform`` stratified samples (e.g. rays a mask marks as object where the grid
                sees nothing, so that the object can grow there).
            jitter: random offsets of the marching grid and the strata (training); False: midpoints.
        Returns:
            :class:`RaySamples` with at most ``max_samples + n_uniform + n_extra_uniform`` samples per ray.
        """
        if not step > 0:
            raise ValueError(f"expected a positive step, got {step}")
        if max_samples < 0 or n_uniform < 0 or n_extra_uniform < 0:
            raise ValueError(
                f"expected non-negative sample counts, got {max_samples}, {n_uniform}, {n_extra_uniform}"
            )
        device = origins.device
        n_rays = origins.shape[0]
        length = torch.where(hit, far - near, torch.zeros_like(far))
        parts = []
        has_occupied = torch.zeros(n_rays, dtype=torch.bool, device=device)
        if max_samples > 0 and n_rays > 0 and bool(hit.any()):
            k = max(1, int(math.ceil(float(length.max()) / step)))
            offset = (
                torch.rand(n_rays, 1, device=device, generator=generator)
                if jitter
                else torch.full((n_rays, 1), 0.5, device=device)
            )
            t = (
                near[:, None] + (torch.arange(k, device=device, dtype=near.dtype)[None] + offset) * step
            )  # (R, K)
            inside = hit[:, None] & (t < far[:, None])
            rows, cols = inside.nonzero(as_tuple=True)
            occ = torch.zeros_like(inside)
            occ[rows, cols] = self.query(origins[rows] + t[rows, cols, None] * directions[rows])
            rank = occ.cumsum(1)
            occ &= rank <= max_samples
            has_occupied = occ.any(1)
            s_occ = int(occ.sum(1).max()) if occ.any() else 0
            if s_occ:
                out = torch.full((n_rays, s_occ), float("inf"), device=device, dtype=t.dtype)
                rows, cols = occ.nonzero(as_tuple=True)
                out[rows, rank[rows, cols] - 1] = t[rows, cols]
                parts.append(out)

        def stratified(count: int, rays: torch.Tensor) -> torch.Tensor:
            u = (
                torch.rand(n_rays, count, device=device, generator=generator)
                if jitter
                else torch.full((n_rays, count), 0.5, device=device)
            )
            tt = (
                near[:, None]
                + (torch.arange(count, device=device, dtype=near.dtype)[None] + u) / count * length[:, None]
            )
            return torch.where(rays[:, None], tt, torch.full_like(tt, float("inf")))

        if n_uniform > 0:
            parts.append(stratified(n_uniform, hit))
        if extra_uniform is not None and n_extra_uniform > 0:
            rescue = extra_uniform & hit & ~has_occupied
            if bool(rescue.any()):
                parts.append(stratified(n_extra_uniform, rescue))
        if not parts:
            empty = torch.zeros(n_rays, 0, device=device)
            return RaySamples(empty, empty.bool())
        t_all = torch.cat(parts, dim=1)
        if len(parts) > 1:
            t_all = torch.sort(t_all, dim=1).values
        valid = torch.isfinite(t_all)
        width = int(valid.sum(1).max()) if valid.numel() else 0
        return RaySamples(t_all[:, :width].contiguous(), valid[:, :width].contiguous())
