"""Scene normalisation: the similarity that puts a capture's region of interest inside the unit sphere.

Methods work in a normalised frame in which the region to reconstruct lies inside the unit sphere
(and, for object captures, the cameras lie outside it).  Parsers keep cameras in **original world
units** and record the map into that frame as ``SceneData.normalization`` (a
:class:`~fields3d.geometry.similarity.Similarity`, world -> normalised).  ``SceneData.metadata
["normalization_method"]`` says which rule below produced it.

Policy, by format (first rule that applies):

====================  ============================================================================
format                normalisation
====================  ============================================================================
NeuS / IDR npz        ``scale_mat_0`` (``x_world = scale_mat @ x_norm``), inverted: the authors' sphere.
transforms.json       the ``"fields3d": {"normalization": ...}`` block written by ``fields3d synth`` /
                      ``fields3d sfm`` when present; otherwise :func:`sphere_from_camera_views`.
COLMAP                :func:`sphere_from_points` on the sparse points seen by at least half of the
                      cameras (1st-99th percentile box); :func:`sphere_from_camera_views` when the
                      model has fewer than 20 points.
LLFF                  :func:`sphere_from_camera_views` restricted to each camera's [near, far] bounds.
RGB-D folders         :func:`sphere_from_points` on back-projected depth (cameras stay inside: a room).
====================  ============================================================================

For object captures (every camera looks at the centre, see :func:`is_object_centric`) the radius is
capped at 0.95 x the nearest camera's distance, so every camera is outside the unit sphere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fields3d.cameras import Cameras
from fields3d.geometry.similarity import Similarity

# below this (smallest eigenvalue of sum(I - d d^T)) / N the optical axes are too close to parallel
# (spread below ~8 degrees) to meet in a point: a forward-facing capture
_AXES_CONDITION_MIN = 0.02
CAMERA_CLEARANCE = 0.95


@dataclass(frozen=True)
class BoundingSphere:
    """A sphere in world units enclosing a capture's region of interest.

    Attributes:
        center: (3,) float64 world units.
        radius: world units.
        method: how it was found (recorded in ``SceneData.metadata["normalization_method"]``).
    """

    center: np.ndarray
    radius: float
    method: str

    def normalization(self) -> Similarity:
        """World -> normalised frame (this sphere -> the unit sphere)."""
        return Similarity.normalizing(self.center, self.radius)


def _pose_arrays(cameras: Cameras) -> tuple[np.ndarray, np.ndarray]:
    c2w = cameras.c2w.detach().cpu().double().numpy()
    origins = c2w[:, :3, 3]
    axes = c2w[:, :3, 2] / np.linalg.norm(c2w[:, :3, 2], axis=1, keepdims=True)
    return origins, axes


def optical_axes_center(cameras: Cameras) -> tuple[np.ndarray, float]:
    """Least-squares point closest to all cameras' optical axes.

    Returns:
        (3,) float64 point in world units, and a conditioning number in [0, 1] (smallest eigenvalue of
        ``sum_i (I - d_i d_i^T)`` divided by N): near 0 when the axes are nearly parallel
        (forward-facing captures), where the point is meaningless.
    """
    origins, axes = _pose_arrays(cameras)
    proj = (
        np.eye(3)[None] - axes[:, :, None] * axes[:, None, :]
    )  # (N, 3, 3) projectors orthogonal to each axis
    a = proj.sum(0)
    b = np.einsum("nij,nj->i", proj, origins)
    condition = float(np.linalg.eigvalsh(a)[0]) / len(cameras)
    if condition < 1e-9:
        return origins.mean(0), condition
    return np.linalg.solve(a, b), condition


def _visible_counts(
    cameras: Cameras, points: np.ndarray, near: np.ndarray | None, far: np.ndarray | None
) -> np.ndarray:
    """(P,) number of cameras whose pinhole frustum (ignoring distortion) contains each point."""
    c2w = cameras.c2w.detach().cpu().double().numpy()
    K = cameras.K.detach().cpu().double().numpy()
    counts = np.zeros(len(points), dtype=np.int64)
    points = np.asarray(points, dtype=np.float64)
    for i in range(len(cameras)):
        r, t = c2w[i, :3, :3], c2w[i, :3, 3]
        p = ((points - t) @ r).astype(np.float32)  # world -> camera (R^T (x - t)), rows
        z = p[:, 2]
        lo = 1e-9 if near is None else near[i]
        ok = z > lo
        if far is not None:
            ok &= z < far[i]
        zs = np.where(ok, z, 1.0)
        u = K[i, 0, 0] * p[:, 0] / zs + K[i, 0, 1] * p[:, 1] / zs + K[i, 0, 2]
        v = K[i, 1, 1] * p[:, 1] / zs + K[i, 1, 2]
        ok &= (u >= 0) & (u <= float(cameras.width[i])) & (v >= 0) & (v <= float(cameras.height[i]))
        counts += ok
    return counts


def is_object_centric(cameras: Cameras, center, fraction: float = 0.9) -> bool:
    """True when at least ``fraction`` of the cameras see ``center`` in the middle half of their image
    (an object capture: cameras around the object, looking at it)."""
    center = np.asarray(center, dtype=np.float64).reshape(1, 3)
    c2w = cameras.c2w.detach().cpu().double().numpy()
    K = cameras.K.detach().cpu().double().numpy()
    good = 0
    for i in range(len(cameras)):
        p = (center - c2w[i, :3, 3]) @ c2w[i, :3, :3]
        if p[0, 2] <= 0:
            continue
        u = K[i, 0, 0] * p[0, 0] / p[0, 2] + K[i, 0, 2]
        v = K[i, 1, 1] * p[0, 1] / p[0, 2] + K[i, 1, 2]
        w, h = float(cameras.width[i]), float(cameras.height[i])
        good += abs(u - w / 2) <= w / 4 and abs(v - h / 2) <= h / 4
    return good >= fraction * len(cameras)


def keep_cameras_outside(sphere: BoundingSphere, cameras: Cameras) -> BoundingSphere:
    """Cap the radius at 0.95 x the nearest camera's distance to the centre (object captures)."""
    origins, _ = _pose_arrays(cameras)
    nearest = float(np.linalg.norm(origins - sphere.center, axis=1).min())
    if sphere.radius <= CAMERA_CLEARANCE * nearest:
        return sphere
    return BoundingSphere(
        sphere.center, CAMERA_CLEARANCE * nearest, sphere.method + ", capped to keep cameras outside"
    )


