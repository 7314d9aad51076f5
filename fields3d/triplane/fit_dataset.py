"""``fields3d triplane fit``: shapes -> a tri-plane dataset folder (shards + manifest), sharded across
processes, resumable.

Objects (every source, times ``copies`` augmented copies) are cut into shards of ``shard_size``
consecutive objects; each shard is one batched fit. Shard ``k`` goes to rank ``k % world_size``, so the
output does not depend on the number of processes: an object's supervision, initial planes and
decoder are seeded by its id, and a shard's point draws by the shard index. A finished shard is never
fitted again; a shard in progress is checkpointed every ``checkpoint_every`` steps and continues from
there. Rank 0 merges the shards' records into ``manifest.json`` at the end.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from fields3d.errors import InputError
from fields3d.io.atomic import atomic_path, write_json
from fields3d.triplane import dataset_files
from fields3d.triplane.field_batch import TriplaneFieldConfig
from fields3d.triplane.fit_quality import QualityConfig, fit_quality, median_or_none
from fields3d.triplane.fitting import FitConfig, FitState, fit_fields
from fields3d.triplane.normalization import ROTATIONS, CopySpec, box_normalization, copy_specs
from fields3d.triplane.shapes import Shape, load_shape
from fields3d.triplane.sources import ShapeSource, assign_splits, read_face_labels
from fields3d.triplane.supervision import (
    FIELDS,
    ShapeDistance,
    SupervisionConfig,
    check_field_for_shape,
    field_supervision,
)

JOB_FILE = "fit_job.json"


@dataclass
class DatasetFitConfig:
    """Everything that decides a tri-plane dataset's content."""

    field: str = "sdf"
    """sdf (closed meshes) | udf (open meshes, point clouds) | occupancy (closed meshes)."""
    planes: TriplaneFieldConfig = dataclasses.field(default_factory=TriplaneFieldConfig)
    fit: FitConfig = dataclasses.field(default_factory=FitConfig)
    supervision: SupervisionConfig = dataclasses.field(default_factory=SupervisionConfig)
    quality: QualityConfig = dataclasses.field(default_factory=QualityConfig)
    fill: float = 0.9
    """The largest half-extent of a normalised shape (the box is [-1, 1]^3)."""
    copies: int = 1
    """Fitted copies per source: the first as given, the others randomly rotated and scaled."""
    rotate: str = "none"
    """Rotation of augmented copies: none | x | y | z (about that axis) | so3."""
    scale_min: float = 1.0
    """Smallest random scale of augmented copies (<= 1)."""
    scale_max: float = 1.0
    """Largest random scale of augmented copies (<= 1)."""
    surface_points: int = 2048
    """Labelled surface points stored per object (segmentation targets, point-cloud baselines)."""
    shard_size: int = 32
    """Objects per shard (= per batched fit)."""
    test_fraction: float = 0.2
    """Share of each class's groups put in the test split when the labels CSV gives no split."""
    seed: int = 0
    checkpoint_every: int = 100
    """Steps between checkpoints of the shard in progress."""

    def validate(self) -> None:
        if self.field not in FIELDS:
            raise InputError(f"expected --field in {FIELDS} for meshes, got {self.field!r}")
        if self.rotate not in ROTATIONS:
            raise InputError(f"expected --rotate in {ROTATIONS}, got {self.rotate!r}")
        if self.copies < 1 or self.shard_size < 1 or self.surface_points < 1:
            raise InputError(
                f"expected copies, shard_size, surface_points >= 1, got {self.copies}, "
                f"{self.shard_size}, {self.surface_points}"
            )
        if not 0 < self.scale_min <= self.scale_max <= 1:
            raise InputError(
                f"expected 0 < scale_min <= scale_max <= 1, got {self.scale_min}, {self.scale_max}"
            )


@dataclass(frozen=True)
class ObjectPlan:
    """One object to fit: copy ``spec`` of ``source`` (index ``source_index``), global id ``id``."""

    id: int
    source_index: int
    source: ShapeSource
    spec: CopySpec
    split: str
    label: int


def object_seed(seed: int, object_id: int) -> int:
    return (seed * 1_000_003 + object_id * 7919 + 17) % (2**31 - 1)


