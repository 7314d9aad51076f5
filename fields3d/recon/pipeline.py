"""``reconstruct``: a capture folder in, a run folder out (mesh, metrics, previews, report).

Run folder layout::

    RUN/config.json        the full ReconstructionConfig, the data path and format (reproduce / resume)
    RUN/sfm/               poses estimated by SfM when DATA is a bare folder of images
    RUN/checkpoints/       latest.pt (always a finite state) and previous.pt
    RUN/mesh.ply           the surface in the capture's world units, vertex colours, cleaned
    RUN/metrics.json       held-out PSNR/SSIM; Chamfer / F-score / normal error with a reference mesh
    RUN/previews/          held-out renders beside their photos, normal maps, turntable of the mesh, curves
    RUN/report.html        all of the above on one page
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fields3d.data.scene import SceneData
from fields3d.errors import InputError
from fields3d.recon.cpu_threads import choose_threads
from fields3d.recon.presets import ReconstructionConfig

CONFIG_FILE = "config.json"


@dataclass
class RunResult:
    """What :func:`reconstruct` wrote (paths) and measured."""

    run: Path
    mesh: Path
    metrics: dict
    report: Path
    previews: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# environment
def choose_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; otherwise the named device (checked)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"expected a CUDA device for --device {name}, got none (torch {torch.__version__})")
    return device


# --------------------------------------------------------------------------------------------------
# data
def prepare_scene(data: Path, run: Path, log=print, min_views: int = 1) -> SceneData:
    """Read the capture at ``data``; a bare folder of images gets its poses from SfM first (in
    ``run/sfm``), unless it holds fewer than ``min_views`` images (InputError before any SfM)."""
    from fields3d.data import detect_format, load_scene

    fmt = detect_format(data)
    if fmt != "images":
        return load_scene(data)
    sfm_dir = run / "sfm"
    if (sfm_dir / "transforms.json").is_file():
        log(f"using the poses estimated earlier in {sfm_dir}")
        return load_scene(sfm_dir)
    from fields3d.data.image_files import images_in
    from fields3d.data.sfm import run_sfm

    folder = data if images_in(data) else data / "images"
    n_images = len(images_in(folder))
    if n_images < min_views:
        raise InputError(f"expected at least {min_views} images to reconstruct from, got {n_images}", folder)
    log(f"{data} is a folder of images without poses: running structure from motion into {sfm_dir}")
    result = run_sfm(folder, sfm_dir, log=log)
    log(
        f"SfM registered {result.num_registered} of {result.num_images} images "
        f"(mean reprojection error {result.mean_reprojection_error_px:.2f} px)"
    )
    return load_scene(sfm_dir)


def split_views(n_views: int, config: ReconstructionConfig, source: Path) -> tuple[list[int], list[int]]:
    """(train, held-out) view indices; the held-out count shrinks for small captures (never below
    ``min_views`` training views)."""
    from fields3d.recon.dataset import holdout_indices

    need = config.data.min_views
    if n_views < need:
        raise InputError(f"expected at least {need} images to reconstruct from, got {n_views}", source)
    n_hold = min(config.data.holdout, max(0, n_views - need), max(0, n_views - 2))
    held = holdout_indices(n_views, n_hold)
    train = [i for i in range(n_views) if i not in set(held)]
    return train, held


def background_color(scene: SceneData) -> torch.Tensor:
    """(3,) the colour behind the object in the photos when known (RGBA compositing, fields3d synth),
    else black."""
    if scene.background is not None:
        return torch.tensor(scene.background, dtype=torch.float32)
    block = scene.metadata.get("fields3d")
    if (
        isinstance(block, dict)
        and isinstance(block.get("background"), (list, tuple))
        and len(block["background"]) == 3
    ):
        return torch.tensor(block["background"], dtype=torch.float32)
    return torch.zeros(3)


def world_up(scene: SceneData) -> np.ndarray:
    """The world direction that points up in the photos on average (minus the cameras' mean y axis)."""
    up = -scene.cameras.c2w[:, :3, 1].double().mean(0).numpy()
    norm = np.linalg.norm(up)
    return up / norm if norm > 1e-6 else np.array([0.0, 1.0, 0.0])


def choose_backdrop(config: ReconstructionConfig, scene: SceneData, train_idx: list[int], log=print) -> None:
    """Without masks, set ``config.data.background`` when the backdrop is known: the capture's own colour
    (RGBA compositing, fields3d synth) or one detected around the photos' borders; otherwise the model
    gets a background field."""
    if config.data.background is not None or (config.data.use_masks and scene.has_masks):
        return
    stated = scene.background is not None or _metadata_background(scene) is not None
    if stated:
        color = background_color(scene).tolist()
        log(f"no masks: the capture states its background colour {_rgb(color)}; no background field")
    elif config.data.detect_background:
        from fields3d.recon.plain_background import detect_plain_background

        found = detect_plain_background(scene, train_idx)
        if found is None:
            return
        color = found.tolist()
        log(f"no masks: the photos' borders are one colour {_rgb(color)}; using it as the background")
    else:
        return
    config.data.background = tuple(float(v) for v in color)


def _rgb(color) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in color) + ")"


