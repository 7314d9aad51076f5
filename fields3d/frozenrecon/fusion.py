"""TSDF fusion of posed depth maps into a mesh and a point cloud (open3d, imported lazily).

Depth maps are z-depth in world units (NaN or <= 0 = missing); cameras follow fields3d's convention
(OpenCV axes, ``c2w``, pixel origin at the top-left corner) and are converted to open3d's (pixel centres
at integers: ``cx - 0.5``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FusionConfig:
    """Voxel size and truncation, relative to the median depth of the fused maps (units are free)."""

    voxel_fraction: float = 1.0 / 150.0
    """Voxel edge as a fraction of the median depth (1.5 m median -> 1 cm)."""
    truncation_voxels: float = 4.0
    """Truncation distance of the signed distance, in voxels."""
    max_depth_quantile: float = 0.98
    """Depths beyond this quantile of all valid depths are not fused (far, noisy)."""
    max_resolution: int = 320
    """Voxels along the longest side of the fused cube at most (memory); the voxel grows beyond it."""
    min_triangles_fraction: float = 0.0
    """Drop connected pieces smaller than this fraction of the mesh's triangles (0 keeps all)."""


@dataclass
class FusedScene:
    """Mesh (V, 3) float64 vertices, (F, 3) int faces, (V, 3) colours in [0, 1]; point cloud (P, 3) with
    (P, 3) colours; the voxel size used (world units)."""

    vertices: np.ndarray
    faces: np.ndarray
    vertex_colors: np.ndarray
    points: np.ndarray
    point_colors: np.ndarray
    voxel: float


def tsdf_fuse(
    depths: list[np.ndarray],
    colors: list[np.ndarray],
    c2w: np.ndarray,
    K: np.ndarray,
    config: FusionConfig | None = None,
    progress: bool = False,
) -> FusedScene:
    """Fuse N depth maps (H, W) with colours (H, W, 3) float [0, 1], poses (N, 4, 4) and intrinsics K
    (3, 3) or (N, 3, 3) into a mesh and a point cloud.

    Raises ValueError when the inputs disagree or no depth is valid.
    """
    import PIL.Image  # noqa: F401  (Pillow's zlib first, as for pycolmap)

    try:
        import open3d as o3d
    except ImportError as e:
        from fields3d.errors import MissingDependencyError

        raise MissingDependencyError("open3d", "TSDF fusion", "pip install open3d") from e

    config = config or FusionConfig()
    c2w = np.asarray(c2w, dtype=np.float64)
    n = len(depths)
    if len(colors) != n or c2w.shape != (n, 4, 4):
        raise ValueError(
            f"expected {n} colour images and ({n}, 4, 4) poses, got {len(colors)} and {c2w.shape}"
        )
    K = np.asarray(K, dtype=np.float64)
    Ks = np.broadcast_to(K, (n, 3, 3)) if K.shape == (3, 3) else K
    if Ks.shape != (n, 3, 3):
        raise ValueError(f"expected K of shape (3, 3) or ({n}, 3, 3), got {K.shape}")
    valid_values = np.concatenate([d[np.isfinite(d) & (d > 0)].ravel() for d in depths])
    if valid_values.size == 0:
        raise ValueError("expected some valid depth to fuse, got none")
    median = float(np.median(valid_values))
    max_depth = float(np.quantile(valid_values, config.max_depth_quantile))
    # a cube around the back-projected points (open3d 0.20's ScalableTSDFVolume integrates nothing on
    # this platform, so the uniform volume is used)
    lo, hi = _bounds(depths, c2w, Ks, max_depth)
    voxel = config.voxel_fraction * median
    margin = 2.0 * config.truncation_voxels * voxel
    length = float((hi - lo).max()) + 2.0 * margin
    resolution = int(min(config.max_resolution, max(16, np.ceil(length / voxel))))
    voxel = length / resolution
    volume = o3d.pipelines.integration.UniformTSDFVolume(
        length=length,
        resolution=resolution,
        sdf_trunc=config.truncation_voxels * voxel,
        color_type=o3d.pipelines.integration.TSDFVolumeColorType.RGB8,
        origin=(lo - margin).astype(np.float64),
    )
    items = range(n)
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="TSDF fusion")
    for k in items:
        d = np.asarray(depths[k], dtype=np.float32)
        d = np.where(np.isfinite(d) & (d > 0) & (d <= max_depth), d, 0.0).astype(np.float32)
        h, w = d.shape
        col = np.ascontiguousarray((np.clip(colors[k][..., :3], 0, 1) * 255 + 0.5).astype(np.uint8))
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(col),
            o3d.geometry.Image(np.ascontiguousarray(d)),
            depth_scale=1.0,
            depth_trunc=max_depth * 1.001,
            convert_rgb_to_intensity=False,
        )
        kk = Ks[k]
        intr = o3d.camera.PinholeCameraIntrinsic(w, h, kk[0, 0], kk[1, 1], kk[0, 2] - 0.5, kk[1, 2] - 0.5)
        volume.integrate(rgbd, intr, np.linalg.inv(c2w[k]))
    mesh = volume.extract_triangle_mesh()
    if config.min_triangles_fraction > 0 and len(mesh.triangles):
        labels, counts, _ = mesh.cluster_connected_triangles()
        labels, counts = np.asarray(labels), np.asarray(counts)
        mesh.remove_triangles_by_mask(counts[labels] < config.min_triangles_fraction * len(labels))
        mesh.remove_unreferenced_vertices()
    cloud = volume.extract_point_cloud()
    return FusedScene(
        np.asarray(mesh.vertices),
        np.asarray(mesh.triangles, dtype=np.int64),
        np.asarray(mesh.vertex_colors),
        np.asarray(cloud.points),
        np.asarray(cloud.colors),
        voxel,
    )


def _bounds(
    depths, c2w: np.ndarray, Ks: np.ndarray, max_depth: float, stride: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned bounds (3,) x2 of the depth maps' back-projected points (every ``stride``-th pixel)."""
    pts = []
    for d, pose, kk in zip(depths, c2w, Ks, strict=True):
        sub = np.asarray(d, dtype=np.float64)[::stride, ::stride]
        v, u = np.nonzero(np.isfinite(sub) & (sub > 0) & (sub <= max_depth))
        z = sub[v, u]
        x = ((u * stride + 0.5) - kk[0, 2]) / kk[0, 0] * z
        y = ((v * stride + 0.5) - kk[1, 2]) / kk[1, 1] * z
        pts.append(np.stack([x, y, z], 1) @ pose[:3, :3].T + pose[:3, 3])
    allp = np.concatenate(pts + [c2w[:, :3, 3]])
    return allp.min(0), allp.max(0)