def sphere_from_camera_views(
    cameras: Cameras,
    near=None,
    far=None,
    *,
    min_fraction: float = 0.9,
    resolution: int = 32,
) -> BoundingSphere:
    """The sphere around the region that (nearly) every camera sees.

    The centre is the point closest to all optical axes (:func:`optical_axes_center`); for a
    forward-facing capture (nearly parallel axes) it is the mean camera centre moved along the mean
    viewing direction by the median mid-depth ``(near + far) / 2`` (or by twice the spread of the
    camera centres when no bounds are given).  The radius encloses the points of a
    ``resolution``³ grid that lie inside the frustums of at least ``min_fraction`` of the cameras
    (between ``near`` and ``far`` when given; distortion ignored): an object that every photo shows
    whole lies inside that region.  Object captures are then capped so the cameras stay outside.

    Args:
        cameras: N cameras in world units.
        near, far: optional (N,) per-camera depth bounds in world units (LLFF ``poses_bounds``).
    """
    n = len(cameras)
    if n == 0:
        raise ValueError("expected at least one camera, got 0")
    near_a = None if near is None else np.broadcast_to(np.asarray(near, dtype=np.float64), (n,))
    far_a = None if far is None else np.broadcast_to(np.asarray(far, dtype=np.float64), (n,))
    origins, axes = _pose_arrays(cameras)
    center, condition = optical_axes_center(cameras)
    method = "camera views: axes centre"
    if condition < _AXES_CONDITION_MIN:
        spread = float(np.linalg.norm(origins - origins.mean(0), axis=1).max())
        if near_a is not None and far_a is not None:
            depth = float(np.median(0.5 * (near_a + far_a)))
        else:
            depth = 2.0 * max(spread, 1e-6)
        mean_axis = axes.mean(0) / max(np.linalg.norm(axes.mean(0)), 1e-12)
        center = origins.mean(0) + depth * mean_axis
        method = "camera views: forward-facing centre"
    dist = np.linalg.norm(origins - center, axis=1)
    half = float(dist.max()) if far_a is None else float((dist + far_a).max())
    half = max(half, 1e-6)
    t = np.linspace(-half, half, resolution)
    grid = np.stack(np.meshgrid(t, t, t, indexing="ij"), -1).reshape(-1, 3) + center
    counts = _visible_counts(cameras, grid, near_a, far_a)
    cell = 2 * half / (resolution - 1)
    radius = None
    for fraction in (min_fraction, 0.75, 0.5, 0.25):
        region = grid[counts >= max(1, math.ceil(fraction * n))]
        if len(region) >= 8:
            radius = float(np.linalg.norm(region - center, axis=1).max()) + 0.5 * math.sqrt(3) * cell
            method += f", region seen by {fraction:.0%} of cameras"
            break
    if radius is None:
        radius = 0.5 * float(np.median(dist)) if np.median(dist) > 0 else 1.0
        method += ", no common view: half the median camera distance"
    sphere = BoundingSphere(center, radius, method)
    if is_object_centric(cameras, center):
        sphere = keep_cameras_outside(sphere, cameras)
    return sphere


