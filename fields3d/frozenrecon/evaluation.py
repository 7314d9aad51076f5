"""FrozenRecon against ground truth: focal error, depth AbsRel after one global scale, ATE after Sim(3),
fused-mesh accuracy/completeness against a mesh fused from ground-truth depth and poses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fields3d.errors import InputError


@dataclass
class GroundTruth:
    """Ground truth matched to the input frames (arrays indexed like the frames).

    Attributes:
        c2w: (N, 4, 4) float64 poses (OpenCV axes, metres or the capture's units).
        K: (N, 3, 3) float64 intrinsics in pixels.
        depth_paths: N 16-bit depth PNGs or None; ``depth_scale`` PNG units per world unit.
    """

    source: Path
    c2w: np.ndarray
    K: np.ndarray
    depth_paths: list[Path] | None
    depth_scale: float

    def depth(self, index: int) -> np.ndarray:
        """(H, W) float32 ground-truth depth of frame ``index`` (0 = missing)."""
        from fields3d.io.images import read_depth_png

        if self.depth_paths is None:
            raise InputError("expected ground-truth depth maps, got a capture without any", self.source)
        return read_depth_png(self.depth_paths[index], self.depth_scale)


def load_ground_truth(
    path: str | os.PathLike, frame_names: list[str], image_size: tuple[int, int]
) -> GroundTruth:
    """Read a capture that :func:`fields3d.data.load_scene` understands (RGB-D folder, transforms.json,
    ...) and match its frames to ``frame_names`` by file name (else by order when the counts agree).

    Raises InputError when frames cannot be matched or image sizes differ.
    """
    from fields3d.data import load_scene

    path = Path(path)
    scene = load_scene(path)
    names = [Path(p).name for p in scene.image_paths]
    lookup = {n: k for k, n in enumerate(names)}
    if all(n in lookup for n in frame_names):
        index = [lookup[n] for n in frame_names]
    elif len(names) == len(frame_names):
        index = list(range(len(names)))
    else:
        missing = next(n for n in frame_names if n not in lookup)
        raise InputError(
            f"expected ground truth for every frame (matched by file name, or {len(frame_names)} "
            f"frames in order), got {len(names)} frames and none named {missing}",
            path,
        )
    h, w = scene.cameras.image_size(0)
    if (h, w) != tuple(image_size):
        raise InputError(
            f"expected ground-truth images of the frames' size {image_size[1]}x{image_size[0]}, got {w}x{h}",
            path,
        )
    depth = [scene.depth_paths[k] for k in index] if scene.depth_paths is not None else None
    return GroundTruth(
        path,
        scene.cameras.c2w.double().numpy()[index],
        scene.cameras.K.double().numpy()[index],
        depth,
        float(scene.depth_scale or 1.0),
    )


def global_scale(pred: list[np.ndarray], gt: list[np.ndarray]) -> float:
    """One scale for all frames: median of gt / pred over pixels valid in both."""
    ratios = []
    for p, g in zip(pred, gt, strict=True):
        ok = np.isfinite(p) & (p > 0) & np.isfinite(g) & (g > 0)
        ratios.append(g[ok] / p[ok])
    r = np.concatenate(ratios) if ratios else np.zeros(0)
    if r.size == 0:
        raise ValueError("expected pixels valid in both depth sets, got none")
    return float(np.median(r))


def depth_abs_rel(pred: list[np.ndarray], gt: list[np.ndarray], scale: float) -> float:
    """Mean |scale * pred - gt| / gt over all pixels with ground truth (missing predictions count as
    100 % error, so dropping pixels cannot help)."""
    errs = []
    for p, g in zip(pred, gt, strict=True):
        ok = np.isfinite(g) & (g > 0)
        pp = scale * np.where(np.isfinite(p), p, 0.0)[ok]
        errs.append(np.minimum(np.abs(pp - g[ok]) / g[ok], 1.0) * np.isfinite(p[ok]) + ~np.isfinite(p[ok]))
    return float(np.mean(np.concatenate(errs)))


def evaluate(
    result,
    keyframe_names: list[str],
    rectified: list[np.ndarray],
    raw_priors: list[np.ndarray],
    fused,
    gt: GroundTruth,
    gt_fused=None,
    mesh_threshold: float = 0.05,
) -> dict:
    """All metrics as a JSON-ready dict (see the module docstring); ``gt`` is matched to the keyframes.

    Args:
        result: FrozenReconResult.
        rectified: per keyframe (H, W) rectified depth (reconstruction units, NaN missing).
        raw_priors: per keyframe (H, W) input priors (for the "before" AbsRel).
        fused: FusedScene of the reconstruction; gt_fused: FusedScene of the ground truth (or None).
        mesh_threshold: precision/recall threshold in ground-truth units.
    """
    from fields3d.metrics import ate_rmse, mesh_distances, umeyama

    f_gt = float(np.median(0.5 * (gt.K[:, 0, 0] + gt.K[:, 1, 1])))
    metrics: dict = {
        "frames": len(keyframe_names),
        "focal": {
            "estimate": result.focal,
            "initial": result.focal_init,
            "ground_truth": f_gt,
            "error_percent": abs(result.focal / f_gt - 1.0) * 100.0,
            "initial_error_percent": abs(result.focal_init / f_gt - 1.0) * 100.0,
        },
    }
    positions, gt_positions = result.c2w[:, :3, 3], gt.c2w[:, :3, 3]
    sim = umeyama(positions, gt_positions, with_scale=True)
    metrics["trajectory"] = {
        "ate_rmse": ate_rmse(positions, gt_positions, align="sim3"),
        "path_length": float(np.linalg.norm(np.diff(gt_positions, axis=0), axis=1).sum()),
        "sim3_scale": float(sim.scale),
    }
    if gt.depth_paths is not None:
        gt_depth = [gt.depth(k) for k in range(len(keyframe_names))]
        s = global_scale(rectified, gt_depth)
        before_s = global_scale(raw_priors, gt_depth)
        metrics["depth"] = {
            "abs_rel": depth_abs_rel(rectified, gt_depth, s),
            "abs_rel_input_prior": depth_abs_rel(raw_priors, gt_depth, before_s),
            "global_scale": s,
            "scale_vs_sim3_scale": s / float(sim.scale),
        }
    if fused is not None and gt_fused is not None and len(fused.faces) and len(gt_fused.faces):
        # the mesh is made of the rectified depth: its scale is the depth's global scale when known (the
        # trajectory's scale is weakly determined when the camera barely translates)
        depth_scale = metrics.get("depth", {}).get("global_scale")
        pose_sim = align_poses_sim3(result.c2w, gt.c2w, scale=depth_scale)
        verts = _apply_sim(pose_sim, fused.vertices)
        gt_mesh = (gt_fused.vertices, gt_fused.faces)
        keys = ("accuracy", "completeness", "chamfer", "precision", "recall", "fscore", "threshold")
        d = mesh_distances((verts, fused.faces), gt_mesh, threshold=mesh_threshold, samples=100_000)
        metrics["mesh"] = {k: d[k] for k in keys}
        metrics["mesh"]["alignment"] = (
            "Sim(3) from the camera poses: rotation = mean of the per-camera rotation differences, scale "
            "= the depth's global scale (else from the centres), translation from the camera centres"
        )
        refined = refine_rigid_icp(verts, fused.faces, gt_mesh, max_distance=2.0 * mesh_threshold)
        if refined is not None:
            d = mesh_distances((refined, fused.faces), gt_mesh, threshold=mesh_threshold, samples=100_000)
            metrics["mesh_icp"] = {k: d[k] for k in keys}
            metrics["mesh_icp"]["alignment"] = "the pose Sim(3), then rigid point-to-point ICP (open3d)"
        d = mesh_distances(
            (_apply_sim(sim, fused.vertices), fused.faces), gt_mesh, threshold=mesh_threshold, samples=100_000
        )
        metrics["mesh_centres_sim3"] = {k: d[k] for k in keys}
        metrics["mesh_centres_sim3"]["alignment"] = (
            "Sim(3) of the camera centres only (as for the ATE; its rotation about a nearly straight path "
            "is poorly determined)"
        )
    return metrics


def align_poses_sim3(c2w: np.ndarray, gt_c2w: np.ndarray, scale: float | None = None):
    """Similarity mapping the reconstruction's poses onto the ground truth's, using orientations too.

    The rotation is the chordal mean of ``R_gt_i @ R_i^T`` (well determined even when the camera path
    is nearly straight, unlike a fit to the centres alone); scale (unless given) and translation then fit
    the centres in the least-squares sense.  Returns a :class:`fields3d.geometry.similarity.Similarity`.
    """
    from fields3d.geometry.similarity import Similarity

    c2w, gt_c2w = np.asarray(c2w, dtype=np.float64), np.asarray(gt_c2w, dtype=np.float64)
    if c2w.shape != gt_c2w.shape or c2w.ndim != 3 or c2w.shape[1:] != (4, 4) or len(c2w) < 2:
        raise ValueError(
            f"expected two (N >= 2, 4, 4) pose arrays of one shape, got {c2w.shape}, {gt_c2w.shape}"
        )
    m = (gt_c2w[:, :3, :3] @ np.transpose(c2w[:, :3, :3], (0, 2, 1))).sum(0)
    u, _, vt = np.linalg.svd(m)
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ fix @ vt
    p, g = c2w[:, :3, 3], gt_c2w[:, :3, 3]
    pc, gc = p - p.mean(0), g - g.mean(0)
    rp = pc @ rot.T
    if scale is None:
        scale = float((gc * rp).sum() / max((pc * pc).sum(), 1e-300))
    if not scale > 0:
        raise ValueError("degenerate poses: cannot estimate a positive scale")
    return Similarity.from_parts(scale, rot, g.mean(0) - scale * rot @ p.mean(0))


def refine_rigid_icp(
    vertices: np.ndarray, faces: np.ndarray, gt_mesh, max_distance: float, samples: int = 100_000
) -> np.ndarray | None:
    """``vertices`` moved by a rigid point-to-point ICP (open3d) onto the ground-truth mesh surface,
    or None without open3d."""
    try:
        import open3d as o3d
    except ImportError:
        return None
    from fields3d.geometry import sample_surface

    src = sample_surface((vertices, faces), samples, seed=1).points
    dst = sample_surface(gt_mesh, samples, seed=2).points
    to_cloud = lambda x: o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(x, np.float64)))  # noqa: E731
    reg = o3d.pipelines.registration.registration_icp(
        to_cloud(src),
        to_cloud(dst),
        max_distance,
        np.eye(4),
        o3d.pipelines.registration.TransformationEstimationPointToPoint(False),
    )
    t = np.asarray(reg.transformation)
    return np.asarray(vertices) @ t[:3, :3].T + t[:3, 3]


def _apply_sim(sim, points: np.ndarray) -> np.ndarray:
    return float(sim.scale) * np.asarray(points) @ np.asarray(sim.rotation).T + np.asarray(sim.translation)
