"""One FrozenRecon run end to end: read frames and priors, optimise, fuse, write the run folder.

RUN/ holds ``mesh.ply`` (TSDF mesh), ``points.ply`` (TSDF point cloud), ``transforms.json`` (keyframe
cameras, images and rectified depth, readable by ``fields3d reconstruct``), ``images/`` and ``depth/``
(16-bit PNG, ``depth_scale`` in transforms.json), ``result.json`` (focal, keyframes, stage log, timings),
``metrics.json`` when ground truth is given, and ``previews/`` (``depth.png``: prior | rectified [| ground
truth] for a few frames; ``trajectory.png``: camera centres from above, next to the ground truth
after Sim(3) alignment when given).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fields3d.errors import InputError
from fields3d.frozenrecon.fusion import FusionConfig
from fields3d.frozenrecon.pipeline import FrozenReconConfig


@dataclass
class RunInputs:
    """Where frames, priors and ground truth come from (exactly one of ``depth_dir``, ``depth_model``,
    ``prior``)."""

    frames: Path
    depth_dir: Path | None = None
    depth_model: Path | None = None
    depth_model_output: str = "depth"
    prior: object | None = None
    """A :class:`fields3d.frozenrecon.priors.CallablePrior` or plain callable (Python API only)."""
    gt: Path | None = None
    focal_init: float | None = None
    """Starting focal length in pixels; None: EXIF, else a 60 degree field of view."""
    max_frames: int | None = None
    stride: int = 1
    device: str = "cpu"
    """Where the optimisation runs ("cpu", "cuda"); the depth model runs on the CPU."""


@dataclass
class RunSummary:
    out: Path
    metrics: dict | None
    result: dict
    paths: dict[str, Path] = field(default_factory=dict)


def _priors(inputs: RunInputs, frames, progress: bool) -> list[np.ndarray]:
    from fields3d.frozenrecon.priors import CallablePrior, FolderPrior, load_depth_model

    given = [x is not None for x in (inputs.depth_dir, inputs.depth_model, inputs.prior)]
    if sum(given) != 1:
        raise InputError(
            "expected exactly one depth source: --depth DIR or --depth-model PATH", inputs.frames
        )
    if inputs.depth_dir is not None:
        folder = FolderPrior(inputs.depth_dir)
        if frames.from_video:
            return [folder.load(Path(name + ".png"), frames.size) for name in frames.names]
        return [folder.load(p, frames.size) for p in frames.paths]
    model = (
        load_depth_model(inputs.depth_model, inputs.depth_model_output)
        if inputs.depth_model
        else inputs.prior
    )
    if not isinstance(model, CallablePrior):
        model = CallablePrior(model)
    items = zip(frames.images, frames.paths, frames.names, strict=True)
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(list(items), desc="depth model")
    return [model(img, path) for img, path, _name in items]


def run_frozenrecon(
    inputs: RunInputs,
    out: str | os.PathLike,
    config: FrozenReconConfig | None = None,
    fusion: FusionConfig | None = None,
    progress: bool = True,
) -> RunSummary:
    """Reconstruct and write RUN (see the module docstring); returns the summary with the metrics."""
    import torch

    from fields3d.cameras import Cameras
    from fields3d.data.normalization import sphere_from_points
    from fields3d.data.transforms_json import write_transforms_json
    from fields3d.frozenrecon.frames import read_frames
    from fields3d.frozenrecon.fusion import tsdf_fuse
    from fields3d.frozenrecon.pipeline import exif_focal_35mm, initial_focal, optimize_sequence, rectify_full
    from fields3d.io.atomic import write_json
    from fields3d.io.images import write_image
    from fields3d.io.mesh import write_mesh

    config = config or FrozenReconConfig()
    fusion = fusion or FusionConfig()
    out = Path(out)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    frames = read_frames(inputs.frames, inputs.max_frames, inputs.stride)
    priors = _priors(inputs, frames, progress)
    gt = None
    if inputs.gt is not None:
        from fields3d.frozenrecon.evaluation import load_ground_truth

        gt = load_ground_truth(inputs.gt, frames.names, frames.size)
    timings["read_seconds"] = time.perf_counter() - t0
    h, w = frames.size
    if inputs.focal_init is not None:
        if not inputs.focal_init > 0:
            raise InputError(
                f"expected a positive starting focal length, got {inputs.focal_init}", inputs.frames
            )
        focal_init, focal_source = float(inputs.focal_init), "given"
    else:
        exif = exif_focal_35mm(frames.paths[0]) if frames.paths[0].is_file() else None
        focal_init = initial_focal(w, h, exif)
        focal_source = "EXIF 35 mm equivalent" if exif else "60 degree field of view"

    t1 = time.perf_counter()
    cpu1 = time.process_time()
    try:
        result = optimize_sequence(
            frames.images, priors, focal_init, config, progress=progress, device=inputs.device
        )
    except ValueError as e:
        raise InputError(str(e), inputs.depth_dir or inputs.depth_model or inputs.frames) from None
    timings["optimize_seconds"] = time.perf_counter() - t1
    timings["optimize_cpu_seconds"] = time.process_time() - cpu1
    kf = result.keyframes
    rectified = [rectify_full(result, i, priors[k]) for i, k in enumerate(kf)]
    colors = [frames.images[k] for k in kf]

    t2 = time.perf_counter()
    fused = tsdf_fuse(rectified, colors, result.c2w, result.intrinsics(), fusion, progress=progress)
    timings["fusion_seconds"] = time.perf_counter() - t2
    paths: dict[str, Path] = {}
    paths["mesh"] = write_mesh(
        out / "mesh.ply", fused.vertices, fused.faces, vertex_colors=fused.vertex_colors
    )
    paths["points"] = _write_points(out / "points.ply", fused.points, fused.point_colors)

    # images, depth, transforms.json
    image_paths, depth_paths = [], []
    finite = np.concatenate([d[np.isfinite(d)] for d in rectified])
    depth_scale = float(60000.0 / max(float(finite.max()), 1e-9))
    for i, k in enumerate(kf):
        src = frames.paths[k]
        if src.is_file() and src.suffix.lower() in (".png", ".jpg", ".jpeg"):
            dst = out / "images" / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        else:
            dst = write_image(out / "images" / f"{frames.names[k]}.png", frames.images[k])
        image_paths.append(dst)
        d = np.where(np.isfinite(rectified[i]), rectified[i] * depth_scale, 0.0)
        depth_paths.append(
            write_image(
                out / "depth" / f"{Path(frames.names[k]).stem}.png",
                np.clip(np.round(d), 0, 65535).astype(np.uint16),
            )
        )
    K = torch.tensor(result.intrinsics(), dtype=torch.float32).expand(len(kf), 3, 3).clone()
    cameras = Cameras(K, torch.tensor(result.c2w, dtype=torch.float32), w, h)
    sphere = sphere_from_points(
        fused.points if len(fused.points) >= 20 else result.c2w[:, :3, 3], object_capture=False
    )
    paths["transforms"] = write_transforms_json(
        out / "transforms.json",
        cameras,
        image_paths,
        depth_paths=depth_paths,
        depth_scale=depth_scale,
        normalization=sphere.normalization(),
        extra={"fields3d": {"producer": "fields3d frozenrecon", "focal_init": focal_init}},
    )

    summary_result = {
        "frames": len(frames),
        "keyframes": len(kf),
        "keyframe_names": [frames.names[k] for k in kf],
        "image_size": [w, h],
        "focal": result.focal,
        "focal_init": focal_init,
        "focal_init_source": focal_source,
        "stages": result.stage_reports,
        "timings": timings,
        "config": _jsonable(asdict(config)),
        "fusion": {
            "voxel": fused.voxel,
            "vertices": len(fused.vertices),
            "faces": len(fused.faces),
            **asdict(fusion),
        },
    }
    metrics = None
    gt_fused = None
    if gt is not None:
        from fields3d.frozenrecon.evaluation import GroundTruth, evaluate

        gt_kf = GroundTruth(
            gt.source,
            gt.c2w[kf],
            gt.K[kf],
            [gt.depth_paths[k] for k in kf] if gt.depth_paths is not None else None,
            gt.depth_scale,
        )
        if gt_kf.depth_paths is not None:
            gt_depth = [gt_kf.depth(i) for i in range(len(kf))]
            gt_fused = tsdf_fuse(
                [np.where(d > 0, d, np.nan) for d in gt_depth],
                colors,
                gt_kf.c2w,
                gt_kf.K,
                fusion,
                progress=False,
            )
            paths["gt_mesh"] = write_mesh(
                out / "gt_mesh.ply", gt_fused.vertices, gt_fused.faces, vertex_colors=gt_fused.vertex_colors
            )
        metrics = evaluate(
            result, [frames.names[k] for k in kf], rectified, [priors[k] for k in kf], fused, gt_kf, gt_fused
        )
        metrics["runtime"] = {**timings, "device": inputs.device}
        paths["metrics"] = write_json(out / "metrics.json", metrics)
    timings["total_seconds"] = time.perf_counter() - t0
    paths["result"] = write_json(out / "result.json", summary_result)
    paths.update(_write_previews(out / "previews", result, priors, rectified, gt if gt is not None else None))
    return RunSummary(out, metrics, summary_result, paths)


def _jsonable(d):
    if isinstance(d, dict):
        return {k: _jsonable(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_jsonable(v) for v in d]
    return d


def _write_points(path: Path, points: np.ndarray, colors: np.ndarray) -> Path:
    import trimesh

    from fields3d.io.atomic import atomic_path

    cloud = trimesh.PointCloud(
        np.asarray(points, dtype=np.float64),
        colors=(np.clip(colors, 0, 1) * 255).astype(np.uint8) if len(colors) else None,
    )
    with atomic_path(path) as tmp:
        cloud.export(tmp, file_type="ply")
    return path


def _write_previews(folder: Path, result, priors, rectified, gt) -> dict[str, Path]:
    from fields3d.frozenrecon.evaluation import global_scale
    from fields3d.io.images import write_image
    from fields3d.io.report import colorize_depth, image_grid, plot_points_2d
    from fields3d.metrics import umeyama

    kf = result.keyframes
    pick = sorted(set(np.linspace(0, len(kf) - 1, min(4, len(kf))).round().astype(int).tolist()))
    have_gt = gt is not None and gt.depth_paths is not None
    gt_maps = {i: np.where(gt.depth(kf[i]) > 0, gt.depth(kf[i]), np.nan) for i in pick} if have_gt else {}
    # one colour range for all tiles, in the ground truth's units (else the reconstruction's): the
    # rectified maps and the raw priors are each brought there by ONE global scale, so per-frame scale
    # and shift errors of the priors show as colour changes
    rect = [rectified[i] for i in pick]
    to_gt = global_scale(rect, [gt_maps[i] for i in pick]) if have_gt else 1.0
    raw = [priors[kf[i]] for i in pick]
    raw_scale = global_scale(raw, rect) * to_gt
    values = np.concatenate([(r * to_gt)[np.isfinite(r)] for r in rect])
    lo, hi = np.percentile(values, [1, 99]) if values.size else (0.0, 1.0)
    tiles, labels = [], []
    for n, i in enumerate(pick):
        k = kf[i]
        tiles += [colorize_depth(raw[n] * raw_scale, (lo, hi)), colorize_depth(rect[n] * to_gt, (lo, hi))]
        labels += [f"prior #{k} (one global scale)", f"rectified #{k}"]
        if have_gt:
            tiles.append(colorize_depth(gt_maps[i], (lo, hi)))
            labels.append(f"ground truth #{k}")
    ncol = 3 if gt is not None and gt.depth_paths is not None else 2
    out = {"preview_depth": write_image(folder / "depth.png", image_grid(tiles, columns=ncol, labels=labels))}
    pos = result.c2w[:, :3, 3]
    if gt is not None:
        gt_pos = gt.c2w[kf][:, :3, 3]
        sim = umeyama(pos, gt_pos, with_scale=True)
        aligned = sim.apply_points(pos)
        up = _up_axis(gt.c2w[kf])
        axes = [a for a in range(3) if a != up]
        series = {
            "ground truth": gt_pos[:, axes],
            "FrozenRecon (Sim(3) aligned)": np.asarray(aligned)[:, axes],
        }
        plot = plot_points_2d(
            series,
            title="camera centres from above",
            axis_labels=tuple("xyz"[a] for a in axes),
            links=tuple(series.keys()),
        )
    else:
        up = _up_axis(result.c2w)
        axes = [a for a in range(3) if a != up]
        plot = plot_points_2d(
            {"FrozenRecon": pos[:, axes]},
            title="camera centres from above",
            axis_labels=tuple("xyz"[a] for a in axes),
        )
    out["preview_trajectory"] = write_image(folder / "trajectory.png", plot)
    return out


def _up_axis(c2w: np.ndarray) -> int:
    """World axis closest to the cameras' mean "up" (-y in OpenCV): the one to look along from above."""
    up = -c2w[:, :3, 1].mean(0)
    return int(np.argmax(np.abs(up)))
