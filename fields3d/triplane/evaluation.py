"""Evaluating tri-plane classifiers / segmenters: scores, a confusion-matrix picture, the run report.

``fields3d triplane eval RUN DATASET`` rebuilds the run's model from ``RUN/config.json`` and
``RUN/checkpoints/last.pt`` and scores it on DATASET's held-out objects (the run's split rule: its
fold, or the dataset's ``test`` split; ``--split all`` for every object).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from fields3d.errors import InputError
from fields3d.io.atomic import write_json


@torch.no_grad()
def predict(model, config, data, indices: list[int], device, batch_size: int = 16) -> dict:
    """Class logits (classify) or per-point part logits on all stored surface points (segment)."""
    model.eval()
    out_logits = []
    for start in range(0, len(indices), batch_size):
        idx = indices[start : start + batch_size]
        planes = data.planes[idx].to(device)
        if config.task == "segment":
            out_logits.append(model(planes, data.points[idx].to(device)).cpu())
        elif config.model == "pointnet":
            out_logits.append(model(data.points[idx].to(device)).cpu())
        else:
            out_logits.append(model(planes).cpu())
    return {"logits": torch.cat(out_logits)}


def evaluate_run_model(model, config, data, indices: list[int], description: dict, device) -> dict:
    """Scores of ``model`` on objects ``indices`` of ``data`` (classes / parts named as in
    ``description``)."""
    from fields3d.metrics.classification import classification_scores, segmentation_scores

    if not indices:
        raise InputError("expected objects to evaluate, got none (check the split)", data.root)
    logits = predict(model, config, data, indices, device)["logits"]
    run_classes = description["classes"]
    if config.task == "classify":
        names = [data.objects[i]["class"] for i in indices]
        unknown = sorted({n for n in names if n not in run_classes})
        if unknown:
            raise InputError(f"expected the run's classes, got objects of other classes {unknown}", data.root)
        true = np.array([run_classes.index(n) for n in names])
        pred = logits.argmax(1).numpy()
        scores = classification_scores(true, pred, run_classes)
        scores["predictions"] = [
            {
                "id": data.objects[i]["id"],
                "source": data.objects[i]["source"],
                "true": run_classes[t],
                "pred": run_classes[p],
            }
            for i, t, p in zip(indices, true.tolist(), pred.tolist(), strict=True)
        ]
        return scores
    class_parts = {c: list(v) for c, v in description["class_parts"].items()}
    true, pred_masked, pred_free, shape_classes = [], [], [], []
    for row, i in enumerate(indices):
        c = data.objects[i]["class"]
        parts = class_parts.get(c)
        if parts is None:
            raise InputError(f"expected the run's classes, got an object of class {c!r}", data.root)
        lg = logits[row]
        mask = torch.full((lg.shape[-1],), float("-inf"))
        mask[parts] = 0.0
        true.append(data.point_labels[i].numpy())
        pred_masked.append((lg + mask).argmax(-1).numpy())
        pred_free.append(lg.argmax(-1).numpy())
        shape_classes.append(c)
    scores = segmentation_scores(true, pred_masked, shape_classes, class_parts)
    free = segmentation_scores(true, pred_free, shape_classes, class_parts)
    scores["instance_miou_unrestricted"] = free["instance_miou"]
    scores["point_accuracy_unrestricted"] = free["point_accuracy"]
    scores["_segmentation_examples"] = [
        (data.points[i].numpy(), p, t)
        for i, p, t in zip(indices[:8], pred_masked[:8], true[:8], strict=False)
    ]
    return scores


def confusion_image(confusion, class_names: list[str], cell: int = 22) -> np.ndarray:
    """Row-normalised confusion matrix (rows = true class) as an (H, W, 3) uint8 picture with counts."""
    from PIL import Image, ImageDraw

    cm = np.asarray(confusion, dtype=np.float64)
    k = len(class_names)
    rows = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    label_w = 8 + 6 * max(len(n) for n in class_names)
    top = label_w
    w, h = max(label_w + k * cell + 10, 420), top + k * cell + 24
    img = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i in range(k):
        draw.text((4, top + i * cell + cell // 2 - 5), class_names[i], fill=(0, 0, 0))
        txt = Image.new("RGB", (label_w, 12), (255, 255, 255))
        ImageDraw.Draw(txt).text((4, 0), class_names[i], fill=(0, 0, 0))
        img.paste(txt.rotate(90, expand=True), (label_w + i * cell + cell // 2 - 6, 0))
        for j in range(k):
            v = rows[i, j]
            color = (
                (int(255 - 200 * v), int(255 - 120 * v), 255)
                if i == j
                else (255, int(255 - 200 * v), int(255 - 200 * v))
            )
            x0, y0 = label_w + j * cell, top + i * cell
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=color, outline=(200, 200, 200))
            if cm[i, j]:
                draw.text((x0 + 3, y0 + cell // 2 - 5), str(int(cm[i, j])), fill=(0, 0, 0))
    draw.text(
        (4, h - 16), "rows: true class, columns: predicted (counts; colour = row share)", fill=(80, 80, 80)
    )
    return np.asarray(img)


def segmentation_preview(points: np.ndarray, labels: np.ndarray, size: int = 160) -> np.ndarray:
    """Surface points coloured by part, seen from the front-right (+y up): (size, size, 3) uint8."""
    palette = np.array(
        [
            [230, 25, 75],
            [60, 180, 75],
            [0, 130, 200],
            [245, 130, 48],
            [145, 30, 180],
            [70, 240, 240],
            [240, 50, 230],
            [210, 245, 60],
            [128, 128, 0],
            [0, 128, 128],
        ]
    )
    a = 0.6
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    q = points @ rot.T
    img = np.full((size, size, 3), 255, np.uint8)
    sc = 0.45 * size / max(np.abs(q).max(), 1e-6)
    u = np.clip((size / 2 + q[:, 0] * sc).astype(int), 0, size - 1)
    v = np.clip((size / 2 - q[:, 1] * sc).astype(int), 0, size - 1)
    order = np.argsort(q[:, 2])
    img[v[order], u[order]] = palette[np.maximum(labels[order], 0) % len(palette)]
    return img


def write_evaluation(out: str | os.PathLike, metrics: dict, description: dict, title: str) -> None:
    """metrics.json, confusion.png (classify) or segmentation.png (segment), report.html in ``out``."""
    from fields3d.io.images import write_image
    from fields3d.io.report import HtmlReport, image_grid

    out = Path(out)
    examples = metrics.pop("_segmentation_examples", None)
    write_json(out / "metrics.json", metrics)
    report = HtmlReport(title)
    summary = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) or v is None}
    report.add_metrics(summary, "Summary")
    images = []
    if "confusion" in metrics:
        write_image(out / "confusion.png", confusion_image(metrics["confusion"], description["classes"]))
        images.append(("confusion matrix", out / "confusion.png"))
        report.add_metrics(metrics["per_class_accuracy"], "Per-class accuracy")
    if "per_class_miou" in metrics:
        report.add_metrics(metrics["per_class_miou"], "Per-class mIoU")
    if examples:
        tiles, names = [], []
        for pts, pred, true in examples:
            tiles += [segmentation_preview(pts, true), segmentation_preview(pts, pred)]
            names += ["truth", "prediction"]
        write_image(out / "segmentation.png", image_grid(tiles, 4, names))
        images.append(("segmentation examples (truth | prediction)", out / "segmentation.png"))
    if images:
        report.add_images("Figures", images)
    hist = metrics.get("history")
    if hist:
        lines = "; ".join(
            f"epoch {h['epoch']}: loss {h['train_loss']:.4f}" for h in hist[:: max(1, len(hist) // 12)]
        )
        report.add_text(lines, "Training loss")
    report.write(out / "report.html")


def load_run(run: str | os.PathLike, device="cpu"):
    """(model, TrainConfig, description) of a run folder, weights from checkpoints/last.pt."""
    from fields3d.triplane.training import build_model, config_from_dict

    run = Path(run)
    cfg_path, ckpt = run / "config.json", run / "checkpoints" / "last.pt"
    if not cfg_path.is_file() or not ckpt.is_file():
        raise InputError("expected a training run folder with config.json and checkpoints/last.pt", run)
    description = json.loads(cfg_path.read_text(encoding="utf-8"))
    config = config_from_dict(description["train"])
    model = build_model(
        config, description["num_outputs"], description["channels"], description["resolution"]
    )
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config, description


def evaluate_run(
    run: str | os.PathLike,
    dataset: str | os.PathLike,
    out: str | os.PathLike | None = None,
    split: str = "test",
) -> dict:
    """Score a trained run on a dataset; writes metrics.json, the confusion matrix and report.html to
    ``out`` (default RUN/eval)."""
    from fields3d.triplane.task_data import load_task_data

    model, config, description = load_run(run)
    data = load_task_data(dataset)
    fc = data.manifest["field_config"]
    if (fc["channels"], fc["resolution"]) != (description["channels"], description["resolution"]):
        raise InputError(
            f"expected tri-planes of {description['channels']} channels x {description['resolution']}^2 "
            "like the run's, "
            f"got {fc['channels']} x {fc['resolution']}^2",
            dataset,
        )
    if split == "all":
        indices = data.split_indices("all")
    else:
        indices = data.split_indices(split, config.fold, config.folds)
    metrics = evaluate_run_model(model, config, data, indices, description, torch.device("cpu"))
    metrics["split"] = (
        split if config.folds == 0 or split == "all" else f"{split} of fold {config.fold}/{config.folds}"
    )
    metrics["dataset"] = str(Path(dataset).resolve())
    out = Path(out) if out is not None else Path(run) / "eval"
    write_evaluation(out, metrics, description, title=f"tri-plane {config.task} evaluation")
    return metrics
