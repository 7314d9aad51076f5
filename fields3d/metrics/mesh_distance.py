"""Surface distances between a predicted and a ground-truth shape, DTU-style by surface sampling.

Both shapes become point sets (meshes are sampled uniformly by area with
:func:`fields3d.geometry.mesh_sampling.sample_surface`; point sets are used as given) and every point
is matched to its nearest neighbour in the other set (``scipy.spatial.cKDTree``):

- accuracy: mean distance pred -> gt (how close the prediction lies to the truth);
- completeness: mean distance gt -> pred (how much of the truth the prediction covers);
- chamfer: their mean (the DTU "overall" score);
- precision / recall: fraction of pred / gt points within ``threshold`` of the other set, and
  F-score = 2PR / (P + R) (Tanks and Temples);
- normal consistency: mean ``|cos|`` between a point's normal and its nearest neighbour's normal,
  averaged over both directions.  It is UNSIGNED: a surface and its flipped copy score 1.

Distances are between samples, not to the exact surface, so a perfect prediction scores about half the
sample spacing (~ sqrt(area / samples)), not 0; use enough samples for the scale of your threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fields3d.geometry.mesh_sampling import sample_surface
from fields3d.geometry.triangle_arrays import to_numpy

DEFAULT_SAMPLES = 100_000


@dataclass(frozen=True)
class PointSample:
    """A shape as points: (N, 3) float64 ``points`` and optional (N, 3) unit ``normals``."""

    points: np.ndarray
    normals: np.ndarray | None = None


def as_point_sample(shape, samples: int = DEFAULT_SAMPLES,
                    seed: int | np.random.Generator | None = 0) -> PointSample:
    """A shape as points: a mesh is sampled, a point set is taken as it is.

    Args:
        shape: a ``trimesh.Trimesh`` or ``(vertices, faces)`` pair (sampled with ``samples`` points), a
            ``trimesh.PointCloud``, an (N, 3) array/tensor of points, a ``(points, normals)`` pair of
            (N, 3) arrays, or a :class:`PointSample`.
        samples: number of points drawn on a mesh.
        seed: seed or generator of the mesh sampling.
    """
    if isinstance(shape, PointSample):
        return _checked(shape.points, shape.normals)
    if hasattr(shape, "faces") and hasattr(shape, "vertices"):
        s = sample_surface(shape, samples, seed=seed)
        return PointSample(s.points, s.normals)
    if hasattr(shape, "vertices"):  # trimesh.PointCloud
        return _checked(shape.vertices, None)
    if isinstance(shape, (tuple, list)) and len(shape) == 2:
        a, b = to_numpy(shape[0]), to_numpy(shape[1])
        if b.ndim == 2 and b.shape[1] == 3 and np.issubdtype(b.dtype, np.integer):
            s = sample_surface((a, b), samples, seed=seed)
            return PointSample(s.points, s.normals)
        return _checked(a, b)
    return _checked(shape, None)


def nearest_distances(queries: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (Q,) float64 from each query (Q, 3) to its nearest neighbour in ``points`` (P, 3), and that
    neighbour's index (Q,) int64."""
    from scipy.spatial import cKDTree

    dist, index = cKDTree(points).query(queries, k=1, workers=-1)
    return np.asarray(dist, dtype=np.float64), np.asarray(index, dtype=np.int64)


def fscore(precision: float, recall: float) -> float:
    """Harmonic mean 2PR / (P + R) of precision and recall (0 when both are 0)."""
    return 0.0 if precision + recall == 0 else 2.0 * precision * recall / (precision + recall)


def mesh_distances(pred, gt, *, threshold: float, samples: int = DEFAULT_SAMPLES, seed: int = 0,
                   outlier_distance: float | None = None) -> dict[str, float]:
    """Chamfer accuracy/completeness, precision/recall/F-score at ``threshold`` and normal consistency.

    Args:
        pred, gt: shapes as accepted by :func:`as_point_sample` (meshes, point sets, torch or numpy).
        threshold: distance (world units) under which a point counts as matched, for precision/recall.
        samples: points drawn on each mesh (point sets are not resampled).
        seed: the pred and gt meshes are sampled with independent streams derived from this seed.
        outlier_distance: if given, distances above it are left out of accuracy and completeness (as the
            DTU evaluation does with its ``max_dist``); precision/recall still count them as misses.
    Returns:
        dict of floats: accuracy, completeness, chamfer, precision, recall, fscore, normal_consistency
        (NaN when a point set without normals is involved), threshold, samples.
    """
    if not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"expected a positive finite threshold, got {threshold}")
    if outlier_distance is not None and not outlier_distance > 0:
        raise ValueError(f"expected a positive outlier distance, got {outlier_distance}")
    pred_rng, gt_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    p = as_point_sample(pred, samples, pred_rng)
    g = as_point_sample(gt, samples, gt_rng)
    d_pg, i_pg = nearest_distances(p.points, g.points)
    d_gp, i_gp = nearest_distances(g.points, p.points)
    accuracy = _mean_within(d_pg, outlier_distance)
    completeness = _mean_within(d_gp, outlier_distance)
    precision = float((d_pg < threshold).mean())
    recall = float((d_gp < threshold).mean())
    if p.normals is not None and g.normals is not None:
        nc = 0.5 * (_mean_abs_cos(p.normals, g.normals[i_pg]) + _mean_abs_cos(g.normals, p.normals[i_gp]))
    else:
        nc = float("nan")
    return {
        "accuracy": accuracy,
        "completeness": completeness,
        "chamfer": 0.5 * (accuracy + completeness),
        "precision": precision,
        "recall": recall,
        "fscore": fscore(precision, recall),
        "normal_consistency": nc,
        "threshold": float(threshold),
        "samples": int(samples),
    }


def chamfer_distance(pred, gt, *, samples: int = DEFAULT_SAMPLES,
                     seed: int = 0) -> tuple[float, float, float]:
    """``(accuracy, completeness, chamfer)`` of :func:`mesh_distances` (mean distances, world units)."""
    r = mesh_distances(pred, gt, threshold=1.0, samples=samples, seed=seed)
    return r["accuracy"], r["completeness"], r["chamfer"]


def normal_consistency(pred, gt, *, samples: int = DEFAULT_SAMPLES, seed: int = 0) -> float:
    """Unsigned normal consistency in [0, 1] of :func:`mesh_distances` (needs normals on both shapes)."""
    r = mesh_distances(pred, gt, threshold=1.0, samples=samples, seed=seed)
    if np.isnan(r["normal_consistency"]):
        raise ValueError("expected normals on both shapes (meshes, (points, normals)), got a bare point set")
    return r["normal_consistency"]


def _checked(points, normals) -> PointSample:
    pts = to_numpy(points).astype(np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise ValueError(f"expected a non-empty (N, 3) point set, got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError("expected finite point coordinates, got NaN or infinite values")
    if normals is None:
        return PointSample(pts, None)
    nrm = to_numpy(normals).astype(np.float64)
    if nrm.shape != pts.shape:
        raise ValueError(f"expected normals of shape {pts.shape}, got {nrm.shape}")
    length = np.linalg.norm(nrm, axis=1, keepdims=True)
    nrm = np.divide(nrm, length, out=np.zeros_like(nrm), where=length > 0)
    return PointSample(pts, nrm)


def _mean_within(d: np.ndarray, limit: float | None) -> float:
    if limit is not None:
        d = d[d <= limit]
        if len(d) == 0:
            return float("nan")
    return float(d.mean())


def _mean_abs_cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs((a * b).sum(1)).mean())
