"""Losses of the FrozenRecon optimiser: geometric consistency, photometric, trimming, regularisers.

All per-pixel terms are (P, h, w) maps for P frame pairs with a boolean mask of the pixels that count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def geometric_consistency(computed: torch.Tensor, projected: torch.Tensor) -> torch.Tensor:
    """``|D_comp - D_proj| / (D_comp + D_proj)`` per pixel: 0 for consistent depths, in [0, 1) for positive
    ones, invariant to a common scale of both (so of the whole reconstruction).

    Args:
        computed: depth of frame i's pixels computed in camera j (any shape).
        projected: frame j's depth sampled where those pixels project (same shape).
    """
    if computed.shape != projected.shape:
        raise ValueError(f"expected equal shapes, got {tuple(computed.shape)} and {tuple(projected.shape)}")
    return (computed - projected).abs() / (computed + projected).clamp_min(1e-8)


def photometric_l1(color_i: torch.Tensor, warped_j: torch.Tensor) -> torch.Tensor:
    """Mean absolute colour difference over channels: (P, C, h, w) x2 -> (P, h, w)."""
    return (color_i - warped_j).abs().mean(1)


def photometric_ssim(color_i: torch.Tensor, warped_j: torch.Tensor) -> torch.Tensor:
    """``(1 - SSIM) / 2`` over 3x3 windows, mean over channels: (P, C, h, w) x2 -> (P, h, w)."""
    c1, c2 = 0.01**2, 0.03**2
    pool = lambda x: F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)  # noqa: E731
    mu_x, mu_y = pool(color_i), pool(warped_j)
    sxx = pool(color_i * color_i) - mu_x * mu_x
    syy = pool(warped_j * warped_j) - mu_y * mu_y
    sxy = pool(color_i * warped_j) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return ((1.0 - ssim) / 2.0).clamp(0.0, 1.0).mean(1)


def trimmed_mask(residual: torch.Tensor, mask: torch.Tensor, trim: float) -> torch.Tensor:
    """``mask`` without the ``trim`` fraction of largest residuals of each pair (row of the first axis).

    Args:
        residual: (P, ...) residuals (detached internally).
        mask: (P, ...) bool, pixels that count.
        trim: fraction in [0, 1) to drop per pair; 0 returns ``mask``.
    """
    if not 0.0 <= trim < 1.0:
        raise ValueError(f"expected trim in [0, 1), got {trim}")
    if trim == 0.0:
        return mask
    r = residual.detach().reshape(residual.shape[0], -1)
    m = mask.reshape(mask.shape[0], -1)
    filled = torch.where(m, r, torch.full_like(r, float("nan")))
    keep_rows = m.any(1)
    threshold = torch.full((r.shape[0],), float("inf"), dtype=r.dtype, device=r.device)
    if keep_rows.any():
        threshold[keep_rows] = torch.nanquantile(filled[keep_rows], 1.0 - trim, dim=1)
    return (m & (r <= threshold[:, None])).reshape(mask.shape)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask``; 0 (with a gradient path) when nothing is masked in."""
    m = mask.to(values.dtype)
    return (values * m).sum() / m.sum().clamp_min(1.0)


def positive_depth_penalty(depth: torch.Tensor, valid: torch.Tensor, floor: torch.Tensor) -> torch.Tensor:
    """Mean of ``relu(floor - depth)`` over valid pixels: pushes rectified depth above ``floor`` (> 0)."""
    return masked_mean(F.relu(floor - depth), valid)


def smoothness(grid: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring cells of (N, gh, gw) local scale grids (0 for a flat grid)."""
    dx = grid[:, :, 1:] - grid[:, :, :-1]
    dy = grid[:, 1:, :] - grid[:, :-1, :]
    terms = [t.pow(2).mean() for t in (dx, dy) if t.numel()]
    return torch.stack(terms).sum() if terms else grid.sum() * 0.0
