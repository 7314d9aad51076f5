"""Levenberg-Marquardt over the FrozenRecon variables for a set of frame pairs.

Residuals of an ordered pair (i, j) at ``K`` sampled pixels of frame i (see
:mod:`fields3d.frozenrecon.warping`):

- geometric consistency ``(D_comp - D_proj) / (D_comp + D_proj)`` (its absolute value is the loss of
  :func:`fields3d.frozenrecon.losses.geometric_consistency`);
- photometric ``sqrt(w_ph) * (I_i(p) - I_j(p'))`` per colour channel (optional).

The cost is a Huber function of each residual over the pixels that survive masking (valid prior in i,
valid in j, in view, positive depth) and trimming (the ``trim`` fraction of largest geometric residuals
of each pair is dropped, e.g. occlusions), plus quadratic regularisers on the local scale grids (towards 0
and towards their neighbours).  Each iteration solves iteratively reweighted Gauss-Newton normal
equations with Levenberg's damping.

Jacobians are exact: each pair's residuals depend on 17 (+ 2 x grid cells) numbers — world-frame pose
perturbations of both cameras, both frames' log scale and shift, the log focal length and both local
grids — and one forward-mode ``jvp`` per such column, batched with ``vmap``, gives them all.  Pose steps
are computed as world-frame perturbations ``c2w_i <- exp(eta_i) @ c2w_i`` and written back into the
chained relative poses; a Gauss-Newton step does not depend on this linear change of variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from fields3d.frozenrecon.frame_maps import FrameMaps
from fields3d.frozenrecon.parameters import ReconParameters
from fields3d.frozenrecon.se3 import invert_pose, twist_to_pose
from fields3d.frozenrecon.warping import (
    backproject,
    bilinear_sample,
    bilinear_sample_with_gradient,
    coarse_cell_means,
    coarse_weight_gradients,
    coarse_weights,
    pixel_centers,
    project,
    transform_points,
)

GROUPS = ("poses", "scale", "shift", "focal", "local")
NORMALIZERS = ("scale", "depth")


@dataclass
class SolverOptions:
    """Settings of one Levenberg-Marquardt run."""

    active: tuple[str, ...] = ("poses", "scale", "shift", "focal")
    """Variable groups that move (of ``GROUPS``); the rest stay fixed."""
    iterations: int = 20
    """Maximum number of Gauss-Newton iterations (accepted or rejected steps)."""
    pixels_per_pair: int = 1024
    """Pixels of frame i sampled per pair (at the working resolution); 0 or at least the number of cells:
    every cell, no sampling."""
    photometric_weight: float = 0.0
    """Weight of the squared colour residuals relative to the squared geometric ones."""
    trim: float = 0.1
    """Fraction of each pair's largest geometric residuals left out."""
    huber: float = 2.0
    """Huber threshold in units of the robust residual scale (1.4826 x median |r|)."""
    local_prior: float = 1e-2
    """Weight of ``sum local^2`` (per cell) relative to the data term's per-pixel mean."""
    local_smoothness: float = 1e-1
    """Weight of squared differences of neighbouring local grid cells."""
    min_depth_fraction: float = 1e-3
    """Pixels whose rectified depth is below this fraction of the frame's median depth are masked."""
    tolerance: float = 1e-5
    """Stop when an accepted step lowers the cost by less than this fraction."""
    initial_damping: float = 1e-4
    chunk_elements: int = 12_000_000
    """Jacobian entries evaluated at once (memory bound)."""
    seed: int = 0
    normalizer: str = "scale"
    resample: bool = False
    """Draw a new pixel sample every iteration (True) or keep one sample for the whole run."""
    fixed_frames: int = 0
    """Frames 0 .. fixed_frames - 1 are held entirely (incremental initialisation adds one frame to a
    solved prefix); frame 0's pose and scale are always held (gauge)."""


@dataclass
class SolverReport:
    """What a run did: cost per accepted iteration, steps taken, final damping."""

    costs: list[float] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    damping: float = 0.0
    pixels: int = 0


