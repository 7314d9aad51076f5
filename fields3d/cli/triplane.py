"""``fields3d triplane fit|train|eval``: tri-plane datasets, classifiers, segmenters (Cardace et al. 2024)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro


@dataclass
class Fit:
    """Fit one tri-plane field per shape (meshes or point clouds; with --field radiance, posed captures such
    as `fields3d synth` writes) and write a dataset folder: shards (safetensors) + manifest.json (source,
    class, field, fit quality: Chamfer of the decoded mesh to its source, IoU). Many objects are fitted at
    once; the work is resumable (rerun the same command) and spreads over processes under torchrun:
    `torchrun --nproc_per_node 2 $(which fields3d) triplane fit ...`."""

    meshes: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="MESHES")]]
    """A shape file or a folder searched recursively for them (captures: a folder of capture folders)."""
    out: Path
    """Dataset folder (created; an unfinished fit there with the same settings is resumed)."""
    field: Literal["sdf", "udf", "occupancy", "radiance"] = "sdf"
    """sdf (closed meshes), udf (open meshes, point clouds), occupancy (closed meshes), radiance
    (captures)."""
    labels: Path | None = None
    """CSV with columns file, class[, seg, split, group] (see fields3d.triplane.sources)."""
    decoder: Literal["per-object", "shared"] = "per-object"
    """A decoder MLP per object (Cardace et al.) or one shared by all (fitted with the first shard, then
    frozen)."""
    channels: int = 16
    """Channels per plane."""
    resolution: int = 32
    """Plane resolution."""
    steps: int = 600
    """Optimisation steps per batch of objects."""
    points_per_step: int = 2048
    """Query points (radiance: rays) per object per step."""
    batch: int = 32
    """Objects fitted at once (one shard each)."""
    copies: int = 1
    """Fitted copies per shape: the first as given, the others randomly rotated and scaled (augmentation)."""
    rotate: Literal["none", "x", "y", "z", "so3"] = "so3"
    """Rotation of the extra copies."""
    scale_min: float = 0.7
    """Smallest random scale of the extra copies."""
    scale_max: float = 1.0
    """Largest random scale of the extra copies."""
    test_fraction: float = 0.2
    """Share of each class put in the test split when the CSV has no split column."""
    quality_resolution: int = 64
    """Marching-cubes resolution of the decoded meshes for the fit-quality check."""
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def config(self):
        from fields3d.triplane.field_batch import TriplaneFieldConfig
        from fields3d.triplane.fit_dataset import DatasetFitConfig
        from fields3d.triplane.fit_quality import QualityConfig
        from fields3d.triplane.fitting import FitConfig

        return DatasetFitConfig(
            field=self.field,
            planes=TriplaneFieldConfig(
                channels=self.channels,
                resolution=self.resolution,
                decoder=self.decoder,
                out_dim=4 if self.field == "radiance" else 1,
            ),
            fit=FitConfig(steps=self.steps, points_per_step=self.points_per_step, seed=self.seed),
            quality=QualityConfig(resolution=self.quality_resolution),
            copies=self.copies,
            rotate=self.rotate if self.copies > 1 else "none",
            scale_min=self.scale_min if self.copies > 1 else 1.0,
            scale_max=self.scale_max if self.copies > 1 else 1.0,
            shard_size=self.batch,
            test_fraction=self.test_fraction,
            seed=self.seed,
        )

    def run(self) -> None:
        from fields3d.triplane.fit_dataset import fit_dataset
        from fields3d.triplane.sources import list_sources

        config = self.config()
        if self.field == "radiance":
            from fields3d.triplane.radiance import fit_radiance_dataset, list_captures

            manifest = fit_radiance_dataset(
                list_captures(self.meshes, self.labels), self.out, config, self.device
            )
        else:
            manifest = fit_dataset(list_sources(self.meshes, self.labels), self.out, config, self.device)
        if manifest is not None:
            print_fit_summary(self.out, manifest)


def print_fit_summary(out: Path, manifest: dict) -> None:
    s = manifest["summary"]

    def fmt(v, spec=".4g"):
        return "n/a" if v is None else format(v, spec)

    print(
        f"fitted {s['objects']} tri-planes ({manifest['field']}, {len(manifest['classes'])} classes) to {out}"
    )
    print(f"  manifest     {out / 'manifest.json'}")
    print(f"  shards       {out / 'shards'}/")
    print(
        f"  median Chamfer {fmt(s.get('median_chamfer'))} (normalised units, box [-1, 1]^3), "
        f"median IoU {fmt(s.get('median_iou'))}, median PSNR {fmt(s.get('median_psnr'))}, "
        f"empty decodes {s.get('empty_decodes', 0)}"
    )
    print(
        f"  fitting      {fmt(s.get('shapes_per_minute_fit_per_process'), '.1f')} shapes/min per process "
        f"({fmt(s.get('shapes_per_minute_total_per_process'), '.1f')} with preparation and quality checks)"
    )


@dataclass
class Train:
    """Train a tri-plane classifier (channel-token transformer, or the CNN / PointNet baselines) or segmenter
    on a dataset from `fields3d triplane fit`; writes RUN/config.json, checkpoints/, metrics.json,
    confusion.png and report.html. Rerunning resumes; under torchrun it trains with DDP."""

    dataset: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="DATASET")]]
    """Tri-plane dataset folder."""
    out: Path
    """Run folder."""
    task: Literal["classify", "segment"] = "classify"
    """classify shapes or segment their surface points into parts."""
    model: Literal["transformer", "cnn", "pointnet"] = "transformer"
    """Network (segment: transformer)."""
    epochs: int = 60
    batch_size: int = 32
    lr: float = 5e-4
    symmetries: Literal["none", "yaw", "all"] = "none"
    """Augment with random cube symmetries (yaw: keep +y up; all: 48, for arbitrarily rotated data)."""
    noise: float = 0.0
    """Augment with Gaussian noise on the standardised planes."""
    points_per_shape: int = 1024
    """Surface points per shape per step (segment, pointnet)."""
    folds: int = 0
    """Leave-groups-out cross-validation: groups of each class dealt into this many folds (0: the
    dataset's splits)."""
    fold: int = -1
    """The held-out fold (with --folds)."""
    eval_every: int = 10
    """Epochs between test-set evaluations shown during training."""
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def run(self) -> None:
        from fields3d.triplane.training import TrainConfig, train

        config = TrainConfig(
            task=self.task,
            model=self.model,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            symmetries=self.symmetries,
            noise=self.noise,
            points_per_shape=self.points_per_shape,
            fold=self.fold,
            folds=self.folds,
            eval_every=self.eval_every,
            seed=self.seed,
        )
        metrics = train(self.dataset, self.out, config, self.device)
        if metrics is not None:
            print_metrics(self.out, metrics)


def print_metrics(out: Path, metrics: dict) -> None:
    if "accuracy" in metrics:
        print(
            f"accuracy {metrics['accuracy']:.4f}, mean class accuracy {metrics['mean_class_accuracy']:.4f} "
            f"on {metrics['samples']} objects ({metrics.get('split', '')})"
        )
    if "instance_miou" in metrics:
        print(
            f"instance mIoU {metrics['instance_miou']:.4f}, class mIoU {metrics['class_miou']:.4f}, "
            f"point accuracy {metrics['point_accuracy']:.4f} on {metrics['shapes']} shapes "
            f"({metrics.get('split', '')})"
        )
    print(f"  metrics      {out / 'metrics.json'}")
    if (out / "confusion.png").is_file():
        print(f"  confusion    {out / 'confusion.png'}")
    if (out / "segmentation.png").is_file():
        print(f"  examples     {out / 'segmentation.png'}")
    print(f"  report       {out / 'report.html'}")


@dataclass
class Eval:
    """Score a trained run on a tri-plane dataset (accuracy, per-class accuracy, confusion matrix; mIoU for
    segmentation); writes metrics.json, confusion.png and report.html to --out (default RUN/eval)."""

    run_dir: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="RUN")]]
    """Run folder from `fields3d triplane train`."""
    dataset: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="DATASET")]]
    """Tri-plane dataset folder (same tri-plane size and classes as the run's)."""
    split: Literal["test", "train", "all"] = "test"
    """Objects to score: the run's held-out split (its fold when it used --folds), the training split,
    or all."""
    out: Path | None = None
    """Output folder (default RUN/eval)."""

    def run(self) -> None:
        from fields3d.triplane.evaluation import evaluate_run

        out = self.out if self.out is not None else self.run_dir / "eval"
        metrics = evaluate_run(self.run_dir, self.dataset, out, self.split)
        print_metrics(out, metrics)


@dataclass
class Triplane:
    """Tri-plane neural fields as data: fit datasets, train and evaluate classifiers and segmenters."""

    cmd: tyro.conf.OmitSubcommandPrefixes[
        Annotated[Fit, tyro.conf.subcommand("fit")]
        | Annotated[Train, tyro.conf.subcommand("train")]
        | Annotated[Eval, tyro.conf.subcommand("eval")]
    ]

    def run(self) -> None:
        self.cmd.run()