def plan_objects(sources: list[ShapeSource], config: DatasetFitConfig) -> tuple[list[ObjectPlan], list[str]]:
    """Objects to fit (source order, copies consecutive) and the sorted class names."""
    classes = sorted({s.class_name for s in sources if s.class_name is not None})
    if classes and any(s.class_name is None for s in sources):
        raise InputError("expected a class for every shape or for none, got some rows without one")
    splits = assign_splits(sources, config.test_fraction, config.seed)
    plans = []
    for i, s in enumerate(sources):
        specs = copy_specs(
            config.copies,
            config.rotate,
            (config.scale_min, config.scale_max),
            seed=object_seed(config.seed, i) + 1,
        )
        label = classes.index(s.class_name) if s.class_name is not None else -1
        for spec in specs:
            plans.append(ObjectPlan(len(plans), i, s, spec, splits[i], label))
    return plans, classes


@dataclass
class PreparedObject:
    """A loaded, normalised object with its supervision."""

    plan: ObjectPlan
    shape: Shape
    normalization: object
    distance: ShapeDistance
    points: np.ndarray
    values: np.ndarray
    surface_points: np.ndarray
    surface_labels: np.ndarray


def prepare_object(
    plan: ObjectPlan, config: DatasetFitConfig, shape: Shape, face_labels: np.ndarray | None, device="cpu"
) -> PreparedObject:
    """Normalise ``shape`` for ``plan``'s copy, draw its supervision and labelled surface points (mesh
    distances through open3d, or through the PyTorch twin on ``device`` when open3d is missing)."""
    from fields3d.geometry.mesh_sampling import sample_surface

    check_field_for_shape(config.field, shape)
    sim = box_normalization(shape.vertices, config.fill, plan.spec.rotation, plan.spec.scale)
    vertices = sim.apply_points(shape.vertices)
    distance = ShapeDistance(vertices, shape.faces, device=str(device))
    rng = np.random.default_rng(object_seed(config.seed, plan.id))
    samples = field_supervision(distance, config.field, config.supervision, rng)
    if shape.is_mesh:
        s = sample_surface((vertices, shape.faces), config.surface_points, seed=rng)
        surf = s.points.astype(np.float32)
        labels = (
            face_labels[s.face_index].astype(np.int32)
            if face_labels is not None
            else np.full(len(surf), -1, np.int32)
        )
    else:
        pick = rng.integers(0, len(vertices), config.surface_points)
        surf = vertices[pick].astype(np.float32)
        labels = np.full(len(surf), -1, np.int32)
    return PreparedObject(plan, shape, sim, distance, samples.points, samples.values, surf, labels)


class _SourceCache:
    """The last loaded source (copies of one source are consecutive)."""

    def __init__(self):
        self.key, self.value = None, None

    def get(self, source: ShapeSource) -> tuple[Shape, np.ndarray | None]:
        if self.key != source.path:
            shape = load_shape(source.path)
            labels = None
            if source.seg_path is not None:
                if not shape.is_mesh:
                    raise InputError(
                        "expected a mesh for per-face part labels, got a point cloud", source.path
                    )
                labels = read_face_labels(source.seg_path, len(shape.faces))
            self.key, self.value = source.path, (shape, labels)
        return self.value


def _job_description(sources: list[ShapeSource], config: DatasetFitConfig) -> dict:
    return {
        "config": json.loads(json.dumps(asdict(config), default=str)),
        "sources": [str(s.path) for s in sources],
    }


def check_or_write_job(
    out: Path, sources: list[ShapeSource], config: DatasetFitConfig, is_main: bool
) -> None:
    """Record the job in DATASET/fit_job.json, or refuse to resume a folder fitted with other settings."""
    desc = _job_description(sources, config)
    path = out / JOB_FILE
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old != desc:
            raise InputError(
                "expected the settings and shapes of the fit already in this folder (to resume), "
                "got different ones; use a new --out folder",
                out,
            )
    elif is_main:
        write_json(path, desc)


def _shard_tensors(prepared: list[PreparedObject], result, shared: bool) -> dict[str, torch.Tensor]:
    tensors = {
        "planes": result.fields.planes.detach().cpu().contiguous(),
        "surface_points": torch.from_numpy(np.stack([p.surface_points for p in prepared])),
        "surface_labels": torch.from_numpy(np.stack([p.surface_labels for p in prepared])),
    }
    if not shared:
        for name, t in result.fields.decoder_state().items():
            tensors[f"decoder.{name}"] = t.cpu()
    return tensors


