"""Trajectory alignment and errors: Umeyama Sim(3)/SE(3) alignment, ATE RMSE, rotation errors, RPE.

Poses are camera-to-world (N, 4, 4) matrices (OpenCV axes, see fields3d.cameras.conventions); positions
are (N, 3) camera centres in world units.  An estimated trajectory is compared with the ground truth
after the similarity (``sim3``) or rigid (``se3``) transform that best maps its camera centres onto the
ground truth's (Umeyama 1991), because a reconstruction's world frame (and, for monocular methods, its
scale) is arbitrary.
"""

from __future__ import annotations

import numpy as np

from fields3d.geometry.similarity import Similarity

ALIGNMENTS = ("sim3", "se3", "none")


def umeyama(source: np.ndarray, target: np.ndarray, with_scale: bool = True) -> Similarity:
    """Least-squares similarity ``S`` with ``S(source) ≈ target`` (Umeyama 1991).

    Args:
        source, target: (N, 3) corresponding points, N >= 3 (not all collinear).
        with_scale: False gives a rigid (SE(3)) alignment.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 3 or src.shape[0] < 3:
        raise ValueError(f"expected two (N >= 3, 3) arrays of one shape, got {src.shape} and {dst.shape}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise ValueError("expected finite points, got NaN or infinite values")
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


def align_positions(positions: np.ndarray, gt_positions: np.ndarray, align: str = "sim3") -> Similarity:
    """The transform ``align`` (one of :data:`ALIGNMENTS`) taking ``positions`` (N, 3) onto the gt."""
    if align not in ALIGNMENTS:
        raise ValueError(f"expected align in {ALIGNMENTS}, got {align!r}")
    if align == "none":
        return Similarity.identity()
    return umeyama(positions, gt_positions, with_scale=(align == "sim3"))


def ate_rmse(positions: np.ndarray, gt_positions: np.ndarray, align: str = "sim3") -> float:
    """Absolute trajectory error: RMSE (world units) of camera positions (N, 3) after ``align``."""
    pos = np.asarray(positions, dtype=np.float64)
    gt = np.asarray(gt_positions, dtype=np.float64)
    if pos.shape != gt.shape or pos.ndim != 2 or pos.shape[1] != 3 or len(pos) == 0:
        raise ValueError(f"expected two (N, 3) position arrays of one shape, got {pos.shape} and {gt.shape}")
    pos = align_positions(pos, gt, align).apply_points(pos)
    return float(np.sqrt(((pos - gt) ** 2).sum(-1).mean()))


def rotation_angle_deg(rotations: np.ndarray) -> np.ndarray:
    """Rotation angle in degrees, in [0, 180], of (..., 3, 3) rotation matrices (accurate near 0 and 180)."""
    r = np.asarray(rotations, dtype=np.float64)
    cos = (np.trace(r, axis1=-2, axis2=-1) - 1.0) / 2.0
    skew = r - np.swapaxes(r, -1, -2)
    axis = np.stack([skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]], -1)
    sin = np.linalg.norm(axis, axis=-1) / 2.0
    return np.degrees(np.arctan2(sin, cos))


def rotation_errors_deg(c2w: np.ndarray, gt_c2w: np.ndarray,
                        alignment: Similarity | None = None) -> np.ndarray:
    """Per-camera rotation error in degrees (N,) between (N, 4, 4) poses, after an optional alignment."""
    pose, gt = _poses(c2w, gt_c2w)
    r = pose[:, :3, :3]
    if alignment is not None:
        r = alignment.rotation @ r
    return rotation_angle_deg(np.swapaxes(gt[:, :3, :3], 1, 2) @ r)


def relative_pose_errors(c2w: np.ndarray, gt_c2w: np.ndarray, step: int = 1,
                         alignment: Similarity | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Relative pose error (RPE) between frames ``i`` and ``i + step``.

    For each pair, the estimated relative motion ``inv(P_i) P_{i+step}`` is compared with the ground
    truth's; ``alignment`` (e.g. from :func:`align_positions`) is applied to the estimate first, which
    matters only through its scale (a rigid transform does not change relative motion).

    Returns:
        translation errors (N - step,) in world units and rotation errors (N - step,) in degrees.
    """
    pose, gt = _poses(c2w, gt_c2w)
    if not (isinstance(step, (int, np.integer)) and 1 <= step < len(pose)):
        raise ValueError(f"expected a step in [1, {len(pose) - 1}], got {step}")
    if alignment is not None:
        pose = alignment.apply_c2w(pose)
    rel = np.linalg.inv(pose[:-step]) @ pose[step:]
    rel_gt = np.linalg.inv(gt[:-step]) @ gt[step:]
    err = np.linalg.inv(rel_gt) @ rel
    return np.linalg.norm(err[:, :3, 3], axis=-1), rotation_angle_deg(err[:, :3, :3])


def _poses(c2w, gt_c2w) -> tuple[np.ndarray, np.ndarray]:
    pose = np.asarray(c2w, dtype=np.float64)
    gt = np.asarray(gt_c2w, dtype=np.float64)
    if pose.shape != gt.shape or pose.ndim != 3 or pose.shape[1:] != (4, 4) or len(pose) == 0:
        raise ValueError(f"expected two (N, 4, 4) pose arrays of one shape, got {pose.shape} and {gt.shape}")
    return pose, gt