def _metadata_background(scene: SceneData):
    block = scene.metadata.get("fields3d")
    if isinstance(block, dict) and isinstance(block.get("background"), (list, tuple)):
        return block["background"] if len(block["background"]) == 3 else None
    return None


def run_background_color(config: ReconstructionConfig, scene: SceneData) -> torch.Tensor:
    """(3,) the colour behind the foreground of a run: ``config.data.background`` or the capture's."""
    if config.data.background is not None:
        return torch.tensor(config.data.background, dtype=torch.float32)
    return background_color(scene)


def build_model(config: ReconstructionConfig, scene: SceneData, device: torch.device):
    from fields3d.recon.unisdf import UniSDFModel

    torch.manual_seed(config.train.seed)
    use_bg = not (config.data.use_masks and scene.has_masks) and config.data.background is None
    return UniSDFModel(config.model, use_background=use_bg).to(device)


# --------------------------------------------------------------------------------------------------
def _write_config(run: Path, config: ReconstructionConfig, data: Path, scene: SceneData) -> None:
    from fields3d import __version__
    from fields3d.io.atomic import write_json

    write_json(
        run / CONFIG_FILE,
        {
            "data": str(data.resolve()),
            "format": scene.format,
            "normalization": scene.normalization.to_dict(),
            "fields3d_version": __version__,
            "config": config.to_dict(),
        },
    )


def read_run_config(run: Path) -> tuple[ReconstructionConfig, dict]:
    """The :class:`ReconstructionConfig` and the raw contents of ``RUN/config.json``."""
    path = run / CONFIG_FILE
    if not path.is_file():
        raise InputError("not a reconstruction run folder (config.json is missing)", run)
    try:
        raw = json.loads(path.read_text())
        config = ReconstructionConfig.from_dict(raw["config"])
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"config.json does not describe a reconstruction ({e})", path) from None
    return config, raw


