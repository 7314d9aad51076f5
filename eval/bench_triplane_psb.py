"""PSB subset (19 classes x 3 closed meshes): tri-plane transformer vs PointNet, one shape per class out.

    python eval/bench_triplane_psb.py --psb ../shared/data/psb_seg_benchmark_subset --work DIR \
        [--copies 8] [--steps 600] [--epochs 150] [--points 1024] [--json out.json]

1. Fits SDF tri-planes (3 x 16 x 32 x 32, per-object decoders, 600 steps) of every mesh and of
   ``copies - 1`` randomly rotated (SO(3)) and scaled (0.7..1) copies (`fields3d triplane fit ...
   --copies K`); resumable, the dataset lands in DIR/dataset.
2. Three folds: fold k holds out the k-th model (by id) of each class with all its copies; the
   channel-token transformer (on the tri-planes) and PointNet (on 2,048 surface points sampled from the
   same meshes / copies) train on the other two models per class with the same augmentation (random cube
   symmetries) and are scored on every copy of the held-out models.
3. Prints per-fold and mean accuracies, and the fit quality. The per-mesh segment ids of the benchmark
   are not used (they are not consistent across meshes; see datasets/psb/README.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--psb", type=Path, required=True, help="psb_seg_benchmark_subset folder")
    ap.add_argument("--work", type=Path, required=True, help="working folder (dataset, runs)")
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument(
        "--points", type=int, default=1024, help="surface points per shape per step (PointNet; of 2,048)"
    )
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--models", nargs="*", default=["transformer", "pointnet"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from fields3d.triplane.fit_dataset import DatasetFitConfig, fit_dataset
    from fields3d.triplane.fitting import FitConfig
    from fields3d.triplane.sources import list_sources
    from fields3d.triplane.training import TrainConfig, train

    dataset = args.work / "dataset"
    t0 = time.perf_counter()
    config = DatasetFitConfig(
        field="sdf",
        fit=FitConfig(steps=args.steps),
        copies=args.copies,
        rotate="so3",
        scale_min=0.7,
        scale_max=1.0,
    )
    sources = list_sources(args.psb / "off", args.psb / "labels.csv")
    manifest = fit_dataset(sources, dataset, config, device=args.device)
    fit_s = time.perf_counter() - t0
    rows = []
    for fold in range(args.folds):
        for model in args.models:
            cfg = TrainConfig(
                model=model,
                epochs=args.epochs,
                batch_size=32,
                lr=5e-4,
                symmetries="all",
                points_per_shape=args.points,
                fold=fold,
                folds=args.folds,
                eval_every=0,
                seed=fold,
            )
            run = args.work / f"run_{model}_fold{fold}"
            t = time.perf_counter()
            m = train(dataset, run, cfg, device=args.device)
            rows.append(
                {
                    "fold": fold,
                    "model": model,
                    "accuracy": m["accuracy"],
                    "mean_class_accuracy": m["mean_class_accuracy"],
                    "test_objects": m["samples"],
                    "train_objects": m["train_objects"],
                    "seconds": time.perf_counter() - t,
                }
            )
    s = manifest["summary"]
    print()
    print(
        f"PSB subset: {len(sources)} meshes x {args.copies} copies = {s['objects']} tri-planes, "
        f"median Chamfer {s['median_chamfer']:.4f}, median IoU {s['median_iou']:.4f} "
        f"(fit {args.steps} steps, {fit_s / 60:.1f} min this call); {args.epochs} epochs, "
        f"PointNet on {args.points} points per shape"
    )
    print(f"{'model':<12} {'fold':>4} {'accuracy':>9} {'class acc':>9} {'test':>5} {'train':>5} {'min':>6}")
    for r in rows:
        print(
            f"{r['model']:<12} {r['fold']:>4} {r['accuracy']:>9.3f} {r['mean_class_accuracy']:>9.3f} "
            f"{r['test_objects']:>5} {r['train_objects']:>5} {r['seconds'] / 60:>6.1f}"
        )
    for model in args.models:
        acc = [r["accuracy"] for r in rows if r["model"] == model]
        print(f"{model:<12} mean {sum(acc) / len(acc):>9.3f}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "fit_summary": s}, indent=2))


if __name__ == "__main__":
    main()
