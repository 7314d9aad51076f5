"""A tri-plane dataset in memory for training and evaluation, and its train/test splits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from fields3d.errors import InputError
from fields3d.triplane import dataset_files


@dataclass
class TaskData:
    """Every object of a dataset: ``planes`` (N, 3, C, R, R) float32, ``labels`` (N,) int64 class index
    (-1 none), ``points`` (N, P, 3) float32 labelled surface points, ``point_labels`` (N, P) int64 part ids
    (-1 none), and the manifest."""

    root: Path
    manifest: dict
    planes: torch.Tensor
    labels: torch.Tensor
    points: torch.Tensor
    point_labels: torch.Tensor

    @property
    def classes(self) -> list[str]:
        return list(self.manifest["classes"])

    @property
    def objects(self) -> list[dict]:
        return self.manifest["objects"]

    def split_indices(self, split: str, fold: int = -1, folds: int = 0) -> list[int]:
        """Objects of ``split`` ("train" / "test" / "all"). With ``folds`` > 0, the split is a
        leave-groups-out fold instead: within each class the sorted groups are dealt round-robin into
        ``folds`` folds; fold ``fold`` is "test", the others "train" (copies of a group stay together)."""
        if split not in ("train", "test", "all"):
            raise ValueError(f"expected split train | test | all, got {split!r}")
        if split == "all":
            return list(range(len(self.objects)))
        if folds > 0:
            if not 0 <= fold < folds:
                raise ValueError(f"expected fold in [0, {folds}), got {fold}")
            fold_of = {}
            by_class: dict = {}
            for o in self.objects:
                by_class.setdefault(o["class"], set()).add(o["group"])
            for groups in by_class.values():
                for j, g in enumerate(sorted(groups)):
                    fold_of[g] = j % folds
            want_test = split == "test"
            return [i for i, o in enumerate(self.objects) if (fold_of[o["group"]] == fold) == want_test]
        return [i for i, o in enumerate(self.objects) if o["split"] == split]


def load_task_data(root: str | os.PathLike) -> TaskData:
    """Load every object's planes, class and labelled surface points."""
    root = Path(root)
    manifest = dataset_files.read_manifest(root)
    if not manifest["objects"]:
        raise InputError("expected objects in the dataset, got none", root)
    t = dataset_files.load_tensors(root, manifest, ("planes", "surface_points", "surface_labels"))
    labels = torch.tensor([o["label"] for o in manifest["objects"]], dtype=torch.int64)
    return TaskData(
        root, manifest, t["planes"].float(), labels, t["surface_points"].float(), t["surface_labels"].long()
    )