def reconstruct(
    data: str | os.PathLike,
    out: str | os.PathLike,
    config: ReconstructionConfig | None = None,
    *,
    resume: bool = False,
    gt_mesh: str | os.PathLike | None = None,
    progress: bool = True,
    log=print,
) -> RunResult:
    """Reconstruct a mesh from the capture at ``data`` into the run folder ``out`` (layout: module docstring).

    Args:
        config: the run's configuration (default: ``make_config("unisdf", "fast")``); ignored with
            ``resume``, which continues with the configuration saved in ``out``.
        resume: continue from ``out/checkpoints/latest.pt``.
        gt_mesh: a reference mesh in the capture's world units, for Chamfer / F-score / normal error.
    """
    from fields3d.io.atomic import write_json
    from fields3d.recon.dataset import RayDataset
    from fields3d.recon.export import extract_world_mesh, write_exported_mesh
    from fields3d.recon.presets import make_config
    from fields3d.recon.trainer import Trainer

    t_start = time.perf_counter()
    log = log or (lambda *_: None)
    data, run = Path(data), Path(out)
    if resume:
        config, raw = read_run_config(run)
        if Path(raw["data"]) != data.resolve():
            log(f"note: resuming the run of {raw['data']} (not {data})")
            data = Path(raw["data"])
    config = config or make_config("unisdf", "fast")
    config.validate()
    gt = _read_gt(gt_mesh) if gt_mesh is not None else None
    device = choose_device(config.device)
    threads = choose_threads(config.threads) if device.type == "cpu" else torch.get_num_threads()
    run.mkdir(parents=True, exist_ok=True)

    scene = prepare_scene(data, run, log, config.data.min_views)
    sfm_dir = run / "sfm"
    if len(scene) < config.data.min_views and sfm_dir.is_dir() and _is_within(scene.source, sfm_dir):
        raise InputError(
            f"expected SfM to register at least {config.data.min_views} images to reconstruct from, "
            f"got {len(scene)}; the images may lack texture or overlap",
            sfm_dir,
        )
    train_idx, held_idx = split_views(len(scene), config, data)
    log(
        f"{scene.summary()}; training on {len(train_idx)} views, {len(held_idx)} held out; "
        f"{config.method}/{config.preset} on {device} ({threads} threads)"
    )
    if not resume:
        choose_backdrop(config, scene, train_idx, log)
        _write_config(run, config, data, scene)
        (run / "checkpoints" / "diverged.json").unlink(missing_ok=True)  # from an earlier run in RUN
    train_data = RayDataset(
        scene, train_idx, config.data.max_image_size, config.data.use_masks, device, progress
    )
    model = build_model(config, scene, device)
    bg = run_background_color(config, scene)
    trainer = Trainer(model, train_data, config.train, run / "checkpoints", bg, progress=progress)
    if resume:
        lr_scale = _divergence_lr_scale(run, log)
        step = trainer.resume(run / "checkpoints" / "latest.pt", lr_scale)
        log(f"resumed at step {step} of {config.train.steps}")
    history = trainer.train()
    t_trained = time.perf_counter()

    log("extracting the mesh")
    mesh = extract_world_mesh(
        model,
        scene.normalization,
        config.export.resolution,
        config.export.min_component_area,
        config.export.chunk_size,
        progress=False,
    )
    mesh_path = write_exported_mesh(run / "mesh.ply", mesh)
    t_extracted = time.perf_counter()

    metrics, previews, report = _evaluate_and_report(
        run, config, scene, model, train_data, held_idx, bg, mesh, gt, gt_mesh, history, progress, log
    )
    t_end = time.perf_counter()
    metrics["timing"] = {
        "train_seconds_total": trainer.train_seconds,
        "train_seconds_this_session": t_trained - t_start,
        "extract_seconds": t_extracted - t_trained,
        "evaluate_seconds": t_end - t_extracted,
        "total_seconds": t_end - t_start,
        "device": str(device),
        "threads": threads,
        "hashgrid_backend": _hashgrid_backend(model),
    }
    write_json(run / "metrics.json", metrics)
    log(f"mesh: {mesh_path} ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces)")
    log(f"metrics: {run / 'metrics.json'}")
    log(f"report: {report}")
    return RunResult(run, mesh_path, metrics, report, previews)


