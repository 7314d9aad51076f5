"""Trajectory alignment and error: Umeyama Sim(3)/SE(3) alignment, ATE RMSE, rotation errors."""

from __future__ import annotations

import numpy as np

from fields3d.geometry.similarity import Similarity


def umeyama(source: np.ndarray, target: np.ndarray, with_scale: bool = True) -> Similarity:
    """Least-squares similarity ``S`` with ``S(source) ≈ target`` (Umeyama 1991).

    Args:
        source, target: (N, 3) corresponding points, N >= 3 (not all collinear).
        with_scale: False gives a rigid (SE(3)) alignment.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 3 or src.shape[0] < 3:
        raise ValueError(f"expected two (N >= 3, 3) arrays of the same shape, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / src.shape[0]
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1
    rot = u @ sign @ vt
    var_s = (xs**2).sum() / src.shape[0]
    scale = float(np.trace(np.diag(d) @ sign) / var_s) if with_scale else 1.0
    if not scale > 0:
        raise ValueError("degenerate point sets: cannot estimate a positive scale")
    return Similarity.from_parts(scale, rot, mu_d - scale * rot @ mu_s)


def ate_rmse(positions: np.ndarray, gt_positions: np.ndarray, align: str = "sim3") -> float:
    """Absolute trajectory error: RMSE of camera positions (N, 3) after ``align`` in {"sim3", "se3", "none"}."""
    pos = np.asarray(positions, dtype=np.float64)
    gt = np.asarray(gt_positions, dtype=np.float64)
    if align != "none":
        pos = umeyama(pos, gt, with_scale=(align == "sim3")).apply_points(pos)
    return float(np.sqrt(((pos - gt) ** 2).sum(-1).mean()))


def rotation_errors_deg(c2w: np.ndarray, gt_c2w: np.ndarray, alignment: Similarity | None = None) -> np.ndarray:
    """Per-camera rotation error in degrees (N,) between (N, 4, 4) poses, after an optional alignment."""
    r = np.asarray(c2w, dtype=np.float64)[:, :3, :3]
    if alignment is not None:
        r = alignment.rotation @ r
    r_gt = np.asarray(gt_c2w, dtype=np.float64)[:, :3, :3]
    rel = np.einsum("nji,njk->nik", r_gt, r)
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)
    return np.degrees(np.arccos(cos))
