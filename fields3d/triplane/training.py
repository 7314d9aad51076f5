"""``fields3d triplane train``: classifiers and segmenters on a tri-plane dataset, DDP through torchrun.

A run folder holds ``config.json`` (everything needed to rebuild the model), ``checkpoints/last.pt``
(after every epoch: model, optimiser, epoch, history, random state: a rerun resumes there),
``metrics.json``, ``confusion.png`` and ``report.html`` (written by the final evaluation).

Under ``torchrun --nproc_per_node N`` every rank loads the dataset, a ``DistributedSampler`` deals the
training objects, ``DistributedDataParallel`` averages gradients (gloo on CPU, nccl on GPUs); rank 0
evaluates, checkpoints and writes the run folder.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from fields3d.errors import InputError
from fields3d.io.atomic import atomic_path, write_json
from fields3d.triplane import augment, distributed
from fields3d.triplane.classifier import ChannelTransformerConfig, TriplaneCNNConfig
from fields3d.triplane.segmenter import SegmenterConfig

TASKS = ("classify", "segment")
MODELS = ("transformer", "cnn", "pointnet")


@dataclass
class TrainConfig:
    """A training run on a tri-plane dataset."""

    task: str = "classify"
    """classify (a class per shape) | segment (a part per surface point)."""
    model: str = "transformer"
    """transformer (channel tokens, permutation invariant) | cnn (baseline) | pointnet (baseline on the
    stored surface points of the same shapes; classify only)."""
    epochs: int = 60
    batch_size: int = 32
    """Objects per step (per process under torchrun)."""
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_epochs: int = 2
    symmetries: str = "none"
    """Random cube symmetries as augmentation: none | yaw (keep +y up) | all (48)."""
    channel_permutation: bool = True
    """Randomly permute channels (a no-op for the invariant transformer, so skipped there)."""
    noise: float = 0.0
    """Gaussian noise on the standardised planes."""
    points_per_shape: int = 1024
    """Surface points per shape per step (segment, pointnet)."""
    fold: int = -1
    """With folds > 0: the held-out fold (leave groups out per class); else the dataset's splits."""
    folds: int = 0
    seed: int = 0
    eval_every: int = 10
    """Epochs between test evaluations printed during training (0: only at the end)."""
    transformer: ChannelTransformerConfig = field(default_factory=ChannelTransformerConfig)
    cnn: TriplaneCNNConfig = field(default_factory=TriplaneCNNConfig)
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)

    def validate(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"expected --task in {TASKS}, got {self.task!r}")
        if self.model not in MODELS:
            raise InputError(f"expected --model in {MODELS}, got {self.model!r}")
        if self.task == "segment" and self.model != "transformer":
            raise InputError(f"expected --model transformer for segmentation, got {self.model!r}")
        if self.symmetries not in augment.SYMMETRIES:
            raise InputError(f"expected --symmetries in {augment.SYMMETRIES}, got {self.symmetries!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.points_per_shape < 1:
            raise InputError(
                "expected epochs, batch_size, points_per_shape >= 1, "
                f"got {self.epochs}, {self.batch_size}, {self.points_per_shape}"
            )
        if self.folds > 0 and not 0 <= self.fold < self.folds:
            raise InputError(f"expected --fold in [0, {self.folds}), got {self.fold}")


def config_from_dict(d: dict) -> TrainConfig:
    d = dict(d)
    d["transformer"] = ChannelTransformerConfig(**d["transformer"])
    d["cnn"] = TriplaneCNNConfig(**d["cnn"])
    d["segmenter"] = SegmenterConfig(**d["segmenter"])
    return TrainConfig(**d)


def build_model(config: TrainConfig, num_outputs: int, channels: int, resolution: int) -> torch.nn.Module:
    from fields3d.triplane.classifier import ChannelTokenTransformer, TriplaneCNN
    from fields3d.triplane.pointnet import PointNet
    from fields3d.triplane.segmenter import TriplaneSegmenter

    if config.task == "segment":
        return TriplaneSegmenter(num_outputs, resolution, config.transformer, config.segmenter)
    if config.model == "transformer":
        return ChannelTokenTransformer(num_outputs, resolution, config.transformer)
    if config.model == "cnn":
        return TriplaneCNN(num_outputs, channels, resolution, config.cnn)
    return PointNet(num_outputs)


def num_outputs(config: TrainConfig, manifest: dict) -> int:
    if config.task == "segment":
        if not manifest["parts"]:
            raise InputError(
                "expected part labels in the dataset for --task segment "
                "(fit with --labels and seg files), got none"
            )
        return max(manifest["parts"]) + 1
    if not manifest["classes"]:
        raise InputError("expected classes in the dataset for --task classify (fit with --labels), got none")
    return len(manifest["classes"])


def sample_points(
    points: torch.Tensor, labels: torch.Tensor, count: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` random points (without replacement when possible) of each shape's (B, P, 3) points."""
    b, p = labels.shape
    if count >= p:
        return points, labels
    pick = torch.argsort(torch.rand(b, p, generator=generator), dim=1)[:, :count]
    return points.gather(1, pick[..., None].expand(-1, -1, 3)), labels.gather(1, pick)


def forward_batch(model, config: TrainConfig, planes, points, point_labels, labels, generator, train: bool):
    """Loss and logits of one batch (augmented when ``train``)."""
    if train:
        planes, points = augment.random_symmetry(planes, points, config.symmetries, generator)
        if config.channel_permutation and config.model == "cnn":
            planes = augment.permute_channels(planes, generator)
    if config.task == "segment":
        if train and config.noise > 0:
            planes = planes + config.noise * model_std(model) * torch.randn(planes.shape, generator=generator)
        logits = model(planes, points)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), point_labels.reshape(-1), ignore_index=-1
        )
        return loss, logits
    if config.model == "pointnet":
        if train:
            points = points + 0.005 * torch.randn(points.shape, generator=generator)
        logits = model(points)
    else:
        if train and config.noise > 0:
            planes = planes + config.noise * model_std(model) * torch.randn(planes.shape, generator=generator)
        logits = model(planes)
    return F.cross_entropy(logits, labels), logits


def model_std(model) -> float:
    m = model.module if hasattr(model, "module") else model
    return float(m.standardize.std) if hasattr(m, "standardize") else 1.0


def _lr(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(total - warmup, 1)
    return base * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def _device_batch(data, idx, config, generator, device):
    planes = data.planes[idx]
    points, point_labels = sample_points(
        data.points[idx], data.point_labels[idx], config.points_per_shape, generator
    )
    return planes.to(device), points.to(device), point_labels.to(device), data.labels[idx].to(device)


def _run_description(dataset: Path, config: TrainConfig, data, outputs: int, mean: float, std: float) -> dict:
    fc = data.manifest["field_config"]
    return {
        "dataset": str(Path(dataset).resolve()),
        "train": asdict(config),
        "classes": data.classes,
        "parts": data.manifest["parts"],
        "class_parts": data.manifest["class_parts"],
        "num_outputs": outputs,
        "channels": fc["channels"],
        "resolution": fc["resolution"],
        "plane_mean": mean,
        "plane_std": std,
    }


def train(
    dataset: str | os.PathLike,
    out: str | os.PathLike,
    config: TrainConfig,
    device: str = "auto",
    progress: bool = True,
) -> dict | None:
    """Train (or resume) a run; evaluate it on the held-out objects at the end. Returns the final metrics
    on rank 0 (None on the others)."""
    from fields3d.triplane.evaluation import evaluate_run_model, write_evaluation
    from fields3d.triplane.task_data import load_task_data

    config.validate()
    info = distributed.init(device)
    torch.manual_seed(config.seed)
    out = Path(out)
    data = load_task_data(dataset)
    train_idx = data.split_indices("train", config.fold, config.folds)
    test_idx = data.split_indices("test", config.fold, config.folds)
    if not train_idx:
        raise InputError(
            "expected training objects in the dataset, got none (check the splits / --folds)", dataset
        )
    if config.task == "classify" and bool((data.labels[train_idx] < 0).any()):
        raise InputError("expected a class for every training object, got objects without one", dataset)
    outputs = num_outputs(config, data.manifest)
    fc = data.manifest["field_config"]
    model = build_model(config, outputs, fc["channels"], fc["resolution"])
    train_planes = data.planes[train_idx]
    mean, std = float(train_planes.mean()), float(train_planes.std().clamp_min(1e-8))
    if hasattr(model, "standardize"):
        model.standardize.mean.fill_(mean)
        model.standardize.std.fill_(std)
    model = model.to(info.device)
    description = _run_description(Path(dataset), config, data, outputs, mean, std)
    ckpt_path = out / "checkpoints" / "last.pt"
    if (out / "config.json").is_file():
        old = json.loads((out / "config.json").read_text(encoding="utf-8"))
        if old != json.loads(json.dumps(description)):
            raise InputError(
                "expected the settings of the run already in this folder (to resume), "
                "got different ones; use a new --out",
                out,
            )
    elif info.is_main:
        write_json(out / "config.json", description)
    distributed.barrier(info)

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start_epoch, history = 0, []
    generator = torch.Generator().manual_seed(config.seed * 1009 + info.rank)
    if ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, history = state["epoch"], state["history"]
        generator.set_state(
            state["generators"][info.rank] if info.rank < len(state["generators"]) else state["generators"][0]
        )
    ddp_model = model
    if info.distributed:
        from torch.nn.parallel import DistributedDataParallel

        ddp_model = DistributedDataParallel(
            model, device_ids=[info.local_rank] if info.device.type == "cuda" else None
        )
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(
        train_idx,
        num_replicas=info.world_size,
        rank=info.rank,
        shuffle=True,
        seed=config.seed,
        drop_last=False,
    )
    steps_per_epoch = max(1, math.ceil(len(sampler) / config.batch_size))
    total_steps = steps_per_epoch * config.epochs
    warmup = steps_per_epoch * config.warmup_epochs
    bar = None
    if progress and info.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=config.epochs,
            initial=start_epoch,
            desc=f"train {config.task} ({config.model})",
            unit="epoch",
        )
    t0 = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    for epoch in range(start_epoch, config.epochs):
        sampler.set_epoch(epoch)
        order = [train_idx[i] for i in sampler]
        ddp_model.train()
        loss_sum = torch.zeros(2, dtype=torch.float64)
        batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        if len(batches) > 1 and len(batches[-1]) == 1:  # batch norm needs two objects: fold a lone one in
            lone = batches.pop()
            batches[-1] = batches[-1] + lone
        for s, idx in enumerate(batches):
            step = epoch * steps_per_epoch + s
            for g in optimizer.param_groups:
                g["lr"] = _lr(step, total_steps, warmup, config.lr)
            planes, points, point_labels, labels = _device_batch(data, idx, config, generator, info.device)
            loss, _ = forward_batch(
                ddp_model, config, planes, points, point_labels, labels, generator, train=True
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += torch.tensor([float(loss.detach()) * len(idx), len(idx)], dtype=torch.float64)
        distributed.all_reduce_sum(loss_sum, info)
        entry = {
            "epoch": epoch + 1,
            "train_loss": float(loss_sum[0] / loss_sum[1].clamp_min(1)),
            "seconds": time.perf_counter() - t0,
        }
        if info.is_main and test_idx and config.eval_every and ((epoch + 1) % config.eval_every == 0):
            scores = evaluate_run_model(model, config, data, test_idx, description, info.device)
            entry["test"] = {k: v for k, v in scores.items() if isinstance(v, (int, float)) or v is None}
        history.append(entry)
        gens = [torch.zeros(0, dtype=torch.uint8)] * info.world_size
        if info.distributed:
            import torch.distributed as dist

            gathered = [None] * info.world_size
            dist.all_gather_object(gathered, generator.get_state())
            gens = gathered
        else:
            gens = [generator.get_state()]
        if info.is_main:
            with atomic_path(ckpt_path) as tmp:
                torch.save(
                    {
                        "epoch": epoch + 1,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "history": history,
                        "generators": gens,
                    },
                    tmp,
                )
        if bar is not None:
            bar.update(1)
            post = {"loss": f"{entry['train_loss']:.4f}"}
            if "test" in entry:
                key = "accuracy" if config.task == "classify" else "instance_miou"
                post["test"] = f"{entry['test'].get(key, float('nan')):.3f}"
            bar.set_postfix(post)
        distributed.barrier(info)
    if bar is not None:
        bar.close()
    metrics = None
    if info.is_main:
        model.eval()
        split_name = f"fold {config.fold} of {config.folds}" if config.folds > 0 else "test"
        metrics = {
            "train_seconds": history[-1]["seconds"] if history else 0.0,
            "processes": info.world_size,
            "train_objects": len(train_idx),
            "history": history,
        }
        if test_idx:
            scores = evaluate_run_model(model, config, data, test_idx, description, info.device)
            metrics.update(scores)
        metrics["split"] = split_name
        write_evaluation(out, metrics, description, title=f"tri-plane {config.task} ({config.model})")
    distributed.barrier(info)
    return metrics