def fit_shard(
    k: int,
    plans: list[ObjectPlan],
    out: Path,
    config: DatasetFitConfig,
    device: torch.device,
    shared_decoder=None,
    train_decoder: bool = True,
    progress: bool = True,
) -> tuple[list[dict], object]:
    """Fit and write shard ``k`` (objects ``plans``); returns its records and the fitted fields."""
    t0 = time.perf_counter()
    cache = _SourceCache()
    prepared = []
    for plan in plans:
        shape, labels = cache.get(plan.source)
        prepared.append(prepare_object(plan, config, shape, labels, device))
    t_prep = time.perf_counter() - t0
    points = torch.from_numpy(np.stack([p.points for p in prepared])).to(device)
    values = torch.from_numpy(np.stack([p.values for p in prepared])).to(device)
    if config.field == "occupancy":
        values = (values > 0.5).float()
    ckpt_path = out / dataset_files.shard_name(k).replace(".safetensors", ".ckpt.pt")
    resume = None
    if ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        resume = FitState(**state)

    def save_checkpoint(state: FitState) -> None:
        with atomic_path(ckpt_path) as tmp:
            torch.save(dataclasses.asdict(state), tmp)

    fit_config = dataclasses.replace(config.fit, seed=object_seed(config.fit.seed, 1_000_000 + k))
    result = fit_fields(
        points,
        values,
        config.field,
        config.planes,
        fit_config,
        [object_seed(config.seed, p.plan.id) for p in prepared],
        shared_decoder=shared_decoder,
        train_decoder=train_decoder,
        resume=resume,
        checkpoint=save_checkpoint,
        checkpoint_every=config.checkpoint_every,
        progress=f"shard {k}" if progress else None,
    )
    t_fit = time.perf_counter() - t0 - t_prep
    records = []
    for j, p in enumerate(prepared):
        rng = np.random.default_rng(object_seed(config.seed, p.plan.id) + 5)
        quality = fit_quality(result.fields.object_field(j), config.field, p.distance, config.quality, rng)
        quality["loss"] = float(result.final_loss[j])
        parts = sorted({int(v) for v in np.unique(p.surface_labels) if v >= 0})
        records.append(
            {
                "id": p.plan.id,
                "source": str(p.plan.source.path),
                "seg": str(p.plan.source.seg_path) if p.plan.source.seg_path else None,
                "class": p.plan.source.class_name,
                "label": p.plan.label,
                "split": p.plan.split,
                "group": p.plan.source.group_name,
                "kind": p.shape.kind,
                "field": config.field,
                "shard": dataset_files.shard_name(k),
                "index": j,
                "normalization": p.normalization.to_dict(),
                "copy": p.plan.spec.to_dict(),
                "parts": parts,
                "fit": quality,
            }
        )
    t_quality = time.perf_counter() - t0 - t_prep - t_fit
    for r in records:
        r["seconds"] = {
            "prepare": t_prep / len(records),
            "fit": t_fit / len(records),
            "quality": t_quality / len(records),
        }
    dataset_files.write_shard(
        out, k, _shard_tensors(prepared, result, config.planes.decoder == "shared"), records
    )
    if ckpt_path.is_file():
        ckpt_path.unlink()
    return records, result.fields


def summarize(records: list[dict], world_size: int) -> dict:
    """Median fit quality and the time spent, over all objects."""
    fit_s = sum(r["seconds"]["fit"] for r in records)
    total_s = sum(sum(r["seconds"].values()) for r in records)
    out = {
        "objects": len(records),
        "median_chamfer": median_or_none(r["fit"].get("chamfer") for r in records),
        "median_fscore": median_or_none(r["fit"].get("fscore") for r in records),
        "median_iou": median_or_none(r["fit"].get("iou") for r in records),
        "median_loss": median_or_none(r["fit"].get("loss") for r in records),
        "empty_decodes": sum(1 for r in records if not r["fit"].get("faces")),
        "fit_seconds": fit_s,
        "total_seconds": total_s,
        "processes": world_size,
    }
    out["shapes_per_minute_fit_per_process"] = 60.0 * len(records) / fit_s if fit_s > 0 else None
    out["shapes_per_minute_total_per_process"] = 60.0 * len(records) / total_s if total_s > 0 else None
    return out


