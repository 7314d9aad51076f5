"""How well a fitted tri-plane reproduces its shape: decode a mesh, Chamfer to the source, IoU.

Every fitted field is decoded with :func:`fields3d.extract.extract_mesh` (level 0 for sdf and
occupancy logits, ``udf_level`` for udf: a thin double shell around the surface) and compared with its
normalised source by :func:`fields3d.metrics.mesh_distances` (Chamfer = mean of accuracy and
completeness, normalised units: the shape spans [-fill, fill]). For sdf and occupancy the volumetric
IoU on uniform points in the box is recorded too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from fields3d.triplane.supervision import ShapeDistance


@dataclass
class QualityConfig:
    """Decoding and comparison settings."""

    resolution: int = 64
    """Marching-cubes grid points per axis over [-1, 1]^3."""
    samples: int = 10000
    """Surface samples per shape for the Chamfer distance."""
    threshold: float = 0.02
    """F-score distance threshold (normalised units)."""
    iou_points: int = 32768
    """Uniform points in the box for the volumetric IoU (sdf, occupancy)."""
    udf_level: float = 0.02
    """Iso-level of an unsigned distance field's decoded shell (normalised units)."""


def decode_mesh(field_fn, field_name: str, resolution: int, udf_level: float = 0.02):
    """Marching cubes of one object's field over [-1, 1]^3 -> (vertices (V, 3) float64,
    faces (F, 3) int64)."""
    from fields3d.extract import extract_mesh

    level = udf_level if field_name == "udf" else 0.0
    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    with torch.no_grad():
        mesh = extract_mesh(
            field_fn,
            aabb,
            resolution,
            level=level,
            differentiable=False,
            positive_inside=field_name == "occupancy",
        )
    return mesh.vertices.detach().cpu().double().numpy(), mesh.faces.detach().cpu().numpy().astype(np.int64)


def volumetric_iou(pred_inside: np.ndarray, true_inside: np.ndarray) -> float:
    """|pred AND true| / |pred OR true| of two (N,) boolean arrays (1.0 when both are empty)."""
    union = np.logical_or(pred_inside, true_inside).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred_inside, true_inside).sum() / union)


def fit_quality(
    field_fn, field_name: str, target: ShapeDistance, config: QualityConfig, rng: np.random.Generator
) -> dict:
    """Decode ``field_fn`` ((N, 3) -> (N,)) and compare with the normalised ``target`` shape.

    Returns a dict with ``chamfer``, ``fscore``, ``faces`` (None / 0 when nothing was decoded) and,
    for sdf / occupancy, ``iou``.
    """
    from fields3d.metrics.mesh_distance import PointSample, mesh_distances

    out: dict = {}
    vertices, faces = decode_mesh(field_fn, field_name, config.resolution, config.udf_level)
    out["faces"] = int(len(faces))
    if len(faces):
        gt = (target.vertices, target.faces) if target.has_faces else PointSample(target.vertices)
        d = mesh_distances(
            (vertices, faces),
            gt,
            threshold=config.threshold,
            samples=config.samples,
            seed=int(rng.integers(1 << 31)),
        )
        out["chamfer"] = float(d["chamfer"])
        out["fscore"] = float(d["fscore"])
    else:
        out["chamfer"] = None
        out["fscore"] = 0.0
    if field_name in ("sdf", "occupancy"):
        pts = rng.uniform(-1.0, 1.0, size=(config.iou_points, 3)).astype(np.float32)
        with torch.no_grad():
            values = field_fn(torch.from_numpy(pts)).cpu().numpy()
        pred_inside = values > 0 if field_name == "occupancy" else values < 0
        out["iou"] = volumetric_iou(pred_inside, target.occupancy(pts) > 0.5)
    return out


def median_or_none(values) -> float | None:
    """Median of the finite values (None when there are none)."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    return float(np.median(v)) if v else None
