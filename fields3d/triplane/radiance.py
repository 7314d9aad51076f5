"""Tri-plane radiance fields fitted to posed captures (e.g. ``fields3d synth`` output), many at once.

Each capture is used in its normalised frame (``SceneData.normalization``: the object inside the unit
sphere, so inside the tri-plane box [-1, 1]^3). The decoder's 4 outputs are density (exp) and RGB
(sigmoid); pixels are rendered by quadrature along the ray's stretch inside the box (stratified samples)
and composited over the capture's background colour (black unless the capture says otherwise). The
loss is the mean squared colour error. Fit quality: PSNR on every ``holdout``-th view (not fitted), and
— when the capture has a ground-truth mesh (``fields3d synth`` writes ``mesh_gt.ply``) — the Chamfer
distance between that mesh and the surface where the density crosses ``density_level``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fields3d.errors import InputError
from fields3d.io.atomic import atomic_path
from fields3d.triplane import dataset_files
from fields3d.triplane.fit_quality import QualityConfig
from fields3d.triplane.fitting import FitState, _lr_factor, make_optimizer
from fields3d.triplane.sources import ShapeSource, read_labels_csv


@dataclass
class RadianceConfig:
    """Ray sampling and quality settings of radiance fitting."""

    samples_per_ray: int = 48
    """Stratified samples per ray inside the box."""
    rays_per_view_max: int = 16384
    """Most pixels kept per view (a seeded random subset) in the ray pool."""
    holdout: int = 8
    """Every holdout-th view is kept out of fitting and used for the PSNR (0: fit all, PSNR on them)."""
    density_level: float = 10.0
    """Density of the decoded surface (per normalised unit)."""
    eval_pixels: int = 4096
    """Pixels per held-out view for the PSNR."""


def is_capture(path: Path) -> bool:
    return (path / "transforms.json").is_file() or any(path.glob("transforms_*.json"))


def list_captures(path: str | os.PathLike, labels: str | os.PathLike | None = None) -> list[ShapeSource]:
    """One capture folder, or the capture folders inside ``path`` (sorted); with a labels CSV, its rows
    (``file`` names the capture folder)."""
    path = Path(path)
    if labels is not None:
        sources = read_labels_csv(labels, path)
        bad = [s.path for s in sources if not is_capture(s.path)]
        if bad:
            raise InputError(
                f"expected capture folders (with transforms.json) in the labels CSV, got {bad[0]}", labels
            )
        return sources
    if not path.is_dir():
        raise InputError("expected a capture folder or a folder of them, got nothing there", path)
    if is_capture(path):
        return [ShapeSource(path)]
    found = sorted(p for p in path.iterdir() if p.is_dir() and is_capture(p))
    if not found:
        raise InputError("expected capture folders (with transforms.json) inside, got none", path)
    return [ShapeSource(p) for p in found]


def box_intervals(
    origins: torch.Tensor, directions: torch.Tensor, bound: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Entry and exit distances (..,) of rays through the box [-bound, bound]^3 (near >= 0; far <= near
    when the ray misses)."""
    inv = 1.0 / torch.where(directions.abs() < 1e-9, torch.full_like(directions, 1e-9), directions)
    t0 = (-bound - origins) * inv
    t1 = (bound - origins) * inv
    near = torch.minimum(t0, t1).amax(-1).clamp_min(0.0)
    far = torch.maximum(t0, t1).amin(-1)
    return near, far


def density_activation(raw: torch.Tensor) -> torch.Tensor:
    """Density from the decoder's first output: ``exp(raw)`` (raw clamped at 15)."""
    return torch.exp(raw.clamp(max=15.0))


def render_rays(
    fields, origins, directions, background, samples: int, generator=None, stratified: bool = True
):
    """Volume-render B objects' rays: origins/directions (B, R, 3), background (B, 3) -> (B, R, 3) colour,
    (B, R) opacity."""
    b, r, _ = origins.shape
    near, far = box_intervals(origins, directions)
    hit = far > near
    far = torch.where(hit, far, near + 1e-3)
    steps = torch.arange(samples, device=origins.device, dtype=origins.dtype)
    jitter = (
        torch.rand(b, r, samples, generator=generator).to(origins.device)
        if stratified
        else torch.full((b, r, samples), 0.5, device=origins.device)
    )
    t = near[..., None] + (far - near)[..., None] * (steps + jitter) / samples  # (B, R, S)
    delta = ((far - near) / samples)[..., None].expand_as(t)
    pts = origins[:, :, None] + t[..., None] * directions[:, :, None]
    out = fields(pts.reshape(b, r * samples, 3)).reshape(b, r, samples, -1)
    sigma = density_activation(out[..., 0]) * hit[..., None]
    rgb = torch.sigmoid(out[..., 1:4])
    alpha = 1.0 - torch.exp(-sigma * delta)
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1.0 - alpha[..., :-1] + 1e-10], -1), -1)
    weights = alpha * trans
    opacity = weights.sum(-1)
    color = (weights[..., None] * rgb).sum(-2) + (1.0 - opacity)[..., None] * background[:, None]
    return color, opacity


