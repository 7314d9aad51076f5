"""Quality of a reconstruction: held-out view synthesis (PSNR, SSIM) and distances to a reference mesh."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fields3d.recon.dataset import RayDataset
from fields3d.recon.unisdf import UniSDFModel


@dataclass
class RenderedView:
    """One view rendered by the model next to its photo ((H, W, 3) / (H, W) float32 arrays)."""

    index: int
    """Index of the view in the capture."""
    target: np.ndarray
    mask: np.ndarray | None
    rgb: np.ndarray
    opacity: np.ndarray
    normals: np.ndarray
    """World-space unit normals (zero where the render is transparent)."""
    depth: np.ndarray
    blend_weight: np.ndarray


def render_views(
    model: UniSDFModel,
    data: RayDataset,
    background_color: torch.Tensor,
    world_rotation: np.ndarray,
    chunk: int = 8192,
    progress: bool = False,
) -> list[RenderedView]:
    """Render every view of ``data`` (no gradients).

    Args:
        world_rotation: (3, 3) rotation from the normalised frame to world axes (normal maps in world axes).
    """
    from tqdm.auto import tqdm

    model.eval()
    out = []
    rot = torch.as_tensor(world_rotation, dtype=torch.float32, device=model.device)
    for k in tqdm(range(len(data)), desc="rendering views", unit="view", disable=not progress):
        h, w = data.image_size(k)
        rays = data.view(k)
        r = model.render_chunked(rays.origins, rays.directions, chunk, background_color.to(model.device))
        target, mask = data.view_image(k)
        normals = r["normals"] @ rot.T
        out.append(
            RenderedView(
                index=data.indices[k],
                target=target,
                mask=mask,
                rgb=r["rgb"].clamp(0, 1).reshape(h, w, 3).cpu().numpy(),
                opacity=r["opacity"].reshape(h, w).cpu().numpy(),
                normals=normals.reshape(h, w, 3).cpu().numpy(),
                depth=r["depth"].reshape(h, w).cpu().numpy(),
                blend_weight=r["blend_weight"].reshape(h, w).cpu().numpy(),
            )
        )
    return out


def image_metrics(views: list[RenderedView]) -> dict:
    """PSNR / SSIM per view and their means: over the whole image, and inside the masks when there are
    masks (for captures with masks the masked numbers are the meaningful ones: the background is not
    reconstructed)."""
    from fields3d.metrics import psnr, ssim

    per_view = []
    for v in views:
        entry = {"view": v.index, "psnr": psnr(v.rgb, v.target)}
        if min(v.rgb.shape[:2]) >= 11:
            entry["ssim"] = ssim(v.rgb, v.target)
        if v.mask is not None and v.mask.any():
            entry["psnr_masked"] = psnr(v.rgb, v.target, mask=v.mask)
            if min(v.rgb.shape[:2]) >= 11:
                entry["ssim_masked"] = ssim(v.rgb, v.target, mask=v.mask)
            entry["mask_iou"] = float(
                ((v.opacity > 0.5) & v.mask).sum() / max(((v.opacity > 0.5) | v.mask).sum(), 1)
            )
        per_view.append(entry)
    summary: dict = {"views": [v.index for v in views]}
    for key in ("psnr", "ssim", "psnr_masked", "ssim_masked", "mask_iou"):
        values = [e[key] for e in per_view if key in e and np.isfinite(e[key])]
        if values:
            summary[key] = float(np.mean(values))
    summary["per_view"] = per_view
    return summary


def reference_metrics(pred, gt, gt_path, samples: int = 100_000) -> dict:
    """The entries a run's ``metrics.json`` gets from a reference mesh: ``mesh`` (all of
    :func:`mesh_metrics`, with the reference's path) and its headline numbers at the top level
    (``chamfer_pct_diagonal``, ``fscore``, ``normal_error_deg``)."""
    mesh = mesh_metrics(pred, gt, samples=samples)
    mesh["gt_mesh"] = str(gt_path)
    headline = {k: mesh[k] for k in ("chamfer_pct_diagonal", "fscore", "normal_error_deg")}
    return {"mesh": mesh, **headline}


def mesh_metrics(pred, gt, threshold_fraction: float = 0.01, samples: int = 100_000, seed: int = 0) -> dict:
    """Chamfer (mean of accuracy and completeness), F-score at ``threshold_fraction`` of the GT bounding-box
    diagonal, normal consistency and mean normal angle error, in world units and in % of the diagonal.

    Args:
        pred, gt: ``trimesh.Trimesh`` meshes in the same frame and units.
    """
    from fields3d.metrics.mesh_distance import as_point_sample, mesh_distances, nearest_distances

    diagonal = float(np.linalg.norm(np.ptp(np.asarray(gt.vertices), axis=0)))
    threshold = threshold_fraction * diagonal
    m = mesh_distances(pred, gt, threshold=threshold, samples=samples, seed=seed)
    # mean angle between each sample's normal and its nearest neighbour's (unsigned), both directions
    rng_p, rng_g = (np.random.default_rng(s) for s in np.random.SeedSequence(seed + 1).spawn(2))
    p, g = as_point_sample(pred, samples, rng_p), as_point_sample(gt, samples, rng_g)
    _, i_pg = nearest_distances(p.points, g.points)
    _, i_gp = nearest_distances(g.points, p.points)

    def angle(a, b):
        return np.degrees(np.arccos(np.clip(np.abs((a * b).sum(1)), 0.0, 1.0))).mean()

    normal_error = 0.5 * (angle(p.normals, g.normals[i_pg]) + angle(g.normals, p.normals[i_gp]))
    return {
        "chamfer": m["chamfer"],
        "chamfer_pct_diagonal": 100.0 * m["chamfer"] / diagonal,
        "accuracy": m["accuracy"],
        "completeness": m["completeness"],
        "fscore": m["fscore"],
        "precision": m["precision"],
        "recall": m["recall"],
        "fscore_threshold": threshold,
        "normal_consistency": m["normal_consistency"],
        "normal_error_deg": float(normal_error),
        "gt_bbox_diagonal": diagonal,
        "samples": samples,
    }