def write_manifest(
    out: Path,
    plans: list[ObjectPlan],
    classes: list[str],
    config: DatasetFitConfig,
    n_shards: int,
    world_size: int,
    extra: dict | None = None,
) -> dict:
    """Merge the shard records into DATASET/manifest.json (raises when a shard is missing)."""
    records = []
    for k in range(n_shards):
        r = dataset_files.shard_records(out, k)
        if r is None:
            raise InputError(
                f"expected shard {k} to be complete before writing the manifest, got it missing", out
            )
        records.extend(r)
    class_parts: dict[str, list[int]] = {}
    for r in records:
        if r["class"] is not None:
            class_parts[r["class"]] = sorted(set(class_parts.get(r["class"], [])) | set(r["parts"]))
    all_parts = sorted({p for r in records for p in r["parts"]})
    manifest = {
        "format": dataset_files.FORMAT,
        "version": dataset_files.VERSION,
        "field": config.field,
        "field_config": asdict(config.planes),
        "fit_config": json.loads(json.dumps(asdict(config), default=str)),
        "box": [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]],
        "classes": classes,
        "parts": all_parts,
        "class_parts": class_parts,
        "shared_decoder": "shared_decoder.safetensors" if config.planes.decoder == "shared" else None,
        "summary": summarize(records, world_size),
        "objects": records,
        **(extra or {}),
    }
    write_json(out / dataset_files.MANIFEST, manifest)
    return manifest


def fit_dataset(
    sources: list[ShapeSource],
    out: str | os.PathLike,
    config: DatasetFitConfig,
    device: str = "auto",
    progress: bool = True,
) -> dict | None:
    """Fit every object of ``sources`` into the dataset folder ``out``; returns the manifest on rank 0
    (None on other ranks). Under torchrun, shards are spread over the ranks."""
    from fields3d.triplane import distributed

    config.validate()
    info = distributed.init(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plans, classes = plan_objects(sources, config)
    check_or_write_job(out, sources, config, info.is_main)
    distributed.barrier(info)
    n_shards = (len(plans) + config.shard_size - 1) // config.shard_size
    shards = [plans[k * config.shard_size : (k + 1) * config.shard_size] for k in range(n_shards)]
    shared_decoder, train_decoder = None, True
    todo = list(range(n_shards))
    if config.planes.decoder == "shared":
        shared_decoder = _shared_decoder(out, shards, config, info, progress)
        train_decoder = False
        todo = todo[1:]
    mine = [k for k in todo if k % info.world_size == info.rank]
    bar = None
    if progress and info.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(mine), desc=f"fit shards (rank 0 of {info.world_size})", unit="shard")
    for k in mine:
        if dataset_files.shard_records(out, k) is None:
            fit_shard(
                k,
                shards[k],
                out,
                config,
                info.device,
                shared_decoder,
                train_decoder,
                progress and info.is_main,
            )
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    distributed.barrier(info)
    manifest = (
        write_manifest(out, plans, classes, config, n_shards, info.world_size) if info.is_main else None
    )
    distributed.barrier(info)
    return manifest


def _shared_decoder(out: Path, shards, config: DatasetFitConfig, info, progress: bool):
    """Fit shard 0 with a trainable shared decoder (rank 0), save it; every rank loads it (frozen)."""
    from safetensors.torch import load_file, save_file

    from fields3d.triplane import distributed
    from fields3d.triplane.field_batch import BatchedMLP

    path = out / "shared_decoder.safetensors"
    if info.is_main and not path.is_file():
        if dataset_files.shard_records(out, 0) is not None:
            raise InputError("expected the shared decoder next to shard 0, got shard 0 without it", out)
        _, fields = fit_shard(0, shards[0], out, config, info.device, None, True, progress)
        with atomic_path(path) as tmp:
            save_file({k: v.cpu().contiguous() for k, v in fields.decoder_state().items()}, str(tmp))
    distributed.barrier(info)
    state = load_file(str(path))
    c = config.planes
    decoder = BatchedMLP(1, c.channels, c.hidden, c.hidden_layers, c.out_dim, shared=True)
    with torch.no_grad():
        for k in range(len(decoder.weights)):
            decoder.weights[k].copy_(state[f"weight_{k}"])
            decoder.biases[k].copy_(state[f"bias_{k}"])
    return decoder.to(info.device)
