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
        verts = sim.apply(fused.vertices) if hasattr(sim, "apply") else _apply_sim(sim, fused.vertices)
        d = mesh_distances(
            (verts, fused.faces),
            (gt_fused.vertices, gt_fused.faces),
            threshold=mesh_threshold,
            samples=100_000,
        )
        metrics["mesh"] = {
            k: d[k]
            for k in ("accuracy", "completeness", "chamfer", "precision", "recall", "fscore", "threshold")
        }
        metrics["mesh"]["alignment"] = "Sim(3) of the camera centres (as for the ATE)"
    return metrics


def _apply_sim(sim, points: np.ndarray) -> np.ndarray:
    return float(sim.scale) * np.asarray(points) @ np.asarray(sim.rotation).T + np.asarray(sim.translation)