def _is_within(path, folder: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(folder.resolve())
    except (OSError, TypeError):
        return False


def _hashgrid_backend(model) -> str:
    """The hash grid backend the SDF used ("cpp" / "cuda" kernels, or the "torch" twin)."""
    from fields3d.ops.hashgrid import resolve_backend

    enc = model.field.encoding
    probe = torch.zeros(1, 3, device=model.device, dtype=enc.table.dtype)
    return resolve_backend(enc.config.backend, probe, enc.layout)


def _read_gt(path):
    from fields3d.io.mesh import read_mesh

    mesh = read_mesh(path)
    if not mesh.area > 0:
        raise InputError(f"expected a reference mesh with positive area, got area {mesh.area}", path)
    return mesh


def _divergence_lr_scale(run: Path, log) -> float:
    """0.5 when the run stopped on a divergence (checkpoints/diverged.json, then archived); else 1."""
    marker = run / "checkpoints" / "diverged.json"
    if not marker.is_file():
        return 1.0
    info = json.loads(marker.read_text())
    marker.replace(marker.with_name(f"diverged_step{int(info.get('step', 0))}.json"))
    log(f"the last run diverged at step {info.get('step')}: halving the learning rate")
    return 0.5


def _evaluate_and_report(
    run, config, scene, model, train_data, held_idx, bg, mesh, gt, gt_path, history, progress, log
):
    from fields3d.recon.dataset import RayDataset
    from fields3d.recon.evaluation import image_metrics, reference_metrics, render_views
    from fields3d.recon.previews import write_turntable, write_view_previews
    from fields3d.recon.run_report import write_loss_curves, write_report

    previews_dir = run / "previews"
    rotation = scene.normalization.inverse().rotation
    metrics: dict = {
        "method": config.method,
        "preset": config.preset,
        "color_mode": config.model.color.mode,
        "data": str(scene.source),
        "format": scene.format,
        "views": len(scene),
        "train_views": len(train_data),
        "heldout_views": len(held_idx),
        "steps": config.train.steps,
        "final_inv_s": float(model.inv_s.detach()),
    }
    view_previews: list[tuple[str, Path]] = []
    if held_idx:
        held = RayDataset(
            scene, held_idx, config.data.eval_max_image_size, config.data.use_masks, model.device
        )
        log(f"rendering {len(held_idx)} held-out views")
        views = render_views(model, held, bg, rotation, progress=progress)
        metrics["heldout"] = image_metrics(views)
        view_previews = write_view_previews(views, previews_dir)
        key = "psnr_masked" if "psnr_masked" in metrics["heldout"] else "psnr"
        metrics["heldout_psnr"] = metrics["heldout"].get(key)
        metrics["heldout_psnr_kind"] = "inside the masks" if key == "psnr_masked" else "whole image"
    tm = mesh.to_trimesh()
    metrics["mesh_stats"] = {
        "vertices": int(len(mesh.vertices)),
        "faces": int(len(mesh.faces)),
        "watertight": bool(tm.is_watertight),
        "components": int(len(tm.split(only_watertight=False))) if len(mesh.faces) < 2_000_000 else None,
        "removed_faces": mesh.removed_faces,
        "resolution": mesh.resolution,
        "on_region_boundary": mesh.boundary_fraction,
    }
    if mesh.boundary_fraction > 0.5:
        log(
            f"warning: {100 * mesh.boundary_fraction:.0f}% of the mesh lies on the sphere that bounds the "
            "reconstructed region: training probably failed (the region came out solid); look at "
            f"{run / 'report.html'}"
        )
    if gt is not None:
        log("comparing the mesh with the reference")
        metrics.update(reference_metrics(tm, gt, gt_path))
    turntable = write_turntable(
        mesh.vertices,
        mesh.faces,
        mesh.colors,
        previews_dir,
        config.turntable_views,
        config.turntable_size,
        up=world_up(scene),
    )
    curves = write_loss_curves(history, previews_dir)
    summary = (
        f"{config.method} ({config.preset}, colour {config.model.color.mode}) on {scene.source}: "
        f"{scene.summary()}; {len(train_data)} training views, {len(held_idx)} held out; "
        f"{config.train.steps} steps of {config.train.rays_per_step} rays."
    )
    report = write_report(
        run / "report.html",
        f"fields3d reconstruction: {run.name}",
        summary,
        metrics,
        curves,
        view_previews,
        turntable,
    )
    previews = [p for _, p in view_previews + turntable + curves]
    return metrics, previews, report


# --------------------------------------------------------------------------------------------------
def load_run(run: str | os.PathLike, device: str | None = None):
    """(config, model with the latest checkpoint, scene) of a run folder (for re-extraction)."""
    from fields3d.data import load_scene
    from fields3d.recon.checkpoint import load_checkpoint

    run = Path(run)
    config, raw = read_run_config(run)
    dev = choose_device(device or config.device)
    data = Path(raw["data"])
    scene = load_scene(run / "sfm") if (run / "sfm" / "transforms.json").is_file() else load_scene(data)
    model = build_model(config, scene, dev)
    state = load_checkpoint(run / "checkpoints" / "latest.pt", map_location=dev)
    model.load_state_dict(state["model"])
    model.update_step(int(state["step"]))
    model.eval()
    return config, model, scene


def extract_run(
    run: str | os.PathLike,
    out: str | os.PathLike,
    resolution: int | None = None,
    device: str | None = None,
    log=print,
) -> Path:
    """Re-extract the mesh of a run at another resolution into ``out`` (.ply / .obj / .glb)."""
    from fields3d.recon.export import extract_world_mesh, write_exported_mesh

    config, model, scene = load_run(run, device)
    if model.device.type == "cpu":
        choose_threads(config.threads)
    res = resolution or config.export.resolution
    if res < 8:
        raise InputError(f"expected --resolution >= 8, got {res}")
    mesh = extract_world_mesh(
        model,
        scene.normalization,
        res,
        config.export.min_component_area,
        config.export.chunk_size,
        progress=True,
    )
    path = write_exported_mesh(out, mesh)
    log(f"mesh: {path} ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces, {res}^3 grid)")
    return path