def sphere_from_points(
    points,
    cameras: Cameras | None = None,
    *,
    percentile: float = 1.0,
    min_visible_fraction: float = 0.5,
    object_capture: bool | None = None,
) -> BoundingSphere:
    """The sphere around the robust bounding box of a point cloud (e.g. COLMAP's sparse points).

    Args:
        points: (P, 3) world units.
        cameras: when given, only points inside the frustums of at least ``min_visible_fraction`` of
            the cameras are used (unless that leaves fewer than 20), which drops far background.
        percentile: the box spans the ``percentile``-th to ``100 - percentile``-th percentile per axis.
        object_capture: cap the radius so the cameras stay outside; None = decide with
            :func:`is_object_centric` (needs ``cameras``).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(1)]
    if len(pts) == 0:
        raise ValueError("expected at least one finite point, got none")
    method = "points"
    if cameras is not None and len(pts) >= 20:
        counts = _visible_counts(cameras, pts, None, None)
        seen = pts[counts >= max(1, math.ceil(min_visible_fraction * len(cameras)))]
        if len(seen) >= 20:
            pts = seen
            method = f"points seen by {min_visible_fraction:.0%} of cameras"
    lo = np.percentile(pts, percentile, axis=0)
    hi = np.percentile(pts, 100 - percentile, axis=0)
    center = 0.5 * (lo + hi)
    radius = max(0.5 * float(np.linalg.norm(hi - lo)), 1e-6)
    sphere = BoundingSphere(center, radius, f"{method}, {percentile:g}-{100 - percentile:g} percentile box")
    if object_capture is None:
        object_capture = cameras is not None and is_object_centric(cameras, center)
    if object_capture and cameras is not None:
        sphere = keep_cameras_outside(sphere, cameras)
    return sphere


def sphere_from_similarity(normalization: Similarity, method: str) -> BoundingSphere:
    """The world-space sphere that ``normalization`` maps onto the unit sphere."""
    inv = normalization.inverse()
    return BoundingSphere(inv.translation, inv.scale, method)
