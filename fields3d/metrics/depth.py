"""Depth-map errors (AbsRel, SqRel, RMSE, RMSE-log, δ < 1.25^k) and scale / scale-shift alignment.

Depth maps are (H, W) (or any shape; (H, W, 1) is fine) arrays or tensors in the same units.  Pixels are
*valid* where the ground truth is finite and > 0 (and the optional mask is set); only valid pixels count,
and the prediction must be finite there.  Monocular predictions known only up to scale (and shift) are
aligned to the ground truth on the valid pixels first:

- ``"median"``: ``s = median(gt) / median(pred)``;
- ``"scale"``: least-squares ``s = argmin sum (s pred - gt)^2``;
- ``"scale_shift"``: least-squares ``(s, t) = argmin sum (s pred + t - gt)^2``.
"""

from __future__ import annotations

import numpy as np

from fields3d.geometry.triangle_arrays import to_numpy

ALIGNMENTS = ("none", "median", "scale", "scale_shift")


def valid_depth_mask(gt, mask=None) -> np.ndarray:
    """Boolean mask (same shape as ``gt``) of pixels with finite gt > 0 (and ``mask`` set, if given)."""
    g = to_numpy(gt).astype(np.float64)
    valid = np.isfinite(g) & (g > 0)
    if mask is not None:
        m = to_numpy(mask)
        if m.shape != g.shape:
            raise ValueError(f"expected a mask of shape {g.shape}, got {m.shape}")
        valid &= m != 0
    return valid


def median_scale(pred, gt, valid=None) -> float:
    """``median(gt) / median(pred)`` over the valid pixels."""
    p, g = _valid_values(pred, gt, valid)
    mp = float(np.median(p))
    if not mp > 0:
        raise ValueError(f"expected a positive median predicted depth on valid pixels, got {mp}")
    return float(np.median(g)) / mp


def least_squares_scale(pred, gt, valid=None) -> float:
    """Scale ``s`` minimising ``sum (s pred - gt)^2`` over the valid pixels."""
    p, g = _valid_values(pred, gt, valid)
    denom = float((p * p).sum())
    if denom == 0:
        raise ValueError("expected a prediction that is not all zero on valid pixels, got all zeros")
    return float((p * g).sum()) / denom


def least_squares_scale_shift(pred, gt, valid=None) -> tuple[float, float]:
    """``(s, t)`` minimising ``sum (s pred + t - gt)^2`` over the valid pixels."""
    p, g = _valid_values(pred, gt, valid)
    if len(p) < 2 or np.ptp(p) == 0:
        raise ValueError("expected two or more distinct predicted depths on valid pixels, got fewer")
    a = np.stack([p, np.ones_like(p)], axis=1)
    (s, t), *_ = np.linalg.lstsq(a, g, rcond=None)
    return float(s), float(t)


def align_depth(pred, gt, mask=None, align: str = "median") -> np.ndarray:
    """The prediction (float64, shape of ``pred``) after alignment ``align`` in :data:`ALIGNMENTS`."""
    if align not in ALIGNMENTS:
        raise ValueError(f"expected align in {ALIGNMENTS}, got {align!r}")
    p = to_numpy(pred).astype(np.float64)
    valid = valid_depth_mask(gt, mask)
    if align == "median":
        return p * median_scale(p, gt, valid)
    if align == "scale":
        return p * least_squares_scale(p, gt, valid)
    if align == "scale_shift":
        s, t = least_squares_scale_shift(p, gt, valid)
        return s * p + t
    return p


def depth_errors(pred, gt, mask=None, align: str = "none") -> dict[str, float]:
    """Standard depth errors over the valid pixels, after ``align`` (one of :data:`ALIGNMENTS`).

    Returns:
        dict of floats: abs_rel = mean |p - g| / g; sq_rel = mean (p - g)^2 / g; rmse = sqrt mean (p - g)^2;
        rmse_log = sqrt mean (log p - log g)^2 (NaN if some aligned p <= 0); delta1/2/3 = fraction with
        max(p / g, g / p) < 1.25, 1.25^2, 1.25^3 (p <= 0 counts as a miss); valid_pixels.
    """
    p = align_depth(pred, gt, mask, align)
    p, g = _valid_values(p, gt, valid_depth_mask(gt, mask))
    diff = p - g
    positive = p > 0
    ratio = np.full_like(p, np.inf)
    ratio[positive] = np.maximum(p[positive] / g[positive], g[positive] / p[positive])
    rmse_log = float(np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2))) if positive.all() else float("nan")
    return {
        "abs_rel": float(np.mean(np.abs(diff) / g)),
        "sq_rel": float(np.mean(diff**2 / g)),
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "rmse_log": rmse_log,
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
        "valid_pixels": int(len(g)),
    }


def _valid_values(pred, gt, valid=None) -> tuple[np.ndarray, np.ndarray]:
    p = to_numpy(pred).astype(np.float64)
    g = to_numpy(gt).astype(np.float64)
    if p.shape != g.shape:
        raise ValueError(f"expected predicted and gt depth of the same shape, got {p.shape} and {g.shape}")
    if valid is None:
        valid = valid_depth_mask(g)
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != g.shape:
        raise ValueError(f"expected a valid mask of shape {g.shape}, got {valid.shape}")
    if not valid.any():
        raise ValueError("expected at least one valid pixel (finite gt > 0 inside the mask), got none")
    p, g = p[valid], g[valid]
    if not np.isfinite(p).all():
        bad = int((~np.isfinite(p)).sum())
        raise ValueError(f"expected finite predicted depth on valid pixels, got {bad} non-finite")
    return p, g