# --------------------------------------------------------------------------------------------------
class _Layout:
    """Global indices of the active variables (frame 0's pose and log scale are the gauge, never free;
    frames below ``fixed_frames`` are held entirely)."""

    def __init__(self, n: int, cells: int, active: tuple[str, ...], fixed_frames: int = 0):
        self.n, self.cells = n, cells
        self.first = {
            "poses": max(1, fixed_frames),
            "scale": max(1, fixed_frames),
            "shift": fixed_frames,
            "local": fixed_frames,
        }
        first = self.first
        sizes = {
            "poses": 6 * (n - first["poses"]),
            "scale": n - first["scale"],
            "shift": n - first["shift"],
            "focal": 1,
            "local": (n - first["local"]) * cells,
        }
        self.offset, self.size = {}, 0
        for g in GROUPS:
            if g in active:
                self.offset[g] = self.size
                self.size += sizes[g]
        self.dump = self.size  # index of a throw-away slot for fixed variables

    def pair_columns(self, i: torch.Tensor, j: torch.Tensor, use_local: bool) -> torch.Tensor:
        """(P, C) global index of each per-pair Jacobian column (``dump`` where fixed)."""
        p = i.shape[0]
        dev = i.device
        cols = []

        def block(group, frame, width, first_free):
            if group not in self.offset:
                return torch.full((p, width), self.dump, dtype=torch.long, device=dev)
            start = self.offset[group] + (frame - first_free) * width
            idx = start[:, None] + torch.arange(width, device=dev)[None]
            return torch.where((frame >= first_free)[:, None], idx, torch.full_like(idx, self.dump))

        first = self.first
        cols.append(block("poses", i, 6, first["poses"]))
        cols.append(block("poses", j, 6, first["poses"]))
        cols.append(block("scale", i, 1, first["scale"]))
        cols.append(block("shift", i, 1, first["shift"]))
        cols.append(block("scale", j, 1, first["scale"]))
        cols.append(block("shift", j, 1, first["shift"]))
        focal = self.offset.get("focal", self.dump)
        cols.append(torch.full((p, 1), focal, dtype=torch.long, device=dev))
        if use_local:
            cols.append(block("local", i, self.cells, first["local"]))
            cols.append(block("local", j, self.cells, first["local"]))
        return torch.cat(cols, 1)


def _huber_weight(r: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    a = r.abs()
    return torch.where(a <= delta, torch.ones_like(a), delta / a.clamp_min(1e-12))


def _huber_cost(r: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    a = r.abs()
    return torch.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta))


