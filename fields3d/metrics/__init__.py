"""Metrics: Chamfer, F-score, normal consistency, PSNR/SSIM, ATE, depth errors, accuracy, mIoU.

Names are imported lazily (on first attribute access): ``fields3d.metrics.mesh_distance`` does not import
torch, ``fields3d.metrics.image`` does.
"""

from __future__ import annotations

from fields3d.lazy_exports import lazy_exports

_EXPORTS = {
    "align_depth": "fields3d.metrics.depth",
    "depth_errors": "fields3d.metrics.depth",
    "least_squares_scale": "fields3d.metrics.depth",
    "least_squares_scale_shift": "fields3d.metrics.depth",
    "median_scale": "fields3d.metrics.depth",
    "valid_depth_mask": "fields3d.metrics.depth",
    "psnr": "fields3d.metrics.image",
    "ssim": "fields3d.metrics.image",
    "ssim_map": "fields3d.metrics.image",
    "PointSample": "fields3d.metrics.mesh_distance",
    "as_point_sample": "fields3d.metrics.mesh_distance",
    "chamfer_distance": "fields3d.metrics.mesh_distance",
    "fscore": "fields3d.metrics.mesh_distance",
    "mesh_distances": "fields3d.metrics.mesh_distance",
    "nearest_distances": "fields3d.metrics.mesh_distance",
    "normal_consistency": "fields3d.metrics.mesh_distance",
    "align_positions": "fields3d.metrics.trajectory",
    "ate_rmse": "fields3d.metrics.trajectory",
    "relative_pose_errors": "fields3d.metrics.trajectory",
    "rotation_angle_deg": "fields3d.metrics.trajectory",
    "rotation_errors_deg": "fields3d.metrics.trajectory",
    "umeyama": "fields3d.metrics.trajectory",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
