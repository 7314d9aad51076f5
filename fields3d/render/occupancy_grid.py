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
    sphere_radius: float | None = 1.0
    """Cells entirely outside the sphere of this radius stay empty (the region rays are sampled in);
    None: the whole cube."""

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
        self.register_buffer("bounds", torch.tensor([[-self.bound] * 3, [self.bound] * 3]))
        """(2, 3) box around the occupied cells (one cell of margin); rays are marched inside it only."""

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
        if cfg.sphere_radius is not None:
            occupied &= (self.cell_centers().norm(dim=-1) <= cfg.sphere_radius + half_diag).view(r, r, r)
        self.occupied.copy_(occupied)
        self.bounds.copy_(self.occupied_bounds(margin_cells=1).to(self.bounds))
        return self.occupied_fraction()

    def _lookup(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 3) points inside the cube -> (...) occupancy (points outside are clamped onto it)."""
        r = self.resolution
        idx = ((points + self.bound) * (1.0 / self.cell_size)).to(torch.int32).clamp_(0, r - 1)
        flat = (idx[..., 0] * r + idx[..., 1]) * r + idx[..., 2]
        return self.occupied.view(-1)[flat.long()]

    def _lookup_along(self, origins: torch.Tensor, directions: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """(R, K) occupancy of the points ``origins + t directions`` (one fused multiply-add per point)."""
        r = self.resolution
        scale = 1.0 / self.cell_size
        start = ((origins + self.bound) * scale)[:, None, :]
        cell = torch.addcmul(start, t[..., None], (directions * scale)[:, None, :]).to(torch.int32)
        cell.clamp_(0, r - 1)
        strides = torch.tensor([r * r, r, 1], dtype=torch.int32, device=cell.device)
        flat = (cell * strides).sum(-1, dtype=torch.int64)
        return self.occupied.view(-1)[flat]

    def _box_segment(
        self, origins: torch.Tensor, directions: torch.Tensor, near: torch.Tensor, far: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[near, far] of each ray clipped to the box around the occupied cells (slab method)."""
        safe = torch.where(directions.abs() < 1e-9, torch.full_like(directions, 1e-9), directions)
        inv = 1.0 / safe
        t0 = (self.bounds[0] - origins) * inv
        t1 = (self.bounds[1] - origins) * inv
        enter = torch.minimum(t0, t1).amax(-1)
        leave = torch.maximum(t0, t1).amin(-1)
        return torch.maximum(near, enter), torch.minimum(far, leave)

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
        if not bool(self.occupied.any()):
            return torch.tensor([[-self.bound] * 3, [self.bound] * 3])
        lo, hi = [], []
        for axis in range(3):
            others = tuple(a for a in range(3) if a != axis)
            used = self.occupied.any(dim=others).nonzero()[:, 0]
            lo.append(max(int(used[0]) - margin_cells, 0))
            hi.append(min(int(used[-1]) + 1 + margin_cells, r))
        lo_t = torch.tensor(lo, dtype=torch.float32) * self.cell_size - self.bound
        hi_t = torch.tensor(hi, dtype=torch.float32) * self.cell_size - self.bound
        return torch.stack([lo_t, hi_t])

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
            # march only where the rays cross the box around the occupied cells
            lo, hi = self._box_segment(origins, directions, near, far)
            crosses = hit & (hi > lo)
            span = torch.where(crosses, hi - lo, torch.zeros_like(hi))
            k = max(1, int(math.ceil(float(span.max()) / step)))
            offset = (
                torch.rand(n_rays, 1, device=device, generator=generator)
                if jitter
                else torch.full((n_rays, 1), 0.5, device=device)
            )
            # (R, K) distances along the rays
            t = lo[:, None] + (torch.arange(k, device=device, dtype=near.dtype)[None] + offset) * step
            inside = crosses[:, None] & (t < hi[:, None])
            occ = inside & self._lookup_along(origins, directions, t)
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
