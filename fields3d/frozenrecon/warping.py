"""Warping between frames: back-projection, rigid transform, projection and bilinear sampling.

For an ordered pair (i, j), a pixel ``p`` of frame i with depth ``D_i(p)`` is back-projected, moved into
camera j (``inv(c2w_j) @ c2w_i``) and projected: its depth there is the *computed* depth ``D_comp`` and
its pixel ``p'``.  Sampling frame j's maps at ``p'`` (bilinear) gives the *projected* depth ``D_proj``
and colour.  Pixel coordinates follow fields3d's convention (origin at the image's top-left corner,
pixel centres at +0.5) in **full-resolution** pixels even when the maps are stored at a lower
resolution.  The shared camera has one focal length and its principal point at the image centre.

The sampler is written with gathers (not ``grid_sample``) so that forward-mode automatic
differentiation works through it: the Levenberg-Marquardt solver builds its Jacobians with ``jvp``.
"""

from __future__ import annotations

import torch


def pixel_centers(
    height: int, width: int, full_height: int, full_width: int, dtype=torch.float32, device=None
) -> torch.Tensor:
    """(height * width, 2) full-resolution (u, v) of the centres of an (height, width) grid of cells
    covering a ``full_width`` x ``full_height`` image, row-major."""
    v = (torch.arange(height, dtype=dtype, device=device) + 0.5) * (full_height / height)
    u = (torch.arange(width, dtype=dtype, device=device) + 0.5) * (full_width / width)
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return torch.stack([uu, vv], -1).reshape(-1, 2)


def backproject(
    depth: torch.Tensor, uv: torch.Tensor, focal: torch.Tensor, cx: float, cy: float
) -> torch.Tensor:
    """Camera-frame points (..., 3) of pixels ``uv`` (..., 2) with z-depth ``depth`` (...)."""
    x = (uv[..., 0] - cx) / focal * depth
    y = (uv[..., 1] - cy) / focal * depth
    return torch.stack([x, y, depth], -1)


