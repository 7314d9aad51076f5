"""Acceptance run on the procedural part-labelled shape set: fit, classify, segment; prints a table.

    python eval/bench_triplane_procedural.py --shapes DIR --work WORK [--limit N] [--points 1024]
        [--epochs 60] [--seg-epochs 40] [--reuse OTHER_WORK/dataset] [--json out.json]

DIR is the output of datasets/procedural_shapes/make_shapes.py (meshes/, seg/, labels.csv; rows are
class-interleaved, so ``--limit N`` takes a class-balanced prefix for a reduced run). Steps:
1. `fields3d triplane fit` of the shapes (SDF, 3 x 16 x 32 x 32, per-object decoders, 600 steps),
   resumable, into WORK/dataset. ``--reuse`` copies finished shards of an earlier run over a prefix
   of the same list (shards are identical by construction: object seeds depend on list positions).
2. Classification with the channel-token transformer and with the CNN baseline; segmentation with the
   tri-plane segmenter (per-point part labels, mIoU over each class's parts), on the set's train/test
   split (every 5th shape of a class is a test shape).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from pathlib import Path


def prefix_csv(labels: Path, limit: int | None, out: Path) -> Path:
    rows = list(csv.DictReader(open(labels, newline="", encoding="utf-8")))
    rows = rows if limit is None else rows[:limit]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        for r in rows:
            r = dict(r)
            for key in ("file", "seg"):
                r[key] = str((labels.parent / r[key]).resolve())
            w.writerow(r)
    return out


def reuse_shards(src: Path, dst: Path, sources, config) -> int:
    """Copy src's finished shards whose objects are the same sources at the same positions (refuses a
    folder fitted with other settings: its shards would silently differ from this run's)."""
    from dataclasses import asdict

    from fields3d.errors import InputError
    from fields3d.triplane import dataset_files
    from fields3d.triplane.fit_dataset import JOB_FILE

    job = src / JOB_FILE
    mine_config = json.loads(json.dumps(asdict(config), default=str))
    if not job.is_file() or json.loads(job.read_text(encoding="utf-8"))["config"] != mine_config:
        raise InputError("expected a dataset fitted with this run's settings to reuse, got other ones", src)
    shard_size = config.shard_size
    copied = 0
    k = 0
    while True:
        recs = dataset_files.shard_records(src, k)
        if recs is None:
            break
        mine = [str(s.path) for s in sources[k * shard_size : (k + 1) * shard_size]]
        if [r["source"] for r in recs] == mine and dataset_files.shard_records(dst, k) is None:
            (dst / "shards").mkdir(parents=True, exist_ok=True)
            name = dataset_files.shard_name(k)
            shutil.copy2(src / name, dst / name)
            shutil.copy2((src / name).with_suffix(".json"), (dst / name).with_suffix(".json"))
            copied += 1
        k += 1
    return copied


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", type=Path, required=True)
    ap.add_argument("--labels", type=Path, default=None, help="default: SHAPES/labels.csv")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=None, help="fit only the first N shapes of the list")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--points", type=int, default=1024, help="query points per object per step")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seg-epochs", type=int, default=40)
    ap.add_argument("--models", nargs="*", default=["transformer", "cnn"])
    ap.add_argument("--no-segment", action="store_true")
    ap.add_argument(
        "--reuse", type=Path, default=None, help="a dataset folder of an earlier run over a prefix"
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from fields3d.triplane.fit_dataset import DatasetFitConfig, fit_dataset
    from fields3d.triplane.fitting import FitConfig
    from fields3d.triplane.sources import list_sources
    from fields3d.triplane.training import TrainConfig, train

    labels = prefix_csv(args.labels or args.shapes / "labels.csv", args.limit, args.work / "labels.csv")
    sources = list_sources(args.shapes / "meshes", labels)
    dataset = args.work / "dataset"
    config = DatasetFitConfig(
        fit=FitConfig(steps=args.steps, points_per_step=args.points), shard_size=args.batch
    )
    if args.reuse is not None:
        print(f"reused {reuse_shards(args.reuse, dataset, sources, config)} shards from {args.reuse}")
    t0 = time.perf_counter()
    manifest = fit_dataset(sources, dataset, config, device=args.device)
    fit_wall = time.perf_counter() - t0
    results = []
    for model in args.models:
        cfg = TrainConfig(model=model, epochs=args.epochs, symmetries="none", eval_every=10)
        m = train(dataset, args.work / f"classify_{model}", cfg, device=args.device)
        results.append(
            {
                "task": "classify",
                "model": model,
                "accuracy": m["accuracy"],
                "mean_class_accuracy": m["mean_class_accuracy"],
                "test": m["samples"],
                "train": m["train_objects"],
                "minutes": m["train_seconds"] / 60,
            }
        )
    if not args.no_segment:
        cfg = TrainConfig(
            task="segment", epochs=args.seg_epochs, points_per_shape=512, batch_size=16, eval_every=10
        )
        m = train(dataset, args.work / "segment_transformer", cfg, device=args.device)
        results.append(
            {
                "task": "segment",
                "model": "transformer",
                "instance_miou": m["instance_miou"],
                "class_miou": m["class_miou"],
                "point_accuracy": m["point_accuracy"],
                "test": m["shapes"],
                "train": m["train_objects"],
                "minutes": m["train_seconds"] / 60,
            }
        )
    s = manifest["summary"]
    print()
    print(
        f"procedural set: {s['objects']} shapes, {len(manifest['classes'])} classes, "
        f"{len(manifest['parts'])} parts; "
        f"fit {args.steps} steps x {args.points} points: median Chamfer {s['median_chamfer']:.4f}, "
        f"median IoU {s['median_iou']:.4f}, empty decodes {s['empty_decodes']}, "
        f"{s['shapes_per_minute_fit_per_process']:.1f} shapes/min fit "
        f"({s['shapes_per_minute_total_per_process']:.1f} "
        f"with preparation + quality; wall {fit_wall / 60:.1f} min this call)"
    )
    print(f"{'task':<9} {'model':<12} {'score':<28} {'test':>5} {'train':>5} {'min':>6}")
    for r in results:
        if r["task"] == "classify":
            score = f"acc {r['accuracy']:.3f} / class {r['mean_class_accuracy']:.3f}"
        else:
            score = f"mIoU {r['instance_miou']:.3f} / class {r['class_miou']:.3f}"
        print(
            f"{r['task']:<9} {r['model']:<12} {score:<28} {r['test']:>5} {r['train']:>5} {r['minutes']:>6.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"fit_summary": s, "results": results}, indent=2))


if __name__ == "__main__":
    main()