class PairProblem:
    """Residuals of a fixed pixel sample of a set of pairs at the current parameters, and their Jacobians.

    Args:
        params: current variables (read, not modified).
        maps: frame maps at the working resolution.
        pairs: (2, P) long ordered pairs (i, j).
        pixels: (P, K) long flat indices of the sampled pixels of frame i.
        options: solver settings.
    """

    def __init__(
        self,
        params: ReconParameters,
        maps: FrameMaps,
        pairs: torch.Tensor,
        pixels: torch.Tensor,
        options: SolverOptions,
    ):
        if options.normalizer not in NORMALIZERS:
            raise ValueError(f"expected normalizer in {NORMALIZERS}, got {options.normalizer!r}")
        self.params, self.maps, self.options = params, maps, options
        self.i, self.j = pairs[0], pairs[1]
        self.pixels = pixels
        self.use_local = "local" in options.active
        self.has_local = self.use_local or bool(params.local.detach().abs().max() > 0)
        self.use_photo = options.photometric_weight > 0
        self.cells = params.local.shape[1]
        self.omega = coarse_cell_means(*params.grid_size, dtype=maps.prior.dtype, device=maps.prior.device)
        h, w = maps.shape
        centers = pixel_centers(
            h, w, maps.height, maps.width, dtype=maps.prior.dtype, device=maps.prior.device
        )
        self.uv_i = centers[pixels]  # (P, K, 2)
        self.sample_maps = maps.stacked()
        flat = self.sample_maps.reshape(len(maps), 5, h * w)
        gathered = torch.gather(flat[self.i], 2, pixels[:, None, :].expand(-1, 5, -1))
        self.prior_i = gathered[:, 0]
        self.valid_i = gathered[:, 1] > 0.5
        self.color_i = gathered[:, 2:]
        self.local_idx_i, self.local_w_i = coarse_weights(
            self.uv_i, *params.grid_size, maps.width, maps.height
        )
        self.columns = 17 + (2 * self.cells if self.use_local else 0)
        with torch.no_grad():
            p = params
            c2w = p.poses().detach()
            self.c2w_i, self.c2w_j = c2w[self.i], c2w[self.j]
            ls = p.log_scale().detach()
            self.ls_i, self.ls_j = ls[self.i], ls[self.j]
            self.sh_i, self.sh_j = p.shift.detach()[self.i], p.shift.detach()[self.j]
            self.log_f = p.log_focal.detach()
            self.loc_i, self.loc_j = p.local.detach()[self.i], p.local.detach()[self.j]
            self.floor = (
                options.min_depth_fraction * (ls.exp() * (maps.median_prior() + p.shift.detach())).abs()
            )

    def __len__(self) -> int:
        return len(self.i)

    # ----------------------------------------------------------------------------------------------
    def residuals(self, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Residuals (P, R) and mask (P, K) for per-pair variable increments ``delta`` (P, C).

        The reference definition (differentiable with forward and reverse mode); :meth:`linearize`
        computes the same values and their Jacobian in closed form.
        """
        mw, mh = self.maps.width, self.maps.height
        cx, cy = 0.5 * mw, 0.5 * mh
        ti = twist_to_pose(delta[:, 0:6]) @ self.c2w_i
        tj = twist_to_pose(delta[:, 6:12]) @ self.c2w_j
        j_from_i = invert_pose(tj) @ ti
        focal = (self.log_f + delta[:, 16])[:, None].exp()
        g = self.cells
        cells_i, cells_j = self.loc_i, self.loc_j
        if self.use_local:
            cells_i = cells_i + delta[:, 17 : 17 + g]
            cells_j = cells_j + delta[:, 17 + g : 17 + 2 * g]
        depth_i = (self.ls_i + delta[:, 12])[:, None].exp() * (
            self.prior_i + (self.sh_i + delta[:, 13])[:, None]
        )
        if self.has_local:
            vals = torch.gather(cells_i, 1, self.local_idx_i.reshape(len(cells_i), -1)).reshape(
                self.local_idx_i.shape
            )
            depth_i = (
                depth_i
                * ((vals * self.local_w_i).sum(-1) - (cells_i * self.omega).sum(1, keepdim=True)).exp()
            )
        points = transform_points(j_from_i, backproject(depth_i, self.uv_i, focal, cx, cy))
        uv_j, z, front = project(points, focal, cx, cy)
        s, inside = bilinear_sample(self.sample_maps, self.j, uv_j, mw, mh)
        depth_j = (self.ls_j + delta[:, 14])[:, None].exp() * (s[:, 0] + (self.sh_j + delta[:, 15])[:, None])
        if self.has_local:
            idx, wts = coarse_weights(uv_j, *self.params.grid_size, mw, mh)
            vals = torch.gather(cells_j, 1, idx.reshape(len(idx), -1)).reshape(idx.shape)
            depth_j = depth_j * ((vals * wts).sum(-1) - (cells_j * self.omega).sum(1, keepdim=True)).exp()
        if self.options.normalizer == "depth":
            geo = (z - depth_j) / (z + depth_j)
        else:
            geo = (z - depth_j) / ((self.ls_i + delta[:, 12]).exp() + (self.ls_j + delta[:, 14]).exp())[
                :, None
            ]
        mask = (
            self.valid_i
            & front
            & inside
            & (s[:, 1] > 0.999)
            & (depth_i > self.floor[self.i][:, None])
            & (depth_j > self.floor[self.j][:, None])
        )
        if self.use_photo:
            photo = (self.color_i - s[:, 2:]) * self.options.photometric_weight**0.5  # (P, 3, K)
            return torch.cat([geo, photo.reshape(len(photo), -1)], 1), mask
        return geo, mask

    def jacobian_reference(self) -> torch.Tensor:
        """(C, P, R) Jacobian of :meth:`residuals` at 0 by forward-mode autodiff (slow; for tests)."""
        from torch.func import jvp, vmap

        zero = torch.zeros(len(self), self.columns, dtype=self.prior_i.dtype, device=self.prior_i.device)
        eye = torch.eye(self.columns, dtype=zero.dtype, device=zero.device)
        tangents = eye[:, None, :].expand(self.columns, len(self), self.columns)
        return vmap(lambda t: jvp(lambda d: self.residuals(d)[0], (zero,), (t,))[1])(tangents)

    # ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def linearize(
        self, rows: slice = slice(None), jacobian: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Residuals (P, R), mask (P, K) and, with ``jacobian``, the (C, P, R) Jacobian (closed form) of
        the pairs ``rows`` at the current parameters."""
        mw, mh = self.maps.width, self.maps.height
        cx, cy = 0.5 * mw, 0.5 * mh
        gh, gw = self.params.grid_size
        i, j = self.i[rows], self.j[rows]
        uv = self.uv_i[rows]
        rot_i, t_i = self.c2w_i[rows, :3, :3], self.c2w_i[rows, :3, 3]
        rot_j, t_j = self.c2w_j[rows, :3, :3], self.c2w_j[rows, :3, 3]
        a_i, a_j = self.ls_i[rows].exp()[:, None], self.ls_j[rows].exp()[:, None]
        sh_i, sh_j = self.sh_i[rows][:, None], self.sh_j[rows][:, None]
        f = self.log_f.exp()
        xt, yt = (uv[..., 0] - cx) / f, (uv[..., 1] - cy) / f
        ray = torch.stack([xt, yt, torch.ones_like(xt)], -1)
        if self.has_local:
            idx_i, w_i = self.local_idx_i[rows], self.local_w_i[rows]
            cells_i = self.loc_i[rows]
            e_i = (
                (torch.gather(cells_i, 1, idx_i.reshape(len(cells_i), -1)).reshape(idx_i.shape) * w_i).sum(-1)
                - (cells_i * self.omega).sum(1, keepdim=True)
            ).exp()
        else:
            e_i = torch.ones_like(xt)
        depth_i = a_i * (self.prior_i[rows] + sh_i) * e_i
        world = (depth_i[..., None] * ray) @ rot_i.transpose(-1, -2) + t_i[:, None]
        xj = (world - t_j[:, None]) @ rot_j  # R_j^T (world - t_j) as rows
        z = xj[..., 2]
        front = z > 1e-6
        zs = torch.where(front, z, torch.ones_like(z))
        u2 = f * xj[..., 0] / zs + cx
        v2 = f * xj[..., 1] / zs + cy
        uv2 = torch.stack([u2, v2], -1)
        val, d_du, d_dv, inside = bilinear_sample_with_gradient(self.sample_maps, j, uv2, mw, mh)
        if self.has_local:
            cells_j = self.loc_j[rows]
            idx_j, w_j = coarse_weights(uv2, gh, gw, mw, mh)
            gathered_j = torch.gather(cells_j, 1, idx_j.reshape(len(cells_j), -1)).reshape(idx_j.shape)
            e_j = ((gathered_j * w_j).sum(-1) - (cells_j * self.omega).sum(1, keepdim=True)).exp()
        else:
            e_j = torch.ones_like(z)
        base_j = a_j * (val[:, 0] + sh_j)
        depth_j = base_j * e_j
        diff = z - depth_j
        if self.options.normalizer == "depth":
            total = z + depth_j
            geo = diff / total
        else:
            norm = a_i + a_j
            geo = diff / norm
        mask = (
            self.valid_i[rows]
            & front
            & inside
            & (val[:, 1] > 0.999)
            & (depth_i > self.floor[i][:, None])
            & (depth_j > self.floor[j][:, None])
        )
        photo_w = self.options.photometric_weight**0.5
        if self.use_photo:
            photo = (self.color_i[rows] - val[:, 2:]) * photo_w
            res = torch.cat([geo, photo.reshape(len(photo), -1)], 1)
        else:
            res = geo
        if not jacobian:
            return res, mask, None

        # derivatives of D_j with respect to the sampling position
        ddj_du = a_j * d_du[:, 0] * e_j
        ddj_dv = a_j * d_dv[:, 0] * e_j
        if self.has_local:
            gu, gv = coarse_weight_gradients(uv2, gh, gw, mw, mh)
            ddj_du = ddj_du + depth_j * (gathered_j * gu).sum(-1)
            ddj_dv = ddj_dv + depth_j * (gathered_j * gv).sum(-1)

        def geo_from(dz, ddj):
            if self.options.normalizer == "depth":
                return 2.0 * (depth_j * dz - z * ddj) / (total * total)
            return (dz - ddj) / norm

        def chain(dxj, du_extra=None, dv_extra=None):
            """d(geo) (P, K) and d(photo) (P, 3, K) for a change dxj (P, K, 3) of the point in camera j."""
            dz = dxj[..., 2]
            du = f * (dxj[..., 0] - xj[..., 0] * dz / zs) / zs
            dv = f * (dxj[..., 1] - xj[..., 1] * dz / zs) / zs
            if du_extra is not None:
                du, dv = du + du_extra, dv + dv_extra
            dgeo = geo_from(dz, ddj_du * du + ddj_dv * dv)
            dphoto = (
                -(d_du[:, 2:] * du[:, None] + d_dv[:, 2:] * dv[:, None]) * photo_w if self.use_photo else None
            )
            return dgeo, dphoto

        cols_geo, cols_photo = [], []

        def add(dgeo, dphoto=None):
            cols_geo.append(dgeo)
            if self.use_photo:
                cols_photo.append(dphoto if dphoto is not None else torch.zeros_like(self.color_i[rows]))

        basis = torch.eye(3, dtype=z.dtype, device=z.device)
        # world-frame perturbation of camera i: d(world) = w x world + v; of camera j: the opposite
        cross = [torch.cross(basis[k].expand_as(world), world, dim=-1) for k in range(3)]
        rows_j = [rot_j[:, k, :][:, None, :].expand_as(world) for k in range(3)]
        pose_i = [chain(c @ rot_j) for c in cross] + [chain(r) for r in rows_j]
        for dg, dp in pose_i:
            add(dg, dp)
        for dg, dp in pose_i:
            add(-dg, -dp if dp is not None else None)
        # depth of frame i: per unit D_i the point moves along R_j^T R_i ray
        unit_g, unit_p = chain((ray @ rot_i.transpose(-1, -2)) @ rot_j)
        scale_extra_i = -diff * a_i / (norm * norm) if self.options.normalizer == "scale" else 0.0
        add(
            unit_g * depth_i + scale_extra_i, unit_p * depth_i[:, None] if unit_p is not None else None
        )  # ls_i
        b_i = a_i * e_i
        add(unit_g * b_i, unit_p * b_i[:, None] if unit_p is not None else None)  # shift_i
        zero = torch.zeros_like(z)
        scale_extra_j = -diff * a_j / (norm * norm) if self.options.normalizer == "scale" else 0.0
        add(geo_from(zero, depth_j) + scale_extra_j)  # ls_j
        add(geo_from(zero, a_j * e_j))  # shift_j
        # focal: back-projection moves the point, projection moves the pixel
        dxi = -(depth_i[..., None] * torch.stack([xt, yt, zero], -1))
        dg, dp = chain((dxi @ rot_i.transpose(-1, -2)) @ rot_j, u2 - cx, v2 - cy)
        add(dg, dp)
        jac_geo = torch.stack(cols_geo)  # (17, P, K)
        jac_photo = torch.stack(cols_photo) if self.use_photo else None
        if self.use_local:
            g = self.cells
            cg = torch.zeros(g, *z.shape, dtype=z.dtype, device=z.device)
            # d/d cell k of (sum_c w_c cell_c - sum_c omega_c cell_c): w_k - omega_k
            along_i = unit_g * depth_i
            cg.scatter_add_(0, idx_i.permute(2, 0, 1), along_i[None] * w_i.permute(2, 0, 1))
            cg -= along_i[None] * self.omega[:, None, None]
            along_j = geo_from(zero, depth_j)
            cgj = torch.zeros_like(cg)
            cgj.scatter_add_(0, idx_j.permute(2, 0, 1), along_j[None] * w_j.permute(2, 0, 1))
            cgj -= along_j[None] * self.omega[:, None, None]
            jac_geo = torch.cat([jac_geo, cg, cgj])
            if self.use_photo:
                cp = torch.zeros(g, *self.color_i[rows].shape, dtype=z.dtype, device=z.device)
                along_p = unit_p * depth_i[:, None]
                vals_p = along_p[None] * w_i.permute(2, 0, 1)[:, :, None]
                cp.scatter_add_(0, idx_i.permute(2, 0, 1)[:, :, None].expand_as(vals_p), vals_p)
                cp -= along_p[None] * self.omega[:, None, None, None]
                jac_photo = torch.cat([jac_photo, cp, torch.zeros_like(cp)])
        if self.use_photo:
            jac = torch.cat([jac_geo, jac_photo.reshape(jac_photo.shape[0], len(z), -1)], 2)
        else:
            jac = jac_geo
        return res, mask, jac

    def evaluate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Residuals (P, R) and mask (P, K) at the current parameters."""
        r, m, _ = self.linearize(jacobian=False)
        return r, m


# --------------------------------------------------------------------------------------------------
def sample_pixels(
    maps: FrameMaps, frames: torch.Tensor, count: int, generator: torch.Generator
) -> torch.Tensor:
    """(P, K) flat indices of ``count`` valid pixels of each listed frame, drawn uniformly with
    replacement (all valid pixels, padded by repeats, when fewer than ``count``... drawn likewise)."""
    h, w = maps.shape
    flat = maps.valid.reshape(len(maps), h * w)[frames].to(torch.float64)
    idx = torch.multinomial(flat.cpu(), count, replacement=True, generator=generator)
    return idx.to(maps.prior.device)


def _regulariser(
    params: ReconParameters, layout: _Layout, options: SolverOptions, weight_scale: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quadratic regulariser on the local grids: (H block, gradient block, cost) at the current values."""
    n, g = params.local.shape
    gh, gw = params.grid_size
    dev, dt = params.local.device, params.local.dtype
    eye = torch.eye(g, dtype=dt, device=dev)
    diff = []
    for y in range(gh):
        for x in range(gw):
            if x + 1 < gw:
                diff.append(eye[y * gw + x + 1] - eye[y * gw + x])
            if y + 1 < gh:
                diff.append(eye[(y + 1) * gw + x] - eye[y * gw + x])
    lap = torch.stack(diff).T @ torch.stack(diff) if diff else torch.zeros(g, g, dtype=dt, device=dev)
    a = weight_scale * (options.local_prior * eye + options.local_smoothness * lap)  # per frame (g, g)
    v = params.local.detach()
    grad = v @ a.T  # (n, g)
    cost = 0.5 * (v * grad).sum()
    return a, grad, cost


def solve(
    params: ReconParameters, maps: FrameMaps, pairs: torch.Tensor, options: SolverOptions, progress=None
) -> SolverReport:
    """Run Levenberg-Marquardt on ``params`` (updated in place) for ordered ``pairs`` (2, P).

    Args:
        progress: optional callable ``progress(iteration, cost)`` called after every iteration.
    """
    for g in options.active:
        if g not in GROUPS:
            raise ValueError(f"expected groups from {GROUPS}, got {g!r}")
    if pairs.ndim != 2 or pairs.shape[0] != 2 or pairs.shape[1] == 0:
        raise ValueError(f"expected pairs of shape (2, P >= 1), got {tuple(pairs.shape)}")
    n = params.num_frames
    cells = params.local.shape[1]
    layout = _Layout(n, cells, options.active, options.fixed_frames)
    gen = torch.Generator().manual_seed(options.seed)
    report = SolverReport(damping=options.initial_damping)
    damping = options.initial_damping
    dev, dt = params.local.device, params.local.dtype
    h, w = maps.shape
    every = options.pixels_per_pair <= 0 or options.pixels_per_pair >= h * w
    k = h * w if every else options.pixels_per_pair
    if every:  # every cell of frame i (invalid ones are masked)
        pixels = torch.arange(h * w, device=maps.prior.device).expand(pairs.shape[1], -1)
    else:
        pixels = sample_pixels(maps, pairs[0], k, gen)
    for iteration in range(options.iterations):
        if options.resample and iteration > 0 and not every:
            pixels = sample_pixels(maps, pairs[0], k, gen)
        problem = PairProblem(params, maps, pairs, pixels, options)
        r, mask = problem.evaluate()
        geo = r[:, :k]
        # trimming and Huber scale from the geometric residuals of this sample
        from fields3d.frozenrecon.losses import trimmed_mask

        keep = trimmed_mask(geo.abs(), mask, options.trim)
        if not keep.any():
            raise RuntimeError("no pixel of any pair overlaps another frame: the frames do not overlap")
        sigma = 1.4826 * geo.abs()[keep].median().clamp_min(1e-6)
        delta_h = options.huber * sigma
        weights, cost_data = _weights_and_cost(r, keep, delta_h, k, problem.use_photo)
        norm = 1.0 / keep.sum().to(dt)
        weights = weights * norm
        reg_a = None
        reg_cost = torch.zeros((), dtype=dt, device=dev)
        reg_scale = float(sigma) ** 2 / params.local.numel()
        if "local" in options.active or params.local.abs().max() > 0:
            reg_a, reg_grad, reg_cost = _regulariser(params, layout, options, reg_scale)
        cost = cost_data * norm + reg_cost
        # normal equations
        size = layout.size + 1
        hess = torch.zeros(size, size, dtype=dt, device=dev)
        grad = torch.zeros(size, dtype=dt, device=dev)
        columns = layout.pair_columns(problem.i, problem.j, problem.use_local)
        per_pair = problem.columns * r.shape[1]
        step_pairs = max(1, options.chunk_elements // max(per_pair, 1))
        for start in range(0, len(problem.i), step_pairs):
            rows = slice(start, start + step_pairs)
            _, _, jac = problem.linearize(rows)  # (C, p, R)
            wr = weights[rows]
            jw = jac * wr[None]
            hp = torch.einsum("cpr,dpr->pcd", jw, jac)
            gp = torch.einsum("cpr,pr->pc", jw, r[rows])
            col = columns[rows]
            c = col.shape[1]
            hess.index_put_(
                (col[:, :, None].expand(-1, c, c), col[:, None, :].expand(-1, c, c)), hp, accumulate=True
            )
            grad.index_put_((col,), gp, accumulate=True)
        hess, grad = hess[:-1, :-1], grad[:-1]
        if reg_a is not None and "local" in layout.offset:
            off, first = layout.offset["local"], layout.first["local"]
            for f in range(first, n):
                sl = slice(off + (f - first) * cells, off + (f - first + 1) * cells)
                hess[sl, sl] += reg_a
                grad[sl] += reg_grad[f]
        diag = hess.diagonal().clone().clamp_min(1e-12)
        saved = {name: t.detach().clone() for name, t in params.state_dict().items()}
        improved = False
        for _attempt in range(8):
            lhs = hess + torch.diag(damping * diag + 1e-12)
            try:
                step = -torch.linalg.solve(lhs, grad)
            except RuntimeError:
                damping *= 10.0
                continue
            _apply_step(params, layout, step)
            old_common, new_cost, still = _compare_costs(
                params, maps, pairs, pixels, r, keep, delta_h, k, norm, options, layout, reg_scale
            )
            old_common = old_common + reg_cost
            if torch.isfinite(new_cost) and new_cost < old_common and still > 0.9:
                damping = max(damping / 3.0, 1e-9)
                report.accepted += 1
                improved = True
                break
            params.load_state_dict(saved)
            damping *= 10.0
            report.rejected += 1
        report.costs.append(float(new_cost if improved else cost))
        report.pixels = int(keep.sum())
        if progress is not None:
            progress(iteration, report.costs[-1])
        if not improved or (old_common - new_cost) < options.tolerance * old_common:
            break
    report.damping = damping
    return report


def _weights_and_cost(r, keep, delta_h, k, use_photo):
    geo = r[:, :k]
    w_geo = _huber_weight(geo, delta_h) * keep
    cost = (_huber_cost(geo, delta_h) * keep).sum()
    if not use_photo:
        return w_geo, cost
    photo = r[:, k:].reshape(len(r), 3, k)
    ph_delta = 3.0 * photo.abs()[keep[:, None].expand_as(photo)].median().clamp_min(1e-6)
    w_ph = _huber_weight(photo, ph_delta) * keep[:, None]
    cost = cost + (_huber_cost(photo, ph_delta) * keep[:, None]).sum()
    return torch.cat([w_geo, w_ph.reshape(len(r), -1)], 1), cost


@torch.no_grad()
def _apply_step(params: ReconParameters, layout: _Layout, step: torch.Tensor) -> None:
    n = params.num_frames
    first = layout.first
    if "poses" in layout.offset:
        off, a = layout.offset["poses"], first["poses"]
        eta = step[off : off + 6 * (n - a)].reshape(n - a, 6)
        c2w = params.poses()
        c2w[a:] = twist_to_pose(eta) @ c2w[a:]
        params.set_poses(c2w)
    if "scale" in layout.offset:
        off, a = layout.offset["scale"], first["scale"]
        params.log_scale_rest[a - 1 :] += step[off : off + n - a]
    if "shift" in layout.offset:
        off, a = layout.offset["shift"], first["shift"]
        params.shift[a:] += step[off : off + n - a]
    if "focal" in layout.offset:
        params.log_focal += step[layout.offset["focal"]]
    if "local" in layout.offset:
        off, a = layout.offset["local"], first["local"]
        params.local[a:] += step[off : off + (n - a) * params.local.shape[1]].reshape(n - a, -1)


def _compare_costs(
    params, maps, pairs, pixels, r_old, keep, delta_h, k, norm, options, layout, reg_scale
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Robust cost of the sample before (``r_old``) and at the current ``params``, over the pixels kept at
    the linearisation point that are still valid now; and the fraction of kept pixels still valid."""
    problem = PairProblem(params, maps, pairs, pixels, options)
    r_new, mask_new = problem.evaluate()
    common = keep & mask_new
    _, cost_new = _weights_and_cost(r_new, common, delta_h, k, problem.use_photo)
    _, cost_old = _weights_and_cost(r_old, common, delta_h, k, problem.use_photo)
    reg_new = torch.zeros((), dtype=cost_new.dtype, device=cost_new.device)
    if "local" in options.active or params.local.abs().max() > 0:
        reg_new = _regulariser(params, layout, options, reg_scale)[2]
    still = float(common.sum()) / max(float(keep.sum()), 1.0)
    return cost_old * norm, cost_new * norm + reg_new, still