def transform_points(transform: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply (P, 4, 4) rigid transforms to (P, K, 3) points."""
    return points @ transform[:, :3, :3].transpose(-1, -2) + transform[:, None, :3, 3]


def project(
    points: torch.Tensor, focal: torch.Tensor, cx: float, cy: float, min_depth: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Project camera-frame points (..., 3): pixel (..., 2), z-depth (...), in front of the camera (...)."""
    z = points[..., 2]
    front = z > min_depth
    z_safe = torch.where(front, z, torch.ones_like(z))
    uv = torch.stack([focal * points[..., 0] / z_safe + cx, focal * points[..., 1] / z_safe + cy], -1)
    return uv, z, front


def bilinear_sample(
    maps: torch.Tensor, frames: torch.Tensor, uv: torch.Tensor, full_width: int, full_height: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear samples of per-frame maps at full-resolution pixel positions.

    Args:
        maps: (N, C, h, w) maps stored at a resolution that covers the full image.
        frames: (P,) long, which frame each row of ``uv`` samples.
        uv: (P, K, 2) full-resolution pixel coordinates.
    Returns:
        (P, C, K) samples (border-clamped outside the image) and (P, K) bool ``inside``: ``uv`` lies
        within the image.
    """
    n, c, h, w = maps.shape
    x = uv[..., 0] * (w / full_width) - 0.5
    y = uv[..., 1] * (h / full_height) - 0.5
    inside = (uv[..., 0] >= 0) & (uv[..., 0] <= full_width) & (uv[..., 1] >= 0) & (uv[..., 1] <= full_height)
    x = x.clamp(0.0, w - 1.0)
    y = y.clamp(0.0, h - 1.0)
    x0 = x.detach().floor().clamp(max=w - 2 if w > 1 else 0)
    y0 = y.detach().floor().clamp(max=h - 2 if h > 1 else 0)
    fx, fy = x - x0, y - y0
    x0, y0 = x0.long(), y0.long()
    x1 = (x0 + 1).clamp(max=w - 1)
    y1 = (y0 + 1).clamp(max=h - 1)
    flat = maps.reshape(n, c, h * w)[frames]  # (P, C, h*w)

    def tap(yy, xx):
        idx = (yy * w + xx)[:, None, :].expand(-1, c, -1)
        return torch.gather(flat, 2, idx)

    fx, fy = fx[:, None], fy[:, None]
    out = (
        tap(y0, x0) * (1 - fx) * (1 - fy)
        + tap(y0, x1) * fx * (1 - fy)
        + tap(y1, x0) * (1 - fx) * fy
        + tap(y1, x1) * fx * fy
    )
    return out, inside


def bilinear_sample_with_gradient(
    maps: torch.Tensor, frames: torch.Tensor, uv: torch.Tensor, full_width: int, full_height: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`bilinear_sample` and its derivatives with respect to u and v (full-resolution pixels).

    Returns:
        values, d/du, d/dv (each (P, C, K); derivatives are 0 where the position is clamped) and the
        (P, K) bool ``inside``.
    """
    n, c, h, w = maps.shape
    sx, sy = w / full_width, h / full_height
    x = uv[..., 0] * sx - 0.5
    y = uv[..., 1] * sy - 0.5
    inside = (uv[..., 0] >= 0) & (uv[..., 0] <= full_width) & (uv[..., 1] >= 0) & (uv[..., 1] <= full_height)
    free_x = ((x >= 0) & (x <= w - 1)).to(uv.dtype)[:, None]
    free_y = ((y >= 0) & (y <= h - 1)).to(uv.dtype)[:, None]
    x = x.clamp(0.0, w - 1.0)
    y = y.clamp(0.0, h - 1.0)
    x0 = x.floor().clamp(max=w - 2 if w > 1 else 0)
    y0 = y.floor().clamp(max=h - 2 if h > 1 else 0)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x0, y0 = x0.long(), y0.long()
    x1 = (x0 + 1).clamp(max=w - 1)
    y1 = (y0 + 1).clamp(max=h - 1)
    flat = maps.reshape(n, c, h * w)[frames]

    def tap(yy, xx):
        return torch.gather(flat, 2, (yy * w + xx)[:, None, :].expand(-1, c, -1))

    a, b, cc, d = tap(y0, x0), tap(y0, x1), tap(y1, x0), tap(y1, x1)
    value = a * (1 - fx) * (1 - fy) + b * fx * (1 - fy) + cc * (1 - fx) * fy + d * fx * fy
    d_du = ((b - a) * (1 - fy) + (d - cc) * fy) * (sx * free_x)
    d_dv = ((cc - a) * (1 - fx) + (d - b) * fx) * (sy * free_y)
    return value, d_du, d_dv, inside


def coarse_weights(
    uv: torch.Tensor, grid_h: int, grid_w: int, full_width: int, full_height: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear interpolation weights of a coarse (grid_h, grid_w) grid whose corner cells sit on the
    image's outermost pixel centres of a ``full_width`` x ``full_height`` image (``align_corners`` style).

    Returns:
        (..., 4) long flat cell indices and (..., 4) weights (sum 1) for points ``uv`` (..., 2).
    """

    def axis(coord, full, cells):
        if cells == 1:
            zero = torch.zeros_like(coord, dtype=torch.long)
            return zero, zero, torch.zeros_like(coord)
        t = ((coord - 0.5) / max(full - 1.0, 1e-6)).clamp(0.0, 1.0) * (cells - 1)
        i0 = t.detach().floor().clamp(max=cells - 2)
        return i0.long(), (i0 + 1).long(), t - i0

    x0, x1, fx = axis(uv[..., 0], full_width, grid_w)
    y0, y1, fy = axis(uv[..., 1], full_height, grid_h)
    idx = torch.stack([y0 * grid_w + x0, y0 * grid_w + x1, y1 * grid_w + x0, y1 * grid_w + x1], -1)
    wts = torch.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], -1)
    return idx, wts


def coarse_weight_gradients(
    uv: torch.Tensor, grid_h: int, grid_w: int, full_width: int, full_height: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Derivatives (..., 4) of :func:`coarse_weights`' weights with respect to u and v (0 where clamped)."""

    def axis(coord, full, cells):
        if cells == 1:
            zero = torch.zeros_like(coord)
            return zero, zero
        raw = (coord - 0.5) / max(full - 1.0, 1e-6)
        t = raw.clamp(0.0, 1.0) * (cells - 1)
        i0 = t.floor().clamp(max=cells - 2)
        free = ((raw >= 0) & (raw <= 1)).to(coord.dtype)
        return t - i0, free * (cells - 1) / max(full - 1.0, 1e-6)

    fx, dfx = axis(uv[..., 0], full_width, grid_w)
    fy, dfy = axis(uv[..., 1], full_height, grid_h)
    d_du = torch.stack([-(1 - fy), (1 - fy), -fy, fy], -1) * dfx[..., None]
    d_dv = torch.stack([-(1 - fx), -fx, (1 - fx), fx], -1) * dfy[..., None]
    return d_du, d_dv


def coarse_cell_means(grid_h: int, grid_w: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """(grid_h * grid_w,) average over the image of each cell's :func:`coarse_weights` weight (sum 1):
    ``sum_c omega_c cell_c`` is the image mean of the interpolated grid (corner cells count a quarter
    of interior ones, edge cells half)."""

    def axis(cells):
        if cells == 1:
            return torch.ones(1, dtype=dtype, device=device)
        w = torch.ones(cells, dtype=dtype, device=device)
        w[0] = w[-1] = 0.5
        return w / w.sum()

    return (axis(grid_h)[:, None] * axis(grid_w)[None, :]).reshape(-1)
