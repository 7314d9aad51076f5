"""Classification and part-segmentation scores: accuracy, per-class accuracy, confusion matrix, IoU / mIoU."""

from __future__ import annotations

import numpy as np


def confusion_matrix(true: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts, rows = true class, columns = predicted class."""
    true, pred = np.asarray(true, np.int64).reshape(-1), np.asarray(pred, np.int64).reshape(-1)
    if true.shape != pred.shape:
        raise ValueError(
            f"expected equal numbers of true and predicted labels, got {true.shape} and {pred.shape}"
        )
    if true.size and (min(true.min(), pred.min()) < 0 or max(true.max(), pred.max()) >= num_classes):
        raise ValueError(
            f"expected labels in [0, {num_classes}), "
            f"got [{min(true.min(), pred.min())}, {max(true.max(), pred.max())}]"
        )
    return np.bincount(true * num_classes + pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def classification_scores(true: np.ndarray, pred: np.ndarray, class_names: list[str]) -> dict:
    """Overall accuracy, mean and per-class accuracy (recall; NaN-free: classes without samples are left
    out of the mean and reported as None) and the confusion matrix (list of rows)."""
    k = len(class_names)
    cm = confusion_matrix(true, pred, k)
    support = cm.sum(1)
    per_class = {
        name: (float(cm[i, i] / support[i]) if support[i] else None) for i, name in enumerate(class_names)
    }
    present = [v for v in per_class.values() if v is not None]
    return {
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "mean_class_accuracy": float(np.mean(present)) if present else None,
        "per_class_accuracy": per_class,
        "support": {name: int(support[i]) for i, name in enumerate(class_names)},
        "confusion": cm.tolist(),
        "samples": int(cm.sum()),
    }


def part_iou(true: np.ndarray, pred: np.ndarray, parts: list[int]) -> float:
    """Mean IoU over ``parts`` of one shape's (N,) point labels (ShapeNet-Part rule: a part absent from
    both truth and prediction scores 1)."""
    true, pred = np.asarray(true).reshape(-1), np.asarray(pred).reshape(-1)
    ious = []
    for p in parts:
        t, q = true == p, pred == p
        union = np.logical_or(t, q).sum()
        ious.append(1.0 if union == 0 else float(np.logical_and(t, q).sum() / union))
    return float(np.mean(ious)) if ious else float("nan")


def segmentation_scores(
    true: list[np.ndarray],
    pred: list[np.ndarray],
    shape_classes: list[str],
    class_parts: dict[str, list[int]],
) -> dict:
    """Instance mIoU (mean over shapes of the shape's part IoU over its class's parts), class mIoU (mean over
    classes of their shapes' mean), per-class mIoU and point accuracy. Points labelled -1 are ignored."""
    if not (len(true) == len(pred) == len(shape_classes)):
        raise ValueError(
            "expected one label array pair and class per shape, "
            f"got {len(true)}, {len(pred)}, {len(shape_classes)}"
        )
    per_shape, by_class = [], {}
    correct = total = 0
    for t, p, c in zip(true, pred, shape_classes, strict=True):
        t, p = np.asarray(t).reshape(-1), np.asarray(p).reshape(-1)
        keep = t >= 0
        t, p = t[keep], p[keep]
        correct += int((t == p).sum())
        total += int(t.size)
        iou = part_iou(t, p, class_parts[c])
        per_shape.append(iou)
        by_class.setdefault(c, []).append(iou)
    per_class = {c: float(np.mean(v)) for c, v in sorted(by_class.items())}
    return {
        "instance_miou": float(np.mean(per_shape)) if per_shape else None,
        "class_miou": float(np.mean(list(per_class.values()))) if per_class else None,
        "per_class_miou": per_class,
        "point_accuracy": correct / total if total else None,
        "shapes": len(per_shape),
    }