@dataclass
class CaptureRays:
    """A capture's rays in its normalised frame: (N, 3) origins, directions, colours; held-out ones too."""

    origins: torch.Tensor
    directions: torch.Tensor
    colors: torch.Tensor
    eval_origins: torch.Tensor
    eval_directions: torch.Tensor
    eval_colors: torch.Tensor
    background: torch.Tensor
    normalization: object
    mesh_gt: Path | None


def capture_rays(path: Path, config: RadianceConfig, rng: np.random.Generator) -> CaptureRays:
    """Load a capture and collect a seeded subset of its pixels' rays (training and held-out views)."""
    from fields3d.data import load_scene

    scene = load_scene(path)
    cams = scene.normalized_cameras()
    block = scene.metadata.get("fields3d", {}) if isinstance(scene.metadata.get("fields3d"), dict) else {}
    bg = scene.background if scene.background is not None else block.get("background", (0.0, 0.0, 0.0))
    n = len(scene)
    held = set(range(0, n, config.holdout)) if config.holdout and n > 1 else set()
    pools = {True: ([], [], []), False: ([], [], [])}
    for i in range(n):
        img = scene.load_image(i)[..., :3]
        h, w = img.shape[:2]
        is_eval = i in held
        keep = config.eval_pixels if is_eval else config.rays_per_view_max
        pick = rng.choice(h * w, size=min(keep, h * w), replace=False)
        pix = torch.from_numpy(np.stack([pick % w, pick // w], 1).astype(np.float32) + 0.5)
        rays = cams.rays(i, pix)
        o, d, c = pools[is_eval]
        o.append(rays.origins)
        d.append(rays.directions)
        c.append(torch.from_numpy(img.reshape(-1, 3)[pick].astype(np.float32)))
    if not held:
        pools[True] = pools[False]
    cat = lambda xs: torch.cat(xs).float()  # noqa: E731
    mesh_gt = block.get("mesh_gt")
    mesh_path = (Path(path) / mesh_gt) if mesh_gt and (Path(path) / mesh_gt).is_file() else None
    return CaptureRays(
        cat(pools[False][0]),
        cat(pools[False][1]),
        cat(pools[False][2]),
        cat(pools[True][0]),
        cat(pools[True][1]),
        cat(pools[True][2]),
        torch.tensor(bg, dtype=torch.float32),
        scene.normalization,
        mesh_path,
    )


def fit_radiance_shard(
    k: int,
    sources: list[ShapeSource],
    ids: list[int],
    labels: list[int],
    splits: list[str],
    out: Path,
    config,
    radiance: RadianceConfig,
    device: torch.device,
    progress: bool,
) -> list[dict]:
    """Fit and write shard ``k`` of radiance fields; returns its records."""
    from fields3d.triplane.field_batch import TriplaneFieldBatch
    from fields3d.triplane.fit_dataset import object_seed

    t0 = time.perf_counter()
    rng = np.random.default_rng(object_seed(config.seed, 1_000_000 + k))
    caps = [
        capture_rays(s.path, radiance, np.random.default_rng(object_seed(config.seed, i)))
        for s, i in zip(sources, ids, strict=True)
    ]
    n_pool = min(c.origins.shape[0] for c in caps)
    idx = [rng.choice(c.origins.shape[0], size=n_pool, replace=False) for c in caps]
    origins = torch.stack([c.origins[p] for c, p in zip(caps, idx, strict=True)]).to(device)
    dirs = torch.stack([c.directions[p] for c, p in zip(caps, idx, strict=True)]).to(device)
    colors = torch.stack([c.colors[p] for c, p in zip(caps, idx, strict=True)]).to(device)
    background = torch.stack([c.background for c in caps]).to(device)
    t_prep = time.perf_counter() - t0
    seeds = [object_seed(config.seed, i) for i in ids]
    fields = TriplaneFieldBatch(len(caps), config.planes, seeds=seeds).to(device)
    fit = config.fit
    optimizer = make_optimizer(fields, fit)
    generator = torch.Generator().manual_seed(object_seed(fit.seed, 1_000_000 + k))
    ckpt_path = out / dataset_files.shard_name(k).replace(".safetensors", ".ckpt.pt")
    start, history = 0, []
    if ckpt_path.is_file():
        st = FitState(**torch.load(ckpt_path, map_location="cpu", weights_only=False))
        fields.load_state_dict(st.model)
        optimizer.load_state_dict(st.optimizer)
        generator.set_state(st.generator)
        start, history = st.step, list(st.history)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=fit.steps, initial=start, desc=f"radiance shard {k}", unit="step", leave=False)
    b = len(caps)
    rows = torch.arange(b, device=device)[:, None]
    recent = []
    for step in range(start, fit.steps):
        factor = _lr_factor(step, fit.steps, fit.lr_final_ratio)
        for g in optimizer.param_groups:
            g["lr"] = g["base_lr"] * factor
        pick = torch.randint(0, n_pool, (b, fit.points_per_step), generator=generator).to(device)
        color, _ = render_rays(
            fields, origins[rows, pick], dirs[rows, pick], background, radiance.samples_per_ray, generator
        )
        per_object = ((color - colors[rows, pick]) ** 2).mean(dim=(1, 2))
        optimizer.zero_grad(set_to_none=True)
        per_object.sum().backward()
        optimizer.step()
        if step >= fit.steps - max(1, fit.steps // 10):
            recent.append(per_object.detach().cpu())
        if step % 50 == 0:
            history.append((step, float(per_object.detach().mean())))
        if bar is not None:
            bar.update(1)
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < fit.steps:
            with atomic_path(ckpt_path) as tmp:
                torch.save(
                    dataclasses.asdict(
                        FitState(
                            step + 1,
                            fields.state_dict(),
                            optimizer.state_dict(),
                            generator.get_state(),
                            history,
                        )
                    ),
                    tmp,
                )
    if bar is not None:
        bar.close()
    t_fit = time.perf_counter() - t0 - t_prep
    final = torch.stack(recent).mean(0) if recent else torch.full((b,), float("nan"))
    records, surfaces = [], []
    for j, (c, s) in enumerate(zip(caps, sources, strict=True)):
        quality, surf = _radiance_quality(
            fields, j, c, config.quality, radiance, config.surface_points, rng, device
        )
        quality["loss"] = float(final[j])
        surfaces.append(surf)
        records.append(
            {
                "id": ids[j],
                "source": str(s.path),
                "seg": None,
                "class": s.class_name,
                "label": labels[j],
                "split": splits[j],
                "group": s.group_name,
                "kind": "capture",
                "field": "radiance",
                "shard": dataset_files.shard_name(k),
                "index": j,
                "normalization": c.normalization.to_dict(),
                "copy": {"copy": 0, "rotation": np.eye(3).tolist(), "scale": 1.0},
                "parts": [],
                "fit": quality,
            }
        )
    t_q = time.perf_counter() - t0 - t_prep - t_fit
    for r in records:
        r["seconds"] = {"prepare": t_prep / b, "fit": t_fit / b, "quality": t_q / b}
    tensors = {
        "planes": fields.planes.detach().cpu().contiguous(),
        "surface_points": torch.from_numpy(np.stack(surfaces)),
        "surface_labels": torch.full((b, config.surface_points), -1, dtype=torch.int32),
    }
    if config.planes.decoder != "shared":
        for name, t in fields.decoder_state().items():
            tensors[f"decoder.{name}"] = t.cpu()
    dataset_files.write_shard(out, k, tensors, records)
    if ckpt_path.is_file():
        ckpt_path.unlink()
    return records


@torch.no_grad()
def _radiance_quality(
    fields,
    j: int,
    cap: CaptureRays,
    quality: QualityConfig,
    radiance: RadianceConfig,
    n_surface: int,
    rng: np.random.Generator,
    device,
) -> tuple[dict, np.ndarray]:
    from fields3d.geometry.mesh_sampling import sample_surface
    from fields3d.metrics.mesh_distance import mesh_distances
    from fields3d.triplane.fit_quality import decode_mesh

    one = _OneObject(fields, j)
    mse = []
    for s in range(0, cap.eval_origins.shape[0], 4096):
        o = cap.eval_origins[s : s + 4096].to(device)[None]
        d = cap.eval_directions[s : s + 4096].to(device)[None]
        color, _ = render_rays(
            one, o, d, cap.background.to(device)[None], radiance.samples_per_ray, stratified=False
        )
        mse.append(((color[0].cpu() - cap.eval_colors[s : s + 4096]) ** 2).sum(0))
    err = torch.stack(mse).sum(0).sum() / (cap.eval_colors.numel())
    out = {"psnr": float(-10 * math.log10(max(float(err), 1e-12)))}
    density = fields.object_field(j, output=0)
    level_raw = math.log(radiance.density_level)  # density_activation(raw) = level
    vertices, faces = decode_mesh(lambda x: level_raw - density(x), "sdf", quality.resolution)
    out["faces"] = int(len(faces))
    surf = None
    if cap.mesh_gt is not None:
        from fields3d.io.mesh import read_mesh

        gt = read_mesh(cap.mesh_gt)
        gt_v = cap.normalization.apply_points(np.asarray(gt.vertices, np.float64))
        gt_f = np.asarray(gt.faces, np.int64)
        surf = sample_surface((gt_v, gt_f), n_surface, seed=rng).points.astype(np.float32)
        if len(faces):
            d = mesh_distances(
                (vertices, faces),
                (gt_v, gt_f),
                threshold=quality.threshold,
                samples=quality.samples,
                seed=int(rng.integers(1 << 31)),
            )
            out["chamfer"], out["fscore"] = float(d["chamfer"]), float(d["fscore"])
        else:
            out["chamfer"], out["fscore"] = None, 0.0
    if surf is None:
        surf = (
            sample_surface((vertices, faces), n_surface, seed=rng).points.astype(np.float32)
            if len(faces)
            else np.zeros((n_surface, 3), np.float32)
        )
    return out, surf


class _OneObject(torch.nn.Module):
    """Object ``j`` of a field batch as a batch of one (for rendering its rays alone)."""

    def __init__(self, fields, j: int):
        super().__init__()
        self.fields, self.j = fields, j

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.fields.object_field(self.j, output=k)(x[0]) for k in range(self.fields.config.out_dim)]
        return torch.stack(outs, -1)[None]


def fit_radiance_dataset(
    sources: list[ShapeSource],
    out: str | os.PathLike,
    config,
    device: str = "auto",
    radiance: RadianceConfig | None = None,
    progress: bool = True,
) -> dict | None:
    """Radiance tri-planes of captures into a dataset folder (same layout, sharding, resuming as meshes)."""
    from fields3d.triplane import distributed
    from fields3d.triplane.fit_dataset import check_or_write_job, summarize
    from fields3d.triplane.sources import assign_splits

    radiance = radiance or RadianceConfig()
    if config.planes.out_dim != 4:
        raise InputError(f"expected a 4-output decoder for radiance, got {config.planes.out_dim}")
    if config.planes.decoder == "shared":
        raise InputError("expected --decoder per-object for radiance fields, got shared")
    config = dataclasses.replace(config, field="radiance", copies=1)
    info = distributed.init(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    classes = sorted({s.class_name for s in sources if s.class_name is not None})
    splits = assign_splits(sources, config.test_fraction, config.seed)
    check_or_write_job(out, sources, config, info.is_main)
    distributed.barrier(info)
    n_shards = math.ceil(len(sources) / config.shard_size)
    for k in range(info.rank, n_shards, info.world_size):
        if dataset_files.shard_records(out, k) is not None:
            continue
        ids = list(range(k * config.shard_size, min(len(sources), (k + 1) * config.shard_size)))
        fit_radiance_shard(
            k,
            [sources[i] for i in ids],
            ids,
            [classes.index(sources[i].class_name) if sources[i].class_name else -1 for i in ids],
            [splits[i] for i in ids],
            out,
            config,
            radiance,
            info.device,
            progress and info.is_main,
        )
    distributed.barrier(info)
    manifest = None
    if info.is_main:
        from fields3d.io.atomic import write_json
        from fields3d.triplane.fit_dataset import median_or_none

        records = []
        for k in range(n_shards):
            recs = dataset_files.shard_records(out, k)
            if recs is None:
                raise InputError(f"expected shard {k} to be complete, got it missing", out)
            records.extend(recs)
        summary = summarize(records, info.world_size)
        summary["median_psnr"] = median_or_none(r["fit"].get("psnr") for r in records)
        manifest = {
            "format": dataset_files.FORMAT,
            "version": dataset_files.VERSION,
            "field": "radiance",
            "field_config": dataclasses.asdict(config.planes),
            "fit_config": {**dataclasses.asdict(config), "radiance": dataclasses.asdict(radiance)},
            "box": [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]],
            "classes": classes,
            "parts": [],
            "class_parts": {},
            "shared_decoder": None,
            "summary": summary,
            "objects": records,
        }
        manifest = json_safe(manifest)
        write_json(out / dataset_files.MANIFEST, manifest)
    distributed.barrier(info)
    return manifest


def json_safe(obj):
    import json

    return json.loads(json.dumps(obj, default=str))
